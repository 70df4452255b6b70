package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/metrics"
)

// scrape reads /metrics into "name{labels}" -> value, with the labels as
// the exposition writes them.
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad line %q", line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sum adds the values of the series of a metric whose labels contain
// every one of match (`name="value"` each).
func sum(values map[string]float64, name string, match ...string) (float64, bool) {
	total, found := 0.0, false
	for k, v := range values {
		n, labels, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(labels, m)
		}
		if ok {
			total, found = total+v, true
		}
	}
	return total, found
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runUntilCleanup runs fn in a goroutine until the test ends.
func runUntilCleanup(t *testing.T, what string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = fn(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}

// TestMetrics runs a MariaDB reader, a PostgreSQL reader and a compactor in
// this process with one metrics registry, drives a workload through them,
// and reads /metrics and /readyz over HTTP: every documented metric is
// exposed, the counters move under load, and readiness goes from 503 to
// 200.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	execAll(t, m, shopSchema...)
	pgExec(t, p, pgSchema...)
	mw, pw := newWorkload(m, 11), newPGWorkload(p, 11)
	mw.seed(ctx, t, 800)
	pw.seed(ctx, t, 800)

	reg := metrics.NewRegistry("test")
	const myName, pgName, group = "metrics-my", "metrics-pg", "metrics-lake"
	myM, pgM, lakeM := reg.Reader(myName), reg.Reader(pgName), reg.Compactor(group)
	srv := metrics.NewServer("127.0.0.1:0", reg, testLogger(t))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "metrics server", srv.Run)
	base := "http://" + srv.Addr()
	if code, body := readyz(t, base); code != http.StatusServiceUnavailable || !strings.Contains(body, "reader "+myName) ||
		!strings.Contains(body, "compactor "+group) {
		t.Fatalf("/readyz before start = %d %q, want 503 naming the readers and the compactor", code, body)
	}

	my := mysql.NewSource(mysql.Config{
		Name: myName, Addr: m.Addr(), User: m.User, Password: m.Password, ServerID: 131,
		Include: func(db, _ string) bool { return db == "shop" }, ChunkSize: 300,
		HeartbeatInterval: time.Second, LagPollInterval: 500 * time.Millisecond,
		Logger: testLogger(t), Metrics: myM,
	})
	mySink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: myName, CheckpointKey: myName, Partitions: 3, Metrics: reg.Publisher(myName)})
	runUntilCleanup(t, "mysql reader", func(ctx context.Context) error { return my.Run(ctx, mySink) })
	pgCfg := pgReaderConfig(p, pgName)
	pgCfg.Logger, pgCfg.Metrics = testLogger(t), pgM
	pg := postgres.NewSource(pgCfg)
	pgSink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: pgName, CheckpointKey: pgName, Partitions: 3, Metrics: reg.Publisher(pgName)})
	runUntilCleanup(t, "postgres reader", func(ctx context.Context) error { return pg.Run(ctx, pgSink) })
	c := compactor.New(compactor.Config{
		Brokers: k.Addrs, Group: group, Interval: 300 * time.Millisecond, MaintainEvery: time.Second,
		Lake: l, Logger: testLogger(t), Metrics: lakeM,
		Sources: []compactor.SourceConfig{{TopicPrefix: myName}, {TopicPrefix: pgName}},
	})
	runUntilCleanup(t, "compactor", c.Run)

	waitFor(t, "/readyz to answer 200", 90*time.Second, func() (bool, string) {
		code, body := readyz(t, base)
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
	mw.run(ctx, t, 150)
	pw.run(ctx, t, 150)
	waitCaughtUp(t, m, k, myName, myName, 90*time.Second)
	pgWaitCaughtUp(t, p, k, pgName, 90*time.Second)
	// The lake has the snapshot and the first workload once every table
	// committed and freshness is known.
	var first map[string]float64
	waitFor(t, "the first lake commits", 90*time.Second, func() (bool, string) {
		first = scrapeMetrics(t, base)
		_, myFresh := sum(first, "tributary_lake_freshness_seconds", `topic="`+myName+`.shop.orders"`)
		_, pgFresh := sum(first, "tributary_lake_freshness_seconds", `topic="`+pgName+`.public.orders"`)
		_, myLag := sum(first, "tributary_source_lag_bytes", `source="`+myName+`"`)
		_, pgLag := sum(first, "tributary_source_lag_bytes", `source="`+pgName+`"`)
		return myFresh && pgFresh && myLag && pgLag, "freshness or lag bytes not exposed yet"
	})

	mw.run(ctx, t, 200)
	pw.run(ctx, t, 200)
	waitCaughtUp(t, m, k, myName, myName, 90*time.Second)
	pgWaitCaughtUp(t, p, k, pgName, 90*time.Second)
	moved := []struct {
		name  string
		match []string
	}{
		{"tributary_source_events_total", []string{`source="` + myName + `"`, `op="update"`}},
		{"tributary_source_events_total", []string{`source="` + pgName + `"`, `op="update"`}},
		{"tributary_kafka_events_published_total", []string{`source="` + myName + `"`}},
		{"tributary_kafka_events_published_total", []string{`source="` + pgName + `"`}},
		{"tributary_kafka_transactions_total", []string{`source="` + pgName + `"`}},
		{"tributary_source_transaction_rows_count", []string{`source="` + myName + `"`}},
		{"tributary_compactor_records_total", []string{`topic="` + myName + `.shop.orders"`}},
		{"tributary_lake_commits_total", []string{`topic="` + myName + `.shop.orders"`}},
		{"tributary_lake_commits_total", []string{`topic="` + pgName + `.public.orders"`}},
		{"tributary_lake_rows_written_total", []string{`topic="` + pgName + `.public.orders"`}},
	}
	var second map[string]float64
	waitFor(t, "the counters to move", 90*time.Second, func() (bool, string) {
		second = scrapeMetrics(t, base)
		for _, mv := range moved {
			a, _ := sum(first, mv.name, mv.match...)
			b, _ := sum(second, mv.name, mv.match...)
			if b <= a {
				return false, fmt.Sprintf("%s%v stayed at %v", mv.name, mv.match, b)
			}
		}
		return true, ""
	})

	for _, d := range metrics.Definitions() {
		name := d.Name
		if d.Type == metrics.Histogram {
			name += "_count"
		}
		if _, ok := sum(second, name); !ok {
			t.Errorf("%s is documented but not exposed", name)
		}
	}
	for _, src := range []string{myName, pgName} {
		if v, _ := sum(second, "tributary_ready", `name="`+src+`"`); v != 1 {
			t.Errorf("tributary_ready of %s = %v, want 1", src, v)
		}
		lag, ok := sum(second, "tributary_source_lag_seconds", `source="`+src+`"`)
		if !ok || lag < 0 || lag > 600 {
			t.Errorf("tributary_source_lag_seconds of %s = %v (exposed %v), want a caught-up reader's few seconds", src, lag, ok)
		}
		done, _ := sum(second, "tributary_snapshot_state", `source="`+src+`"`, `table=`, `state="done"`)
		if done == 0 {
			t.Errorf("no table of %s reports its snapshot done", src)
		}
	}
	if rows, _ := sum(second, "tributary_snapshot_rows", `source="`+myName+`"`, `table="shop.orders"`); rows < 800 {
		t.Errorf("snapshot rows of shop.orders = %v, want at least the 800 seeded", rows)
	}
	if v, _ := sum(second, "tributary_postgres_slot_retained_wal_bytes", `source="`+pgName+`"`); v <= 0 {
		t.Errorf("slot retained WAL = %v, want > 0", v)
	}
	if v, _ := sum(second, "tributary_ready", `component="compactor"`); v != 1 {
		t.Errorf("compactor not ready: %v", v)
	}
}

// waitFor polls cond until it holds or timeout passes, then fails with
// cond's last word.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
