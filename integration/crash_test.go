package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
)

// readerConfig writes a source config file for the tributary binary.
func readerConfig(t *testing.T, m *harness.MariaDB, k *harness.Kafka, name string, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`name: %s
type: mysql
mysql:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${TEST_DB_PASSWORD}
  server_id: 202
  heartbeat_interval: 1s
tables:
  include: ["shop.*"]
snapshot:
  chunk_size: 500
kafka:
  brokers: [%q]
  batch_max_events: 300
  linger: 50ms
%s`, name, m.Port, m.User, k.Addrs[0], extra)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readerProcess is the tributary binary running "reader".
type readerProcess struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startReaderProcess(t *testing.T, cfgPath, password string, args ...string) *readerProcess {
	t.Helper()
	out := &bytes.Buffer{}
	cmd := exec.Command(binary, append([]string{"reader", "-c", cfgPath}, args...)...)
	cmd.Env = append(os.Environ(), "TEST_DB_PASSWORD="+password)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &readerProcess{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// TestMySQLKill9 kills the reader process with SIGKILL at random moments
// while a workload runs and restarts it; the topics must end up equal to
// the source, with no change missing or duplicated.
func TestMySQLKill9(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 3)
	w.seed(ctx, t, 4000)
	cfg := readerConfig(t, m, k, "crash", "")

	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.run(wctx, t, 1500) })
	rnd := rand.New(rand.NewPCG(7, 7))
	kills := 0
	for range 6 {
		p := startReaderProcess(t, cfg, m.Password)
		time.Sleep(time.Duration(300+rnd.IntN(1200)) * time.Millisecond)
		select {
		case err := <-p.done:
			t.Fatalf("reader exited by itself (%v):\n%s", err, p.out)
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p.done <- nil
		kills++
	}
	stopWork()
	wg.Wait()
	p := startReaderProcess(t, cfg, m.Password)
	started := time.Now().UTC()
	waitCaughtUp(t, m, k, "crash", "crash", 120*time.Second)
	// The last reader must itself have committed (a heartbeat at least).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		hb, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(checkpointOf(t, k, "crash", "crash")["heartbeat"]))
		if hb.After(started) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted reader committed nothing in 30s:\n%s", p.out)
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("reader did not exit cleanly on SIGTERM: %v\n%s", err, p.out)
		}
		p.done <- nil
	case <-time.After(20 * time.Second):
		t.Errorf("reader did not stop within 20s of SIGTERM")
	}
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows := 0
	for _, id := range shopTables("orders", "items", "kv") {
		rows += compareTable(t, conn, k, "crash", id)
	}
	t.Logf("%d kill -9 restarts, %d workload transactions, %d rows compared", kills, w.ops, rows)
}

// TestMySQLBadInput runs the binary against broken setups: each must exit
// non-zero with a message that says what is wrong and how to fix it, and
// leave no checkpoint behind.
func TestMySQLBadInput(t *testing.T) {
	k := harness.KafkaT(t, harness.KafkaOptions{})
	good := harness.MariaDBT(t, harness.MariaDBOptions{})
	noBinlog := harness.MariaDBT(t, harness.MariaDBOptions{NoBinlog: true})
	statement := harness.MariaDBT(t, harness.MariaDBOptions{ExtraArgs: []string{"--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL"}})
	tests := []struct {
		name     string
		db       *harness.MariaDB
		password string
		code     int
		want     []string
	}{
		{"wrong-password", good, "nope", 3, []string{"access denied", "mysql.password"}},
		{"binlog-off", noBinlog, noBinlog.Password, 3, []string{"binary logging is off", "log_bin"}},
		{"statement-format", statement, statement.Password, 3, []string{"binlog_format is STATEMENT, not ROW", "SET GLOBAL binlog_format = 'ROW'", "binlog_row_image is MINIMAL, not FULL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := readerConfig(t, tt.db, k, tt.name, "")
			p := startReaderProcess(t, cfg, tt.password)
			var err error
			select {
			case err = <-p.done:
				p.done <- err
			case <-time.After(60 * time.Second):
				t.Fatalf("reader still running after 60s:\n%s", p.out)
			}
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.code, p.out)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.out.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, p.out)
				}
			}
			if cp := checkpointOf(t, k, tt.name, tt.name); cp != nil {
				t.Errorf("a checkpoint was written: %v", cp)
			}
		})
	}
	t.Run("missing-privileges", func(t *testing.T) {
		execAll(t, good, "CREATE USER weak IDENTIFIED BY 'weak'", "GRANT SELECT ON *.* TO weak")
		cfg := strings.Replace(readerConfig(t, good, k, "weak", ""), "", "", 1)
		data, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, []byte(strings.Replace(string(data), "user: "+good.User, "user: weak", 1)), 0o600)
		p := startReaderProcess(t, cfg, "weak")
		code, out := waitExit(t, p)
		if code != 3 || !strings.Contains(out, "GRANT REPLICATION SLAVE, REPLICATION CLIENT") {
			t.Errorf("exit code %d (want 3), output:\n%s", code, out)
		}
	})
	t.Run("kafka-unreachable", func(t *testing.T) {
		port, _ := harness.FreePort()
		cfg := readerConfig(t, good, &harness.Kafka{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", port)}}, "nokafka", "")
		p := startReaderProcess(t, cfg, good.Password)
		code, out := waitExit(t, p)
		if code != 1 || !strings.Contains(out, "is Kafka reachable") {
			t.Errorf("exit code %d (want 1), output:\n%s", code, out)
		}
	})
	t.Run("malformed-config", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(path, []byte("name: x\ntype: mysql\nmysql:\n  host: h\n  pasword: y\n"), 0o600)
		out, err := exec.Command(binary, "reader", "-c", path).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("want exit code 2, got %v", err)
		}
		for _, w := range []string{"bad.yaml:5", "pasword", `did you mean "password"`} {
			if !strings.Contains(string(out), w) {
				t.Errorf("output does not say %q:\n%s", w, out)
			}
		}
	})
}

// waitExit waits for a reader process to exit and returns its code and
// output.
func waitExit(t *testing.T, p *readerProcess) (int, string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), p.out.String()
		}
		return 0, p.out.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("reader still running after 60s:\n%s", p.out)
	}
	return 0, ""
}

// TestMySQLPurgedPosition purges the binlogs a stopped reader still needs:
// the restart must fail with exit code 3 and say how to recover, and
// --reset-position must recover with the topics equal to the source.
func TestMySQLPurgedPosition(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 5)
	w.seed(ctx, t, 500)
	cfg := readerConfig(t, m, k, "purge", "")
	p := startReaderProcess(t, cfg, m.Password)
	waitCaughtUp(t, m, k, "purge", "purge", 60*time.Second)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code, out := waitExit(t, p); code != 0 {
		t.Fatalf("reader exit code %d:\n%s", code, out)
	}
	w.run(ctx, t, 100)
	execAll(t, m, "FLUSH BINARY LOGS", "DELETE FROM shop.orders WHERE id < 50", "FLUSH BINARY LOGS")
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Execute("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	current, _ := res.GetString(0, 0)
	// The server keeps a file a dump thread still reads; the old reader's
	// thread goes away once the server notices its closed connection.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		execAll(t, m, "PURGE BINARY LOGS TO '"+current+"'")
		res, err := conn.Execute("SHOW BINARY LOGS")
		if err != nil {
			t.Fatal(err)
		}
		if first, _ := res.GetString(0, 0); first == current {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("binlogs before %s are still there (first %s)", current, first)
		}
	}

	p = startReaderProcess(t, cfg, m.Password)
	code, out := waitExit(t, p)
	if code != 3 || !strings.Contains(out, "binlog position purged") || !strings.Contains(out, "--reset-position") {
		t.Fatalf("exit code %d (want 3), output:\n%s", code, out)
	}
	p = startReaderProcess(t, cfg, m.Password, "--reset-position")
	waitCaughtUp(t, m, k, "purge", "purge", 60*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareTable(t, conn, k, "purge", id)
	}
}
