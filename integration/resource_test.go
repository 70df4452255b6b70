package integration

import (
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// goroutineDump returns every goroutine's stack, grouped by stack.
func goroutineDump() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

// waitGoroutines waits up to 20s for the goroutine count to fall to at
// most want, and fails t with the stacks when it does not.
func waitGoroutines(t *testing.T, want int, what string) {
	t.Helper()
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(20 * time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(100 * time.Millisecond)
	}
	if n > want {
		t.Fatalf("%s: %d goroutines, %d before it started; leaked stacks:\n%s", what, n, want, goroutineDump())
	}
}

// runUntil runs run in a goroutine until ready returns, then cancels it
// and checks that it returned nil.
func runUntil(t *testing.T, what string, run func(ctx context.Context) error, ready func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	ready()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s returned %v on cancel", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return within 30s of cancel:\n%s", what, goroutineDump())
	}
}

// TestNoGoroutineLeaks starts and stops (by cancelling the context) a
// MySQL reader, a PostgreSQL reader and a compactor in this process, four
// times each, each run doing real work; after every cycle the goroutine
// count must come back to where it was after the first (which starts the
// library-wide goroutines that stay, such as database/sql's openers).
func TestNoGoroutineLeaks(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 3)
	w.seed(ctx, t, 300)
	pgExec(t, p, "CREATE TABLE leak (id int PRIMARY KEY, v text)", "ALTER TABLE leak OWNER TO tributary", "INSERT INTO leak SELECT g, 'v' FROM generate_series(1, 100) g")
	dir := t.TempDir()

	baseline := 0
	for cycle := range 4 {
		// MySQL reader: snapshot or stream up to the server's position.
		mysqlCycle(t, m, k, cycle, w)()

		// PostgreSQL reader.
		_, stopPG := startPGReader(t, p, k, "leakpg", nil)
		pgExec(t, p, "UPDATE leak SET v = v || 'x' WHERE id % 7 = "+string(rune('0'+cycle)))
		pgWaitCaughtUp(t, p, k, "leakpg", 60*time.Second)
		if err := stopPG(); err != nil {
			t.Fatalf("postgres reader: %v", err)
		}

		// Compactor: applies what came since the last cycle.
		l := iceberg.New(iceberg.Config{Warehouse: dir, Logger: testLogger(t)})
		c := compactor.New(compactor.Config{Brokers: k.Addrs, Group: "leak", Interval: 200 * time.Millisecond, MaxRows: 2000,
			MaintainEvery: time.Second, Lake: l, Logger: testLogger(t), Sources: []compactor.SourceConfig{{TopicPrefix: "leakmy"}}})
		runUntil(t, "compactor", c.Run, func() {
			compareLake(t, m, k, l, "leakmy", schema.TableID{Database: "shop", Name: "orders"})
		})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if s := c.Stopped(); len(s) > 0 {
			t.Fatalf("compactor stopped tables: %v", s)
		}
		if cycle == 0 {
			// Let lazily started, process-wide goroutines settle.
			time.Sleep(2 * time.Second)
			baseline = runtime.NumGoroutine()
			t.Logf("after the first cycle: %d goroutines", baseline)
			continue
		}
		waitGoroutines(t, baseline, "after a reader and compactor restart cycle")
	}
}

// mysqlCycle changes some rows and runs the MySQL reader until it has
// published them; it returns the reader's stop function, checked.
func mysqlCycle(t *testing.T, m *harness.MariaDB, k *harness.Kafka, cycle int, w *workload) func() {
	w.run(context.Background(), t, 30)
	_, stop := startSource(t, m, k, "leakmy", nil)
	waitCaughtUp(t, m, k, "leakmy", "leakmy", 60*time.Second)
	return func() {
		if err := stop(); err != nil {
			t.Fatalf("mysql reader (cycle %d): %v", cycle, err)
		}
	}
}

// slowLake makes every commit take at least delay.
type slowLake struct {
	lake.Lake
	delay time.Duration
}

func (s slowLake) Open(ctx context.Context, t *schema.Table, cfg lake.TableConfig) (lake.Table, error) {
	tbl, err := s.Lake.Open(ctx, t, cfg)
	if err != nil {
		return nil, err
	}
	return slowTable{tbl, s.delay}, nil
}

type slowTable struct {
	lake.Table
	delay time.Duration
}

func (s slowTable) Apply(ctx context.Context, b *lake.Batch) (lake.Stats, error) {
	time.Sleep(s.delay)
	return s.Table.Apply(ctx, b)
}

// TestSlowCompactorDoesNotStopReader streams a workload while no compactor
// runs, then while a slow one (every commit takes a second) catches up:
// the reader must keep up with the source all along, and the lake must end
// equal to the source.
func TestSlowCompactorDoesNotStopReader(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 5)
	w.seed(ctx, t, 1000)
	startReader(t, m, k, "slow", nil)

	// No compactor: the reader publishes everything anyway.
	w.run(ctx, t, 400)
	waitCaughtUp(t, m, k, "slow", "slow", 90*time.Second)

	// A slow compactor catches up while the workload goes on.
	l := localLake(t)
	c := compactor.New(compactor.Config{Brokers: k.Addrs, Group: "slow", Interval: 300 * time.Millisecond, MaxRows: 500,
		MaintainEvery: time.Hour, Lake: slowLake{l, time.Second}, Logger: testLogger(t), Sources: []compactor.SourceConfig{{TopicPrefix: "slow"}}})
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var cerr error
	wg.Go(func() { cerr = c.Run(cctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	w.run(ctx, t, 400)
	// The reader is not held back by the compactor.
	waitCaughtUp(t, m, k, "slow", "slow", 90*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "slow", id)
	}
	cancel()
	wg.Wait()
	if cerr != nil {
		t.Errorf("compactor: %v", cerr)
	}
	if s := c.Stopped(); len(s) > 0 {
		t.Errorf("compactor stopped tables: %v", s)
	}
}
