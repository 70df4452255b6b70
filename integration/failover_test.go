package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake/iceberg"
)

// TestMySQLResetMaster runs RESET MASTER while the reader is stopped: the
// server's binlogs and GTID history start again from nothing, so the
// checkpoint's GTID position no longer exists. The restart must say so
// (exit 3, with the recovery) instead of waiting for GTIDs the server
// will never write again or skipping the new ones; --reset-position then
// brings the topics back equal to the source.
func TestMySQLResetMaster(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 15)
	w.seed(ctx, t, 400)
	cfg := readerConfig(t, m, k, "reset", "")
	p := startReaderProcess(t, cfg, m.Password)
	waitCaughtUp(t, m, k, "reset", "reset", 60*time.Second)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code, out := waitExit(t, p); code != 0 {
		t.Fatalf("reader exit code %d:\n%s", code, out)
	}
	w.run(ctx, t, 50)
	// The old reader's dump thread may still hold the binlog open.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err := m.Exec(ctx, "RESET MASTER")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RESET MASTER: %v", err)
		}
	}
	w.run(ctx, t, 50)
	execAll(t, m, "DELETE FROM shop.orders WHERE id < 40")

	p = startReaderProcess(t, cfg, m.Password)
	code, out := waitExit(t, p)
	if code != 3 || !strings.Contains(out, "--reset-position") {
		t.Fatalf("exit code %d (want 3 and the recovery), output:\n%s", code, out)
	}
	t.Logf("reader after RESET MASTER:\n%s", out)
	startReaderProcess(t, cfg, m.Password, "--reset-position")
	waitCaughtUp(t, m, k, "reset", "reset", 60*time.Second)
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, id := range shopTables("orders", "items", "kv") {
		compareTable(t, conn, k, "reset", id)
	}
}

// TestMySQLIncludeGrows restarts a reader with a wider tables.include: the
// tables it captures from then on are snapshotted, so their topics hold
// their existing rows, not only their later changes.
func TestMySQLIncludeGrows(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 19)
	w.seed(ctx, t, 300)
	stop := startReader(t, m, k, "grow", func(c *mysql.Config) {
		c.Include = func(db, table string) bool { return db == "shop" && table == "orders" }
	})
	w.run(ctx, t, 50)
	waitCaughtUp(t, m, k, "grow", "grow", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	w.run(ctx, t, 50)
	startReader(t, m, k, "grow", nil) // every table of shop
	w.run(ctx, t, 50)
	waitCaughtUp(t, m, k, "grow", "grow", 60*time.Second)
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, id := range shopTables("orders", "items", "kv") {
		compareTable(t, conn, k, "grow", id)
	}
}

// TestPostgresLostSlotResync drops the reader's replication slot while the
// reader is stopped (as a restore from backup or a failover to a replica
// without it does), and changes rows meanwhile, deletes included: changes
// the reader can never see. The restart must fail with ErrPositionLost
// and the recovery; --reset-position then snapshots every table again
// into the lake tables that already hold its rows: they stay readable and
// full while it runs (no snapshot in their history drops to a fraction of
// the table, as a truncate and reload would), and afterwards each topic
// and each lake table equals its source, row by row.
func TestPostgresLostSlotResync(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	pgExec(t, p, pgSchema...)
	w := newPGWorkload(p, 23)
	w.seed(ctx, t, 4000)
	slot := func(c *postgres.Config) { c.Slot = "lost_slot" }
	_, stopReader := startPGReader(t, p, k, "lost", slot)
	startCompactor(t, k, l, "lost")
	w.run(ctx, t, 100)
	pgWaitCaughtUp(t, p, k, "lost", 60*time.Second)
	tables := pgTables("orders", "items", "kv", "events")
	compareLakePG(t, p, k, l, "lost", tables)
	if err := stopReader(); err != nil {
		t.Fatal(err)
	}
	before := map[string]int64{}
	for _, id := range tables {
		before[id.Name] = lakeHistory(t, l, id.Name).lastSeq
	}

	pgExec(t, p, "SELECT pg_drop_replication_slot('lost_slot')")
	w.run(ctx, t, 100)
	pgExec(t, p,
		"DELETE FROM orders WHERE id % 10 = 3",
		"DELETE FROM kv WHERE k LIKE 'key-1%'",
		"UPDATE items SET qty = qty + 100 WHERE order_id % 9 = 0",
		"INSERT INTO kv VALUES ('while-lost', 'x')",
	)
	err := runPGReaderToExit(t, p, k, "lost", slot, 60*time.Second)
	if !errors.Is(err, postgres.ErrPositionLost) || !strings.Contains(fmt.Sprint(err), "--reset-position") {
		t.Fatalf("reader without its slot: %v, want ErrPositionLost and the recovery", err)
	}
	t.Logf("reader without its slot: %v", err)

	_, stopReader = startPGReader(t, p, k, "lost", func(c *postgres.Config) {
		slot(c)
		c.ResetPosition, c.ChunkSize = true, 100
	})
	w.run(ctx, t, 100)
	pgWaitCaughtUp(t, p, k, "lost", 90*time.Second)
	for _, id := range tables {
		pgCompare(t, p, k, "lost", id)
	}
	compareLakePG(t, p, k, l, "lost", tables)
	for _, id := range tables {
		// A truncate and reload would leave a snapshot with at most one
		// batch of rows (the compactor's MaxRows, 2000) in a table of
		// 3000-4000; the resync keeps every old row until its end.
		h := lakeHistory(t, l, id.Name)
		low, since, final := int64(-1), 0, h.snapshots[len(h.snapshots)-1].live
		for _, s := range h.snapshots {
			if s.seq > before[id.Name] {
				since++
				if low < 0 || s.live < low {
					low = s.live
				}
			}
		}
		t.Logf("%s: %d snapshots since the reset; fewest live rows in one: %d; now: %d", id.Name, since, low, final)
		if since < 2 {
			t.Errorf("%s: the reload took %d commits; the test needs several to see what readers see in between", id.Name, since)
		}
		if low < final*8/10 {
			t.Errorf("%s: a snapshot since the reset holds %d live rows, fewer than 80%% of the %d the table ends with: the resync emptied it", id.Name, low, final)
		}
	}
	if err := stopReader(); err != nil {
		t.Errorf("reader: %v", err)
	}
}

// history is a lake table's snapshots, from its metadata file.
type history struct {
	lastSeq   int64
	snapshots []struct{ seq, live int64 }
}

// lakeHistory reads the snapshots of lake table public.<name>: sequence
// number and live rows (records minus position deletes) of each.
func lakeHistory(t *testing.T, l *iceberg.Lake, name string) history {
	t.Helper()
	meta := readLakeMeta(t, l, "public", name)
	h := history{lastSeq: meta.LastSeq}
	for _, s := range meta.Snapshots {
		records, _ := strconv.ParseInt(s.Summary["total-records"], 10, 64)
		deletes, _ := strconv.ParseInt(s.Summary["total-position-deletes"], 10, 64)
		h.snapshots = append(h.snapshots, struct{ seq, live int64 }{s.Seq, records - deletes})
	}
	return h
}
