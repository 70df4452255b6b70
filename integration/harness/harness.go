// Package harness starts real servers for integration tests, benchmarks and
// the demo: MariaDB and PostgreSQL as child processes on free loopback ports
// in temporary directories, and Kafka as an in-process kfake broker.
//
// The core API does not import testing; harness_testing.go adds thin helpers
// (MariaDBT, PostgresT, KafkaT) that fail the test when a server cannot start
// and close it when the test ends.
//
// Server processes run in their own process group and get SIGKILL when the
// process that started them dies, so a crashed test leaves no server behind.
// Their output goes to log files in their directory, never to the caller's
// stdout or stderr. They run with TZ=UTC.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// portsHanded remembers the ports FreePort has returned, so that two servers
// started by one process never get the same port even before either binds it.
var portsHanded = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that this process has not been handed before. Another process may still
// take it before the caller binds it; the Start functions retry on another
// port when that happens.
func FreePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		portsHanded.Lock()
		seen := portsHanded.m[port]
		portsHanded.m[port] = true
		portsHanded.Unlock()
		if !seen {
			return port, nil
		}
	}
	return 0, errors.New("find free port: no new port after 20 tries")
}

// aptLockPath serialises EnsureCommands across test processes: go test runs
// packages in parallel, and concurrent apt-get runs fail on dpkg's lock.
const aptLockPath = "/tmp/tributary-harness-apt.lock"

// EnsureCommands makes sure every command named in cmds (command name ->
// Debian package that provides it) is on PATH or in /usr/sbin or /sbin. It
// installs the packages of missing commands with apt-get, after one apt-get
// update. Installing needs root; as another user it returns an error that
// names the packages to install. It never starts or stops system services
// itself (a package's own install scripts may start one).
func EnsureCommands(ctx context.Context, cmds map[string]string) error {
	pkgs := missingPackages(cmds)
	if len(pkgs) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("ensure commands: missing commands; run as root: apt-get install -y %s (or scripts/install-deps.sh)",
			strings.Join(pkgs, " "))
	}
	lock, err := os.OpenFile(aptLockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return fmt.Errorf("ensure commands: open lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("ensure commands: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	pkgs = missingPackages(cmds) // another process may have installed them meanwhile
	if len(pkgs) == 0 {
		return nil
	}
	if err := runApt(ctx, "update"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	if err := runApt(ctx, args...); err != nil {
		return err
	}
	if still := missingPackages(cmds); len(still) > 0 {
		return fmt.Errorf("ensure commands: installed %s but commands are still missing", strings.Join(still, " "))
	}
	return nil
}

// missingPackages returns the sorted, distinct packages of the commands in
// cmds that cannot be found.
func missingPackages(cmds map[string]string) []string {
	set := map[string]bool{}
	for cmd, pkg := range cmds {
		if _, err := lookBin(cmd, "/usr/sbin", "/sbin", "/usr/local/sbin"); err != nil {
			set[pkg] = true
		}
	}
	pkgs := make([]string, 0, len(set))
	for p := range set {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return pkgs
}

// runApt runs apt-get non-interactively and returns its output's tail in
// the error when it fails.
func runApt(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tailLines(out.String(), 15))
	}
	return nil
}

// makeInstanceDir creates a new directory for one server under parent, or
// under the system temp dir when parent is empty, and records this process
// as its owner. It first removes the directories with the same pattern
// whose owner has died: a test binary killed by its timeout runs no
// cleanup, and each server directory holds over 100 MB.
func makeInstanceDir(parent, pattern string, log *slog.Logger) (string, error) {
	if parent != "" {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", fmt.Errorf("create %s: %w", parent, err)
		}
	}
	sweepStaleDirs(parent, pattern, log)
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		err = os.WriteFile(filepath.Join(abs, ownerFile), []byte(processID(os.Getpid())), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	return abs, nil
}

// ownerFile, in a server directory, names the process that made it.
const ownerFile = "harness-owner"

// processID identifies a live process across pid reuse: its pid and its
// start time. It is "" when pid is not running.
func processID(pid int) string {
	info, ok := readProc(pid)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d %s", pid, info.startTime)
}

// sweepStaleDirs removes directories in parent that match pattern and whose
// owner process is gone. Directories without an owner file are left alone.
func sweepStaleDirs(parent, pattern string, log *slog.Logger) {
	if parent == "" {
		parent = os.TempDir()
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), pattern) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(owner), &pid); err != nil || processID(pid) == string(owner) {
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			log.Info("removed server directory left by a dead process", "dir", dir)
		}
	}
}

// discardLogger returns l, or a logger that drops everything when l is nil.
func discardLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// isAddrInUse reports whether a server log says its port was taken.
func isAddrInUse(log string) bool {
	return strings.Contains(log, "Address already in use") ||
		strings.Contains(log, "could not create any TCP/IP sockets") ||
		strings.Contains(log, "Do you already have another server running")
}
