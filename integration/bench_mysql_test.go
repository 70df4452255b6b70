package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// binlogPos is a binlog position with the GTID set executed through it.
type binlogPos struct {
	File string
	Pos  uint32
	GTID string
}

func masterStatus(b *testing.B, m *harness.MariaDB) binlogPos {
	b.Helper()
	conn, err := m.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Execute("SHOW MASTER STATUS")
	if err != nil {
		b.Fatal(err)
	}
	var p binlogPos
	p.File, _ = res.GetString(0, 0)
	n, _ := res.GetUint(0, 1)
	p.Pos = uint32(n)
	res, err = conn.Execute("SELECT @@gtid_binlog_pos")
	if err != nil {
		b.Fatal(err)
	}
	p.GTID, _ = res.GetString(0, 0)
	return p
}

func sysbench(b *testing.B, m *harness.MariaDB, args ...string) {
	b.Helper()
	all := append([]string{"--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(m.Port),
		"--mysql-user=root", "--mysql-password=", "--mysql-db=sbtest"}, args...)
	out, err := exec.Command("sysbench", all...).CombinedOutput()
	if err != nil {
		b.Fatalf("sysbench %v: %v\n%s", args, err, out)
	}
}

// bareLoop reads the binlog from start to end with go-mysql's BinlogSyncer
// and counts row changes, doing nothing else: the ceiling for the reader.
func bareLoop(b *testing.B, m *harness.MariaDB, start, end binlogPos) (rows int, elapsed time.Duration) {
	b.Helper()
	host, port, _ := net.SplitHostPort(m.Addr())
	p, _ := strconv.Atoi(port)
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 9001, Flavor: "mariadb", Host: host, Port: uint16(p),
		User: m.User, Password: m.Password, TimestampStringLocation: time.UTC, RenderJSONAsMySQLText: true})
	defer syncer.Close()
	t0 := time.Now()
	st, err := syncer.StartSync(gomysql.Position{Name: start.File, Pos: start.Pos})
	if err != nil {
		b.Fatal(err)
	}
	file := start.File
	for {
		ev, err := st.GetEvent(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			// The rotate's own position belongs to the file it ends.
			file = string(e.NextLogName)
			continue
		case *replication.RowsEvent:
			n := len(e.Rows)
			if e.Type() == replication.EnumRowsEventTypeUpdate {
				n /= 2
			}
			rows += n
		}
		if file == end.File && ev.Header.LogPos >= end.Pos {
			return rows, time.Since(t0)
		}
	}
}

// runReader runs the tributary binary until its checkpoint reaches the
// server's position, then stops it and returns the wall time and the
// process's CPU time.
func runReader(b *testing.B, m *harness.MariaDB, k *harness.Kafka, name string) (wall, cpu time.Duration) {
	b.Helper()
	cfg := fmt.Sprintf(`name: %s
type: mysql
mysql: {host: 127.0.0.1, port: %d, user: %s, password: "%s", server_id: 303}
tables: {include: ["sbtest.*"]}
snapshot: {chunk_size: 20000}
kafka: {brokers: [%q], partitions: 3, batch_max_events: 100000, linger: 500ms}
log: {level: info}
`, name, m.Port, m.User, m.Password, k.Addrs[0])
	path := b.TempDir() + "/" + name + ".yaml"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	logPath := os.TempDir() + "/tributary-bench-" + name + ".log"
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "reader", "-c", path)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	conn, err := m.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := verify.WaitCaughtUp(context.Background(), conn, k.Addrs, name, name, 30*time.Minute); err != nil {
		b.Fatalf("%v (reader log: %s)", err, logPath)
	}
	wall = time.Since(t0)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// seedCheckpoint commits a checkpoint that starts a reader at a binlog
// position with nothing to snapshot, as a reader that had been stopped
// there would.
func seedCheckpoint(b *testing.B, k *harness.Kafka, name string, at binlogPos) {
	b.Helper()
	cp, _ := json.Marshal(map[string]any{"flavor": "mariadb", "tables": map[string]any{},
		"position": map[string]any{"gtid_set": at.GTID, "file": at.File, "pos": at.Pos}})
	p := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: name, CheckpointKey: name})
	defer p.Close()
	if _, err := p.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := p.Commit(context.Background(), cp); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMySQLBinlog fills a binlog backlog with sysbench oltp_write_only
// and a bulk insert, then drains it with go-mysql's bare BinlogSyncer loop
// and with the reader into the broker, and prints both rates.
func BenchmarkMySQLBinlog(b *testing.B) {
	ctx := context.Background()
	events := envInt("BENCH_EVENTS", 100_000)
	bulk := envInt("BENCH_BULK", 1_000_000)
	m := harness.MariaDBT(b, harness.MariaDBOptions{ExtraArgs: []string{"--max-binlog-size=256M"}})
	k := harness.KafkaT(b, harness.KafkaOptions{})
	execAll2(b, m, "CREATE DATABASE sbtest")
	sysbench(b, m, "--tables=4", "--table-size=50000", "oltp_write_only", "prepare")
	start := masterStatus(b, m)
	sysbench(b, m, "--tables=4", "--table-size=50000", "--threads=4", "--events="+strconv.Itoa(events), "--time=0", "oltp_write_only", "run")
	execAll2(b, m,
		"CREATE TABLE sbtest.bulk (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)",
		fmt.Sprintf("INSERT INTO sbtest.bulk SELECT seq, seq %% 1000, REPEAT('c', 120), REPEAT('p', 60) FROM sbtest.seq_1_to_%d", bulk))
	end := masterStatus(b, m)
	_ = ctx

	rows, bare := bareLoop(b, m, start, end)
	fmt.Printf("backlog from %s:%d to %s:%d\n", start.File, start.Pos, end.File, end.Pos)
	seedCheckpoint(b, k, "stream", start)
	wall, cpu := runReader(b, m, k, "stream")
	bareRate := float64(rows) / bare.Seconds()
	readerRate := float64(rows) / wall.Seconds()
	fmt.Printf("binlog backlog: %d row changes (sysbench oltp_write_only %d transactions + bulk insert %d rows)\n", rows, events, bulk)
	fmt.Printf("  go-mysql bare BinlogSyncer loop: %8.0f rows/s (%v)\n", bareRate, bare.Round(time.Millisecond))
	fmt.Printf("  tributary reader into kfake:     %8.0f rows/s (%v, %.1f CPU-s, %.0f rows per CPU-s)\n", readerRate, wall.Round(time.Millisecond), cpu.Seconds(), float64(rows)/cpu.Seconds())
	fmt.Printf("  reader / bare loop:              %8.1f%% (target >= 90%%)\n", 100*readerRate/bareRate)
	b.ReportMetric(bareRate, "bare-rows/s")
	b.ReportMetric(readerRate, "reader-rows/s")
	b.ReportMetric(100*readerRate/bareRate, "%-of-bare")
}

// BenchmarkMySQLSnapshot snapshots a large table (BENCH_ROWS, default 5M)
// and prints rows/s and rows per CPU-second of the reader process.
func BenchmarkMySQLSnapshot(b *testing.B) {
	n := envInt("BENCH_ROWS", 5_000_000)
	m := harness.MariaDBT(b, harness.MariaDBOptions{ExtraArgs: []string{"--innodb-buffer-pool-size=2G"}})
	k := harness.KafkaT(b, harness.KafkaOptions{})
	execAll2(b, m, "CREATE DATABASE sbtest",
		"CREATE TABLE sbtest.big (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
	for i := 0; i < n; i += 1_000_000 {
		execAll2(b, m, fmt.Sprintf("INSERT INTO sbtest.big SELECT seq, seq %% 10007, CONCAT('c-', seq, REPEAT('x', 100)), REPEAT('p', 60) FROM sbtest.seq_%d_to_%d", i+1, min(n, i+1_000_000)))
	}
	wall, cpu := runReader(b, m, k, "snap")
	fmt.Printf("snapshot of %d rows (sysbench-shaped table): %v wall, %.0f rows/s; reader CPU %.1f s, %.0f rows per reader CPU-second (target >= 300000)\n",
		n, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), cpu.Seconds(), float64(n)/cpu.Seconds())
	b.ReportMetric(float64(n)/wall.Seconds(), "rows/s")
	b.ReportMetric(float64(n)/cpu.Seconds(), "rows/cpu-s")
}

func execAll2(b *testing.B, m *harness.MariaDB, stmts ...string) {
	b.Helper()
	for _, s := range stmts {
		if err := m.Exec(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}
