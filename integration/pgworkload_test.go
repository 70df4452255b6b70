package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// pgSchema creates the PostgreSQL test tables, owned by the reader role so
// that the reader may add them to its publication: a bigint key with
// common types and a TOASTed column, a composite key, and a text key.
var pgSchema = []string{
	"CREATE TYPE status AS ENUM ('new', 'paid', 'shipped')",
	`CREATE TABLE orders (
		id bigint PRIMARY KEY,
		customer varchar(64) NOT NULL,
		amount numeric(12,2) NOT NULL,
		status status NOT NULL DEFAULT 'new',
		note text,
		created timestamptz NOT NULL,
		data bytea,
		tags text[],
		attrs jsonb,
		big text)`,
	`CREATE TABLE items (
		order_id bigint NOT NULL,
		line int NOT NULL,
		sku varchar(32) NOT NULL DEFAULT '',
		qty int NOT NULL,
		PRIMARY KEY (order_id, line))`,
	`CREATE TABLE kv (k text PRIMARY KEY, v text)`,
	// A partitioned table: its partitions publish through the root.
	`CREATE TABLE events (id bigint NOT NULL, day date NOT NULL, what text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)`,
	`CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
	`CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
	"ALTER TABLE orders OWNER TO tributary", "ALTER TABLE items OWNER TO tributary", "ALTER TABLE kv OWNER TO tributary",
	"ALTER TABLE events OWNER TO tributary", "ALTER TABLE events_2024 OWNER TO tributary", "ALTER TABLE events_2025 OWNER TO tributary",
	// A large, incompressible value for the TOAST column.
	`CREATE FUNCTION bigtext(seed int) RETURNS text LANGUAGE sql AS
		$$ SELECT string_agg(md5((seed * 1000 + g)::text), '') FROM generate_series(1, 200) g $$`,
}

func pgTables(names ...string) []schema.TableID {
	out := make([]schema.TableID, len(names))
	for i, n := range names {
		out[i] = schema.TableID{Database: "public", Name: n}
	}
	return out
}

func pgExec(t testing.TB, p *harness.Postgres, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if err := p.Exec(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// pgWorkload runs random transactions against the test tables.
type pgWorkload struct {
	db  *harness.Postgres
	rnd *rand.Rand
	ops int
}

func newPGWorkload(db *harness.Postgres, seed uint64) *pgWorkload {
	return &pgWorkload{db: db, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var pgWords = []string{"alpha", "Ωmega", "日本語", "emoji 🚀", "tab\there", `quote'"`, "", "línea\nnueva", `back\slash`}

func (w *pgWorkload) word() string { return pgWords[w.rnd.IntN(len(pgWords))] }

func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// seed inserts n orders with items and kv rows; every tenth order has a
// TOASTed big value.
func (w *pgWorkload) seed(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	pgExec(t, w.db,
		fmt.Sprintf(`INSERT INTO orders SELECT g, 'cust' || (g %% 97), g + (g %% 100) / 100.0, 'new', 'note ' || g,
			'2024-01-01 10:00:00+00'::timestamptz + g * interval '1 minute', int4send(g), ARRAY['t' || g, NULL],
			jsonb_build_object('g', g), CASE WHEN g %% 10 = 0 THEN bigtext(g) END FROM generate_series(1, %d) g`, n),
		fmt.Sprintf(`INSERT INTO items SELECT g, 1, 'sku' || g, g %% 7 FROM generate_series(1, %d) g`, n),
		fmt.Sprintf(`INSERT INTO kv SELECT 'key-' || g, repeat('v', g %% 50) FROM generate_series(1, %d) g`, n),
		fmt.Sprintf(`INSERT INTO events SELECT g, '2024-01-01'::date + g %% 700, 'e' || g FROM generate_series(1, %d) g`, n),
	)
}

// run executes n random transactions; a statement that fails (a key moved
// onto an existing one) rolls its transaction back.
func (w *pgWorkload) run(ctx context.Context, t *testing.T, n int) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(context.Background())
	for range n {
		if ctx.Err() != nil {
			return
		}
		w.tx(ctx, t, conn)
		w.ops++
	}
}

func (w *pgWorkload) tx(ctx context.Context, t *testing.T, conn *pgx.Conn) {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		if ctx.Err() == nil {
			t.Error(err)
		}
		return
	}
	ok := true
	for i := range 1 + w.rnd.IntN(4) {
		stmt := w.statement()
		if i == 1 && w.rnd.IntN(4) == 0 {
			// A subtransaction that rolls back.
			stmt = "SAVEPOINT s; " + stmt + "; ROLLBACK TO SAVEPOINT s"
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			ok = false
			break
		}
	}
	verb := "COMMIT"
	if !ok || w.rnd.IntN(20) == 0 {
		verb = "ROLLBACK"
	}
	if _, err := conn.Exec(ctx, verb); err != nil && ctx.Err() == nil {
		t.Error(err)
	}
}

func (w *pgWorkload) statement() string {
	id := 1 + w.rnd.IntN(3000)
	switch w.rnd.IntN(14) {
	case 12:
		// Moves a row to the other partition.
		return fmt.Sprintf("UPDATE events SET day = day + 365, what = 'moved' WHERE id = %d AND day < '2025-01-01'", id)
	case 13:
		return fmt.Sprintf("INSERT INTO events VALUES (%d, '2025-06-01', 'new') ON CONFLICT DO NOTHING", 100000+w.rnd.IntN(100000))
	case 0, 1:
		return fmt.Sprintf(`INSERT INTO orders (id, customer, amount, status, note, created, tags, big)
			VALUES (%d, 'c%d', %d.%02d, 'paid', %s, now(), ARRAY[%s, 'x y'], CASE WHEN %d %% 3 = 0 THEN bigtext(%d) END) ON CONFLICT DO NOTHING`,
			200000+w.rnd.IntN(1000000), id, id, id%100, pgQuote(w.word()), pgQuote(w.word()), id, id)
	case 2, 3:
		// The TOASTed column stays unchanged.
		return fmt.Sprintf("UPDATE orders SET amount = amount + 1.25, status = 'shipped', note = %s WHERE id = %d", pgQuote(w.word()), id)
	case 4:
		return fmt.Sprintf("UPDATE orders SET big = bigtext(%d), attrs = '{\"u\": true}' WHERE id = %d", w.rnd.IntN(1000), id)
	case 5:
		// A primary-key change, with the TOASTed column unchanged.
		return fmt.Sprintf("UPDATE orders SET id = id + 100000 WHERE id = %d", id)
	case 6:
		return fmt.Sprintf("DELETE FROM orders WHERE id = %d", id)
	case 7:
		return fmt.Sprintf("INSERT INTO items (order_id, line, qty) VALUES (%d, %d, %d) ON CONFLICT (order_id, line) DO UPDATE SET qty = items.qty + 1", id, 1+w.rnd.IntN(3), w.rnd.IntN(100))
	case 8:
		return fmt.Sprintf("UPDATE items SET line = line + 10 WHERE order_id = %d AND line = 1", id)
	case 9:
		return fmt.Sprintf("INSERT INTO kv VALUES ('key-%d-new', %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v", id, pgQuote(w.word()))
	case 10:
		return fmt.Sprintf("UPDATE kv SET k = k || '-moved' WHERE k = 'key-%d'", id)
	default:
		return fmt.Sprintf("DELETE FROM items WHERE order_id = %d", id)
	}
}
