package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// The chaos workload: sysbench oltp_read_write and a random transaction
// mix on MariaDB, pgbench and a table whose updates move rows to other
// keys and partitions on PostgreSQL, and a marker row per source whose
// lake visibility measures freshness. The clients talk to the servers
// directly; only Tributary goes through the fault proxies.

const (
	sysbenchTables = 2
	sysbenchRows   = 1000
)

// sysbenchArgs is the sysbench command line for MariaDB m.
func sysbenchArgs(m *harness.MariaDB, cmd string, extra ...string) []string {
	args := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(m.Port),
		"--mysql-user=root", "--mysql-password=", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(sysbenchTables), "--table-size=" + strconv.Itoa(sysbenchRows)}
	return append(append(args, extra...), cmd)
}

// prepareSysbench creates and fills the sysbench tables.
func prepareSysbench(t *testing.T, m *harness.MariaDB) {
	t.Helper()
	if err := harness.EnsureCommands(context.Background(), map[string]string{"sysbench": "sysbench"}); err != nil {
		t.Fatal(err)
	}
	execAll(t, m, "CREATE DATABASE sbtest")
	if out, err := exec.Command("sysbench", sysbenchArgs(m, "prepare")...).CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
}

// sysbenchRun is sysbench oltp_read_write at rate transactions per second
// until killed; errors (a restarting server) are ignored and reconnected.
func sysbenchRun(m *harness.MariaDB, dir string, rate int) *supervised {
	return newSupervised("sysbench", filepath.Join(dir, "sysbench.log"), "sysbench", nil,
		sysbenchArgs(m, "run", "--threads=2", "--time=0", "--events=0", "--rate="+strconv.Itoa(rate),
			"--report-interval=0", "--mysql-ignore-errors=all")...)
}

// pgbenchBin is pgbench of the server the harness runs.
func pgbenchBin(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) == 0 {
		p, err := exec.LookPath("pgbench")
		if err != nil {
			t.Fatalf("pgbench not found (it ships with postgresql; run scripts/install-deps.sh)")
		}
		return p
	}
	slices.Sort(matches)
	return matches[len(matches)-1]
}

func pgbenchEnv(p *harness.Postgres) []string { return []string{"PGPASSWORD=" + p.Password} }

func pgbenchConn(p *harness.Postgres) []string {
	return []string{"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", p.User}
}

// preparePgbench creates the pgbench tables as the reader role (so that
// it owns them and may publish them), keeps 5,000 accounts, and gives
// pgbench_history a primary key.
func preparePgbench(t *testing.T, p *harness.Postgres) {
	t.Helper()
	cmd := exec.Command(pgbenchBin(t), append(pgbenchConn(p), "-i", "-s", "1", "-q", p.Database)...)
	cmd.Env = append(cmd.Environ(), pgbenchEnv(p)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	pgExec(t, p, "DELETE FROM pgbench_accounts WHERE aid > 5000",
		"ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY")
}

// pgbenchRun is pgbench's TPC-B-like script at rate transactions per
// second until killed.
func pgbenchRun(t *testing.T, p *harness.Postgres, dir string, rate int) *supervised {
	args := append(pgbenchConn(p), "-n", "-c", "2", "-j", "1", "-T", "86400", "-R", strconv.Itoa(rate), p.Database)
	return newSupervised("pgbench", filepath.Join(dir, "pgbench.log"), pgbenchBin(t), pgbenchEnv(p), args...)
}

// movesSchema is the PostgreSQL table whose updates change primary keys
// and the partition column (day), also both at once and as swaps of two
// rows' keys inside one transaction.
var movesSchema = []string{
	`CREATE TABLE moves (id bigint PRIMARY KEY, day date NOT NULL, grp int NOT NULL, val text, at timestamptz NOT NULL DEFAULT now())`,
	"ALTER TABLE moves OWNER TO tributary",
	"INSERT INTO moves SELECT g, '2024-01-01'::date + (g % 400), g % 10, 'v' || g FROM generate_series(1, 2000) g",
	"CREATE TABLE marker (id int PRIMARY KEY, seq bigint NOT NULL, at timestamptz NOT NULL)",
	"ALTER TABLE marker OWNER TO tributary",
	"INSERT INTO marker VALUES (1, 0, now())",
}

// movesWorkload runs transactions on moves every interval until ctx ends.
func movesWorkload(ctx context.Context, p *harness.Postgres, seed uint64, interval time.Duration, ops *atomic.Int64) {
	rnd := rand.New(rand.NewPCG(seed, 77))
	next := int64(10_000_000)
	var conn *pgx.Conn
	pick := "(SELECT id FROM moves WHERE id >= $1 ORDER BY id LIMIT 1)"
	retryLoop(ctx, interval, func(ctx context.Context) (func(), error) {
		c, err := p.Conn(ctx)
		conn = c
		return func() { c.Close(context.Background()) }, err
	}, func(ctx context.Context) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		for range 1 + rnd.IntN(3) {
			at := 1 + rnd.Int64N(next-9_999_000)
			if rnd.IntN(2) == 0 {
				at = 1 + rnd.Int64N(2000)
			}
			next++
			var err error
			switch rnd.IntN(7) {
			case 0: // key change
				_, err = tx.Exec(ctx, "UPDATE moves SET id = $2, val = 'key moved' WHERE id = "+pick, at, next)
			case 1: // partition change
				_, err = tx.Exec(ctx, "UPDATE moves SET day = day + $2::int, val = 'day moved' WHERE id = "+pick, at, rnd.IntN(60)-30)
			case 2: // both
				_, err = tx.Exec(ctx, "UPDATE moves SET id = $2, day = day + $3::int, val = 'both moved' WHERE id = "+pick, at, next, rnd.IntN(400)-200)
			case 3: // swap two rows' keys
				var a, b int64
				if err = tx.QueryRow(ctx, "SELECT id FROM moves WHERE id >= $1 ORDER BY id LIMIT 1", at).Scan(&a); err != nil {
					break
				}
				if err = tx.QueryRow(ctx, "SELECT id FROM moves WHERE id > $1 ORDER BY id LIMIT 1", a).Scan(&b); err != nil {
					break
				}
				_, err = tx.Exec(ctx, "UPDATE moves SET id = -id WHERE id = $1", a)
				if err == nil {
					_, err = tx.Exec(ctx, "UPDATE moves SET id = $1, val = 'swapped' WHERE id = $2", a, b)
				}
				if err == nil {
					_, err = tx.Exec(ctx, "UPDATE moves SET id = $1, val = 'swapped' WHERE id = $2", b, -a)
				}
			case 4:
				_, err = tx.Exec(ctx, "INSERT INTO moves VALUES ($1, '2024-06-01'::date + $2::int, $3, 'new')", next, rnd.IntN(300), rnd.IntN(10))
			case 5:
				_, err = tx.Exec(ctx, "DELETE FROM moves WHERE id = "+pick, at)
			default:
				_, err = tx.Exec(ctx, "UPDATE moves SET grp = grp + 1, val = $2, at = now() WHERE id = "+pick, at, pgWords[rnd.IntN(len(pgWords))])
			}
			if err == pgx.ErrNoRows {
				err = nil
			}
			if err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		ops.Add(1)
		return nil
	})
}

// shopWorkload runs the random shop transactions of workload_test.go on
// MariaDB every interval until ctx ends, reconnecting after errors.
func shopWorkload(ctx context.Context, m *harness.MariaDB, w *workload, interval time.Duration, ops *atomic.Int64) {
	var conn *client.Conn
	retryLoop(ctx, interval, func(ctx context.Context) (func(), error) {
		c, err := m.Conn(ctx)
		conn = c
		return func() { c.Close() }, err
	}, func(ctx context.Context) error {
		if _, err := conn.Execute("BEGIN"); err != nil {
			return err
		}
		for range 1 + w.rnd.IntN(4) {
			if _, err := conn.Execute(w.statement()); err != nil {
				// A duplicate key from a random key change, or a lost
				// connection, which ROLLBACK then reports.
				_, err = conn.Execute("ROLLBACK")
				return err
			}
		}
		if _, err := conn.Execute("COMMIT"); err != nil {
			return err
		}
		ops.Add(1)
		return nil
	})
}

// freshness measures how long a source commit takes to be visible in the
// lake: writers bump a marker row's seq every interval and note when each
// commit returned; a sampler reads the lake's marker rows every second.
type freshness struct {
	mu      sync.Mutex
	written map[string]map[int64]time.Time // source -> seq -> commit returned
	seen    map[string]int64               // source -> highest seq seen in the lake
	samples []time.Duration
	max     time.Duration
	maxAt   string
}

func newFreshness() *freshness {
	return &freshness{written: map[string]map[int64]time.Time{}, seen: map[string]int64{}}
}

func (f *freshness) wrote(source string, seq int64, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.written[source] == nil {
		f.written[source] = map[int64]time.Time{}
	}
	f.written[source][seq] = at
}

// saw records that the lake shows seq for source at time now.
func (f *freshness) saw(source string, seq int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := f.seen[source] + 1; s <= seq; s++ {
		at, ok := f.written[source][s]
		if !ok {
			continue // its commit's outcome was unknown
		}
		d := now.Sub(at)
		f.samples = append(f.samples, d)
		if d > f.max {
			f.max, f.maxAt = d, fmt.Sprintf("%s seq %d committed at %s", source, s, at.Format("15:04:05.000"))
		}
	}
	if seq > f.seen[source] {
		f.seen[source] = seq
	}
}

// summary returns the maximum, the median, the 95th percentile and the
// sample count.
func (f *freshness) summary() (maxD, p50, p95 time.Duration, n int, maxAt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := slices.Clone(f.samples)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0, 0, ""
	}
	return f.max, s[len(s)/2], s[len(s)*95/100], len(s), f.maxAt
}

// markerMySQL bumps shop.marker every interval.
func markerMySQL(ctx context.Context, m *harness.MariaDB, f *freshness, interval time.Duration) {
	var conn *client.Conn
	var seq int64
	retryLoop(ctx, interval, func(ctx context.Context) (func(), error) {
		c, err := m.Conn(ctx)
		conn = c
		return func() { c.Close() }, err
	}, func(ctx context.Context) error {
		seq++
		if _, err := conn.Execute("UPDATE shop.marker SET seq = ?, at = NOW(6) WHERE id = 1", seq); err != nil {
			return err
		}
		f.wrote("mysql", seq, time.Now())
		return nil
	})
}

// markerPostgres bumps marker every interval.
func markerPostgres(ctx context.Context, p *harness.Postgres, f *freshness, interval time.Duration) {
	var conn *pgx.Conn
	var seq int64
	retryLoop(ctx, interval, func(ctx context.Context) (func(), error) {
		c, err := p.Conn(ctx)
		conn = c
		return func() { c.Close(context.Background()) }, err
	}, func(ctx context.Context) error {
		seq++
		if _, err := conn.Exec(ctx, "UPDATE marker SET seq = $1, at = now() WHERE id = 1", seq); err != nil {
			return err
		}
		f.wrote("postgres", seq, time.Now())
		return nil
	})
}

// sampleFreshness reads both marker rows from the lake every second.
func sampleFreshness(ctx context.Context, l *iceberg.Lake, brokers []string, f *freshness) {
	type marker struct {
		source, prefix, ns string
		id                 schema.TableID
		sch                *schema.Table
	}
	markers := []*marker{
		{source: "mysql", prefix: "chaosmy", ns: "shop", id: schema.TableID{Database: "shop", Name: "marker"}},
		{source: "postgres", prefix: "chaospg", ns: "public", id: schema.TableID{Database: "public", Name: "marker"}},
	}
	for ctx.Err() == nil {
		for _, mk := range markers {
			if mk.sch == nil {
				if s, err := verify.ReadSchemas(ctx, brokers, mk.prefix); err == nil {
					mk.sch, _ = s.Newest(mk.id)
				}
				if mk.sch == nil {
					continue
				}
			}
			rows, err := l.ReadTable(ctx, mk.ns, mk.id.Name, mk.sch)
			if err != nil || len(rows) != 1 {
				continue
			}
			if seq, ok := rows[0]["seq"].(int64); ok {
				f.saw(mk.source, seq, time.Now())
			}
		}
		sleepCtx(ctx, time.Second)
	}
}

// chaosWeights are the fault kinds and how often each is drawn.
var chaosWeights = []struct {
	kind   string
	weight int
}{
	{"kill-reader", 4}, {"kill-compactor", 4}, {"kill-both-compactors", 1},
	{"restart-mariadb", 1}, {"restart-postgres", 1},
	{"proxy-reset", 2}, {"proxy-blackhole", 2}, {"proxy-slow", 2},
	{"s3-errors", 2}, {"s3-timeouts", 1}, {"catalog-conflict", 2}, {"ddl", 2},
}

func (c *chaos) pickKind() string {
	total := 0
	for _, w := range chaosWeights {
		total += w.weight
	}
	n := c.rnd.IntN(total)
	for _, w := range chaosWeights {
		if n < w.weight {
			return w.kind
		}
		n -= w.weight
	}
	panic("unreachable")
}

// chaosDDL are the schema changes the ddl fault makes while the workloads
// run: columns no workload writes added and dropped, and a column the
// workload writes widened and narrowed again (the lake keeps the wider
// type). Each holds in any state, so that any order of them does.
var chaosDDL = []struct{ source, sql string }{
	{"mysql", "ALTER TABLE shop.orders ADD COLUMN IF NOT EXISTS chaos_note VARCHAR(20) DEFAULT 'x'"},
	{"mysql", "ALTER TABLE shop.orders DROP COLUMN IF EXISTS chaos_note"},
	{"mysql", "ALTER TABLE sbtest.sbtest1 ADD COLUMN IF NOT EXISTS chaos_n INT NOT NULL DEFAULT 3"},
	{"mysql", "ALTER TABLE sbtest.sbtest1 DROP COLUMN IF EXISTS chaos_n"},
	{"mysql", "ALTER TABLE sbtest.sbtest2 MODIFY k BIGINT NOT NULL DEFAULT 0"},
	{"mysql", "ALTER TABLE sbtest.sbtest2 MODIFY k INT NOT NULL DEFAULT 0"},
	{"postgres", "ALTER TABLE moves ADD COLUMN IF NOT EXISTS chaos_n int DEFAULT 5"},
	{"postgres", "ALTER TABLE moves DROP COLUMN IF EXISTS chaos_n"},
	{"postgres", "ALTER TABLE moves ALTER COLUMN grp TYPE bigint"},
	{"postgres", "ALTER TABLE moves ALTER COLUMN grp TYPE int"},
	{"postgres", "ALTER TABLE pgbench_accounts ADD COLUMN IF NOT EXISTS chaos_t text DEFAULT 'y'"},
	{"postgres", "ALTER TABLE pgbench_accounts DROP COLUMN IF EXISTS chaos_t"},
}

// injectDDL draws one schema change and makes it in the background; false
// when another is still running.
func (c *chaos) injectDDL(ctx context.Context, n int) bool {
	d := chaosDDL[c.rnd.IntN(len(chaosDDL))]
	if !c.claim("ddl") {
		return false
	}
	c.later("ddl", func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		exec := c.m.Exec
		if d.source == "postgres" {
			exec = c.p.Exec
		}
		// A server down for another fault fails the change: it is noted.
		if err := exec(ctx, d.sql); err != nil {
			c.note(n, "ddl", fmt.Sprintf("%s: %s: failed: %v", d.source, d.sql, err))
			return
		}
		c.note(n, "ddl", d.source+": "+d.sql)
	})
	return true
}
