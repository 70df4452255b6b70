package integration

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/lake/iceberg"
)

// TestLakeCopyOnWrite runs the MariaDB workload (updates, key and
// partition moves, deletes, DDL, a truncate, a compactor restart) into
// copy-on-write lake tables: each equals its source row by row, also read
// by icebird, and no snapshot of any of them ever had a delete file.
func TestLakeCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 37)
	w.seed(ctx, t, 800)
	tables := map[string]compactor.TableOptions{
		"shop.orders": {PartitionColumn: "created", CopyOnWrite: true},
		"shop.items":  {CopyOnWrite: true},
		"shop.kv":     {CopyOnWrite: true},
	}
	startReader(t, m, k, "cow", nil)
	stop := startCompactorWith(t, k, l, "cow", tables)
	w.run(ctx, t, 200)
	execAll(t, m, "UPDATE shop.orders SET created = created + INTERVAL 2 DAY WHERE id % 5 = 0")
	stop()
	w.run(ctx, t, 100)
	execAll(t, m,
		"ALTER TABLE shop.orders ADD COLUMN tag VARCHAR(20) NOT NULL DEFAULT 'x'",
		"DELETE FROM shop.items WHERE order_id % 4 = 0",
		"TRUNCATE TABLE shop.kv",
		"INSERT INTO shop.kv VALUES ('after-truncate', 'v')",
	)
	startCompactorWith(t, k, l, "cow", tables)
	w.run(ctx, t, 100)
	waitCaughtUp(t, m, k, "cow", "cow", 90*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "cow", id)
		compareIcebird(t, m, k, l, "cow", id)
		if n := maxDeleteFiles(t, l, "shop", id.Name); n != 0 {
			t.Errorf("%s: a snapshot had %d delete files in a copy-on-write table", id, n)
		}
	}
}

// maxDeleteFiles returns the most delete files any snapshot of lake table
// ns.name had.
func maxDeleteFiles(t *testing.T, l *iceberg.Lake, ns, name string) int {
	t.Helper()
	most := 0
	for _, s := range lakeSummaries(t, l, ns, name) {
		if n, _ := strconv.Atoi(s["total-delete-files"]); n > most {
			most = n
		}
	}
	return most
}
