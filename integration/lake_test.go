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
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// startCompactor runs a compactor in this process until the test ends,
// over a local warehouse with the SQLite catalog.
func startCompactor(t *testing.T, k *harness.Kafka, l *iceberg.Lake, prefix string) (stop func()) {
	return startCompactorWith(t, k, l, prefix, map[string]compactor.TableOptions{
		"shop.orders": {PartitionColumn: "created"}, "public.orders": {PartitionColumn: "created"},
		"public.events": {PartitionColumn: "day", Granularity: "month"},
	})
}

// startCompactorWith is startCompactor with the given table options.
func startCompactorWith(t *testing.T, k *harness.Kafka, l *iceberg.Lake, prefix string, tables map[string]compactor.TableOptions) (stop func()) {
	c := compactor.New(compactor.Config{
		Brokers: k.Addrs, Group: "lake-" + prefix, Interval: 300 * time.Millisecond, MaxRows: 2000, MaintainEvery: time.Second,
		Lake: l, Logger: testLogger(t),
		Sources: []compactor.SourceConfig{{TopicPrefix: prefix, Tables: tables}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = c.Run(ctx) })
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		wg.Wait()
		if err != nil {
			t.Errorf("compactor: %v", err)
		}
		if s := c.Stopped(); len(s) > 0 {
			t.Errorf("compactor stopped tables: %v", s)
		}
	}
	t.Cleanup(stop)
	return stop
}

// compareLake waits until the lake table equals the source table, row by
// row, and fails the test with the differences if it does not.
func compareLake(t *testing.T, m *harness.MariaDB, k *harness.Kafka, l *iceberg.Lake, prefix string, id schema.TableID) {
	t.Helper()
	ctx := context.Background()
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := verify.WaitLake(ctx, conn, l, k.Addrs, prefix, "shop", id, 45*time.Second)
	if err != nil {
		t.Fatalf("compare lake %s: %v", id, err)
	}
	if !res.Equal() {
		for _, d := range res.Details {
			t.Errorf("%s: %s", id, d)
		}
		t.Errorf("%s", res)
	}
	t.Logf("%s", res)
}

// compareIcebird reads the lake table with icebird (npm), a reader we did
// not write, and compares it with the source table.
func compareIcebird(t *testing.T, m *harness.MariaDB, k *harness.Kafka, l *iceberg.Lake, prefix string, id schema.TableID) {
	t.Helper()
	ctx := context.Background()
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := verify.CompareIcebird(ctx, conn, l, verify.IcebirdDir, k.Addrs, prefix, "shop", id)
	if err != nil {
		t.Fatalf("icebird %s: %v", id, err)
	}
	if !res.Equal() {
		for _, d := range res.Details {
			t.Errorf("%s: %s", id, d)
		}
		t.Errorf("icebird: %s", res)
	}
	t.Logf("icebird: %s", res)
}

// TestLakeEqualsMySQL runs MariaDB -> reader -> kfake -> compactor ->
// Iceberg under a random workload (inserts, updates, primary-key and
// partition-column changes, deletes, DDL, a truncate), restarts the
// compactor in the middle, and checks that every lake table equals its
// source table row by row, read with iceberg-go and with icebird.
func TestLakeEqualsMySQL(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger(t), Maintain: iceberg.MaintainConfig{SnapshotAge: time.Second, RetainSnapshots: 5}})
	t.Cleanup(func() { l.Close() })
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 7)
	w.seed(ctx, t, 1500)

	startReader(t, m, k, "lake", nil)
	stop := startCompactor(t, k, l, "lake")
	w.run(ctx, t, 300)
	// Partition-column changes move rows to other days.
	execAll(t, m, "UPDATE shop.orders SET created = created + INTERVAL 3 DAY WHERE id % 5 = 0")
	waitCaughtUp(t, m, k, "lake", "lake", 90*time.Second)
	compareLake(t, m, k, l, "lake", schema.TableID{Database: "shop", Name: "orders"})

	// The compactor restarts while the workload and DDL go on.
	stop()
	w.run(ctx, t, 150)
	execAll(t, m,
		"ALTER TABLE shop.orders ADD COLUMN tag VARCHAR(20) NOT NULL DEFAULT 'x'",
		"UPDATE shop.orders SET tag = 'y' WHERE id % 3 = 0",
		"ALTER TABLE shop.items DROP COLUMN sku",
		"TRUNCATE TABLE shop.kv",
		"INSERT INTO shop.kv VALUES ('after-truncate', 'v')",
	)
	startCompactor(t, k, l, "lake")
	w.run(ctx, t, 150)
	waitCaughtUp(t, m, k, "lake", "lake", 90*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "lake", id)
		compareIcebird(t, m, k, l, "lake", id)
	}
}

// TestLakeEqualsPostgres runs PostgreSQL -> reader -> kfake -> compactor ->
// Iceberg under the Postgres workload (key changes, deletes, TOASTed values
// left unchanged by updates, a truncate, DDL) and checks that every lake
// table equals its source table row by row.
func TestLakeEqualsPostgres(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	pgExec(t, p, pgSchema...)
	w := newPGWorkload(p, 3)
	w.seed(ctx, t, 1500)
	startPGReader(t, p, k, "pglake", nil)
	startCompactor(t, k, l, "pglake")
	w.run(ctx, t, 200)
	pgExec(t, p,
		// Updates that leave the TOASTed column alone: the lake fills it.
		"UPDATE orders SET note = 'toast kept' WHERE id % 10 = 0 AND id < 500",
		"UPDATE orders SET created = created + interval '2 days' WHERE id % 7 = 0",
		"ALTER TABLE kv ADD COLUMN extra int",
		"UPDATE kv SET extra = 1 WHERE k LIKE 'key-1%'",
		"TRUNCATE items",
		"INSERT INTO items VALUES (1, 1, 'after truncate', 1)",
	)
	w.run(ctx, t, 100)
	pgWaitCaughtUp(t, p, k, "pglake", 60*time.Second)
	compareLakePG(t, p, k, l, "pglake", pgTables("orders", "items", "kv", "events"))
}

// compareLakePG waits until each lake table equals its PostgreSQL table.
func compareLakePG(t *testing.T, p *harness.Postgres, k *harness.Kafka, l *iceberg.Lake, prefix string, tables []schema.TableID) {
	t.Helper()
	ctx := context.Background()
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, id := range tables {
		var res *verify.LakeResult
		deadline := time.Now().Add(45 * time.Second)
		for {
			res, err = verify.CompareLakePostgres(ctx, conn, l, k.Addrs, prefix, "public", id)
			if err == nil && res.Equal() || time.Now().After(deadline) {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("compare lake %s: %v", id, err)
		}
		if !res.Equal() {
			for _, d := range res.Details {
				t.Errorf("%s: %s", id, d)
			}
			t.Errorf("%s", res)
		}
		t.Logf("%s", res)
	}
}

// binProcess is the tributary binary running one command.
type binProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// compactorProcess is the tributary binary running "compactor".
type compactorProcess = binProcess

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startCompactorProcess(t *testing.T, cfgPath string) *compactorProcess {
	t.Helper()
	return startBinary(t, nil, "compactor", "-c", cfgPath)
}

// startBinary runs the tributary binary with args and env added to this
// process's environment; the process is killed when the test ends.
func startBinary(t *testing.T, env []string, args ...string) *binProcess {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &binProcess{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// waitAssigned waits until a compactor process logs its topics.
func waitAssigned(t *testing.T, p *compactorProcess) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.out.String(), "topic assigned"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the compactor was assigned nothing in 30s:\n%s", p.out)
		}
	}
}

// TestLakeKill9 kills the compactor process with SIGKILL at random moments
// while the reader and a workload run, and starts it again; at the end the
// lake must equal the source: no row lost, none duplicated.
func TestLakeKill9(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 11)
	w.seed(ctx, t, 2000)
	startReader(t, m, k, "kill", nil)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lake.yaml")
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  session_timeout: 6s
warehouse:
  path: %s
sources:
  - topic_prefix: kill
    tables:
      shop.orders: {partition_by: created}
commit:
  interval: 200ms
  max_rows: 700
maintenance:
  interval: 1s
  snapshot_age: 2s
log:
  level: debug
`, k.Addrs[0], filepath.Join(dir, "warehouse"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.run(wctx, t, 600) })
	rnd := rand.New(rand.NewPCG(11, 11))
	kills := 0
	for range 3 {
		// Each compactor is killed while it works: after it took the
		// topics over (the group first drops the one killed before).
		p := startCompactorProcess(t, cfgPath)
		waitAssigned(t, p)
		time.Sleep(time.Duration(100+rnd.IntN(1200)) * time.Millisecond)
		select {
		case err := <-p.done:
			t.Fatalf("compactor exited by itself (%v):\n%s", err, p.out)
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
	waitCaughtUp(t, m, k, "kill", "kill", 90*time.Second)
	p := startCompactorProcess(t, cfgPath)
	l := iceberg.New(iceberg.Config{Warehouse: filepath.Join(dir, "warehouse")})
	t.Cleanup(func() { l.Close() })
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "kill", id)
	}
	// Then SIGTERM must stop the last one cleanly.
	waitAssigned(t, p)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("compactor did not exit cleanly on SIGTERM: %v\n%s", err, p.out)
		}
		p.done <- nil
	case <-time.After(20 * time.Second):
		t.Errorf("compactor did not stop within 20s of SIGTERM")
	}
	if t.Failed() {
		t.Logf("last compactor's output:\n%s", p.out)
	}
	t.Logf("%d kill -9 restarts, %d workload transactions", kills, w.ops)
}
