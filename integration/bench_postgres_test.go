package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/integration/harness"
)

// The PostgreSQL benchmark (make bench-postgres). Sizes:
//   - BENCH_PG_TXNS: pgbench tpcb-like transactions for the WAL backlog
//     (3 captured row changes each; pgbench_history is not published),
//     default 100,000;
//   - BENCH_PG_BULK: rows of the bulk insert, then update, in the backlog,
//     default 500,000;
//   - BENCH_ROWS: rows of the snapshotted table, default 5,000,000;
//   - BENCH_PG_BIG_TX: rows of the single large transaction whose reader
//     peak RSS is measured, default 1,000,000.
//
// BENCH_PG_CHILD_LOG=dir keeps each reader process's output in
// dir/<source>.log (run with GODEBUG=gctrace=1 to see its heap), and the
// TRIBUTARY_TEST_PG_CPUPROFILE and TRIBUTARY_TEST_PG_HEAPPROFILE files of
// the child reader (postgres_test.go) profile it.

// pgLSN reads pg_current_wal_lsn().
func pgLSN(b *testing.B, p *harness.Postgres) string {
	b.Helper()
	ctx := context.Background()
	conn, err := p.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var l string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&l); err != nil {
		b.Fatal(err)
	}
	return l
}

// pgTool runs a PostgreSQL client program as the superuser.
func pgTool(b *testing.B, p *harness.Postgres, name string, args ...string) time.Duration {
	b.Helper()
	bin := name
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name); len(matches) > 0 {
		bin = matches[len(matches)-1]
	}
	all := append([]string{"-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", p.SuperUser}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.SuperPassword)
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return time.Since(t0)
}

// drainReader runs a reader process until its checkpoint passes the
// server's position, and returns the wall time, its CPU time and peak RSS.
func drainReader(b *testing.B, p *harness.Postgres, k *harness.Kafka, cfg postgres.Config, tables ...string) (wall, cpu time.Duration, rss int64) {
	b.Helper()
	t0 := time.Now()
	c := startPGChild(b, cfg, k, tables...)
	pgWaitCaughtUp(b, p, k, cfg.Name, 60*time.Minute)
	wall = time.Since(t0)
	rss = c.term(b)
	if dir := os.Getenv("BENCH_PG_CHILD_LOG"); dir != "" {
		// The reader's output, with GODEBUG=gctrace=1 its GC trace.
		_ = os.WriteFile(filepath.Join(dir, cfg.Name+".log"), c.out.Bytes(), 0o644)
	}
	return wall, c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime(), rss
}

func benchConfig(p *harness.Postgres, name string) postgres.Config {
	cfg := pgReaderConfig(p, name)
	cfg.HeartbeatInterval, cfg.CommitInterval, cfg.ChunkSize = time.Second, 200*time.Millisecond, 20_000
	return cfg
}

// BenchmarkPostgresStream builds a WAL backlog with pgbench and a bulk
// insert and update, then drains it with pg_recvlogical (pgoutput, same
// publication and options) and with the reader into the broker.
func BenchmarkPostgresStream(b *testing.B) {
	txns, bulk := envInt("BENCH_PG_TXNS", 100_000), envInt("BENCH_PG_BULK", 500_000)
	p := harness.PostgresT(b, harness.PostgresOptions{})
	k := harness.KafkaT(b, harness.KafkaOptions{})
	pgTool(b, p, "pgbench", "-i", "-q", "-s", "10", p.Database)
	pgExec(b, p,
		"CREATE TABLE bulk (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL)",
		"CREATE PUBLICATION tributary_benchstream FOR TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, bulk WITH (publish_via_partition_root = true)",
		"SELECT pg_create_logical_replication_slot('tributary_benchstream', 'pgoutput')",
		"SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')",
	)
	t0 := time.Now()
	pgTool(b, p, "pgbench", "-n", "-c", "4", "-j", "2", "-t", strconv.Itoa(txns/4), p.Database)
	pgExec(b, p,
		fmt.Sprintf("INSERT INTO bulk SELECT g, md5(g::text), 0 FROM generate_series(1, %d) g", bulk),
		"UPDATE bulk SET n = 1")
	end := pgLSN(b, p)
	changes := 3*(txns/4)*4 + 2*bulk
	fmt.Printf("backlog: %d pgbench transactions and %d bulk rows inserted then updated: %d row changes, built in %v, WAL end %s\n",
		txns/4*4, bulk, changes, time.Since(t0).Round(time.Millisecond), end)

	cfg := benchConfig(p, "benchstream")
	cfg.NoSnapshot = true
	wall, cpu, _ := drainReader(b, p, k, cfg, "pgbench_accounts", "pgbench_branches", "pgbench_tellers", "bulk")
	readerRate := float64(changes) / wall.Seconds()

	recv := pgTool(b, p, "pg_recvlogical", "-d", p.Database, "--slot", "bench_recvlogical", "--start", "--endpos", end, "--no-loop",
		"-o", "proto_version=2", "-o", "publication_names=tributary_benchstream", "-o", "messages=true", "-o", "streaming=on", "-f", "/dev/null")
	recvRate := float64(changes) / recv.Seconds()

	fmt.Printf("pg_recvlogical: %d row changes in %v: %.0f changes/s\n", changes, recv.Round(time.Millisecond), recvRate)
	fmt.Printf("reader:         %d row changes in %v: %.0f changes/s (%.0f%% of pg_recvlogical), %.0f changes per reader CPU-second\n",
		changes, wall.Round(time.Millisecond), readerRate, 100*readerRate/recvRate, float64(changes)/cpu.Seconds())
	b.ReportMetric(recvRate, "recvlogical_changes/s")
	b.ReportMetric(readerRate, "reader_changes/s")
	b.ReportMetric(100*readerRate/recvRate, "reader_%_of_recvlogical")
}

// BenchmarkPostgresSnapshot snapshots a BENCH_ROWS-row table and reports
// rows/s and rows per reader CPU-second.
func BenchmarkPostgresSnapshot(b *testing.B) {
	rows := envInt("BENCH_ROWS", 5_000_000)
	p := harness.PostgresT(b, harness.PostgresOptions{})
	k := harness.KafkaT(b, harness.KafkaOptions{})
	t0 := time.Now()
	pgExec(b, p,
		`CREATE TABLE snap (id bigint PRIMARY KEY, account int NOT NULL, name text NOT NULL, amount numeric(12,2) NOT NULL, created timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO snap SELECT g, g %% 1000, 'customer ' || g, (g %% 100000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second'
			FROM generate_series(1, %d) g`, rows),
		"VACUUM ANALYZE snap",
		"CREATE PUBLICATION tributary_benchsnap FOR TABLE snap WITH (publish_via_partition_root = true)")
	fmt.Printf("snapshot table: %d rows loaded in %v\n", rows, time.Since(t0).Round(time.Millisecond))
	wall, cpu, rss := drainReader(b, p, k, benchConfig(p, "benchsnap"), "snap")
	fmt.Printf("snapshot: %d rows in %v: %.0f rows/s, %.0f rows per reader CPU-second (CPU %v), peak RSS %.0f MiB\n",
		rows, wall.Round(time.Millisecond), float64(rows)/wall.Seconds(), float64(rows)/cpu.Seconds(), cpu.Round(time.Millisecond), float64(rss)/(1<<20))
	b.ReportMetric(float64(rows)/wall.Seconds(), "snapshot_rows/s")
	b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/reader_cpu_s")
}

// BenchmarkPostgresLargeTransaction measures the reader's peak RSS while
// it publishes one BENCH_PG_BIG_TX-row transaction, which the server
// streams before it commits.
func BenchmarkPostgresLargeTransaction(b *testing.B) {
	n := envInt("BENCH_PG_BIG_TX", 1_000_000)
	p := harness.PostgresT(b, harness.PostgresOptions{})
	k := harness.KafkaT(b, harness.KafkaOptions{})
	pgExec(b, p,
		"CREATE TABLE bigtx (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL)",
		"CREATE PUBLICATION tributary_benchbig FOR TABLE bigtx WITH (publish_via_partition_root = true)",
		"SELECT pg_create_logical_replication_slot('tributary_benchbig', 'pgoutput')",
		fmt.Sprintf("INSERT INTO bigtx SELECT g, repeat(md5(g::text), 2), 0 FROM generate_series(1, %d) g", n))
	cfg := benchConfig(p, "benchbig")
	cfg.NoSnapshot = true
	wall, cpu, rss := drainReader(b, p, k, cfg, "bigtx")
	fmt.Printf("large transaction: %d rows in %v (%.0f rows/s, CPU %v), reader peak RSS %.1f MiB\n",
		n, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), cpu.Round(time.Millisecond), float64(rss)/(1<<20))
	b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MiB")
}
