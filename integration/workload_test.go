package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/integration/harness"
)

// shopSchema creates the test tables: a bigint key with most common types,
// a composite key, and a text key with non-Latin text.
var shopSchema = []string{
	"CREATE DATABASE IF NOT EXISTS shop",
	`CREATE TABLE shop.orders (
		id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		customer VARCHAR(64) NOT NULL,
		amount DECIMAL(12,2) NOT NULL,
		status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
		note TEXT NULL,
		created DATETIME(6) NOT NULL,
		updated TIMESTAMP(3) NULL,
		data BLOB NULL)`,
	`CREATE TABLE shop.items (
		order_id BIGINT NOT NULL,
		line INT NOT NULL,
		sku VARCHAR(32) NOT NULL,
		qty INT UNSIGNED NOT NULL,
		PRIMARY KEY (order_id, line))`,
	`CREATE TABLE shop.kv (k VARCHAR(100) NOT NULL PRIMARY KEY, v LONGTEXT NULL)`,
}

// workload runs random transactions against the shop tables.
type workload struct {
	db  *harness.MariaDB
	rnd *rand.Rand
	// nextID is only a hint; ids come from AUTO_INCREMENT and PK moves.
	ops int
}

func newWorkload(db *harness.MariaDB, seed uint64) *workload {
	return &workload{db: db, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var words = []string{"alpha", "Ωmega", "日本語", "emoji 🚀", "tab\there", "quote'\"", "", "línea\nnueva"}

func (w *workload) word() string { return words[w.rnd.IntN(len(words))] }

// seed inserts n orders with items and kv rows.
func (w *workload) seed(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	conn, err := w.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < n; i += 500 {
		var orders, items, kvs []string
		for j := i; j < min(n, i+500); j++ {
			orders = append(orders, fmt.Sprintf("(%d, 'cust%d', %d.%02d, 'new', %s, '2024-01-%02d 10:00:00.%06d', NULL, X'%08x')",
				j+1, j%97, j, j%100, quote(w.word()), j%28+1, j, j))
			items = append(items, fmt.Sprintf("(%d, 1, 'sku%d', %d)", j+1, j, j%7))
			kvs = append(kvs, fmt.Sprintf("('key-%d-%s', %s)", j, strings.ReplaceAll(w.word(), "'", ""), quote(strings.Repeat(w.word(), 3))))
		}
		for _, q := range []string{
			"INSERT INTO shop.orders VALUES " + strings.Join(orders, ","),
			"INSERT INTO shop.items VALUES " + strings.Join(items, ","),
			"INSERT IGNORE INTO shop.kv VALUES " + strings.Join(kvs, ","),
		} {
			if _, err := conn.Execute(q); err != nil {
				t.Fatalf("seed: %v", err)
			}
		}
	}
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// run executes n random transactions; errors of individual statements
// (duplicate keys from random PK moves) roll the transaction back.
func (w *workload) run(ctx context.Context, t *testing.T, n int) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	for range n {
		if ctx.Err() != nil {
			return
		}
		if _, err := conn.Execute("BEGIN"); err != nil {
			t.Error(err)
			return
		}
		ok := true
		for range 1 + w.rnd.IntN(4) {
			if _, err := conn.Execute(w.statement()); err != nil {
				ok = false
				break
			}
		}
		verb := "COMMIT"
		if !ok || w.rnd.IntN(20) == 0 {
			verb = "ROLLBACK"
		}
		if _, err := conn.Execute(verb); err != nil {
			t.Error(err)
			return
		}
		w.ops++
	}
}

func (w *workload) statement() string {
	id := 1 + w.rnd.IntN(3000)
	switch w.rnd.IntN(10) {
	case 0, 1:
		return fmt.Sprintf("INSERT INTO shop.orders (customer, amount, status, note, created, updated, data) VALUES ('c%d', %d.%02d, 'paid', %s, NOW(6), NOW(3), NULL)",
			id, id, id%100, quote(w.word()))
	case 2, 3:
		return fmt.Sprintf("UPDATE shop.orders SET amount = amount + 1.25, status = 'shipped', note = %s, updated = NOW(3) WHERE id = %d", quote(w.word()), id)
	case 4:
		// Primary-key change.
		return fmt.Sprintf("UPDATE shop.orders SET id = id + 100000 WHERE id = %d", id)
	case 5:
		return fmt.Sprintf("DELETE FROM shop.orders WHERE id = %d", id)
	case 6:
		return fmt.Sprintf("INSERT INTO shop.items VALUES (%d, %d, 'sku', %d) ON DUPLICATE KEY UPDATE qty = qty + 1", id, 1+w.rnd.IntN(3), w.rnd.IntN(100))
	case 7:
		// Composite-key change.
		return fmt.Sprintf("UPDATE shop.items SET line = line + 10 WHERE order_id = %d AND line = 1", id)
	case 8:
		return fmt.Sprintf("REPLACE INTO shop.kv VALUES ('key-%d-new', %s)", id, quote(w.word()))
	default:
		return fmt.Sprintf("DELETE FROM shop.items WHERE order_id = %d", id)
	}
}
