package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	iceberggo "github.com/apache/iceberg-go"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary-dev/tributary/integration/faultproxy"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// chaosFaults is the fault budget: CHAOS_FAULTS, default 20 (a few
// minutes, inside `make test`); `make chaos` runs 240.
func chaosFaults() int {
	if n, err := strconv.Atoi(os.Getenv("CHAOS_FAULTS")); err == nil && n >= 0 {
		return n
	}
	return 20
}

// chaosSeed is CHAOS_SEED, or a new seed each run; the test prints it.
func chaosSeed() uint64 {
	if n, err := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64); err == nil {
		return n
	}
	return uint64(time.Now().UnixNano())
}

// chaos is the whole pipeline under test and the faults injected into it.
type chaos struct {
	t     *testing.T
	dir   string
	rnd   *rand.Rand
	start time.Time

	m  *harness.MariaDB
	p  *harness.Postgres
	k  *harness.Kafka
	s3 *harness.S3

	myProxy, pgProxy *faultproxy.Proxy
	s3f              *faultproxy.HTTP
	readers          map[string]*supervised // "mysql", "postgres"
	compactors       []*supervised
	clients          []*supervised // sysbench, pgbench
	conflicts        *conflicter
	lake             *iceberg.Lake // for checks: straight to versitygw, no faults

	mu     sync.Mutex
	busy   map[string]bool
	counts map[string]int
	events []string
	faults sync.WaitGroup
}

// TestChaos runs MariaDB and PostgreSQL under load (sysbench, pgbench, key
// and partition moves) through both readers and two compactor workers
// into an Iceberg lake on versitygw, while it injects faults at random:
// kill -9 of readers and workers, server crashes, connection resets,
// partitions and slow links between the readers and their servers, S3
// errors, throttling and timeouts, and commits by another writer. Then it
// heals everything, waits until the lake caught up, and compares every lake
// table with its source row by row: a lost or duplicated row fails it.
func TestChaos(t *testing.T) {
	budget, seed := chaosFaults(), chaosSeed()
	t.Logf("chaos: seed %d (CHAOS_SEED=%d replays the fault choices), %d faults", seed, seed, budget)
	c := setupChaos(t, seed)
	ctx := context.Background()

	// The workload.
	wctx, stopWork := context.WithCancel(ctx)
	var work sync.WaitGroup
	var pgOps, myOps atomic.Int64
	fresh := newFreshness()
	sb, pb := sysbenchRun(c.m, c.dir, 15), pgbenchRun(t, c.p, c.dir, 15)
	c.clients = []*supervised{sb, pb}
	for _, s := range c.clients {
		go s.run()
		t.Cleanup(func() { s.stop(2 * time.Second) })
	}
	t.Cleanup(stopWork)
	shop := newWorkload(c.m, seed)
	work.Go(func() { shopWorkload(wctx, c.m, shop, 100*time.Millisecond, &myOps) })
	work.Go(func() { movesWorkload(wctx, c.p, seed, 50*time.Millisecond, &pgOps) })
	work.Go(func() { markerMySQL(wctx, c.m, fresh, 2*time.Second) })
	work.Go(func() { markerPostgres(wctx, c.p, fresh, 2*time.Second) })
	sctx, stopSampling := context.WithCancel(ctx)
	t.Cleanup(stopSampling)
	var sampling sync.WaitGroup
	sampling.Go(func() { sampleFreshness(sctx, c.lake, c.k.Addrs, fresh) })

	// Faults start once both sources reach the lake.
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(time.Second) {
		fresh.mu.Lock()
		ready := fresh.seen["mysql"] > 0 && fresh.seen["postgres"] > 0
		fresh.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			c.dumpLogs()
			t.Fatalf("the marker rows did not reach the lake in 4 minutes")
		}
	}
	t.Logf("chaos: pipeline up after %s; injecting faults", time.Since(c.start).Round(time.Second))
	faultStart := time.Now()
	for i := 0; i < budget; {
		if c.inject(ctx, i+1) {
			i++
		}
		time.Sleep(time.Duration(1000+c.rnd.IntN(3000)) * time.Millisecond)
	}
	c.faults.Wait()
	faultPhase := time.Since(faultStart)
	maxFresh, p50, p95, nFresh, maxAt := fresh.summary()

	// Heal, stop the workload, catch up, compare.
	c.heal()
	stopWork()
	work.Wait()
	for _, s := range c.clients {
		s.stop(2 * time.Second)
	}
	stopSampling()
	sampling.Wait()
	healed := time.Now()
	c.waitCaughtUp()
	t.Logf("chaos: readers caught up %s after the heal", time.Since(healed).Round(time.Second))
	results, behind := c.compareAll()
	t.Logf("chaos: lake compared %s after the heal", time.Since(healed).Round(time.Second))
	for _, s := range append(append([]*supervised{}, c.compactors...), c.readers["mysql"], c.readers["postgres"]) {
		s.stop(20 * time.Second)
	}
	c.report(results, behind, faultPhase, budget, seed, myOps.Load(), pgOps.Load(), maxFresh, p50, p95, nFresh, maxAt)
}

// setupChaos starts the servers, the proxies, the schema, the readers and
// the compactor workers.
func setupChaos(t *testing.T, seed uint64) *chaos {
	c := &chaos{t: t, dir: t.TempDir(), rnd: rand.New(rand.NewPCG(seed, seed>>1|1)), start: time.Now(),
		busy: map[string]bool{}, counts: map[string]int{}, readers: map[string]*supervised{}}
	c.m = harness.MariaDBT(t, harness.MariaDBOptions{})
	c.p = harness.PostgresT(t, harness.PostgresOptions{ExtraArgs: []string{"-c", "max_connections=200"}})
	c.k = harness.KafkaT(t, harness.KafkaOptions{})
	c.s3 = harness.S3T(t, harness.S3Options{})
	var err error
	if c.myProxy, err = faultproxy.New(c.m.Addr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.myProxy.Close() })
	if c.pgProxy, err = faultproxy.New(fmt.Sprintf("127.0.0.1:%d", c.p.Port)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.pgProxy.Close() })
	if c.s3f, err = faultproxy.NewHTTP(c.s3.Endpoint, seed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.s3f.Close() })

	execAll(t, c.m, shopSchema...)
	execAll(t, c.m, "CREATE TABLE shop.marker (id INT PRIMARY KEY, seq BIGINT NOT NULL, at DATETIME(6) NOT NULL)",
		"INSERT INTO shop.marker VALUES (1, 0, NOW(6))")
	newWorkload(c.m, seed).seed(context.Background(), t, 1000)
	prepareSysbench(t, c.m)
	preparePgbench(t, c.p)
	pgExec(t, c.p, movesSchema...)

	catalog := filepath.Join(c.dir, "catalog.db")
	s3cfg := iceberg.S3Config{Region: c.s3.Region, Endpoint: c.s3.Endpoint, PathStyle: true, AccessKeyID: c.s3.AccessKey, SecretAccessKey: c.s3.SecretKey}
	c.lake = iceberg.New(iceberg.Config{Warehouse: "s3://" + c.s3.Bucket + "/wh", S3: s3cfg, CatalogURI: "sqlite:" + catalog})
	t.Cleanup(func() { c.lake.Close() })
	if c.conflicts, err = newConflicter(catalog, c.s3); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.conflicts.close)

	env := []string{"TEST_DB_PASSWORD=" + c.m.Password}
	c.readers["mysql"] = newSupervised("reader-mysql", filepath.Join(c.dir, "reader-mysql.log"), binary, env,
		"reader", "-c", c.writeFile("mysql.yaml", c.mysqlConfig()))
	c.readers["postgres"] = newSupervised("reader-postgres", filepath.Join(c.dir, "reader-postgres.log"), binary,
		[]string{"TEST_DB_PASSWORD=" + c.p.Password}, "reader", "-c", c.writeFile("postgres.yaml", c.postgresConfig()))
	lakeCfg := c.writeFile("lake.yaml", c.lakeConfig(catalog))
	for i := range 2 {
		c.compactors = append(c.compactors, newSupervised(fmt.Sprintf("compactor-%d", i+1),
			filepath.Join(c.dir, fmt.Sprintf("compactor-%d.log", i+1)), binary, nil, "compactor", "-c", lakeCfg))
	}
	for _, s := range append([]*supervised{c.readers["mysql"], c.readers["postgres"]}, c.compactors...) {
		go s.run()
		t.Cleanup(func() { s.stop(5 * time.Second) })
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
	})
	return c
}

func (c *chaos) writeFile(name, content string) string {
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

func (c *chaos) mysqlConfig() string {
	return fmt.Sprintf(`name: chaosmy
type: mysql
mysql:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${TEST_DB_PASSWORD}
  server_id: 301
  heartbeat_interval: 1s
  connect_timeout: 5s
tables:
  include: ["shop.*", "sbtest.*"]
snapshot:
  chunk_size: 500
kafka:
  brokers: [%q]
  batch_max_events: 2000
  linger: 50ms
`, c.myProxy.Port(), c.m.User, c.k.Addrs[0])
}

func (c *chaos) postgresConfig() string {
	return fmt.Sprintf(`name: chaospg
type: postgres
postgres:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${TEST_DB_PASSWORD}
  database: %s
  heartbeat_interval: 1s
  connect_timeout: 5s
tables:
  include: ["public.*"]
snapshot:
  chunk_size: 1000
kafka:
  brokers: [%q]
  batch_max_events: 2000
  linger: 50ms
`, c.pgProxy.Port(), c.p.User, c.p.Database, c.k.Addrs[0])
}

func (c *chaos) lakeConfig(catalog string) string {
	return fmt.Sprintf(`kafka:
  brokers: [%q]
  group: chaos
  session_timeout: 6s
warehouse:
  s3:
    bucket: %s
    prefix: wh
    region: %s
    endpoint: %s
    path_style: true
    access_key_id: %s
    secret_access_key: %s
catalog:
  uri: sqlite:%s
sources:
  - topic_prefix: chaosmy
    tables:
      shop.orders: {partition_by: created}
  - topic_prefix: chaospg
    tables:
      public.moves: {partition_by: day}
      public.pgbench_history: {partition_by: mtime, granularity: hour}
commit:
  interval: 500ms
  max_rows: 5000
maintenance:
  interval: 5s
  snapshot_age: 10s
`, c.k.Addrs[0], c.s3.Bucket, c.s3.Region, c.s3f.URL(), c.s3.AccessKey, c.s3.SecretKey, catalog)
}

// claim marks a target busy; false when a fault already holds it.
func (c *chaos) claim(target string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy[target] {
		return false
	}
	c.busy[target] = true
	return true
}

func (c *chaos) release(target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.busy, target)
}

func (c *chaos) note(n int, kind, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[kind]++
	line := fmt.Sprintf("#%d +%.1fs %s %s", n, time.Since(c.start).Seconds(), kind, detail)
	c.events = append(c.events, line)
	c.t.Log("chaos: " + line)
}

// later runs a fault's remainder in the background, holding target.
func (c *chaos) later(target string, f func()) {
	c.faults.Go(func() {
		defer c.release(target)
		f()
	})
}

func (c *chaos) ms(lo, hi int) time.Duration {
	return time.Duration(lo+c.rnd.IntN(hi-lo+1)) * time.Millisecond
}

// inject draws one fault and starts it; false when its target was busy.
// Every random choice is drawn here, on the test's goroutine, so that a
// seed replays the same choices.
func (c *chaos) inject(ctx context.Context, n int) bool {
	kind := c.pickKind()
	sources := []string{"mysql", "postgres"}
	src := sources[c.rnd.IntN(2)]
	proxy := map[string]*faultproxy.Proxy{"mysql": c.myProxy, "postgres": c.pgProxy}[src]
	d := c.ms(1000, 8000)
	switch kind {
	case "kill-reader":
		pause := c.ms(100, 3000)
		if !c.readers[src].kill9(pause) {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%s, restart in %s", src, pause))
	case "kill-compactor":
		i, pause := c.rnd.IntN(len(c.compactors)), c.ms(100, 5000)
		if !c.compactorJoined(i) || !c.compactors[i].kill9(pause) {
			return false
		}
		c.note(n, kind, fmt.Sprintf("worker %d, restart in %s", i+1, pause))
	case "kill-both-compactors":
		pause, killed := c.ms(100, 3000), 0
		for i := range c.compactors {
			if !c.compactorJoined(i) {
				return false // not while one is down: that is kill-compactor
			}
		}
		for _, w := range c.compactors {
			if w.kill9(pause) {
				killed++
			}
		}
		c.note(n, kind, fmt.Sprintf("%d workers, restart in %s", killed, pause))
	case "restart-mariadb", "restart-postgres":
		target := strings.TrimPrefix(kind, "restart-")
		down := c.ms(0, 3000)
		if !c.claim(target) {
			return false
		}
		c.note(n, kind, fmt.Sprintf("kill -9, down %s", down))
		c.later(target, func() { c.restartServer(ctx, target, down) })
	case "proxy-reset":
		if !c.claim("proxy-" + src) {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%s: %d connections reset", src, proxy.ResetAll()))
		c.release("proxy-" + src)
	case "proxy-blackhole":
		if !c.claim("proxy-" + src) {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%s for %s", src, d))
		proxy.Blackhole()
		c.later("proxy-"+src, func() { time.Sleep(d); proxy.Pass() })
	case "proxy-slow":
		latency, rate := c.ms(10, 300), 20_000+c.rnd.IntN(500_000)
		if !c.claim("proxy-" + src) {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%s for %s: +%s per chunk, %d B/s", src, d, latency, rate))
		proxy.Slow(latency, rate)
		c.later("proxy-"+src, func() { time.Sleep(d); proxy.Pass() })
	case "s3-errors":
		rate := 0.1 + 0.5*c.rnd.Float64()
		if !c.claim("s3") {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%.0f%% of requests get 500/503 SlowDown for %s", rate*100, d))
		c.s3f.SetErrors(rate)
		c.later("s3", func() { time.Sleep(d); c.s3f.Heal() })
	case "s3-timeouts":
		rate, stall := 0.05+0.25*c.rnd.Float64(), c.ms(3000, 15000)
		if !c.claim("s3") {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%.0f%% of requests stall %s, then drop, for %s", rate*100, stall, d))
		c.s3f.SetStalls(rate, stall)
		c.later("s3", func() { time.Sleep(d); c.s3f.Heal() })
	case "ddl":
		return c.injectDDL(ctx, n)
	case "catalog-conflict":
		commits, seed := 1+c.rnd.IntN(5), c.rnd.Uint64()
		if !c.claim("catalog") {
			return false
		}
		c.note(n, kind, fmt.Sprintf("%d foreign commits over %s", commits, d))
		c.later("catalog", func() { c.foreignCommits(ctx, commits, d, seed) })
	}
	return true
}

// compactorJoined reports whether worker i has been assigned its topics
// since it last started, so that a kill hits a worker that holds tables.
// (A kill inside JoinGroup no longer wedges kfake's group: see joinConn in
// harness/kafka.go and TestKafkaGroupRejoinsAfterKills.)
func (c *chaos) compactorJoined(i int) bool {
	return c.compactors[i].loggedSinceStart("topic assigned")
}

// restartServer kills a server with SIGKILL and starts it again after down.
func (c *chaos) restartServer(ctx context.Context, which string, down time.Duration) {
	kill, start := c.m.Kill, c.m.Start
	if which == "postgres" {
		kill, start = c.p.Kill, c.p.Start
	}
	if err := kill(); err != nil {
		c.t.Errorf("chaos: kill %s: %v", which, err)
	}
	time.Sleep(down)
	for attempt := 1; ; attempt++ {
		err := start(ctx)
		if err == nil {
			return
		}
		if attempt == 3 {
			c.t.Errorf("chaos: start %s again: %v", which, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// foreignCommits commits empty snapshots to random lake tables, as
// another writer would, so that the workers' next commits are stale.
func (c *chaos) foreignCommits(ctx context.Context, n int, over time.Duration, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 3))
	for i := range n {
		ident, err := c.conflicts.commit(ctx, rnd)
		c.mu.Lock()
		if err != nil {
			c.counts["foreign-commits-lost-race"]++
			c.t.Logf("chaos: foreign commit: %v", err)
		} else {
			c.counts["foreign-commits"]++
			c.events = append(c.events, fmt.Sprintf("   +%.1fs foreign commit %d/%d to %s", time.Since(c.start).Seconds(), i+1, n, ident))
		}
		c.mu.Unlock()
		time.Sleep(over / time.Duration(n))
	}
}

// heal ends every fault and makes sure every server and process runs.
func (c *chaos) heal() {
	c.myProxy.Pass()
	c.pgProxy.Pass()
	c.s3f.Heal()
	ctx := context.Background()
	if err := c.m.Start(ctx); err != nil && !strings.Contains(err.Error(), "already running") {
		c.t.Errorf("chaos: heal mariadb: %v", err)
	}
	if err := c.p.Start(ctx); err != nil && !strings.Contains(err.Error(), "already running") {
		c.t.Errorf("chaos: heal postgres: %v", err)
	}
}

// waitCaughtUp waits until both readers have published everything their
// servers hold.
func (c *chaos) waitCaughtUp() {
	ctx := context.Background()
	conn, err := c.m.Conn(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	if err := verify.WaitCaughtUp(ctx, conn, c.k.Addrs, "chaosmy", "chaosmy", 3*time.Minute); err != nil {
		c.t.Fatalf("mysql reader: %v", err)
	}
	pconn, err := c.p.Conn(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	defer pconn.Close(ctx)
	if err := verify.WaitCaughtUpPostgres(ctx, pconn, c.k.Addrs, "chaospg", "chaospg", 3*time.Minute); err != nil {
		c.t.Fatalf("postgres reader: %v", err)
	}
}

// chaosTables are the tables compared at the end.
var chaosMySQLTables = []schema.TableID{
	{Database: "shop", Name: "orders"}, {Database: "shop", Name: "items"}, {Database: "shop", Name: "kv"}, {Database: "shop", Name: "marker"},
	{Database: "sbtest", Name: "sbtest1"}, {Database: "sbtest", Name: "sbtest2"},
}

var chaosPGTables = pgTables("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "moves", "marker")

// compareAll waits (up to ten minutes in all) until every lake table
// equals its source, and returns the last comparison of each, and per
// table the Kafka records its lake checkpoint is still behind (a lake that
// has not caught up, as opposed to one that is wrong).
func (c *chaos) compareAll() ([]*verify.LakeResult, map[schema.TableID]int64) {
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Minute)
	behind := map[schema.TableID]int64{}
	var out []*verify.LakeResult
	conn, err := c.m.Conn(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	pconn, err := c.p.Conn(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	defer pconn.Close(ctx)
	for _, id := range append(slices.Clone(chaosMySQLTables), chaosPGTables...) {
		for {
			var res *verify.LakeResult
			if id.Database == "public" {
				res, err = verify.CompareLakePostgres(ctx, pconn, c.lake, c.k.Addrs, "chaospg", "public", id)
			} else {
				res, err = verify.CompareLake(ctx, conn, c.lake, c.k.Addrs, "chaosmy", id.Database, id)
			}
			if err == nil && res.Equal() || time.Now().After(deadline) {
				if err != nil {
					c.t.Errorf("compare %s: %v", id, err)
					res = &verify.LakeResult{Table: id}
				}
				if !res.Equal() {
					prefix := map[bool]string{true: "chaospg", false: "chaosmy"}[id.Database == "public"]
					n, err := c.conflicts.behind(ctx, c.k, prefix, id)
					if err != nil {
						c.t.Logf("lake checkpoint of %s: %v", id, err)
					}
					behind[id] = n
				}
				out = append(out, res)
				break
			}
			time.Sleep(time.Second)
		}
	}
	return out, behind
}

// report prints the figures and fails the test on any row lost,
// duplicated, extra or different.
func (c *chaos) report(results []*verify.LakeResult, behind map[schema.TableID]int64, phase time.Duration, budget int, seed uint64, myOps, pgOps int64,
	maxFresh, p50, p95 time.Duration, nFresh int, maxAt string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n==== chaos report ====\n")
	fmt.Fprintf(&b, "seed %d; %d faults in %s; whole run %s\n", seed, budget, phase.Round(time.Second), time.Since(c.start).Round(time.Second))
	c.mu.Lock()
	kinds := make([]string, 0, len(c.counts))
	for k := range c.counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	fmt.Fprintf(&b, "faults by kind:\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-24s %d\n", k, c.counts[k])
	}
	c.mu.Unlock()
	s3s, mys, pgs := c.s3f.Stats(), c.myProxy.Stats(), c.pgProxy.Stats()
	fmt.Fprintf(&b, "S3 layer: %d requests, %d answered 500, %d answered 503 SlowDown (%d of them after the write), %d stalled and dropped\n",
		s3s.Requests, s3s.Errors500, s3s.Throttled, s3s.AfterWrite, s3s.Stalls)
	fmt.Fprintf(&b, "proxies: mariadb %d connections, %d reset; postgres %d connections, %d reset\n", mys.Accepted, mys.Resets, pgs.Accepted, pgs.Resets)
	sbStarts, _, _ := c.clients[0].report()
	pbStarts, _, _ := c.clients[1].report()
	fmt.Fprintf(&b, "workload: sysbench oltp_read_write (%d runs), pgbench tpcb-like (%d runs), %d shop and %d moves transactions\n",
		sbStarts, pbStarts, myOps, pgOps)
	var fatal []string
	for _, s := range append(append([]*supervised{}, c.compactors...), c.readers["mysql"], c.readers["postgres"]) {
		starts, unplanned, f := s.report()
		fmt.Fprintf(&b, "%s: %d starts, %d exits the test did not cause\n", s.name, starts, len(unplanned))
		for _, u := range unplanned {
			fmt.Fprintf(&b, "    %s\n", strings.ReplaceAll(u, "\n", "\n      "))
		}
		fatal = append(fatal, f...)
	}
	fmt.Fprintf(&b, "freshness (marker commit -> visible in the lake, sampled every 1s, %d samples): max %s (%s), p50 %s, p95 %s\n",
		nFresh, maxFresh.Round(100*time.Millisecond), maxAt, p50.Round(100*time.Millisecond), p95.Round(100*time.Millisecond))
	var rows, lost, dup, extra, diff int
	for _, r := range results {
		rows += r.SourceRows
		lost += r.Missing
		dup += r.Duplicates
		extra += r.Extra
		diff += r.Differing
		fmt.Fprintf(&b, "  %s\n", r)
		if n := behind[r.Table]; n > 0 {
			fmt.Fprintf(&b, "    NOT CAUGHT UP: the lake checkpoint is %d Kafka records behind the topic's end; missing/extra rows are staleness, not loss\n", n)
		}
	}
	fmt.Fprintf(&b, "rows checked %d in %d tables: %d lost, %d duplicated, %d extra, %d differing\n", rows, len(results), lost, dup, extra, diff)
	fmt.Fprintf(&b, "fault log:\n")
	c.mu.Lock()
	for _, e := range c.events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	c.mu.Unlock()
	c.t.Log(b.String())
	if path := os.Getenv("CHAOS_REPORT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
	for _, r := range results {
		if n := behind[r.Table]; n > 0 {
			c.t.Errorf("%s: the lake did not catch up within 10 minutes of the heal (%d records behind)", r.Table, n)
			continue
		}
		if !r.Equal() {
			for _, d := range r.Details {
				c.t.Errorf("%s: %s", r.Table, d)
			}
			c.t.Errorf("lake differs from source: %s", r)
		}
	}
	if len(fatal) > 0 {
		c.t.Errorf("%d reader exits with code 3 (a fatal error) under transient faults", len(fatal))
	}
}

// dumpLogs prints the tails of the process logs.
func (c *chaos) dumpLogs() {
	for _, name := range []string{"reader-mysql", "reader-postgres", "compactor-1", "compactor-2", "sysbench", "pgbench"} {
		c.t.Logf("tail of %s.log:\n%s", name, fileTail(filepath.Join(c.dir, name+".log"), 40))
	}
}

// conflicter commits to lake tables through its own connection to the
// SQLite catalog, as another engine would.
type conflicter struct {
	db  *sql.DB
	cat *sqlcat.Catalog
}

func newConflicter(path string, s *harness.S3) (*conflicter, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	cat, err := sqlcat.NewCatalog("tributary", db, sqlcat.SQLite, iceberggo.Properties{
		"warehouse": "s3://" + s.Bucket + "/wh", icebergio.S3Region: s.Region, icebergio.S3EndpointURL: s.Endpoint,
		icebergio.S3AccessKeyID: s.AccessKey, icebergio.S3SecretAccessKey: s.SecretKey, icebergio.S3ForceVirtualAddressing: "false",
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &conflicter{db: db, cat: cat}, nil
}

func (c *conflicter) close() { c.db.Close() }

// behind returns how many records of a table topic lie past the lake
// table's checkpoint (the newest snapshot summary that holds one), less
// one per partition for the transaction marker that ends it.
func (c *conflicter) behind(ctx context.Context, k *harness.Kafka, prefix string, id schema.TableID) (int64, error) {
	tbl, err := c.cat.LoadTable(ctx, table.Identifier{id.Database, id.Name})
	if err != nil {
		return 0, err
	}
	offsets := map[int32]int64{}
	meta := tbl.Metadata()
	for s := tbl.CurrentSnapshot(); s != nil; {
		if v, ok := s.Summary.Properties[iceberg.SummaryCheckpoint]; ok {
			var cp struct {
				Offsets map[string]int64 `json:"offsets"`
			}
			if err := json.Unmarshal([]byte(v), &cp); err != nil {
				return 0, err
			}
			for p, o := range cp.Offsets {
				n, _ := strconv.Atoi(p)
				offsets[int32(n)] = o
			}
			break
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = meta.SnapshotByID(*s.ParentSnapshotID)
	}
	cl, err := k.Client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, schema.TopicName(prefix, id))
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if lag := o.Offset - 1 - offsets[o.Partition]; lag > 0 {
			n += lag
		}
	})
	return n, nil
}

// commit appends no rows to a random lake table: a new snapshot with the
// same contents, and no checkpoint in its summary.
func (c *conflicter) commit(ctx context.Context, rnd *rand.Rand) (string, error) {
	var idents []table.Identifier
	for _, ns := range []string{"shop", "sbtest", "public"} {
		for id, err := range c.cat.ListTables(ctx, table.Identifier{ns}) {
			if err != nil {
				break
			}
			idents = append(idents, id)
		}
	}
	if len(idents) == 0 {
		return "", fmt.Errorf("no lake tables yet")
	}
	slices.SortFunc(idents, func(a, b table.Identifier) int { return strings.Compare(strings.Join(a, "."), strings.Join(b, ".")) })
	ident := idents[rnd.IntN(len(idents))]
	name := strings.Join(ident, ".")
	tbl, err := c.cat.LoadTable(ctx, ident)
	if err != nil {
		return name, err
	}
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		return name, err
	}
	rdr, err := array.NewRecordReader(sc, nil)
	if err != nil {
		return name, err
	}
	defer rdr.Release()
	txn := tbl.NewTransaction()
	if err := txn.Append(ctx, rdr, iceberggo.Properties{"chaos.foreign-commit": "true"}); err != nil {
		return name, fmt.Errorf("append to %s: %w", name, err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		return name, fmt.Errorf("commit to %s: %w", name, err)
	}
	return name, nil
}
