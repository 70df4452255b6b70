// Package metrics exposes Tributary's Prometheus metrics and the /healthz
// and /readyz endpoints of every process.
//
// There is no package-level registry: cmd builds one Registry per process
// and hands typed recorders (Reader, Publisher, Compactor) to the
// components through their Config. Every recorder method is safe on a nil
// receiver and does nothing there, so a component without metrics works
// unchanged. Recorders cache their label children, so the hot paths cost
// an atomic add, not a map lookup.
//
// Every metric is listed in Definitions and in docs/metrics.md; a test
// keeps the two equal.
package metrics

import (
	"errors"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Type is a metric's Prometheus type.
type Type string

// The metric types in use.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Definition describes one metric.
type Definition struct {
	Name   string
	Type   Type
	Labels []string
	Help   string
}

// The metric names.
const (
	nameBuildInfo = "tributary_build_info"
	nameUp        = "tributary_up"
	nameReady     = "tributary_ready"
	nameErrors    = "tributary_errors_total"

	nameSourceLagSeconds = "tributary_source_lag_seconds"
	nameSourceLagBytes   = "tributary_source_lag_bytes"
	nameSourceEvents     = "tributary_source_events_total"
	nameSourceTxRows     = "tributary_source_transaction_rows"
	nameSlotRetained     = "tributary_postgres_slot_retained_wal_bytes"
	nameReaderRestarts   = "tributary_reader_restarts_total"
	nameSnapshotRows     = "tributary_snapshot_rows"
	nameSnapshotEstimate = "tributary_snapshot_rows_estimated"
	nameSnapshotState    = "tributary_snapshot_state"

	nameKafkaPublished = "tributary_kafka_events_published_total"
	nameKafkaTxns      = "tributary_kafka_transactions_total"
	nameKafkaCommitDur = "tributary_kafka_commit_duration_seconds"
	nameKafkaTxEvents  = "tributary_kafka_transaction_events"

	nameConsumeLag     = "tributary_compactor_consume_lag_records"
	nameCompactRecords = "tributary_compactor_records_total"
	nameLakeCommits    = "tributary_lake_commits_total"
	nameLakeCommitDur  = "tributary_lake_commit_duration_seconds"
	nameLakeRows       = "tributary_lake_rows_written_total"
	nameLakeDeletes    = "tributary_lake_position_deletes_written_total"
	nameLakeFiles      = "tributary_lake_files_written_total"
	nameLakeBytes      = "tributary_lake_bytes_written_total"
	nameLakeFreshness  = "tributary_lake_freshness_seconds"
	nameLakeDelFiles   = "tributary_lake_delete_files"
	nameLakeDelRows    = "tributary_lake_position_deletes"
	nameLakeMaintained = "tributary_lake_maintenance_total"
)

// definitions lists every metric; docs/metrics.md holds the same table.
var definitions = []Definition{
	{nameBuildInfo, Gauge, []string{"version", "goversion"}, "Always 1; the labels say which build runs."},
	{nameUp, Gauge, []string{"component", "name"}, "1 while the component (reader, compactor) runs, 0 once it stopped."},
	{nameReady, Gauge, []string{"component", "name"}, "1 when the component passes its readiness check (what /readyz reports), else 0."},
	{nameErrors, Counter, []string{"component", "name", "kind"}, "Errors by kind: reader source, kafka, fatal, lag_poll; compactor fetch, commit, conflict, bad_input, maintenance."},

	{nameSourceLagSeconds, Gauge, []string{"source"}, "Seconds between now and the source commit time of the last transaction read, or of the last heartbeat that found the reader caught up."},
	{nameSourceLagBytes, Gauge, []string{"source"}, "Bytes of binlog (MySQL/MariaDB) or WAL (PostgreSQL) between the server's current position and the reader's."},
	{nameSourceEvents, Counter, []string{"source", "table", "op"}, "Row changes read from the source, by table and op (create, update, delete, read, truncate)."},
	{nameSourceTxRows, Histogram, []string{"source"}, "Captured row changes per source transaction."},
	{nameSlotRetained, Gauge, []string{"source"}, "WAL bytes the PostgreSQL replication slot holds back on the server (pg_current_wal_lsn() - restart_lsn)."},
	{nameReaderRestarts, Counter, []string{"source"}, "Times the reader started again from its checkpoint after a failure."},
	{nameSnapshotRows, Gauge, []string{"source", "table"}, "Rows of the table's initial snapshot published so far."},
	{nameSnapshotEstimate, Gauge, []string{"source", "table"}, "The server's estimate of the table's row count, taken when its snapshot started."},
	{nameSnapshotState, Gauge, []string{"source", "table", "state"}, "1 for the table's snapshot state (pending, running, done), 0 for the others."},

	{nameKafkaPublished, Counter, []string{"source"}, "Events committed to Kafka."},
	{nameKafkaTxns, Counter, []string{"source"}, "Kafka transactions committed."},
	{nameKafkaCommitDur, Histogram, []string{"source"}, "Seconds a Kafka commit took: producing what was left, flushing, ending the transaction."},
	{nameKafkaTxEvents, Histogram, []string{"source"}, "Events per committed Kafka transaction."},

	{nameConsumeLag, Gauge, []string{"topic"}, "Records of the topic (transaction markers included) between the last stable offset and what the lake table has applied."},
	{nameCompactRecords, Counter, []string{"topic"}, "Records consumed from the topic."},
	{nameLakeCommits, Counter, []string{"topic"}, "Lake snapshots committed for the topic's table."},
	{nameLakeCommitDur, Histogram, nil, "Seconds a lake commit took: planning, writing files, the catalog commit."},
	{nameLakeRows, Counter, []string{"topic"}, "Rows written into data files."},
	{nameLakeDeletes, Counter, []string{"topic"}, "Position deletes written."},
	{nameLakeFiles, Counter, []string{"topic", "content"}, "Files written, by content (data, deletes)."},
	{nameLakeBytes, Counter, []string{"topic"}, "Bytes of files written."},
	{nameLakeFreshness, Gauge, []string{"topic"}, "Seconds between now and the newest source commit time the lake table holds."},
	{nameLakeDelFiles, Gauge, []string{"topic"}, "Position delete files in the table's current snapshot (delete-file debt)."},
	{nameLakeDelRows, Gauge, []string{"topic"}, "Position delete rows in the table's current snapshot (delete-file debt)."},
	{nameLakeMaintained, Counter, []string{"topic"}, "Maintenance runs (file rewrites, snapshot expiry) of the table."},
}

// Definitions returns every Tributary metric, sorted by name.
func Definitions() []Definition {
	out := make([]Definition, len(definitions))
	for i, d := range definitions {
		d.Labels = append([]string(nil), d.Labels...)
		out[i] = d
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func definition(name string) Definition {
	for _, d := range definitions {
		if d.Name == name {
			return d
		}
	}
	panic("metrics: no definition of " + name) // a programming error caught by the tests
}

func counterVec(name string) *prometheus.CounterVec {
	d := definition(name)
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
}

func gaugeVec(name string) *prometheus.GaugeVec {
	d := definition(name)
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, d.Labels)
}

func histogramVec(name string, buckets []float64) *prometheus.HistogramVec {
	d := definition(name)
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: buckets}, d.Labels)
}

func desc(name string) *prometheus.Desc {
	d := definition(name)
	return prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
}

// Registry holds a process's metrics and readiness checks. Build one per
// process with NewRegistry and pass its recorders to the components.
type Registry struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector // Tributary's own

	errors                                   *prometheus.CounterVec
	buildInfo                                *prometheus.GaugeVec
	lagBytes, slotRetained                   *prometheus.GaugeVec
	events                                   *prometheus.CounterVec
	txRows                                   *prometheus.HistogramVec
	restarts                                 *prometheus.CounterVec
	snapRows, snapEstimate, snapState        *prometheus.GaugeVec
	published, txns                          *prometheus.CounterVec
	commitDur, txEvents                      *prometheus.HistogramVec
	consumeLag, delFiles, delRows            *prometheus.GaugeVec
	records, commits, rows, deletes, files   *prometheus.CounterVec
	bytes, maintained                        *prometheus.CounterVec
	lakeCommitDur                            prometheus.Histogram
	upDesc, readyDesc, lagSecDesc, freshDesc *prometheus.Desc

	mu         sync.Mutex
	components []component // up and ready, by component
	readers    map[string]*Reader
	publishers map[string]*Publisher
	compactors map[string]*Compactor
}

// component is something whose liveness and readiness the registry
// reports.
type component interface {
	kind() (component, name string)
	running() bool
	Ready() error
}

// NewRegistry returns a Registry with every Tributary metric, the Go
// runtime and process collectors, and tributary_build_info for version.
func NewRegistry(version string) *Registry {
	r := &Registry{
		reg:          prometheus.NewRegistry(),
		errors:       counterVec(nameErrors),
		buildInfo:    gaugeVec(nameBuildInfo),
		lagBytes:     gaugeVec(nameSourceLagBytes),
		slotRetained: gaugeVec(nameSlotRetained),
		events:       counterVec(nameSourceEvents),
		txRows:       histogramVec(nameSourceTxRows, prometheus.ExponentialBuckets(1, 4, 12)),
		restarts:     counterVec(nameReaderRestarts),
		snapRows:     gaugeVec(nameSnapshotRows),
		snapEstimate: gaugeVec(nameSnapshotEstimate),
		snapState:    gaugeVec(nameSnapshotState),
		published:    counterVec(nameKafkaPublished),
		txns:         counterVec(nameKafkaTxns),
		commitDur:    histogramVec(nameKafkaCommitDur, prometheus.ExponentialBuckets(0.001, 2, 16)),
		txEvents:     histogramVec(nameKafkaTxEvents, prometheus.ExponentialBuckets(1, 4, 12)),
		consumeLag:   gaugeVec(nameConsumeLag),
		delFiles:     gaugeVec(nameLakeDelFiles),
		delRows:      gaugeVec(nameLakeDelRows),
		records:      counterVec(nameCompactRecords),
		commits:      counterVec(nameLakeCommits),
		rows:         counterVec(nameLakeRows),
		deletes:      counterVec(nameLakeDeletes),
		files:        counterVec(nameLakeFiles),
		bytes:        counterVec(nameLakeBytes),
		maintained:   counterVec(nameLakeMaintained),
		upDesc:       desc(nameUp),
		readyDesc:    desc(nameReady),
		lagSecDesc:   desc(nameSourceLagSeconds),
		freshDesc:    desc(nameLakeFreshness),
		readers:      map[string]*Reader{},
		publishers:   map[string]*Publisher{},
		compactors:   map[string]*Compactor{},
	}
	d := definition(nameLakeCommitDur)
	r.lakeCommitDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)})
	if version == "" {
		version = "dev"
	}
	r.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	r.collectors = []prometheus.Collector{
		r.errors, r.buildInfo, r.lagBytes, r.slotRetained, r.events, r.txRows, r.restarts,
		r.snapRows, r.snapEstimate, r.snapState, r.published, r.txns, r.commitDur, r.txEvents,
		r.consumeLag, r.delFiles, r.delRows, r.records, r.commits, r.rows, r.deletes, r.files,
		r.bytes, r.maintained, r.lakeCommitDur, dynamic{r},
	}
	r.reg.MustRegister(r.collectors...)
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Prometheus returns the underlying registry, to gather from or to
// register more collectors with.
func (r *Registry) Prometheus() *prometheus.Registry { return r.reg }

// Ready runs every component's readiness check and returns the failures,
// by "component name"; an empty map means ready.
func (r *Registry) Ready() map[string]error {
	r.mu.Lock()
	cs := append([]component(nil), r.components...)
	r.mu.Unlock()
	out := map[string]error{}
	for _, c := range cs {
		if err := c.Ready(); err != nil {
			kind, name := c.kind()
			out[kind+" "+name] = err
		}
	}
	return out
}

func (r *Registry) addComponent(c component) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.components = append(r.components, c)
}

// dynamic computes, at scrape time, the metrics that depend on the clock
// or on several components' states: up, ready, source lag seconds and lake
// freshness.
type dynamic struct{ r *Registry }

func (d dynamic) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.r.upDesc
	ch <- d.r.readyDesc
	ch <- d.r.lagSecDesc
	ch <- d.r.freshDesc
}

func (d dynamic) Collect(ch chan<- prometheus.Metric) {
	r := d.r
	now := time.Now()
	r.mu.Lock()
	cs := append([]component(nil), r.components...)
	var readers []*Reader
	for _, m := range r.readers {
		readers = append(readers, m)
	}
	var tables []*LakeTable
	for _, c := range r.compactors {
		c.mu.Lock()
		for _, t := range c.tables {
			tables = append(tables, t)
		}
		c.mu.Unlock()
	}
	r.mu.Unlock()
	for _, c := range cs {
		kind, name := c.kind()
		ch <- prometheus.MustNewConstMetric(r.upDesc, prometheus.GaugeValue, boolValue(c.running()), kind, name)
		ch <- prometheus.MustNewConstMetric(r.readyDesc, prometheus.GaugeValue, boolValue(c.Ready() == nil), kind, name)
	}
	for _, m := range readers {
		if ref := m.lagRef.Load(); ref != 0 {
			ch <- prometheus.MustNewConstMetric(r.lagSecDesc, prometheus.GaugeValue, secondsSince(now, ref), m.source)
		}
	}
	for _, t := range tables {
		if ref := t.through.Load(); ref != 0 {
			ch <- prometheus.MustNewConstMetric(r.freshDesc, prometheus.GaugeValue, secondsSince(now, ref), t.topic)
		}
	}
}

func secondsSince(now time.Time, unixNano int64) float64 {
	return max(0, now.Sub(time.Unix(0, unixNano)).Seconds())
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// errorCounters pre-creates the error counters of a component's known
// kinds, so that they read 0 (and rate() works) before the first error.
type errorCounters struct {
	vec             *prometheus.CounterVec
	component, name string
	known           map[string]prometheus.Counter
}

func newErrorCounters(vec *prometheus.CounterVec, component, name string, kinds ...string) errorCounters {
	e := errorCounters{vec: vec, component: component, name: name, known: map[string]prometheus.Counter{}}
	for _, k := range kinds {
		e.known[k] = vec.WithLabelValues(component, name, k)
	}
	return e
}

func (e errorCounters) inc(kind string) {
	if c, ok := e.known[kind]; ok {
		c.Inc()
		return
	}
	e.vec.WithLabelValues(e.component, e.name, kind).Inc()
}

// notReady joins readiness reasons into one error.
func notReady(reasons ...string) error {
	if len(reasons) == 0 {
		return nil
	}
	return errors.New(strings.Join(reasons, "; "))
}
