package integration

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/integration/harness"
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
