// Package benchbroker runs the benchmarks' Kafka broker (kfake) in a
// process of its own (the command in ./broker): as production readers'
// and compactors' brokers run elsewhere, and so that its CPU and heap are
// not the measured process's. Benchmarks read its CPU time to report it
// next to their own.
package benchbroker

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Broker is the broker process.
type Broker struct {
	// Addrs are its listening addresses.
	Addrs []string

	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	closed bool
}

// Start builds and starts the broker process; segment is its
// log.segment.bytes ("" for kfake's default). It stops with the test or
// benchmark, or at Close.
func Start(tb testing.TB, segment string) *Broker {
	tb.Helper()
	exe := tb.TempDir() + "/benchbroker"
	build := exec.Command("go", "build", "-o", exe, "github.com/tributary-dev/tributary/internal/benchbroker/broker")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build benchbroker: %v\n%s", err, out)
	}
	cmd := exec.Command(exe, "-segment-bytes="+segment)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	br := &Broker{cmd: cmd, in: in, out: bufio.NewReader(out)}
	tb.Cleanup(br.Close)
	br.Addrs = strings.Split(br.line(tb, "brokers "), ",")
	return br
}

// line returns the next line of the broker's output that starts with
// prefix, without the prefix.
func (br *Broker) line(tb testing.TB, prefix string) string {
	tb.Helper()
	for {
		l, err := br.out.ReadString('\n')
		if err != nil {
			_ = br.cmd.Process.Kill()
			tb.Fatalf("broker process: %v", err)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
			return rest
		}
	}
}

// CPU returns the broker process's CPU time so far.
func (br *Broker) CPU(tb testing.TB) time.Duration {
	tb.Helper()
	if _, err := io.WriteString(br.in, "cpu\n"); err != nil {
		tb.Fatal(err)
	}
	ns, err := strconv.ParseInt(br.line(tb, "cpu "), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ns)
}

// Close stops the broker process and waits for it. It is idempotent.
func (br *Broker) Close() {
	if br.closed {
		return
	}
	br.closed = true
	br.in.Close()
	go io.Copy(io.Discard, br.out)
	_ = br.cmd.Wait()
}
