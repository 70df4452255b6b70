package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// marker is the source table whose row the freshness benchmark updates.
var marker = func() *schema.Table {
	t := &schema.Table{ID: schema.TableID{Database: "sbtest", Name: "marker"}, Key: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindInt32}},
		{Name: "at", Type: schema.Type{Kind: schema.KindInt64}},
	}}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}()

// BenchmarkLakeFreshness measures how long a source commit takes to become
// visible in the lake: MariaDB under sysbench oltp_write_only, a reader and
// a compactor (in this process) with the commit interval
// BENCH_COMMIT_INTERVAL (default 10s), and a marker row updated with the
// current time every 200ms for BENCH_FRESHNESS_DURATION (default 90s). The
// lake table is read with iceberg-go whenever its metadata changes; each
// marker's latency runs from just before its UPDATE to the first read that
// shows it (or a later one). It prints p50 and p99 and the target, the
// commit interval plus 5s.
func BenchmarkLakeFreshness(b *testing.B) {
	interval := envDuration("BENCH_COMMIT_INTERVAL", 10*time.Second)
	duration := envDuration("BENCH_FRESHNESS_DURATION", 90*time.Second)
	rate := envInt("BENCH_SYSBENCH_RATE", 200)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	m := harness.MariaDBT(b, harness.MariaDBOptions{})
	k := harness.KafkaT(b, harness.KafkaOptions{})
	execAll2(b, m, "CREATE DATABASE sbtest",
		"CREATE TABLE sbtest.marker (id INT PRIMARY KEY, at BIGINT NOT NULL)",
		"INSERT INTO sbtest.marker VALUES (1, 0)")
	sysbench(b, m, "--tables=4", "--table-size=10000", "oltp_write_only", "prepare")

	l := iceberg.New(iceberg.Config{Warehouse: b.TempDir()})
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	src := mysql.NewSource(mysql.Config{Name: "fresh", Addr: m.Addr(), User: m.User, Password: m.Password, ServerID: 404,
		Include: func(db, _ string) bool { return db == "sbtest" }})
	pub := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: "fresh", CheckpointKey: "fresh", Partitions: 3})
	wg.Go(func() {
		if err := src.Run(ctx, pub); err != nil && ctx.Err() == nil {
			b.Errorf("reader: %v", err)
		}
	})
	c := compactor.New(compactor.Config{Brokers: k.Addrs, Interval: interval, Lake: l,
		Sources: []compactor.SourceConfig{{TopicPrefix: "fresh"}}})
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			b.Errorf("compactor: %v", err)
		}
	})

	// The clock starts once the snapshot is in the lake.
	visible := func() (int64, bool) {
		rows, err := l.ReadTable(ctx, "sbtest", "marker", marker)
		if err != nil || len(rows) != 1 {
			return 0, false
		}
		at, ok := rows[0]["at"].(int64)
		return at, ok
	}
	for deadline := time.Now().Add(5*time.Minute + 2*interval); ; time.Sleep(200 * time.Millisecond) {
		if _, ok := visible(); ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the marker table did not reach the lake")
		}
	}

	load := exec.CommandContext(ctx, "sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port="+strconv.Itoa(m.Port),
		"--mysql-user=root", "--mysql-password=", "--mysql-db=sbtest", "--tables=4", "--table-size=10000", "--threads=2",
		"--rate="+strconv.Itoa(rate), "--time="+strconv.Itoa(int(duration.Seconds())+5), "oltp_write_only", "run")
	if err := load.Start(); err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { _ = load.Wait() })

	// Markers: the time just before each UPDATE, which is also the value
	// it writes (microseconds, strictly increasing).
	conn, err := m.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var (
		mu   sync.Mutex
		sent []time.Time
		done = make(chan struct{})
	)
	wg.Go(func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		end := time.Now().Add(duration)
		for time.Now().Before(end) {
			at := time.Now()
			if _, err := conn.Execute("UPDATE sbtest.marker SET at = ? WHERE id = 1", at.UnixMicro()); err != nil {
				b.Errorf("marker: %v", err)
				return
			}
			mu.Lock()
			sent = append(sent, at)
			mu.Unlock()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	})

	// The reader side: read the table whenever its metadata changes.
	var latencies []time.Duration
	seen, total, lastMeta := 0, 0, ""
	stopAt := time.Time{}
	for {
		select {
		case <-done:
			if stopAt.IsZero() {
				stopAt = time.Now().Add(2*interval + 30*time.Second)
			}
		default:
		}
		mu.Lock()
		total = len(sent)
		mu.Unlock()
		if !stopAt.IsZero() && (seen == total || time.Now().After(stopAt)) {
			break
		}
		time.Sleep(100 * time.Millisecond)
		loc, err := l.MetadataLocation(ctx, "sbtest", "marker")
		if err != nil || loc == lastMeta {
			continue
		}
		lastMeta = loc
		at, ok := visible()
		now := time.Now()
		if !ok {
			continue
		}
		mu.Lock()
		for seen < len(sent) && sent[seen].UnixMicro() <= at {
			latencies = append(latencies, now.Sub(sent[seen]))
			seen++
		}
		total = len(sent)
		mu.Unlock()
	}
	if seen < total {
		b.Errorf("%d of %d markers never became visible", total-seen, total)
	}
	if len(latencies) == 0 {
		b.Fatal("no marker became visible")
	}
	slices.Sort(latencies)
	p := func(q float64) time.Duration { return latencies[min(len(latencies)-1, int(q*float64(len(latencies))))] }
	target := interval + 5*time.Second
	fmt.Printf("lake freshness (source commit -> visible to an iceberg-go read), commit interval %v, sysbench oltp_write_only %d tx/s, %d markers over %v:\n",
		interval, rate, len(latencies), duration)
	fmt.Printf("  p50 %v  p99 %v  max %v  (target: p99 <= commit interval + 5s = %v)\n",
		p(0.50).Round(time.Millisecond), p(0.99).Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), target)
	b.ReportMetric(p(0.50).Seconds(), "p50-s")
	b.ReportMetric(p(0.99).Seconds(), "p99-s")
	cancel()
}
