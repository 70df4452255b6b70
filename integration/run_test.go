package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// TestDemo runs `tributary demo` as `make demo` does, with its default
// sizes: it must end with every table equal and say how to query the lake.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	start := time.Now()
	out, err := exec.Command(binary, "demo", "-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	t.Logf("demo took %s", time.Since(start))
	if n := strings.Count(string(out), "  EQUAL\n"); n != 4 {
		t.Errorf("want 4 tables EQUAL, got %d:\n%s", n, out)
	}
	for _, w := range []string{"iceberg_scan('file://" + dir, "tributary run -c " + filepath.Join(dir, "lake.yaml")} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output does not say %q:\n%s", w, out)
		}
	}
}

// runProcess is the tributary binary running "run".
type runProcess = binProcess

func startRunProcess(t *testing.T, env []string, args ...string) *runProcess {
	t.Helper()
	return startBinary(t, env, append([]string{"run"}, args...)...)
}

// admin runs `tributary admin` against a process and returns its output.
func admin(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"admin", "-a", addr}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tributary admin %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitState polls a process's /status until a source is in state.
func waitState(t *testing.T, p *runProcess, addr, source, state string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(binary, "admin", "-a", addr, "status").Output()
		if err == nil {
			var st struct {
				Readers []struct{ Source, State string }
			}
			if json.Unmarshal(out, &st) == nil {
				for _, r := range st.Readers {
					if r.Source == source && r.State == state {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %s not %s in 60s (last status %s):\n%s", source, state, out, p.out)
		}
	}
}

// TestRunEmbeddedKill9 runs `tributary run` on the embedded broker with a
// MariaDB and a PostgreSQL source, kills it with SIGKILL during a
// workload and starts it again, pauses, resumes and re-snapshots through
// `tributary admin`, and then compares every lake table with its source:
// the embedded broker's log must have kept everything across the kills.
func TestRunEmbeddedKill9(t *testing.T) {
	ctx := context.Background()
	var (
		m  *harness.MariaDB
		pg *harness.Postgres
		wg sync.WaitGroup
	)
	wg.Go(func() { m = harness.MariaDBT(t, harness.MariaDBOptions{}) })
	wg.Go(func() { pg = harness.PostgresT(t, harness.PostgresOptions{}) })
	wg.Wait()
	if m == nil || pg == nil {
		t.FailNow()
	}
	execAll(t, m, shopSchema...)
	pgExec(t, pg, pgSchema...)
	mw, pw := newWorkload(m, 11), newPGWorkload(pg, 12)
	mw.seed(ctx, t, 1500)
	pw.seed(ctx, t, 1000)

	dir := t.TempDir()
	kport, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	mport, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := fmt.Sprintf("127.0.0.1:%d", mport)
	warehouse := filepath.Join(dir, "warehouse")
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	lakeCfg := write("lake.yaml", fmt.Sprintf(`kafka:
  embedded:
    listen: 127.0.0.1:%d
warehouse:
  path: %s
sources:
  - topic_prefix: run-my
  - topic_prefix: run-pg
    tables:
      public.events: {partition_by: day}
commit:
  interval: 500ms
metrics:
  listen: %s
`, kport, warehouse, adminAddr))
	myCfg := write("my.yaml", fmt.Sprintf(`name: run-my
type: mysql
mysql: {host: 127.0.0.1, port: %d, user: %s, password: "${MY_PASSWORD}", server_id: 303, heartbeat_interval: 1s}
tables: {include: ["shop.*"]}
snapshot: {chunk_size: 400}
kafka: {linger: 50ms, batch_max_events: 500}
`, m.Port, m.User))
	pgCfg := write("pg.yaml", fmt.Sprintf(`name: run-pg
type: postgres
postgres: {host: 127.0.0.1, port: %d, user: %s, password: "${PG_PASSWORD}", database: %s, heartbeat_interval: 1s}
tables: {include: ["public.*"]}
snapshot: {chunk_size: 400}
kafka: {linger: 50ms, batch_max_events: 500}
`, pg.Port, pg.User, pg.Database))
	env := []string{"MY_PASSWORD=" + m.Password, "PG_PASSWORD=" + pg.Password}
	args := []string{"-c", lakeCfg, "-s", myCfg, "-s", pgCfg}

	wctx, stopWork := context.WithCancel(ctx)
	var work sync.WaitGroup
	work.Go(func() { mw.run(wctx, t, 800) })
	work.Go(func() { pw.run(wctx, t, 500) })
	rnd := rand.New(rand.NewPCG(21, 22))
	for range 3 {
		p := startRunProcess(t, env, args...)
		time.Sleep(time.Duration(1500+rnd.IntN(2500)) * time.Millisecond)
		select {
		case err := <-p.done:
			t.Fatalf("tributary run exited by itself (%v):\n%s", err, p.out)
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p.done <- nil
	}
	p := startRunProcess(t, env, args...)
	waitState(t, p, adminAddr, "run-my", "running")
	// One process serves every part's metrics and readiness.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		code, body := httpGet(t, "http://"+adminAddr+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 in 60s: %s\n%s", body, p.out)
		}
	}
	_, scrape := httpGet(t, "http://"+adminAddr+"/metrics")
	for _, w := range [][2]string{
		{"tributary_source_lag_seconds{", `source="run-my"`}, {"tributary_source_lag_seconds{", `source="run-pg"`},
		{"tributary_kafka_transactions_total{", `source="run-pg"`}, {"tributary_ready{", `component="compactor"`},
	} {
		found := false
		for line := range strings.Lines(scrape) {
			found = found || strings.HasPrefix(line, w[0]) && strings.Contains(line, w[1])
		}
		if !found {
			t.Errorf("/metrics has no %s...%s...", w[0], w[1])
		}
	}

	// Pause the MariaDB reader while its workload goes on, then resume.
	admin(t, adminAddr, "pause", "run-my")
	waitState(t, p, adminAddr, "run-my", "paused")
	time.Sleep(time.Second)
	admin(t, adminAddr, "resume", "run-my")
	waitState(t, p, adminAddr, "run-my", "running")
	admin(t, adminAddr, "resnapshot", "run-pg", "public.kv")
	stopWork()
	work.Wait()

	brokers := []string{fmt.Sprintf("127.0.0.1:%d", kport)}
	waitCaughtUp(t, m, &harness.Kafka{Addrs: brokers}, "run-my", "run-my", 120*time.Second)
	lk := iceberg.New(iceberg.Config{Warehouse: warehouse})
	defer lk.Close()
	lakeRows := map[string]int{}
	myConn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer myConn.Close()
	for _, name := range []string{"orders", "items", "kv"} {
		id := schema.TableID{Database: "shop", Name: name}
		res, err := verify.WaitLake(ctx, myConn, lk, brokers, "run-my", "shop", id, 90*time.Second)
		if err != nil {
			t.Fatalf("%s: %v\n%s", id, err, p.out)
		}
		if !res.Equal() {
			t.Errorf("%s\n%s", res, strings.Join(res.Details, "\n"))
		}
		t.Logf("%s", res)
		lakeRows[id.String()] = res.LakeRows
	}
	pgConn, err := pg.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pgConn.Close(ctx)
	for _, id := range pgTables("orders", "items", "kv", "events") {
		var res *verify.LakeResult
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			res, err = verify.CompareLakePostgres(ctx, pgConn, lk, brokers, "run-pg", "public", id)
			if err == nil && res.Equal() || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", id, err, p.out)
		}
		if !res.Equal() {
			t.Errorf("%s\n%s", res, strings.Join(res.Details, "\n"))
		}
		t.Logf("%s", res)
		lakeRows[id.String()] = res.LakeRows
	}

	// tributary status: every source streaming with no lag, every lake
	// table caught up with its topic and complete through the readers'
	// last commits.
	statusArgs := []string{"status", "-json", "-c", lakeCfg, "-s", myCfg, "-s", pgCfg}
	var st struct {
		Sources []struct {
			Name, State string
			LagBytes    int64 `json:"lag_bytes"`
			Tables      []struct{ Table, Snapshot string }
		}
		LakeTables []struct {
			Table           string
			KafkaLag        int64     `json:"kafka_lag"`
			CompleteThrough time.Time `json:"complete_through"`
			LiveRows        int64     `json:"live_rows"`
			DataFiles       int64     `json:"data_files"`
			Resyncing       bool      `json:"resyncing"`
		} `json:"lake_tables"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		cmd := exec.Command(binary, statusArgs...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tributary status: %v\n%s", err, out)
		}
		// Fresh slices: Unmarshal would reuse the elements of the last
		// round, and keep fields this round's JSON omits.
		st.Sources, st.LakeTables = nil, nil
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("status JSON: %v\n%s", err, out)
		}
		caughtUp := len(st.LakeTables) == 7
		for _, lt := range st.LakeTables {
			// The reader reports a snapshot done just before the commit
			// that ends its resync: wait for that commit too.
			caughtUp = caughtUp && lt.KafkaLag == 0 && !lt.CompleteThrough.IsZero() && !lt.Resyncing
		}
		if caughtUp || time.Now().After(deadline) {
			break
		}
	}
	if len(st.Sources) != 2 {
		t.Fatalf("status lists %d sources, want 2: %+v", len(st.Sources), st)
	}
	for _, s := range st.Sources {
		if s.State != "running" || s.LagBytes < 0 || len(s.Tables) == 0 {
			t.Errorf("source %+v: want running, a known lag, tables", s)
		}
		for _, tb := range s.Tables {
			if tb.Snapshot != "done" {
				t.Errorf("source %s table %s: snapshot %s, want done", s.Name, tb.Table, tb.Snapshot)
			}
		}
	}
	if len(st.LakeTables) != 7 {
		t.Errorf("status lists %d lake tables, want 7: %+v", len(st.LakeTables), st.LakeTables)
	}
	for _, lt := range st.LakeTables {
		if lt.KafkaLag != 0 || lt.CompleteThrough.IsZero() || lt.LiveRows != int64(lakeRows[lt.Table]) || lt.DataFiles <= 0 || lt.Resyncing {
			t.Errorf("lake table %+v: want caught up, complete through a time, rows and files, no resync left open", lt)
		}
	}
	cmd := exec.Command(binary, "status", "-c", lakeCfg, "-s", myCfg, "-s", pgCfg)
	cmd.Env = append(os.Environ(), env...)
	text, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(text), "SOURCE run-my (mysql)") || !strings.Contains(string(text), "shop.orders") {
		t.Errorf("tributary status (text): %v\n%s", err, text)
	}
	t.Logf("tributary status:\n%s", text)

	// The first SIGTERM drains and exits 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- nil
		if err != nil {
			t.Errorf("tributary run after SIGTERM: %v\n%s", err, p.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("tributary run did not stop within 60s of SIGTERM:\n%s", p.out)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
