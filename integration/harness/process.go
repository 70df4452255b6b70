package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errNotRunning is returned by stop and kill when no server process runs.
var errNotRunning = errors.New("server is not running")

// process is one running server child process. It runs in its own process
// group, so that kill reaches every process the server forked, and it gets
// SIGKILL when the harness process dies, so that a crashed test leaves no
// server behind.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
	err  error         // cmd.Wait's result, valid after done is closed
}

// startProcess starts bin with args, with stdout and stderr appended to
// logPath. A non-nil cred runs the process as another user.
func startProcess(bin string, args []string, dir, logPath string, cred *syscall.Credential) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: cred,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// childEnv is the environment for server processes: the caller's, less the
// variables that would make a server or a client tool read the wrong files.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") || strings.HasPrefix(name, "MYSQL") || strings.HasPrefix(name, "MARIADB") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C.UTF-8", "TZ=UTC")
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the server and waits up to timeout for it to exit; then
// it kills the server and everything it forked.
func (p *process) stop(sig syscall.Signal, timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	if err := p.kill(); err != nil {
		return err
	}
	return fmt.Errorf("server did not stop within %s after %v: killed", timeout, sig)
}

// kill sends SIGKILL to the server, its process group and every process it
// forked, and waits until they are all gone. PostgreSQL backends put
// themselves in process groups of their own, and a restart fails while
// they hold the old server's shared memory, so killing the group is not
// enough. The server is stopped (SIGSTOP) first so that it cannot fork
// while we collect its descendants.
func (p *process) kill() error {
	pid := p.cmd.Process.Pid
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	victims := descendants(pid)
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	for _, v := range victims {
		if v.alive() {
			_ = syscall.Kill(v.pid, syscall.SIGKILL)
		}
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("process %d did not exit after SIGKILL", pid)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, v := range victims {
		for v.alive() {
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d, forked by server %d, did not exit after SIGKILL", v.pid, pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// procInfo is what the harness reads from /proc/PID/stat.
type procInfo struct {
	pid       int
	ppid      int
	state     string // R, S, D, Z, ...
	startTime string // clock ticks after boot; tells a reused pid apart
}

// readProc reads /proc/PID/stat; ok is false when the process is gone.
func readProc(pid int) (info procInfo, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// After the parenthesised command: state(3) ppid(4) ... starttime(22).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return procInfo{pid: pid, ppid: ppid, state: f[0], startTime: f[19]}, true
}

// alive reports whether the process is still running (not a zombie) and is
// the same process, not a new one with a reused pid.
func (pi procInfo) alive() bool {
	now, ok := readProc(pi.pid)
	return ok && now.startTime == pi.startTime && now.state != "Z" && now.state != "X"
}

// descendants returns the processes below pid in the process tree.
func descendants(pid int) []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procInfo{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, ok := readProc(n); ok {
			children[info.ppid] = append(children[info.ppid], info)
		}
	}
	var out []procInfo
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// logTail returns the last n lines of the file at path, or a note saying why
// it could not be read.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tailLines(string(b), n)
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lookBin finds a server binary on PATH or, failing that, in the given
// directories (root's PATH has /usr/sbin, other users' often has not).
func lookBin(name string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %s", name, strings.Join(dirs, ", "))
}
