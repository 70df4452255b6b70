package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

func testLogger() *slog.Logger {
	if os.Getenv("TRIBUTARY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func itemsTable(name string, version int) *schema.Table {
	t := &schema.Table{ID: schema.TableID{Database: "shop", Name: name}, Version: version, Key: []string{"id"},
		Columns: []schema.Column{
			{Name: "id", Type: schema.Type{Kind: schema.KindInt64}},
			{Name: "v", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
			{Name: "day", Type: schema.Type{Kind: schema.KindDate}},
		}}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}

// fakeSource publishes events like a reader and keeps the expected table.
type fakeSource struct {
	t    *testing.T
	pub  *kafka.Publisher
	tbl  *schema.Table
	want map[int64][]any
	gtid int
	// resync holds the ids changed since a resync begin marker.
	resync map[int64]bool
}

func newSource(t *testing.T, brokers []string, tbl *schema.Table) *fakeSource {
	pub := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, TopicPrefix: "src", CheckpointKey: "src", Partitions: 3})
	if _, err := pub.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	s := &fakeSource{t: t, pub: pub, tbl: tbl, want: map[int64][]any{}}
	if err := pub.AddSchema(context.Background(), tbl); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *fakeSource) event(op schema.Op, before, after []any) {
	s.t.Helper()
	s.gtid++
	e := &schema.Event{Table: s.tbl, Op: op, Before: before, After: after,
		Source: schema.Source{Connector: "mysql", Name: "src", GTID: fmt.Sprintf("0-1-%d", s.gtid), CommitTime: time.UnixMilli(1700000000000)}}
	if err := s.pub.Add(context.Background(), e); err != nil {
		s.t.Fatal(err)
	}
	if s.resync != nil {
		for _, img := range [][]any{before, after} {
			if img != nil {
				s.resync[img[0].(int64)] = true
			}
		}
	}
	switch op {
	case schema.OpDelete:
		delete(s.want, before[0].(int64))
	case schema.OpTruncate:
		clear(s.want)
		s.resync = nil
	case schema.OpResyncBegin:
		s.resync = map[int64]bool{}
	case schema.OpResyncEnd:
		for id := range s.want {
			if !s.resync[id] {
				delete(s.want, id)
			}
		}
		s.resync = nil
	default:
		if before != nil {
			delete(s.want, before[0].(int64))
		}
		if s.want != nil { // nil when not kept (benchmarks)
			s.want[after[0].(int64)] = after
		}
	}
}

func (s *fakeSource) commit() {
	s.t.Helper()
	if err := s.pub.Commit(context.Background(), []byte(fmt.Sprint(s.gtid))); err != nil {
		s.t.Fatal(err)
	}
}

func rowOf(id int64, v string) []any { return []any{id, v, int32(id % 5)} }

// lakeRows reads the lake table as id -> row.
func lakeRows(ctx context.Context, l *iceberg.Lake, t *schema.Table) (map[int64][]any, error) {
	rows, err := l.ReadTable(ctx, t.ID.Database, t.ID.Name, t)
	if err != nil {
		return nil, err
	}
	out := map[int64][]any{}
	for _, r := range rows {
		id := r["id"].(int64)
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("id %d is live twice", id)
		}
		out[id] = []any{r["id"], r["v"], r["day"]}
	}
	return out, nil
}

// waitLake waits until the lake table equals the source's expected rows.
func waitLake(t *testing.T, l *iceberg.Lake, s *fakeSource) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got map[int64][]any
	var err error
	for time.Now().Before(deadline) {
		got, err = lakeRows(context.Background(), l, s.tbl)
		if err == nil && reflect.DeepEqual(got, s.want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("lake: %v", err)
	}
	for _, id := range slices.Sorted(maps.Keys(s.want)) {
		if !reflect.DeepEqual(got[id], s.want[id]) {
			t.Errorf("id %d: lake %v, source %v", id, got[id], s.want[id])
		}
	}
	for id := range got {
		if _, ok := s.want[id]; !ok {
			t.Errorf("id %d: in the lake only: %v", id, got[id])
		}
	}
	t.FailNow()
}

// startCompactor runs a compactor until the test ends or the returned
// function is called; opts change its configuration first.
func startCompactor(t *testing.T, brokers []string, l lake.Lake, opts ...func(*Config)) (*Compactor, func()) {
	cfg := Config{
		Brokers: brokers, Group: "g", Interval: 150 * time.Millisecond, MaxRows: 500, Lake: l, Logger: testLogger(),
		RetryMin: 20 * time.Millisecond,
		Sources:  []SourceConfig{{TopicPrefix: "src", Tables: map[string]TableOptions{"shop.items": {PartitionColumn: "day"}}}},
	}
	for _, o := range opts {
		o(&cfg)
	}
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = c.Run(ctx) })
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		wg.Wait()
		if err != nil {
			t.Errorf("compactor: %v", err)
		}
	}
	t.Cleanup(stop)
	return c, stop
}

// newBrokerAndLake starts an in-process broker and a lake in a local
// folder for one test.
func newBrokerAndLake(t *testing.T) ([]string, *iceberg.Lake) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	l := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger()})
	t.Cleanup(func() { l.Close() })
	return c.ListenAddrs(), l
}

// TestCompactorExactlyOnce runs changes of every kind through Kafka into
// the lake, restarts the compactor mid-stream, and truncates the table; the
// lake must equal the source after each step.
func TestCompactorExactlyOnce(t *testing.T) {
	brokers, l := newBrokerAndLake(t)

	s := newSource(t, brokers, itemsTable("items", 1))
	for i := range int64(1200) {
		s.event(schema.OpCreate, nil, rowOf(i, "new"))
	}
	s.commit()
	_, stop := startCompactor(t, brokers, l)
	waitLake(t, l, s)

	for i := int64(0); i < 1200; i += 7 {
		s.event(schema.OpUpdate, rowOf(i, "new"), rowOf(i, "updated"))
	}
	for i := int64(3); i < 1200; i += 11 {
		s.event(schema.OpDelete, s.want[i], nil)
	}
	// Key changes, as the MySQL reader publishes them and as one update.
	s.event(schema.OpDelete, s.want[1], nil)
	s.event(schema.OpCreate, nil, rowOf(100001, "moved"))
	s.event(schema.OpUpdate, s.want[2], rowOf(100002, "moved"))
	s.commit()
	waitLake(t, l, s)

	// A restart: nothing is applied twice.
	stop()
	for i := int64(5000); i < 5100; i++ {
		s.event(schema.OpCreate, nil, rowOf(i, "while down"))
	}
	s.commit()
	_, stop = startCompactor(t, brokers, l)
	waitLake(t, l, s)

	s.event(schema.OpCreate, nil, rowOf(9000, "before truncate"))
	s.event(schema.OpTruncate, nil, nil)
	for i := int64(0); i < 40; i++ {
		s.event(schema.OpCreate, nil, rowOf(i, "after truncate"))
	}
	s.commit()
	waitLake(t, l, s)
	stop()
}

// TestCompactorFetchAhead bounds what a table may have fetched ahead to a
// few records: fetching its topic pauses and resumes again and again, and
// the lake must still equal the source, with nothing lost or applied
// twice, and the topic must end resumed.
func TestCompactorFetchAhead(t *testing.T) {
	brokers, l := newBrokerAndLake(t)
	s := newSource(t, brokers, itemsTable("items", 1))
	c, _ := startCompactor(t, brokers, l, func(cfg *Config) { cfg.FetchAhead = 2 << 10 })
	const topic = "src.shop.items"
	paused := func() bool {
		c.mu.Lock()
		cl := c.cl
		c.mu.Unlock()
		return cl != nil && slices.Contains(cl.PauseFetchTopics(), topic)
	}
	var seen atomic.Bool
	watch, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go func() {
		for watch.Err() == nil && !seen.Load() {
			seen.Store(paused())
			time.Sleep(time.Millisecond)
		}
	}()
	for round := range 2 {
		base := int64(round) * 10_000
		for i := range int64(3000) {
			s.event(schema.OpCreate, nil, rowOf(base+i, "new"))
			if i%3 == 0 {
				s.event(schema.OpUpdate, s.want[base+i], rowOf(base+i, "updated"))
			}
			if i%13 == 0 {
				s.event(schema.OpDelete, s.want[base+i], nil)
			}
			if i%400 == 399 {
				s.commit()
			}
		}
		s.commit()
		waitLake(t, l, s)
	}
	if !seen.Load() {
		t.Error("the topic was never paused with 2 KiB of fetch-ahead")
	}
	deadline := time.Now().Add(5 * time.Second)
	for paused() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if paused() {
		t.Error("the topic is still paused once its worker has handled everything")
	}
}

// TestCompactorResync takes a table through a resync, as a reader that
// lost its position publishes it: the lake keeps its rows while the table
// is snapshotted again (and across a compactor restart), and after the end
// marker holds exactly the rows sent since the begin marker, on a topic
// with three partitions.
func TestCompactorResync(t *testing.T) {
	brokers, l := newBrokerAndLake(t)

	s := newSource(t, brokers, itemsTable("items", 1))
	for i := range int64(300) {
		s.event(schema.OpCreate, nil, rowOf(i, "old"))
	}
	s.commit()
	_, stop := startCompactor(t, brokers, l)
	waitLake(t, l, s)

	s.event(schema.OpCreate, nil, rowOf(1000, "just before the begin"))
	s.event(schema.OpResyncBegin, nil, nil)
	for i := range int64(100) {
		s.event(schema.OpRead, nil, rowOf(i, "read again"))
	}
	s.commit()
	// Nothing is removed before the end: the lake still has every row.
	held := maps.Clone(s.want)
	waitRows(t, l, s.tbl, held)
	stop()
	for i := int64(100); i < 200; i++ {
		s.event(schema.OpRead, nil, rowOf(i, "read again"))
	}
	s.event(schema.OpUpdate, rowOf(250, "old"), rowOf(250, "changed meanwhile"))
	s.event(schema.OpDelete, rowOf(260, "old"), nil)
	s.event(schema.OpCreate, nil, rowOf(5000, "new meanwhile"))
	s.commit()
	_, stop = startCompactor(t, brokers, l)
	s.event(schema.OpResyncEnd, nil, nil)
	s.event(schema.OpCreate, nil, rowOf(5001, "after the end"))
	s.commit()
	if len(s.want) != 203 {
		t.Fatalf("the model holds %d rows, want 203", len(s.want))
	}
	waitLake(t, l, s) // 200-299 but 250 and 1000 are gone
	stop()
}

// waitRows waits until the lake table holds exactly want.
func waitRows(t *testing.T, l *iceberg.Lake, tbl *schema.Table, want map[int64][]any) {
	t.Helper()
	waitLake(t, l, &fakeSource{tbl: tbl, want: want})
}

// TestCompactorBadInputStopsOneTable publishes an envelope with an unknown
// schema version on one table: that table stops at the record before it,
// with an error naming the record, and another table goes on.
func TestCompactorBadInputStopsOneTable(t *testing.T) {
	brokers, l := newBrokerAndLake(t)

	good := newSource(t, brokers, itemsTable("items", 1))
	good.event(schema.OpCreate, nil, rowOf(1, "a"))
	good.commit()
	bad := itemsTable("bad", 1)
	if err := good.pub.AddSchema(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	e := &schema.Event{Table: bad, Op: schema.OpCreate, After: rowOf(1, "ok"), Source: schema.Source{Connector: "mysql", Name: "src"}}
	if err := good.pub.Add(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	good.commit()
	// An envelope naming schema version 7, which was never published.
	v7 := *bad
	v7.Version = 7
	raw, _ := schema.AppendEnvelope(nil, &schema.Event{Table: &v7, Op: schema.OpCreate, After: rowOf(2, "poison")}, time.Now())
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The poison goes after the good row, in its partition: the table
	// stops at the first bad record it meets, and a good row of another
	// partition may come after it.
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "src.shop.bad")
	if err != nil {
		t.Fatal(err)
	}
	okPart := int32(-1)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			okPart = o.Partition
		}
	})
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "src.shop.bad", Partition: okPart, Key: []byte(`{"id":2}`), Value: raw}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A change of table shop.items on the topic of shop.stray, and a topic
	// that no reader wrote (no schema): each stops its own table.
	stray := itemsTable("stray", 1)
	if err := good.pub.AddSchema(context.Background(), stray); err != nil {
		t.Fatal(err)
	}
	good.commit()
	if _, err := kadm.NewClient(cl).CreateTopics(context.Background(), 1, 1, nil, "src.shop.stray", "src.shop.alien"); err != nil {
		t.Fatal(err)
	}
	raw, _ = schema.AppendEnvelope(nil, &schema.Event{Table: good.tbl, Op: schema.OpCreate, After: rowOf(9, "wrong topic")}, time.Now())
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "src.shop.stray", Key: []byte(`{"id":9}`), Value: raw},
		&kgo.Record{Topic: "src.shop.alien", Key: []byte(`{"id":9}`), Value: raw}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	comp, stop := startCompactor(t, brokers, l)
	waitLake(t, l, good)
	for i := int64(2); i < 50; i++ {
		good.event(schema.OpCreate, nil, rowOf(i, "after"))
	}
	good.commit()
	waitLake(t, l, good)
	stopped := comp.Stopped()
	for deadline := time.Now().Add(30 * time.Second); len(stopped) < 3 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		stopped = comp.Stopped()
	}
	if len(stopped) != 3 || stopped["src.shop.bad"] == nil || stopped["src.shop.stray"] == nil || stopped["src.shop.alien"] == nil {
		t.Fatalf("stopped tables %v, want src.shop.bad, src.shop.stray and src.shop.alien", stopped)
	}
	if msg := stopped["src.shop.bad"].Error(); !contains(msg, "shop.bad version 7") || !contains(msg, "src.shop.bad partition") {
		t.Errorf("stop reason %q does not name the version and the record", msg)
	}
	if msg := stopped["src.shop.stray"].Error(); !contains(msg, "a change of table shop.items, whose topic is src.shop.items") {
		t.Errorf("stop reason %q does not name the table and its topic", msg)
	}
	if msg := stopped["src.shop.alien"].Error(); !contains(msg, "no schema for topic src.shop.alien on src._schemas") {
		t.Errorf("stop reason %q does not say the topic has no schema", msg)
	}
	rows, err := lakeRows(context.Background(), l, bad)
	if err != nil || len(rows) != 1 || rows[1][1] != "ok" {
		t.Errorf("bad table holds %v (%v), want the one row before the poison record", rows, err)
	}
	if rows, err := lakeRows(context.Background(), l, stray); err == nil && len(rows) != 0 {
		t.Errorf("the stray table holds %v, want no rows", rows)
	}
	stop()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// flakyLake makes commits fail: the first of every three before it
// happens, the second after it happened (the reply is lost), until limit
// failures were injected.
type flakyLake struct {
	lake.Lake
	mu              sync.Mutex
	applies, failed int
	limit           int
}

func (f *flakyLake) Open(ctx context.Context, t *schema.Table, cfg lake.TableConfig) (lake.Table, error) {
	tbl, err := f.Lake.Open(ctx, t, cfg)
	if err != nil {
		return nil, err
	}
	return &flakyTable{Table: tbl, l: f}, nil
}

type flakyTable struct {
	lake.Table
	l *flakyLake
}

func (t *flakyTable) Apply(ctx context.Context, b *lake.Batch) (lake.Stats, error) {
	t.l.mu.Lock()
	t.l.applies++
	n, inject := t.l.applies, t.l.failed < t.l.limit
	if inject && n%3 != 0 {
		t.l.failed++
	}
	t.l.mu.Unlock()
	switch {
	case inject && n%3 == 1:
		return lake.Stats{}, errors.New("injected: the catalog is down")
	case inject && n%3 == 2:
		st, err := t.Table.Apply(ctx, b)
		if err == nil {
			err = errors.New("injected: committed, but the reply was lost")
		}
		return st, err
	}
	return t.Table.Apply(ctx, b)
}

// TestCompactorFailedCommits injects commit failures, before and after the
// commit happens; the compactor starts its session again from the tables'
// checkpoints and the lake still equals the source, nothing lost or doubled.
func TestCompactorFailedCommits(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	base := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger()})
	t.Cleanup(func() { base.Close() })
	flaky := &flakyLake{Lake: base, limit: 4}

	s := newSource(t, brokers, itemsTable("items", 1))
	_, stop := startCompactor(t, brokers, flaky)
	for round := range int64(12) {
		for i := range int64(100) {
			id := (round*37 + i*11) % 700
			if _, ok := s.want[id]; ok && i%4 == 0 {
				s.event(schema.OpDelete, s.want[id], nil)
			} else if ok {
				s.event(schema.OpUpdate, s.want[id], rowOf(id, fmt.Sprint("r", round)))
			} else {
				s.event(schema.OpCreate, nil, rowOf(id, fmt.Sprint("r", round)))
			}
		}
		s.commit()
		time.Sleep(50 * time.Millisecond)
	}
	waitLake(t, base, s)
	stop()
	if flaky.failed < flaky.limit {
		t.Errorf("only %d failures were injected, want %d", flaky.failed, flaky.limit)
	}
}

// TestCompactorRecyclesFetches folds many small fetched batches into one
// commit while their memory goes back to the Kafka client, zeroed, to be
// reused for the batches after them: a value that pointed into a recycled
// batch would change under the pending rows, and the lake would differ
// from the source. Whether a buffer is handed out again is up to
// sync.Pool and to how the fetches happen to fall, so the test counts the
// buffers given back, not those reused.
func TestCompactorRecyclesFetches(t *testing.T) {
	brokers, l := newBrokerAndLake(t)
	s := newSource(t, brokers, itemsTable("items", 1))
	c, _ := startCompactor(t, brokers, l, func(cfg *Config) { cfg.Interval, cfg.MaxRows = 3*time.Second, 100_000 })
	for i := range int64(3000) {
		s.event(schema.OpCreate, nil, rowOf(i, fmt.Sprint("value ", i)))
		if i%2 == 0 {
			s.event(schema.OpUpdate, s.want[i], rowOf(i, fmt.Sprint("updated ", i)))
		}
		if i%50 == 49 {
			s.commit()
		}
	}
	s.commit()
	waitLake(t, l, s)
	n := c.pool.returned.Load()
	t.Logf("%d fetch buffers given back", n)
	if n < 10 {
		t.Errorf("%d fetch buffers given back, want many", n)
	}
}
