package integration

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TRIBUTARY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startReader runs a MySQL reader in this process until the test ends.
func startReader(t *testing.T, m *harness.MariaDB, k *harness.Kafka, name string, tweak func(*mysql.Config)) (stop func() error) {
	_, stop = startSource(t, m, k, name, tweak)
	return stop
}

// startSource is startReader that also returns the running source.
func startSource(t *testing.T, m *harness.MariaDB, k *harness.Kafka, name string, tweak func(*mysql.Config)) (src *mysql.Source, stop func() error) {
	cfg := mysql.Config{
		Name: name, Addr: m.Addr(), User: m.User, Password: m.Password, ServerID: 101,
		Include:   func(db, _ string) bool { return db == "shop" },
		ChunkSize: 700, HeartbeatInterval: time.Second, Logger: testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	src = mysql.NewSource(cfg)
	sink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: name, CheckpointKey: name, Partitions: 3})
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = src.Run(ctx, sink) })
	stopped := false
	stop = func() error {
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

func execAll(t *testing.T, m *harness.MariaDB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if err := m.Exec(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

func shopTables(names ...string) []schema.TableID {
	out := make([]schema.TableID, len(names))
	for i, n := range names {
		out[i] = schema.TableID{Database: "shop", Name: n}
	}
	return out
}

// TestMySQLSnapshotStreamAndDDL snapshots tables while a workload runs,
// streams changes including key changes and deletes, applies DDL mid-stream
// and adds a table, then checks that every topic equals its source table.
func TestMySQLSnapshotStreamAndDDL(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 1)
	w.seed(ctx, t, 3000)

	stop := startReader(t, m, k, "snap", nil)
	// Changes race the snapshot's chunks.
	w.run(ctx, t, 400)
	waitCaughtUp(t, m, k, "snap", "snap", 90*time.Second)

	// DDL mid-stream, with changes around it.
	execAll(t, m,
		"ALTER TABLE shop.orders ADD COLUMN tag VARCHAR(20) NOT NULL DEFAULT 'x'",
		"UPDATE shop.orders SET tag = 'y' WHERE id % 3 = 0",
		"ALTER TABLE shop.items DROP COLUMN sku",
		"CREATE TABLE shop.added (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO shop.added VALUES (1, 'one'), (2, 'two'), (3, 'three')",
		"DELETE FROM shop.added WHERE id = 2",
		"RENAME TABLE shop.kv TO shop.kv2",
		"INSERT INTO shop.kv2 VALUES ('after-rename', 'v')",
		"TRUNCATE TABLE shop.items",
		"INSERT INTO shop.items VALUES (1, 1, 5), (2, 1, 6)",
		"ALTER TABLE shop.orders MODIFY COLUMN customer VARCHAR(100) NOT NULL",
	)
	w.run(ctx, t, 200)
	waitCaughtUp(t, m, k, "snap", "snap", 90*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, id := range shopTables("orders", "items", "kv2", "added") {
		compareTable(t, conn, k, "snap", id)
	}
	// The renamed-away table is empty in Kafka.
	if rows := foldTopic(t, k, "snap", schema.TableID{Database: "shop", Name: "kv"}).Rows; len(rows) != 0 {
		t.Errorf("shop.kv was renamed away but its topic still holds %d rows", len(rows))
	}
}

// TestMySQLRestartResumes stops and starts the reader many times during a
// workload; the topics must still equal the source with no duplicates.
func TestMySQLRestartResumes(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 2)
	w.seed(ctx, t, 2000)
	for i := range 4 {
		stop := startReader(t, m, k, "restart", func(c *mysql.Config) { c.ChunkSize = 300; c.MaxTxRows = 50 })
		w.run(ctx, t, 100)
		time.Sleep(time.Duration(100+i*150) * time.Millisecond)
		if err := stop(); err != nil {
			t.Fatalf("reader run %d: %v", i, err)
		}
	}
	startReader(t, m, k, "restart", nil)
	waitCaughtUp(t, m, k, "restart", "restart", 90*time.Second)
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, id := range shopTables("orders", "items", "kv") {
		compareTable(t, conn, k, "restart", id)
	}
}

// TestMySQLNoPrimaryKey checks the documented behaviour for a table without
// a primary key: a clear error by default.
func TestMySQLNoPrimaryKey(t *testing.T) {
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, "CREATE DATABASE shop", "CREATE TABLE shop.logs (msg TEXT)")
	stop := startReader(t, m, k, "nokey", nil)
	time.Sleep(3 * time.Second)
	err := stop()
	var fe *mysql.FatalError
	if !errors.As(err, &fe) {
		t.Fatalf("want a fatal error for a table without a key, got %v", err)
	}
	for _, want := range []string{"shop.logs has no primary key", "tables.keys", "without_primary_key: skip"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestMySQLServerRestartAndResnapshot kills the MariaDB server under a
// running reader, which must reconnect and resume; then it re-snapshots one
// table on demand while streaming continues.
func TestMySQLServerRestartAndResnapshot(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 4)
	w.seed(ctx, t, 1500)
	src, stop := startSource(t, m, k, "bounce", nil)
	w.run(ctx, t, 150)
	waitCaughtUp(t, m, k, "bounce", "bounce", 60*time.Second)
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w.run(ctx, t, 150)
	waitCaughtUp(t, m, k, "bounce", "bounce", 60*time.Second)

	orders := schema.TableID{Database: "shop", Name: "orders"}
	before := foldTopic(t, k, "bounce", orders).Reads
	src.Resnapshot(orders)
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx, t, 150) })
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	waitCaughtUp(t, m, k, "bounce", "bounce", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 0
	for _, id := range shopTables("orders", "items", "kv") {
		n = compareTable(t, conn, k, "bounce", id)
		if id == orders {
			// Rows the workload changed inside a chunk's window come from
			// the stream instead, so a re-snapshot reads most rows, not all.
			if after := foldTopic(t, k, "bounce", orders).Reads; after-before < n/2 {
				t.Errorf("re-snapshot of %s published %d reads for %d rows", orders, after-before, n)
			}
		}
	}
}
