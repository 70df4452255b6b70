package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/schema"
)

// pgBigTxRows is the size of the large-transaction test: 100,000 rows by
// default, TRIBUTARY_PG_BIG_TX_ROWS=1000000 for the full size.
func pgBigTxRows() int {
	if n, err := strconv.Atoi(os.Getenv("TRIBUTARY_PG_BIG_TX_ROWS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// pgBigTxWidth is how many 32-byte md5 strings make the payload of each
// row of the large transaction: 3 by default (96 bytes),
// TRIBUTARY_PG_BIG_TX_WIDTH=60 with 1,000,000 rows for a 2 GB transaction.
func pgBigTxWidth() int {
	if n, err := strconv.Atoi(os.Getenv("TRIBUTARY_PG_BIG_TX_WIDTH")); err == nil && n > 0 {
		return n
	}
	return 3
}

// smallDecodingMemory makes the server stream every transaction above
// 64 kB to the reader before it commits.
var smallDecodingMemory = harness.PostgresOptions{ExtraArgs: []string{"-c", "logical_decoding_work_mem=64kB"}}

// slotLSNs returns the slot's confirmed position and the reader's
// committed checkpoint position.
func slotLSNs(t testing.TB, p *harness.Postgres, k *harness.Kafka, name string) (confirmed, checkpoint uint64) {
	t.Helper()
	ctx := context.Background()
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var c *string
	if err := conn.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", "tributary_"+name).Scan(&c); err != nil {
		t.Fatal(err)
	}
	if c != nil {
		confirmed = parsePGLSN(t, *c)
	}
	cp, err := verify.Checkpoint(ctx, k.Addrs, name, name)
	if err != nil {
		t.Fatal(err)
	}
	if cp != nil {
		checkpoint = parsePGLSN(t, fmt.Sprint(cp["lsn"]))
	}
	return confirmed, checkpoint
}

func parsePGLSN(t testing.TB, s string) uint64 {
	hi, lo, _ := strings.Cut(s, "/")
	a, err1 := strconv.ParseUint(hi, 16, 32)
	b, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad LSN %q", s)
	}
	return a<<32 | b
}

// TestPostgresLargeTransaction streams one transaction of pgBigTxRows rows
// (the server hands it over in pieces before it commits), one that aborts
// after streaming, and one whose subtransaction rolls back, through a
// reader process under a memory ceiling; the topic must equal the table
// and hold nothing of the aborted work.
func TestPostgresLargeTransaction(t *testing.T) {
	ctx := context.Background()
	n := pgBigTxRows()
	p := harness.PostgresT(t, smallDecodingMemory)
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p, "CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL, n int NOT NULL)", "ALTER TABLE big OWNER TO tributary")
	cfg := pgReaderConfig(p, "pgbig")
	cfg.MaxTxRows = 25_000
	child := startPGChild(t, cfg, k)
	pgWaitCaughtUp(t, p, k, "pgbig", 30*time.Second)

	pgExec(t, p,
		// Streamed, then aborted: none of it may reach Kafka.
		"BEGIN; INSERT INTO big SELECT g, md5(g::text), 0 FROM generate_series(-30000, -1) g; ROLLBACK",
		// A subtransaction rolled back inside a streamed transaction.
		`BEGIN; INSERT INTO big SELECT g, 'kept ' || g, 1 FROM generate_series(1, 20000) g;
		SAVEPOINT a; INSERT INTO big SELECT g, 'rolled back', 2 FROM generate_series(20001, 40000) g; ROLLBACK TO SAVEPOINT a;
		UPDATE big SET n = 3 WHERE id % 7 = 0; COMMIT`,
		// The large one: inserts, updates and deletes in one transaction.
		fmt.Sprintf(`BEGIN; INSERT INTO big SELECT g, repeat(md5(g::text), %d), 4 FROM generate_series(100001, %d) g;
		UPDATE big SET n = 5 WHERE id %% 10 = 0 AND id > 100000; DELETE FROM big WHERE id %% 97 = 0; COMMIT`, pgBigTxWidth(), 100000+n),
	)

	pgWaitCaughtUp(t, p, k, "pgbig", time.Duration(60+n/5000)*time.Second)
	rss := child.term(t)
	t.Logf("reader peak RSS %.1f MiB over a %d-row transaction", float64(rss)/(1<<20), n)
	if rss > 256<<20 {
		t.Errorf("reader peak RSS %d MiB, want under 256 MiB", rss>>20)
	}
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var streamed, streamedBytes int64
	if err := conn.QueryRow(ctx, "SELECT stream_txns, stream_bytes FROM pg_stat_replication_slots WHERE slot_name = 'tributary_pgbig'").Scan(&streamed, &streamedBytes); err != nil {
		t.Fatal(err)
	}
	t.Logf("the server streamed %.1f MiB of decoded changes before commit", float64(streamedBytes)/(1<<20))
	if streamed < 3 {
		t.Errorf("the server streamed %d transactions before they committed, want 3", streamed)
	}
	pgCompare(t, p, k, "pgbig", schema.TableID{Database: "public", Name: "big"})
}

// TestPostgresKill9 kills the reader process with SIGKILL at random
// moments while a workload (with large streamed transactions) runs, and
// restarts it; the topics must end up equal to the tables with no change
// missing or duplicated, and the slot's confirmed position must never pass
// the committed checkpoint.
func TestPostgresKill9(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, smallDecodingMemory)
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p, pgSchema...)
	w := newPGWorkload(p, 3)
	w.seed(ctx, t, 4000)
	cfg := pgReaderConfig(p, "pgcrash")
	cfg.ChunkSize, cfg.MaxTxRows = 300, 2000

	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.run(wctx, t, 2000) })
	wg.Go(func() {
		for i := 0; wctx.Err() == nil; i++ {
			// Large transactions that the server streams in pieces.
			_ = p.Exec(wctx, fmt.Sprintf(`BEGIN; INSERT INTO kv SELECT 'bulk-%d-' || g, repeat('b', 100) FROM generate_series(1, 5000) g;
				UPDATE kv SET v = 'bulk updated' WHERE k LIKE 'bulk-%d-%%7'; COMMIT`, i, i))
			time.Sleep(300 * time.Millisecond)
		}
	})
	rnd := rand.New(rand.NewPCG(7, 7))
	for i := range 6 {
		c := startPGChild(t, cfg, k)
		time.Sleep(time.Duration(400+rnd.IntN(1200)) * time.Millisecond)
		c.kill9(t)
		if confirmed, cp := slotLSNs(t, p, k, "pgcrash"); confirmed > cp {
			t.Errorf("after kill %d the slot confirmed %X, past the committed checkpoint %X", i, confirmed, cp)
		}
	}
	stopWork()
	wg.Wait()
	started := time.Now().UTC()
	c := startPGChild(t, cfg, k)
	pgWaitCaughtUp(t, p, k, "pgcrash", 120*time.Second)
	// The last reader must itself have committed (a heartbeat at least),
	// and so be past its start-up, before it is asked to stop.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		hb, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(checkpointOf(t, k, "pgcrash", "pgcrash")["heartbeat"]))
		if hb.After(started) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted reader committed nothing in 30s:\n%s", c.out)
		}
	}
	c.term(t)
	if confirmed, cp := slotLSNs(t, p, k, "pgcrash"); confirmed != cp {
		t.Errorf("after a clean stop the slot confirmed %X, the checkpoint is at %X", confirmed, cp)
	}
	rows := 0
	for _, id := range pgTables("orders", "items", "kv") {
		rows += pgCompare(t, p, k, "pgcrash", id)
	}
	t.Logf("6 kill -9 restarts, %d workload transactions, %d rows compared", w.ops, rows)
}

// TestPostgresIdleSlotAdvances checks heartbeats: while captured tables
// are idle and others are busy, the slot's confirmed position follows the
// server's, so the slot does not hold WAL back.
func TestPostgresIdleSlotAdvances(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p, "CREATE TABLE quiet (id int PRIMARY KEY)", "ALTER TABLE quiet OWNER TO tributary", "CREATE TABLE busy (id serial PRIMARY KEY, v text)")
	src, _ := startPGReader(t, p, k, "pgidle", func(c *postgres.Config) {
		c.Include = func(s, table string) bool { return table == "quiet" }
		c.HeartbeatInterval = 300 * time.Millisecond
	})
	pgWaitCaughtUp(t, p, k, "pgidle", 30*time.Second)
	for range 20 {
		pgExec(t, p, "INSERT INTO busy (v) SELECT repeat('x', 200) FROM generate_series(1, 2000)")
	}
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var target string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		confirmed, _ := slotLSNs(t, p, k, "pgidle")
		if confirmed >= parsePGLSN(t, target) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot's confirmed position %X did not reach %s", confirmed, target)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The slot's restart point moves at the next running-transactions
	// record, which a checkpoint writes; then the WAL it holds is small.
	pgExec(t, p, "CHECKPOINT")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st := src.Stats()
		if st.RetainedWALBytes > 0 && st.RetainedWALBytes < 1<<20 && st.ConfirmedLSN != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: want under 1 MiB of retained WAL and a confirmed position", st)
		}
	}
	if rows := foldTopic(t, k, "pgidle", schema.TableID{Database: "public", Name: "busy"}).Rows; len(rows) != 0 {
		t.Errorf("the uncaptured table reached Kafka")
	}
}

// TestPostgresBadInput runs the reader against broken setups: each must
// fail at once with a fatal error that says what is wrong and the SQL that
// fixes it, and leave no checkpoint behind.
func TestPostgresBadInput(t *testing.T) {
	k := harness.KafkaT(t, harness.KafkaOptions{})
	good := harness.PostgresT(t, harness.PostgresOptions{})
	replica := harness.PostgresT(t, harness.PostgresOptions{ExtraArgs: []string{"-c", "wal_level=replica"}})
	oneSlot := harness.PostgresT(t, harness.PostgresOptions{ExtraArgs: []string{"-c", "max_replication_slots=1"}})
	pgExec(t, good,
		"CREATE ROLE norepl LOGIN PASSWORD 'norepl'", "GRANT pg_read_all_data TO norepl",
		"SELECT pg_create_logical_replication_slot('tributary_plugin', 'test_decoding')",
		"CREATE TABLE pm_a (id int PRIMARY KEY)", "CREATE TABLE pm_b (id int PRIMARY KEY)", "CREATE PUBLICATION tributary_pubmiss FOR TABLE pm_a",
		"CREATE TABLE ri_nothing (id int PRIMARY KEY)", "ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING", "ALTER TABLE ri_nothing OWNER TO tributary",
	)
	pgExec(t, oneSlot, "SELECT pg_create_logical_replication_slot('other', 'pgoutput')")
	only := func(prefix string) func(*postgres.Config) {
		return func(c *postgres.Config) {
			c.Include = func(s, table string) bool { return strings.HasPrefix(table, prefix) }
		}
	}
	tests := []struct {
		name  string
		db    *harness.Postgres
		tweak func(*postgres.Config)
		want  []string
	}{
		{"wrong-password", good, func(c *postgres.Config) { c.Password = "nope" }, []string{"password authentication failed", "postgres.password"}},
		{"wal-level", replica, nil, []string{"wal_level is replica, not logical", "ALTER SYSTEM SET wal_level = logical;"}},
		{"no-replication", good, func(c *postgres.Config) { c.User, c.Password = "norepl", "norepl" },
			[]string{"lacks the REPLICATION attribute", `ALTER ROLE "norepl" WITH REPLICATION;`}},
		{"slots-exhausted", oneSlot, only("none"), []string{"every replication slot is in use", "pg_drop_replication_slot", "max_replication_slots"}},
		{"plugin", good, only("none"), []string{"uses the output plugin test_decoding, not pgoutput", "pg_drop_replication_slot('tributary_plugin')"}},
		{"pubmiss", good, only("pm_"), []string{`does not include "public"."pm_b"`, `ALTER PUBLICATION "tributary_pubmiss" ADD TABLE "public"."pm_b";`,
			"publish_via_partition_root = true"}},
		{"identity-nothing", good, only("ri_"), []string{"REPLICA IDENTITY NOTHING", `ALTER TABLE "public"."ri_nothing" REPLICA IDENTITY DEFAULT;`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runPGReaderToExit(t, tt.db, k, tt.name, tt.tweak, 30*time.Second)
			var fe *postgres.FatalError
			if !errors.As(err, &fe) {
				t.Fatalf("want a fatal error, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if cp := checkpointOf(t, k, tt.name, tt.name); cp != nil {
				t.Errorf("a checkpoint was written: %v", cp)
			}
		})
	}
}

// runPGReaderToExit runs a reader that must stop by itself, and returns
// its error.
func runPGReaderToExit(t *testing.T, p *harness.Postgres, k *harness.Kafka, name string, tweak func(*postgres.Config), timeout time.Duration) error {
	cfg := pgReaderConfig(p, name)
	cfg.Logger = testLogger(t)
	if tweak != nil {
		tweak(&cfg)
	}
	sink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: name, CheckpointKey: name})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := postgres.NewSource(cfg).Run(ctx, sink)
	if ctx.Err() != nil {
		return errors.New("the reader was still running")
	}
	return err
}
