package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestNilRecorders: every recorder method is a no-op on nil, so components
// without metrics work unchanged.
func TestNilRecorders(t *testing.T) {
	var reg *Registry
	m := reg.Reader("x")
	if m != nil {
		t.Fatal("nil registry returned a reader recorder")
	}
	m.Running(true)
	m.Streaming()
	m.Committed()
	m.Restarted(ErrorSource)
	m.Error(ErrorLagPoll)
	m.SourceTime(time.Now())
	m.CaughtUp(time.Now())
	m.LagBytes(1)
	m.SlotRetained(1)
	m.Transaction(3)
	if err := m.Ready(); err != nil {
		t.Fatalf("nil reader not ready: %v", err)
	}
	tb := m.Table("db.t")
	tb.Events('c', 1)
	tb.SnapshotState(SnapshotRunning)
	tb.SnapshotRows(1)
	tb.SnapshotEstimate(1)
	reg.Publisher("x").Committed(1, time.Second)
	c := reg.Compactor("g")
	c.Running(true)
	c.Joined(true)
	c.Error(ErrorCommit)
	if err := c.Ready(); err != nil {
		t.Fatalf("nil compactor not ready: %v", err)
	}
	lt := c.Table("p.db.t")
	lt.Records(1)
	lt.ConsumeLag(1)
	lt.Committed(Commit{Rows: 1})
	lt.Debt(1, 1)
	lt.Maintained()
}

func TestReaderRecorder(t *testing.T) {
	reg := NewRegistry("v1")
	m := reg.Reader("orders")
	if reg.Reader("orders") != m {
		t.Fatal("a second Reader call for the same source returned another recorder")
	}
	tb := m.Table("shop.orders")
	if m.Table("shop.orders") != tb {
		t.Fatal("a second Table call returned another recorder")
	}
	tb.Events('c', 3)
	tb.Events('u', 2)
	tb.Events('r', 10)
	tb.Events('?', 10) // unknown ops are ignored
	if got := value(t, reg.events.WithLabelValues("orders", "shop.orders", "create")); got != 3 {
		t.Errorf("creates = %v, want 3", got)
	}
	if got := value(t, reg.events.WithLabelValues("orders", "shop.orders", "read")); got != 10 {
		t.Errorf("reads = %v, want 10", got)
	}
	tb.SnapshotState(SnapshotRunning)
	for state, want := range map[string]float64{SnapshotPending: 0, SnapshotRunning: 1, SnapshotDone: 0} {
		if got := value(t, reg.snapState.WithLabelValues("orders", "shop.orders", state)); got != want {
			t.Errorf("snapshot state %s = %v, want %v", state, got, want)
		}
	}
	m.LagBytes(-5)
	if got := value(t, reg.lagBytes.WithLabelValues("orders")); got != 0 {
		t.Errorf("negative lag bytes recorded as %v, want 0", got)
	}
	m.Restarted(ErrorKafka)
	if got := value(t, reg.errors.WithLabelValues("reader", "orders", ErrorKafka)); got != 1 {
		t.Errorf("kafka errors = %v, want 1", got)
	}
	if got := value(t, reg.restarts.WithLabelValues("orders")); got != 1 {
		t.Errorf("restarts = %v, want 1", got)
	}
	m.Error("other")
	if got := value(t, reg.errors.WithLabelValues("reader", "orders", "other")); got != 1 {
		t.Errorf("errors of an unlisted kind = %v, want 1", got)
	}
	reg.Publisher("orders").Committed(7, 20*time.Millisecond)
	if got := value(t, reg.published.WithLabelValues("orders")); got != 7 {
		t.Errorf("published = %v, want 7", got)
	}
}

// TestReaderReadiness walks a reader through start, stream, commit,
// failure and stop.
func TestReaderReadiness(t *testing.T) {
	reg := NewRegistry("v1")
	m := reg.Reader("orders")
	wantNot := func(step, reason string) {
		t.Helper()
		err := reg.Ready()["reader orders"]
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Fatalf("%s: readiness = %v, want an error containing %q", step, err, reason)
		}
	}
	wantNot("new", "not running")
	m.Running(true)
	wantNot("running", "not streaming")
	m.Streaming()
	wantNot("streaming", "no Kafka transaction")
	m.Committed()
	if errs := reg.Ready(); len(errs) != 0 {
		t.Fatalf("committed: not ready: %v", errs)
	}
	m.Restarted(ErrorSource)
	wantNot("restarted", "not streaming")
	m.Streaming()
	m.Committed()
	m.Running(false)
	wantNot("stopped", "not running")
}

// TestDynamicMetrics: up, ready, lag seconds and freshness are computed at
// scrape time from the recorded times.
func TestDynamicMetrics(t *testing.T) {
	reg := NewRegistry("v1")
	m := reg.Reader("orders")
	m.Running(true)
	m.SourceTime(time.Now().Add(-time.Hour))
	m.SourceTime(time.Now().Add(-2 * time.Hour)) // older: ignored
	c := reg.Compactor("g")
	c.Running(true)
	c.Joined(true)
	lt := c.Table("p.shop.orders")
	lt.Committed(Commit{Rows: 5, Through: time.Now().Add(-time.Minute)})
	values := scrape(t, reg)
	for key, want := range map[string]float64{
		"tributary_up{component=reader,name=orders}":             1,
		"tributary_ready{component=reader,name=orders}":          0,
		"tributary_up{component=compactor,name=g}":               1,
		"tributary_ready{component=compactor,name=g}":            1,
		"tributary_lake_rows_written_total{topic=p.shop.orders}": 5,
	} {
		if got, ok := values[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if lag := values["tributary_source_lag_seconds{source=orders}"]; lag < 3599 || lag > 3700 {
		t.Errorf("lag seconds = %v, want about 3600", lag)
	}
	if f := values["tributary_lake_freshness_seconds{topic=p.shop.orders}"]; f < 59 || f > 160 {
		t.Errorf("freshness = %v, want about 60", f)
	}
	m.CaughtUp(time.Now())
	if lag := scrape(t, reg)["tributary_source_lag_seconds{source=orders}"]; lag > 60 {
		t.Errorf("lag after caught up = %v, want about 0", lag)
	}
}

// scrape gathers reg into "name{label=value,...}" -> value.
func scrape(t *testing.T, reg *Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Prometheus().Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			values[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	return values
}

// value reads the value of a single counter or gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}
