package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake/iceberg"
)

// TestLakeRenameColumnMySQL renames columns of tables that hold rows, with
// RENAME COLUMN and with CHANGE, and changes a column's type beyond any
// Iceberg promotion (DECIMAL -> VARCHAR): the lake table must show every
// row's value under the new name (a rename by field id) and type (a new
// column, filled by the reader's new snapshot), and equal the source row
// by row, without stopping.
func TestLakeRenameColumnMySQL(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 29)
	w.seed(ctx, t, 500)
	startReader(t, m, k, "ren", nil)
	startCompactor(t, k, l, "ren")
	w.run(ctx, t, 50)
	waitCaughtUp(t, m, k, "ren", "ren", 60*time.Second)
	compareLake(t, m, k, l, "ren", shopTables("kv")[0])
	execAll(t, m,
		"ALTER TABLE shop.kv RENAME COLUMN v TO val",
		"ALTER TABLE shop.items CHANGE COLUMN qty quantity INT NOT NULL",
		"INSERT INTO shop.kv VALUES ('after-rename', 'r')",
		"ALTER TABLE shop.orders MODIFY amount VARCHAR(40) NOT NULL",
	)
	w.run(ctx, t, 50)
	waitCaughtUp(t, m, k, "ren", "ren", 60*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "ren", id)
	}
	// Renamed, not dropped and added: the old names are gone.
	checkRenamed(t, l, "shop", "kv", "val", "v")
	checkRenamed(t, l, "shop", "items", "quantity", "qty")
}

// checkRenamed fails unless lake table ns.name has column to and no
// column from.
func checkRenamed(t *testing.T, l *iceberg.Lake, ns, name, to, from string) {
	t.Helper()
	cols := lakeColumns(t, l, ns, name)
	if !slices.Contains(cols, to) || slices.Contains(cols, from) {
		t.Errorf("lake table %s.%s has columns %v: want %s renamed to %s", ns, name, cols, from, to)
	}
}

// TestLakeRenameColumnPostgres renames a column of a table that holds rows,
// and changes another's type beyond any Iceberg promotion (int -> text):
// the lake table must show every row's value under the new name and type,
// and equal the source row by row.
func TestLakeRenameColumnPostgres(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	pgExec(t, p, pgSchema...)
	w := newPGWorkload(p, 31)
	w.seed(ctx, t, 500)
	startPGReader(t, p, k, "pgren", nil)
	startCompactor(t, k, l, "pgren")
	w.run(ctx, t, 50)
	pgWaitCaughtUp(t, p, k, "pgren", 60*time.Second)
	pgExec(t, p,
		"ALTER TABLE kv RENAME COLUMN v TO val",
		"INSERT INTO kv VALUES ('after-rename', 'r')",
		"UPDATE kv SET val = 'u' WHERE k = 'key-7'",
		"ALTER TABLE items ALTER COLUMN qty TYPE text",
	)
	w.run(ctx, t, 50)
	pgWaitCaughtUp(t, p, k, "pgren", 60*time.Second)
	compareLakePG(t, p, k, l, "pgren", pgTables("orders", "items", "kv", "events"))
	checkRenamed(t, l, "public", "kv", "val", "v")
}
