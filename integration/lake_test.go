package integration

import (
	"context"
	"sync"
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
	c := compactor.New(compactor.Config{
		Brokers: k.Addrs, Group: "lake-" + prefix, Interval: 300 * time.Millisecond, MaxRows: 2000,
		Lake: l, Logger: testLogger(t),
		Sources: []compactor.SourceConfig{{
			TopicPrefix: prefix,
			Tables: map[string]compactor.TableOptions{
				"shop.orders": {PartitionColumn: "created"}, "public.orders": {PartitionColumn: "created"},
				"public.events": {PartitionColumn: "day", Granularity: "month"},
			},
		}},
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
	l := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger(t)})
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
	l := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger(t)})
	t.Cleanup(func() { l.Close() })
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
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, id := range pgTables("orders", "items", "kv", "events") {
		var res *verify.LakeResult
		deadline := time.Now().Add(45 * time.Second)
		for {
			res, err = verify.CompareLakePostgres(ctx, conn, l, k.Addrs, "pglake", "public", id)
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
