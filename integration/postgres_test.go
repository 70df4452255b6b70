package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/schema"
)

// pgReaderConfig is the reader config the tests use on a harness server:
// every table of schema public, small chunks, fast heartbeats.
func pgReaderConfig(p *harness.Postgres, name string) postgres.Config {
	return postgres.Config{
		Name: name, Addr: net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), User: p.User, Password: p.Password, Database: p.Database,
		Include:   func(s, _ string) bool { return s == "public" },
		ChunkSize: 700, HeartbeatInterval: 500 * time.Millisecond, CommitInterval: 50 * time.Millisecond,
	}
}

// startPGReader runs a PostgreSQL reader in this process until the test
// ends or stop is called; stop returns Run's error.
func startPGReader(t *testing.T, p *harness.Postgres, k *harness.Kafka, name string, tweak func(*postgres.Config)) (*postgres.Source, func() error) {
	cfg := pgReaderConfig(p, name)
	cfg.Logger = testLogger(t)
	if tweak != nil {
		tweak(&cfg)
	}
	src := postgres.NewSource(cfg)
	sink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: name, CheckpointKey: name, Partitions: 3})
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = src.Run(ctx, sink) })
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return src, stop
}

// pgCompare asserts that a table topic equals its source table, row by
// row, with no duplicated or reordered change, and returns the row count.
func pgCompare(t *testing.T, p *harness.Postgres, k *harness.Kafka, prefix string, id schema.TableID) int {
	t.Helper()
	ctx := context.Background()
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res, err := verify.ComparePostgres(ctx, conn, k.Addrs, prefix, id)
	if err != nil {
		t.Fatalf("compare %s: %v", id, err)
	}
	if !res.Equal() {
		for _, d := range res.Details {
			t.Errorf("%s: %s", id, d)
		}
		t.Errorf("%s", res)
	}
	t.Logf("%s", res)
	return res.SourceRows
}

// pgWaitCaughtUp waits until the reader's committed checkpoint has passed
// the server's current WAL position and every snapshot is done.
func pgWaitCaughtUp(t testing.TB, p *harness.Postgres, k *harness.Kafka, name string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := verify.WaitCaughtUpPostgres(ctx, conn, k.Addrs, name, name, timeout); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresSnapshotStreamAndDDL snapshots tables while a workload runs
// (key changes, deletes, TOASTed values, rolled-back subtransactions),
// applies DDL and a truncate mid-stream, adds a table, re-snapshots one
// while streaming, and checks that every topic equals its table.
func TestPostgresSnapshotStreamAndDDL(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p, pgSchema...)
	w := newPGWorkload(p, 1)
	w.seed(ctx, t, 3000)

	// Changes race the snapshot's chunks, small ones so that it lasts.
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx, t, 400) })
	time.Sleep(100 * time.Millisecond)
	src, stop := startPGReader(t, p, k, "pgsnap", func(c *postgres.Config) { c.ChunkSize = 50 })
	wg.Wait()
	pgWaitCaughtUp(t, p, k, "pgsnap", 60*time.Second)
	t.Logf("snapshot rows superseded by the stream inside their window: %d", src.Stats().SnapshotSuperseded)

	pgExec(t, p,
		"ALTER TABLE orders ADD COLUMN tag text NOT NULL DEFAULT 'x'",
		"UPDATE orders SET tag = 'y' WHERE id % 3 = 0",
		"ALTER TABLE items DROP COLUMN sku",
		"ALTER TABLE kv ALTER COLUMN v TYPE varchar(200)",
		"CREATE TABLE added (id int PRIMARY KEY, name text)",
		"ALTER PUBLICATION tributary_pgsnap ADD TABLE added",
		"INSERT INTO added VALUES (1, 'one'), (2, 'two'), (3, 'three')",
		"DELETE FROM added WHERE id = 2",
		"TRUNCATE items",
		"INSERT INTO items VALUES (1, 1, 5), (2, 1, 6)",
		"ALTER TABLE orders ALTER COLUMN amount TYPE numeric(14,3)",
		"UPDATE orders SET note = 'after retype' WHERE id < 20",
	)
	w.run(ctx, t, 150)
	src.Resnapshot(schema.TableID{Database: "public", Name: "kv"})
	w.run(ctx, t, 100)
	pgWaitCaughtUp(t, p, k, "pgsnap", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	for _, id := range pgTables("orders", "items", "kv", "added", "events") {
		pgCompare(t, p, k, "pgsnap", id)
	}
	for _, part := range []string{"events_2024", "events_2025"} {
		if rows := foldTopic(t, k, "pgsnap", schema.TableID{Database: "public", Name: part}).Rows; len(rows) != 0 {
			t.Errorf("partition %s has a topic of its own; changes must publish through the root", part)
		}
	}
}

// TestPostgresToast checks TOAST handling: an update that leaves a large
// value alone publishes it as unchanged (never NULL, never a placeholder),
// REPLICA IDENTITY FULL fills it from the old row, and a key change keeps
// it; the topics must still fold into the source's rows.
func TestPostgresToast(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p, pgSchema...)
	for _, table := range []string{"docs", "docs_full"} {
		pgExec(t, p,
			fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, title text, body text, n int)", table),
			fmt.Sprintf("ALTER TABLE %s OWNER TO tributary", table),
			fmt.Sprintf("INSERT INTO %s SELECT g, 't' || g, bigtext(g), 0 FROM generate_series(1, 20) g", table))
	}
	pgExec(t, p, "ALTER TABLE docs_full REPLICA IDENTITY FULL")
	_, stop := startPGReader(t, p, k, "pgtoast", nil)
	pgWaitCaughtUp(t, p, k, "pgtoast", 30*time.Second)
	for _, table := range []string{"docs", "docs_full"} {
		pgExec(t, p,
			fmt.Sprintf("UPDATE %s SET title = 'changed', n = n + 1 WHERE id <= 10", table),
			fmt.Sprintf("UPDATE %s SET body = bigtext(id + 500) WHERE id = 3", table),
			fmt.Sprintf("UPDATE %s SET id = id + 100 WHERE id IN (4, 11)", table),
			fmt.Sprintf("UPDATE %s SET body = NULL WHERE id = 5", table),
			fmt.Sprintf("DELETE FROM %s WHERE id = 6", table),
		)
	}
	pgWaitCaughtUp(t, p, k, "pgtoast", 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, id := range pgTables("docs", "docs_full") {
		pgCompare(t, p, k, "pgtoast", id)
	}
	// The raw envelopes: unchanged is explicit for docs, absent for
	// docs_full, and "body" never appears as null in an update that kept it.
	unchanged := map[string]int{}
	for _, table := range []string{"docs", "docs_full"} {
		err := kafka.ReadTopic(ctx, k.Addrs, nil, schema.TopicName("pgtoast", schema.TableID{Database: "public", Name: table}), func(r *kgo.Record) error {
			if r.Value == nil {
				return nil
			}
			var env struct {
				Op     string         `json:"op"`
				After  map[string]any `json:"after"`
				Source struct {
					Unchanged []string `json:"unchanged"`
				} `json:"source"`
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				return err
			}
			if env.Op == "u" && env.After["title"] == "changed" {
				if _, has := env.After["body"]; has == (len(env.Source.Unchanged) > 0) {
					t.Errorf("%s: update %s: body present %v with unchanged %v", table, r.Key, has, env.Source.Unchanged)
				}
			}
			unchanged[table] += len(env.Source.Unchanged)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if unchanged["docs"] < 9 || unchanged["docs_full"] != 0 {
		t.Errorf("unchanged columns published: %v; want at least 9 for docs (DEFAULT) and none for docs_full (FULL)", unchanged)
	}
}

// TestPostgresNoKey checks the documented behaviour for a table without a
// primary key: a fatal error that says how to fix it.
func TestPostgresNoKey(t *testing.T) {
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p, "CREATE TABLE logs (msg text)", "ALTER TABLE logs OWNER TO tributary")
	_, stop := startPGReader(t, p, k, "pgnokey", nil)
	time.Sleep(2 * time.Second)
	err := stop()
	var fe *postgres.FatalError
	if !errors.As(err, &fe) {
		t.Fatalf("want a fatal error for a table without a key, got %v", err)
	}
	for _, want := range []string{"public.logs has no primary key", "tables.keys", "REPLICA IDENTITY FULL", "without_primary_key: skip"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// The child reader: the test binary started again with pgChildEnv set runs
// one reader process, so that tests can kill it with SIGKILL and measure
// its memory.
const pgChildEnv = "TRIBUTARY_TEST_PG_READER"

// pgChildMemoryLimit is the child reader's soft memory limit in MiB.
// With GOGC=400 alone, the heap grows to five times what was live at the
// last collection: the reader's live heap is some 40 MiB (its bounded
// queues: replication messages, the publisher's pipeline and producer
// buffer), yet its RSS reached 280-460 MiB over a 1M-row transaction. The
// limit caps that headroom; it costs a few more collections, not more
// live memory. It is the reader's memory_limit default (cmd/tributary
// applies it; GOMEMLIMIT still wins).
const pgChildMemoryLimit = 160

type pgChildSpec struct {
	Name, Addr, User, Password, Database string
	ChunkSize, MaxTxRows                 int
	Heartbeat, Commit                    time.Duration
	NoSnapshot                           bool
	// Tables limits the captured tables of schema public; empty means all.
	Tables  []string
	Brokers []string
}

func init() {
	if spec := os.Getenv(pgChildEnv); spec != "" {
		os.Exit(pgChild(spec))
	}
}

func pgChild(spec string) int {
	var s pgChildSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as cmd/tributary does
	}
	// A soft memory limit of pgChildMemoryLimit MiB, the default proposed
	// for reader processes; TRIBUTARY_TEST_PG_MEMLIMIT_MIB sets another (0:
	// none), and GOMEMLIMIT overrides both.
	limit := int64(pgChildMemoryLimit)
	if n, err := strconv.ParseInt(os.Getenv("TRIBUTARY_TEST_PG_MEMLIMIT_MIB"), 10, 64); err == nil {
		limit = n
	}
	if limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit << 20)
	}
	if path := os.Getenv("TRIBUTARY_TEST_PG_HEAPPROFILE"); path != "" {
		// One heap profile when the heap first passes 256 MiB, or
		// TRIBUTARY_TEST_PG_HEAPPROFILE_MIB.
		limit := uint64(256)
		if n, err := strconv.ParseUint(os.Getenv("TRIBUTARY_TEST_PG_HEAPPROFILE_MIB"), 10, 64); err == nil && n > 0 {
			limit = n
		}
		go func() {
			for ; ; time.Sleep(50 * time.Millisecond) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > limit<<20 {
					if f, err := os.Create(path); err == nil {
						_ = pprof.Lookup("heap").WriteTo(f, 0)
						f.Close()
					}
					return
				}
			}
		}()
	}
	if path := os.Getenv("TRIBUTARY_TEST_PG_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	cfg := postgres.Config{Name: s.Name, Addr: s.Addr, User: s.User, Password: s.Password, Database: s.Database,
		ChunkSize: s.ChunkSize, MaxTxRows: s.MaxTxRows, HeartbeatInterval: s.Heartbeat, CommitInterval: s.Commit,
		NoSnapshot: s.NoSnapshot,
		Include: func(sch, table string) bool {
			return sch == "public" && (len(s.Tables) == 0 || slices.Contains(s.Tables, table))
		}}
	if os.Getenv("TRIBUTARY_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	name := cfg.Name
	sink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: s.Brokers, TopicPrefix: name, CheckpointKey: name, Partitions: 3})
	err := postgres.NewSource(cfg).Run(ctx, sink)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reader:", err)
		var fe *postgres.FatalError
		if errors.As(err, &fe) {
			return 3
		}
		return 1
	}
	return 0
}

// pgChildProcess is a reader running in a child process.
type pgChildProcess struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startPGChild(t testing.TB, cfg postgres.Config, k *harness.Kafka, tables ...string) *pgChildProcess {
	t.Helper()
	spec, err := json.Marshal(pgChildSpec{Name: cfg.Name, Addr: cfg.Addr, User: cfg.User, Password: cfg.Password, Database: cfg.Database,
		ChunkSize: cfg.ChunkSize, MaxTxRows: cfg.MaxTxRows, Heartbeat: cfg.HeartbeatInterval, Commit: cfg.CommitInterval,
		NoSnapshot: cfg.NoSnapshot, Tables: tables, Brokers: k.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), pgChildEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &pgChildProcess{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		c.done <- nil
	})
	return c
}

// kill9 kills the child with SIGKILL and waits for it.
func (c *pgChildProcess) kill9(t testing.TB) {
	t.Helper()
	select {
	case err := <-c.done:
		t.Fatalf("reader exited by itself (%v):\n%s", err, c.out)
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.done <- <-c.done
}

// term stops the child with SIGTERM and returns its peak RSS in bytes,
// read from the child's VmHWM just before the signal.
func (c *pgChildProcess) term(t testing.TB) int64 {
	t.Helper()
	hwm := peakRSS(c.cmd.Process.Pid)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Errorf("reader did not exit cleanly on SIGTERM: %v\n%s", err, c.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("reader did not stop within 30s of SIGTERM")
	}
	if hwm > 0 {
		return hwm
	}
	return c.cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
}

// peakRSS returns the peak resident set of a live process (VmHWM), or 0
// when /proc cannot tell. The rusage of a child started by os/exec is no
// measure of it: Go starts children with vfork (CLONE_VM), and at exec
// the kernel carries the parent's own peak RSS into the child's maxrss,
// so a test process that once held gigabytes (kfake keeps every record
// in memory) reports gigabytes for every child it starts afterwards.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
