package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

var demoMariaDBSchema = []string{
	"CREATE DATABASE shop",
	`CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(80) NOT NULL, country CHAR(2), created DATETIME(3) NOT NULL)`,
	`CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new', placed TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
}

var demoPostgresSchema = []string{
	`CREATE TABLE products (id serial PRIMARY KEY, sku text NOT NULL UNIQUE, price numeric(10,2) NOT NULL,
		tags text[], attrs jsonb, updated_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE stock_moves (id bigint PRIMARY KEY, product_id int NOT NULL, qty int NOT NULL,
		moved_on date NOT NULL, note text)`,
	// The tables' owner publishes them; the reader's role needs no more
	// than REPLICATION and SELECT.
	`CREATE PUBLICATION demo FOR TABLE products, stock_moves WITH (publish_via_partition_root = true)`,
}

// The demo's tables, by source.
var (
	demoMariaDBTables  = []schema.TableID{{Database: "shop", Name: "customers"}, {Database: "shop", Name: "orders"}}
	demoPostgresTables = []schema.TableID{{Database: "public", Name: "products"}, {Database: "public", Name: "stock_moves"}}
)

type demoOptions struct {
	dir          string
	rows, txns   int
	keep         bool
	logLevel     slog.Level
	commitPeriod time.Duration
}

// cmdDemo runs the whole pipeline on embedded defaults: MariaDB and
// PostgreSQL sandboxes, the embedded broker, a local warehouse with a
// SQLite catalog, a live workload on both databases; then it compares
// every source table with its lake table and shows how to query the lake.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := demoOptions{}
	fs.StringVar(&o.dir, "dir", "tributary-demo", "folder for the demo's configs, Kafka log and warehouse (emptied first)")
	fs.IntVar(&o.rows, "rows", 3000, "rows to seed per database before the pipeline starts")
	fs.IntVar(&o.txns, "transactions", 1500, "workload transactions per database while the pipeline runs")
	fs.DurationVar(&o.commitPeriod, "commit-interval", time.Second, "the compactor's commit.interval")
	verbose := fs.Bool("v", false, "log the pipeline's messages")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	o.logLevel = slog.LevelWarn
	if *verbose {
		o.logLevel = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	ctx, stop := signalContext(log)
	defer stop()
	start := time.Now()
	if err := demo(ctx, stdout, log, o); err != nil {
		fmt.Fprintf(stderr, "tributary demo: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "==> demo finished in %s\n", time.Since(start).Round(100*time.Millisecond))
	return exitOK
}

func demo(ctx context.Context, out io.Writer, log *slog.Logger, o demoOptions) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	dir, err := prepareDemoDir(o.dir)
	if err != nil {
		return err
	}
	step("starting MariaDB (binlog ROW, FULL image) and PostgreSQL (wal_level=logical) sandboxes")
	var (
		db  *harness.MariaDB
		pg  *harness.Postgres
		wg  sync.WaitGroup
		dbe error
		pge error
	)
	wg.Go(func() { db, dbe = harness.StartMariaDB(ctx, harness.MariaDBOptions{Logger: log}) })
	wg.Go(func() { pg, pge = harness.StartPostgres(ctx, harness.PostgresOptions{Logger: log}) })
	wg.Wait()
	if db != nil {
		defer db.Close()
	}
	if pg != nil {
		defer pg.Close()
	}
	if err := errors.Join(dbe, pge); err != nil {
		return err
	}
	my, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer my.Close()
	pgc, err := pg.Conn(ctx)
	if err != nil {
		return err
	}
	defer pgc.Close(context.WithoutCancel(ctx))
	step("seeding %d rows per database (shop.customers/orders on MariaDB, products/stock_moves on PostgreSQL)", o.rows)
	rnd := rand.New(rand.NewPCG(1, 2))
	if err := seedMariaDB(my, rnd, o.rows); err != nil {
		return err
	}
	if err := seedPostgres(ctx, pgc, rnd, o.rows); err != nil {
		return err
	}

	lakePath, srcPaths, err := writeDemoConfigs(dir, db, pg, o)
	if err != nil {
		return err
	}
	lakeCfg, err := config.LoadLake(lakePath)
	if err != nil {
		return err
	}
	var srcCfgs []*config.Source
	for _, p := range srcPaths {
		c, err := config.LoadSource(p)
		if err != nil {
			return err
		}
		srcCfgs = append(srcCfgs, c)
	}
	step("starting the pipeline: 2 readers -> embedded Kafka (%s) -> compactor -> Iceberg in %s", lakeCfg.Kafka.Embedded.Dir, lakeCfg.Warehouse.Path)
	p, err := newRunProcess(lakeCfg, srcCfgs, log, nil)
	if err != nil {
		return err
	}
	defer p.close()
	brokers := []string{p.broker.Addr()}
	pctx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	done := make(chan error, 1)
	go func() { done <- p.run(pctx) }()

	step("running %d transactions per database: inserts, updates, key and partition moves, deletes, one ALTER each", o.txns)
	var werr [2]error
	wg.Go(func() { werr[0] = runMariaDBWorkload(my, rand.New(rand.NewPCG(3, 4)), o.rows, o.txns) })
	wg.Go(func() { werr[1] = runPostgresWorkload(ctx, pgc, rand.New(rand.NewPCG(5, 6)), o.rows, o.txns) })
	wg.Wait()
	if err := errors.Join(werr[0], werr[1]); err != nil {
		return err
	}

	step("waiting until every lake table equals its source table")
	lk := iceberg.New(iceberg.Config{Warehouse: lakeCfg.Warehouse.Path})
	defer lk.Close()
	results, err := waitDemoLake(ctx, done, my, pgc, lk, brokers)
	if err != nil {
		return err
	}
	stopPipeline()
	if err := <-done; err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	step("source tables vs lake tables (read back through Iceberg, position deletes applied)")
	fmt.Fprintf(out, "%-28s %10s %18s %10s %18s  %s\n", "table", "source", "source checksum", "lake", "lake checksum", "result")
	ok := true
	for _, r := range results {
		verdict := "EQUAL"
		if !r.res.Equal() {
			verdict, ok = "DIFFERENT", false
		}
		fmt.Fprintf(out, "%-28s %10d %18x %10d %18x  %s\n", r.name, r.res.SourceRows, r.res.SourceSum, r.res.LakeRows, r.res.LakeSum, verdict)
		for _, d := range r.res.Details {
			fmt.Fprintln(out, "   ", d)
		}
	}
	if !ok {
		return fmt.Errorf("the lake differs from the source")
	}
	return printQueryHelp(ctx, out, lk, dir, lakePath, srcPaths)
}

// prepareDemoDir empties the demo folder, refusing one that holds
// anything but an earlier demo's files.
func prepareDemoDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(abs, ".tributary-demo")); err != nil {
			return "", fmt.Errorf("demo folder %s is not empty and was not made by the demo; pass -dir with a new folder", abs)
		}
		if err := os.RemoveAll(abs); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	return abs, os.WriteFile(filepath.Join(abs, ".tributary-demo"), []byte("made by tributary demo; emptied by the next demo\n"), 0o644)
}

// writeDemoConfigs writes the lake config and one source config per
// database into dir: the files an operator would write, loaded through
// the same code as `tributary run`.
func writeDemoConfigs(dir string, db *harness.MariaDB, pg *harness.Postgres, o demoOptions) (string, []string, error) {
	os.Setenv("DEMO_MARIADB_PASSWORD", db.Password)
	os.Setenv("DEMO_POSTGRES_PASSWORD", pg.Password)
	files := map[string]string{
		"lake.yaml": fmt.Sprintf(`# The compactor's side: embedded Kafka, a local warehouse, a SQLite catalog.
kafka:
  embedded:
    dir: %s
    listen: 127.0.0.1:0
warehouse:
  path: %s
sources:
  - topic_prefix: demo-mariadb
    tables:
      shop.orders: {partition_by: placed}
  - topic_prefix: demo-postgres
    tables:
      public.stock_moves: {partition_by: moved_on}
commit:
  interval: %s
log:
  level: warn
`, filepath.Join(dir, "kafka"), filepath.Join(dir, "warehouse"), o.commitPeriod),
		"mariadb.yaml": fmt.Sprintf(`name: demo-mariadb
type: mysql
mysql:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${DEMO_MARIADB_PASSWORD}
  server_id: 4242
  heartbeat_interval: 1s
tables:
  include: ["shop.*"]
kafka:
  linger: 50ms
`, db.Port, db.User),
		"postgres.yaml": fmt.Sprintf(`name: demo-postgres
type: postgres
postgres:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${DEMO_POSTGRES_PASSWORD}
  database: %s
  publication: demo
  heartbeat_interval: 1s
tables:
  include: ["public.*"]
kafka:
  linger: 50ms
`, pg.Port, pg.User, pg.Database),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return "", nil, err
		}
	}
	return filepath.Join(dir, "lake.yaml"), []string{filepath.Join(dir, "mariadb.yaml"), filepath.Join(dir, "postgres.yaml")}, nil
}

func seedMariaDB(conn *client.Conn, rnd *rand.Rand, rows int) error {
	for _, q := range demoMariaDBSchema {
		if _, err := conn.Execute(q); err != nil {
			return fmt.Errorf("mariadb schema: %w", err)
		}
	}
	for i := 1; i <= rows; i++ {
		if _, err := conn.Execute("INSERT INTO shop.customers VALUES (?, ?, ?, NOW(3))", i, fmt.Sprintf("customer %d", i), []string{"DE", "FR", "JP", "BR"}[i%4]); err != nil {
			return fmt.Errorf("mariadb seed: %w", err)
		}
		if _, err := conn.Execute("INSERT INTO shop.orders (customer_id, amount) VALUES (?, ?)", i, fmt.Sprintf("%d.%02d", rnd.IntN(500), rnd.IntN(100))); err != nil {
			return fmt.Errorf("mariadb seed: %w", err)
		}
	}
	return nil
}

func seedPostgres(ctx context.Context, conn *pgx.Conn, rnd *rand.Rand, rows int) error {
	for _, q := range demoPostgresSchema {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres schema: %w", err)
		}
	}
	_, err := conn.Exec(ctx, `INSERT INTO products (sku, price, tags, attrs)
		SELECT 'SKU-' || i, (i % 500) + 0.99, ARRAY['tag' || (i % 7), 'x'], jsonb_build_object('color', 'c' || (i % 5))
		FROM generate_series(1, $1) i`, rows)
	if err != nil {
		return fmt.Errorf("postgres seed: %w", err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO stock_moves SELECT i, 1 + i % $1, (i % 20) - 10, DATE '2026-01-01' + (i % 300), 'seed'
		FROM generate_series(1, $1) i`, rows)
	if err != nil {
		return fmt.Errorf("postgres seed: %w", err)
	}
	return nil
}

// runMariaDBWorkload runs txns random transactions, with an ALTER in the
// middle.
func runMariaDBWorkload(conn *client.Conn, rnd *rand.Rand, rows, txns int) error {
	for i := range txns {
		if i == txns/2 {
			for _, q := range []string{
				"ALTER TABLE shop.customers ADD COLUMN tier VARCHAR(10) NOT NULL DEFAULT 'basic'",
				"UPDATE shop.customers SET tier = 'gold' WHERE id % 10 = 0",
			} {
				if _, err := conn.Execute(q); err != nil {
					return fmt.Errorf("mariadb workload %q: %w", q, err)
				}
			}
		}
		id := 1 + rnd.IntN(rows)
		var q string
		switch rnd.IntN(6) {
		case 0, 1:
			q = fmt.Sprintf("INSERT INTO shop.orders (customer_id, amount, status) VALUES (%d, %d.%02d, 'paid')", id, rnd.IntN(900), rnd.IntN(100))
		case 2:
			q = fmt.Sprintf("UPDATE shop.orders SET status = 'shipped', amount = amount + 1, placed = placed - INTERVAL %d DAY WHERE id = %d", rnd.IntN(5), id)
		case 3:
			q = fmt.Sprintf("UPDATE shop.customers SET id = id + %d WHERE id = %d", 10*rows, id)
		case 4:
			q = fmt.Sprintf("DELETE FROM shop.orders WHERE id = %d", id)
		default:
			q = fmt.Sprintf("UPDATE shop.customers SET name = CONCAT(name, '*'), country = 'NZ' WHERE id = %d", id)
		}
		if _, err := conn.Execute(q); err != nil {
			return fmt.Errorf("mariadb workload %q: %w", q, err)
		}
	}
	return nil
}

// runPostgresWorkload runs txns random transactions of a few statements,
// moving rows across keys and partitions, with an ALTER in the middle.
func runPostgresWorkload(ctx context.Context, conn *pgx.Conn, rnd *rand.Rand, rows, txns int) error {
	next := rows + 1
	for i := range txns {
		if i == txns/2 {
			if _, err := conn.Exec(ctx, "ALTER TABLE products ADD COLUMN discontinued boolean NOT NULL DEFAULT false"); err != nil {
				return fmt.Errorf("postgres workload: %w", err)
			}
		}
		id := 1 + rnd.IntN(rows)
		stmts := []string{}
		for range 1 + rnd.IntN(3) {
			switch rnd.IntN(6) {
			case 0:
				stmts = append(stmts, fmt.Sprintf("INSERT INTO stock_moves VALUES (%d, %d, %d, DATE '2026-01-01' + %d, 'live')", next, id, rnd.IntN(50), rnd.IntN(330)))
				next++
			case 1:
				stmts = append(stmts, fmt.Sprintf("UPDATE stock_moves SET moved_on = moved_on + %d, note = 'moved' WHERE id = %d", 1+rnd.IntN(40), id))
			case 2:
				stmts = append(stmts, fmt.Sprintf("UPDATE stock_moves SET id = id + %d WHERE id = %d", 100*rows, id))
			case 3:
				stmts = append(stmts, fmt.Sprintf("DELETE FROM stock_moves WHERE id = %d", id))
			case 4:
				stmts = append(stmts, fmt.Sprintf("UPDATE products SET price = price + 1, tags = tags || 'sale'::text, updated_at = now() WHERE id = %d", id))
			default:
				stmts = append(stmts, fmt.Sprintf("UPDATE products SET attrs = attrs || '{\"stock\": %d}' WHERE id = %d", rnd.IntN(100), id))
			}
		}
		q := "BEGIN; " + strings.Join(stmts, "; ") + "; COMMIT"
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres workload %q: %w", q, err)
		}
	}
	return nil
}

type demoResult struct {
	name string
	res  *verify.LakeResult
}

// waitDemoLake compares every table with its lake table until all are
// equal, the pipeline fails, or 2 minutes pass.
func waitDemoLake(ctx context.Context, pipeline <-chan error, my *client.Conn, pgc *pgx.Conn, lk *iceberg.Lake, brokers []string) ([]demoResult, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var out []demoResult
		equal := true
		var cmpErr error
		for _, id := range demoMariaDBTables {
			res, err := verify.CompareLake(ctx, my, lk, brokers, "demo-mariadb", id.Database, id)
			if err != nil {
				cmpErr = err
				break
			}
			equal = equal && res.Equal()
			out = append(out, demoResult{"mariadb " + id.String(), res})
		}
		for _, id := range demoPostgresTables {
			if cmpErr != nil {
				break
			}
			res, err := verify.CompareLakePostgres(ctx, pgc, lk, brokers, "demo-postgres", id.Database, id)
			if err != nil {
				cmpErr = err
				break
			}
			equal = equal && res.Equal()
			out = append(out, demoResult{"postgres " + id.String(), res})
		}
		if cmpErr == nil && equal {
			return out, nil
		}
		if time.Now().After(deadline) {
			if cmpErr != nil {
				return nil, fmt.Errorf("the lake did not catch up in 2 minutes: %w", cmpErr)
			}
			return out, nil
		}
		select {
		case err := <-pipeline:
			return nil, fmt.Errorf("pipeline stopped: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// printQueryHelp shows where the lake is and how to query it.
func printQueryHelp(ctx context.Context, out io.Writer, lk *iceberg.Lake, dir, lakePath string, srcPaths []string) error {
	meta, err := lk.MetadataLocation(ctx, "shop", "orders")
	if err != nil {
		return err
	}
	pmeta, err := lk.MetadataLocation(ctx, "public", "stock_moves")
	if err != nil {
		return err
	}
	wh := filepath.Join(dir, "warehouse")
	fmt.Fprintf(out, `==> the lake is in %s (Iceberg v2, Parquet, SQLite catalog %s)

Query it with DuckDB (the iceberg extension reads the metadata file; it applies position deletes):
  duckdb -c "INSTALL iceberg; LOAD iceberg;
             SELECT status, count(*), sum(amount) FROM iceberg_scan('%s') GROUP BY status;
             SELECT moved_on, sum(qty) FROM iceberg_scan('%s') GROUP BY 1 ORDER BY 1 LIMIT 5;"

Spark (the catalog is Iceberg's JDBC catalog layout; its catalog name is "tributary", which the
Spark catalog's name must match; add org.xerial:sqlite-jdbc to the classpath):
  spark-sql --packages org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.6.1,org.xerial:sqlite-jdbc:3.46.0.0 \
    --conf spark.sql.catalog.tributary=org.apache.iceberg.spark.SparkCatalog \
    --conf spark.sql.catalog.tributary.catalog-impl=org.apache.iceberg.jdbc.JdbcCatalog \
    --conf spark.sql.catalog.tributary.uri=jdbc:sqlite:%s \
    --conf spark.sql.catalog.tributary.warehouse=file://%s \
    -e "SELECT * FROM tributary.shop.orders LIMIT 10"

Trino reads the same tables through its Iceberg connector with iceberg.catalog.type=jdbc once the
catalog lives in PostgreSQL (catalog.uri: postgres://...); see docs/analysts.md.

Run the same pipeline yourself (the demo's sandboxes are gone once it exits; point the source
configs at your own databases):
  tributary run -c %s -s %s -s %s
`, wh, filepath.Join(wh, "catalog.db"), meta, pmeta, filepath.Join(wh, "catalog.db"), wh, lakePath, srcPaths[0], srcPaths[1])
	return nil
}
