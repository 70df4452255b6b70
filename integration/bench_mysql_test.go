package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/internal/benchbroker"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
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

// freeAddr returns a loopback address with a free port.
func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// commitStats reads the reader's Kafka commit count and the seconds spent
// committing from its /metrics.
func commitStats(addr string) (n int, secs float64) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		name, val, _ := strings.Cut(line, " ")
		switch {
		case strings.HasPrefix(name, "tributary_kafka_commit_duration_seconds_sum"):
			secs, _ = strconv.ParseFloat(val, 64)
		case strings.HasPrefix(name, "tributary_kafka_commit_duration_seconds_count"):
			n, _ = strconv.Atoi(val)
		}
	}
	return n, secs
}

// runReader runs the tributary binary until its checkpoint reaches the
// server's position, then stops it and returns the wall time and the
// process's CPU time, and prints how long its Kafka commits took.
func runReader(b *testing.B, m *harness.MariaDB, brokers []string, name string) (wall, cpu time.Duration) {
	b.Helper()
	maddr := freeAddr(b)
	cfg := fmt.Sprintf(`name: %s
type: mysql
mysql: {host: 127.0.0.1, port: %d, user: %s, password: "%s", server_id: 303}
tables: {include: ["sbtest.*"]}
snapshot: {chunk_size: 20000}
kafka: {brokers: [%q], partitions: 3, batch_max_events: 100000, linger: 100ms}
log: {level: info}
metrics: {listen: %q}
`, name, m.Port, m.User, m.Password, brokers[0], maddr)
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
	if err := waitCheckpoint(conn, brokers, name, 30*time.Minute); err != nil {
		b.Fatalf("%v (reader log: %s)", err, logPath)
	}
	wall = time.Since(t0)
	if n, secs := commitStats(maddr); n > 0 {
		fmt.Printf("  (reader: %d Kafka commits, %.2f s committing)\n", n, secs)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// waitCheckpoint waits until the reader's committed checkpoint has reached
// the server's current binlog position with every snapshot done, as
// verify.WaitCaughtUp does, but follows the checkpoints with one
// read_committed consumer and so sees the one that catches up when it
// commits, rather than at the next of polls 200ms apart.
func waitCheckpoint(conn *client.Conn, brokers []string, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(kafka.CheckpointTopic(name)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(10*time.Millisecond), kgo.MetadataMinAge(50*time.Millisecond), kgo.MetadataMaxAge(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	why := "no checkpoint yet"
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reader did not catch up in %v: %s", timeout, why)
		}
		var last []byte
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == name {
				last = r.Value
			}
		})
		if last == nil {
			continue
		}
		var cp struct {
			Position struct {
				File string
				Pos  uint32
			}
			Tables map[string]struct{ Snapshot string }
		}
		if err := json.Unmarshal(last, &cp); err != nil {
			return fmt.Errorf("decode checkpoint: %w", err)
		}
		res, err := conn.Execute("SHOW MASTER STATUS")
		if err != nil {
			return err
		}
		file, _ := res.GetString(0, 0)
		pos, _ := res.GetUint(0, 1)
		why = fmt.Sprintf("checkpoint at %s:%d, server at %s:%d", cp.Position.File, cp.Position.Pos, file, pos)
		if cp.Position.File != file || uint64(cp.Position.Pos) != pos {
			continue
		}
		pending := ""
		for t, st := range cp.Tables {
			if st.Snapshot != "done" {
				pending += t + "=" + st.Snapshot + " "
			}
		}
		if pending == "" {
			return nil
		}
		why = "snapshots pending: " + pending
	}
}

// seedCheckpoint commits a checkpoint that starts a reader at a binlog
// position with nothing to snapshot, as a reader that had been stopped
// there would. It lists the tables as captured and snapshotted: a reader
// snapshots the tables it captures that its checkpoint does not name.
func seedCheckpoint(b *testing.B, brokers []string, name string, at binlogPos, tables ...string) {
	b.Helper()
	known := map[string]any{}
	for _, t := range tables {
		known[t] = map[string]any{"version": 0, "snapshot": "done"}
	}
	cp, _ := json.Marshal(map[string]any{"flavor": "mariadb", "tables": known,
		"position": map[string]any{"gtid_set": at.GTID, "file": at.File, "pos": at.Pos}})
	p := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, TopicPrefix: name, CheckpointKey: name})
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
	// kfake keeps each partition's log in an in-memory file that doubles
	// as it grows, up to the segment size (100 MiB by default): with small
	// segments the broker copies less. It runs in a process of its own
	// (benchbroker) during both measurements, as a reader's brokers run
	// elsewhere in production; it still shares the machine's CPUs.
	k := benchbroker.Start(b, envStr("BENCH_SEGMENT_BYTES", "8388608"))
	execAll2(b, m, "CREATE DATABASE sbtest")
	sysbench(b, m, "--tables=4", "--table-size=50000", "oltp_write_only", "prepare")
	start := masterStatus(b, m)
	sysbench(b, m, "--tables=4", "--table-size=50000", "--threads=4", "--events="+strconv.Itoa(events), "--time=0", "oltp_write_only", "run")
	execAll2(b, m,
		"CREATE TABLE sbtest.bulk (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)",
		fmt.Sprintf("INSERT INTO sbtest.bulk SELECT seq, seq %% 1000, REPEAT('c', 120), REPEAT('p', 60) FROM sbtest.seq_1_to_%d", bulk))
	end := masterStatus(b, m)
	_ = ctx

	// The bare loop runs before and after the reader, and the reader is
	// compared with their mean: the CPUs are shared, and a load that
	// comes or goes during the run weighs on both sides alike.
	srv0, self0, brk0 := serverCPU(m), processCPU(), k.CPU(b)
	rows, bare1 := bareLoop(b, m, start, end)
	srv1, bareCPU, brk1 := serverCPU(m), processCPU()-self0, k.CPU(b)
	fmt.Printf("backlog from %s:%d to %s:%d\n", start.File, start.Pos, end.File, end.Pos)
	// The bulk table, created in the backlog, exists when the reader
	// starts: named here, it is streamed only, like the others.
	seedCheckpoint(b, k.Addrs, "stream", start, "sbtest.sbtest1", "sbtest.sbtest2", "sbtest.sbtest3", "sbtest.sbtest4", "sbtest.bulk")
	selfCPU, srv2, brk2 := processCPU(), serverCPU(m), k.CPU(b)
	wall, cpu := runReader(b, m, k.Addrs, "stream")
	waitCPU, srv3, brk3 := processCPU()-selfCPU, serverCPU(m), k.CPU(b)
	_, bare2 := bareLoop(b, m, start, end)
	bare := (bare1 + bare2) / 2
	bareRate := float64(rows) / bare.Seconds()
	readerRate := float64(rows) / wall.Seconds()
	fmt.Printf("binlog backlog: %d row changes (sysbench oltp_write_only %d transactions + bulk insert %d rows)\n", rows, events, bulk)
	fmt.Printf("  go-mysql bare BinlogSyncer loop:   %8.0f rows/s (%v before the reader, %v after; %.1f CPU-s before, %.0f rows per CPU-s)\n",
		bareRate, bare1.Round(time.Millisecond), bare2.Round(time.Millisecond), bareCPU.Seconds(), float64(rows)/bareCPU.Seconds())
	fmt.Printf("  tributary reader into kfake:       %8.0f rows/s (%v, %.1f CPU-s, %.0f rows per CPU-s)\n", readerRate, wall.Round(time.Millisecond), cpu.Seconds(), float64(rows)/cpu.Seconds())
	fmt.Printf("  reader / bare loop:                %8.1f%% (target >= 90%%)\n", 100*readerRate/bareRate)
	fmt.Printf("  (CPU-s meanwhile: MariaDB %.1f for the bare loop, %.1f for the reader; kfake, in its own process on the same CPUs, %.1f for the bare loop, %.1f for the reader; the benchmark process waiting for the reader's checkpoint %.1f)\n",
		(srv1 - srv0).Seconds(), (srv3 - srv2).Seconds(), (brk1 - brk0).Seconds(), (brk3 - brk2).Seconds(), waitCPU.Seconds())
	b.ReportMetric(bareRate, "bare-rows/s")
	b.ReportMetric(readerRate, "reader-rows/s")
	b.ReportMetric(100*readerRate/bareRate, "%-of-bare")
}

// BenchmarkMySQLSnapshot snapshots a large table (BENCH_ROWS, default 5M)
// and prints rows/s and rows per CPU-second of the reader process.
func BenchmarkMySQLSnapshot(b *testing.B) {
	n := envInt("BENCH_ROWS", 5_000_000)
	m := harness.MariaDBT(b, harness.MariaDBOptions{ExtraArgs: []string{"--innodb-buffer-pool-size=2G"}})
	k := benchbroker.Start(b, "")
	execAll2(b, m, "CREATE DATABASE sbtest",
		"CREATE TABLE sbtest.big (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
	for i := 0; i < n; i += 1_000_000 {
		execAll2(b, m, fmt.Sprintf("INSERT INTO sbtest.big SELECT seq, seq %% 10007, CONCAT('c-', seq, REPEAT('x', 100)), REPEAT('p', 60) FROM sbtest.seq_%d_to_%d", i+1, min(n, i+1_000_000)))
	}
	wall, cpu := runReader(b, m, k.Addrs, "snap")
	fmt.Printf("snapshot of %d rows (sysbench-shaped table): %v wall, %.0f rows/s; reader CPU %.1f s, %.0f rows per reader CPU-second (target >= 300000)\n",
		n, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), cpu.Seconds(), float64(n)/cpu.Seconds())
	b.ReportMetric(float64(n)/wall.Seconds(), "rows/s")
	b.ReportMetric(float64(n)/cpu.Seconds(), "rows/cpu-s")
}

// serverCPU returns the CPU time of the MariaDB server process so far, 0
// when /proc does not tell.
func serverCPU(m *harness.MariaDB) time.Duration {
	pid, err := os.ReadFile(m.Dir + "/mariadbd.pid")
	if err != nil {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// processCPU returns the CPU time of the test process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func execAll2(b *testing.B, m *harness.MariaDB, stmts ...string) {
	b.Helper()
	for _, s := range stmts {
		if err := m.Exec(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}
