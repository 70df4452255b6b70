package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervised runs a command again and again until stopped, as systemd or
// Kubernetes would: the chaos test's readers, compactor workers and the
// sysbench and pgbench clients. Its output goes to a log file; exits the
// test did not cause are recorded with the log's tail.
type supervised struct {
	name    string
	bin     string
	args    []string
	env     []string
	logPath string

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	planned   bool          // the running incarnation was killed on purpose
	pause     time.Duration // before the next start
	starts    int
	unplanned []string
	fatal     []string // exits with code 3: a prerequisite or position problem
	stopped   bool
	done      chan struct{}
}

func newSupervised(name, logPath, bin string, env []string, args ...string) *supervised {
	return &supervised{name: name, bin: bin, args: args, env: env, logPath: logPath, done: make(chan struct{})}
}

// run starts the command and restarts it whenever it exits, until stop.
func (s *supervised) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		pause := s.pause
		s.pause = time.Second
		s.mu.Unlock()
		if err := s.start(); err != nil {
			s.record(fmt.Sprintf("start: %v", err), false)
			time.Sleep(pause)
			continue
		}
		<-s.exited
		s.mu.Lock()
		planned, stopped, st := s.planned, s.stopped, s.cmd.ProcessState
		s.mu.Unlock()
		if stopped {
			return
		}
		if !planned {
			code := st.ExitCode()
			s.record(fmt.Sprintf("exit code %d after %s CPU; log tail:\n%s", code, st.UserTime()+st.SystemTime(), fileTail(s.logPath, 15)), code == 3)
		}
		time.Sleep(pause)
	}
}

func (s *supervised) start() error {
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s start %d at %s\n", s.name, s.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.planned = cmd, exited, false
	s.starts++
	s.mu.Unlock()
	return nil
}

func (s *supervised) record(what string, fatal bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unplanned = append(s.unplanned, what)
	if fatal {
		s.fatal = append(s.fatal, what)
	}
}

// kill9 kills the running incarnation with SIGKILL; the next one starts
// after pause. It reports false when none was running.
func (s *supervised) kill9(pause time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped || s.cmd.ProcessState != nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
	}
	s.planned, s.pause = true, pause
	return s.cmd.Process.Signal(syscall.SIGKILL) == nil
}

// loggedSinceStart reports whether the running incarnation's output holds
// text.
func (s *supervised) loggedSinceStart(text string) bool {
	s.mu.Lock()
	marker := fmt.Sprintf("=== %s start %d at ", s.name, s.starts)
	s.mu.Unlock()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return false
	}
	i := strings.LastIndex(string(b), marker)
	return i >= 0 && strings.Contains(string(b[i:]), text)
}

// running reports whether an incarnation runs now.
func (s *supervised) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop ends the supervision and kills the running incarnation (SIGTERM,
// then SIGKILL after grace). It waits for the loop to end.
func (s *supervised) stop(grace time.Duration) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	<-s.done
}

// report returns the starts and the unplanned exits.
func (s *supervised) report() (starts int, unplanned, fatal []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, append([]string(nil), s.unplanned...), append([]string(nil), s.fatal...)
}

// fileTail returns the last n lines of a file.
func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// retryLoop calls step every interval until ctx ends; connect runs first
// and again after a step fails (a server restart drops connections).
func retryLoop(ctx context.Context, interval time.Duration, connect func(context.Context) (func(), error), step func(context.Context) error) {
	var closeConn func()
	defer func() {
		if closeConn != nil {
			closeConn()
		}
	}()
	for ctx.Err() == nil {
		if closeConn == nil {
			c, err := connect(ctx)
			if err != nil {
				sleepCtx(ctx, 500*time.Millisecond)
				continue
			}
			closeConn = c
		}
		if err := step(ctx); err != nil && !errors.Is(err, context.Canceled) {
			closeConn()
			closeConn = nil
		}
		sleepCtx(ctx, interval)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
