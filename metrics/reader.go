package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The error kinds of a reader.
const (
	ErrorSource  = "source"   // the source connection or stream failed
	ErrorKafka   = "kafka"    // publishing or committing to Kafka failed
	ErrorFatal   = "fatal"    // an error retrying cannot fix stopped the reader
	ErrorLagPoll = "lag_poll" // reading the server's position (lag, slot) failed
)

// Reader records one source reader's metrics. A nil *Reader records
// nothing. Its methods are safe for concurrent use.
type Reader struct {
	source string
	errs   errorCounters

	lagRef   atomic.Int64 // unix nanos the reader is known to be complete through
	lagBytes prometheus.Gauge
	// retained is made on first use: only PostgreSQL readers have a slot.
	retainedOnce sync.Once
	retained     prometheus.Gauge
	restarts     prometheus.Counter
	txRows       prometheus.Observer

	up, streaming, committed atomic.Bool

	reg    *Registry
	mu     sync.Mutex
	tables map[string]*ReaderTable
}

// Reader returns the recorder of the reader of source, creating it on
// first use; it is also a readiness check of the registry. A nil Registry
// returns nil.
func (r *Registry) Reader(source string) *Reader {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if m := r.readers[source]; m != nil {
		r.mu.Unlock()
		return m
	}
	m := &Reader{
		source:   source,
		errs:     newErrorCounters(r.errors, "reader", source, ErrorSource, ErrorKafka, ErrorFatal, ErrorLagPoll),
		lagBytes: r.lagBytes.WithLabelValues(source),
		restarts: r.restarts.WithLabelValues(source),
		txRows:   r.txRows.WithLabelValues(source),
		reg:      r,
		tables:   map[string]*ReaderTable{},
	}
	r.readers[source] = m
	r.mu.Unlock()
	r.addComponent(m)
	return m
}

func (m *Reader) kind() (string, string) { return "reader", m.source }
func (m *Reader) running() bool          { return m.up.Load() }

// Ready reports whether the reader runs, streams or snapshots with a live
// source connection, and has committed a Kafka transaction since it
// (re)started.
func (m *Reader) Ready() error {
	if m == nil {
		return nil
	}
	switch {
	case !m.up.Load():
		return notReady("not running")
	case !m.streaming.Load():
		return notReady("not streaming yet (connecting to the source or Kafka)")
	case !m.committed.Load():
		return notReady("no Kafka transaction committed yet")
	}
	return nil
}

// Running records that the reader started (true) or stopped (false).
func (m *Reader) Running(up bool) {
	if m == nil {
		return
	}
	m.up.Store(up)
	if !up {
		m.streaming.Store(false)
		m.committed.Store(false)
	}
}

// Streaming records that a run connected to the source and streams (or
// snapshots).
func (m *Reader) Streaming() {
	if m != nil {
		m.streaming.Store(true)
	}
}

// Committed records a committed Kafka transaction.
func (m *Reader) Committed() {
	if m != nil {
		m.committed.Store(true)
	}
}

// Restarted records a failed run of kind (ErrorSource, ErrorKafka, ...)
// after which the reader starts again from its checkpoint.
func (m *Reader) Restarted(kind string) {
	if m == nil {
		return
	}
	m.errs.inc(kind)
	m.restarts.Inc()
	m.streaming.Store(false)
	m.committed.Store(false)
}

// Error counts an error of kind that did not end the run.
func (m *Reader) Error(kind string) {
	if m != nil {
		m.errs.inc(kind)
	}
}

// SourceTime records the source commit time of a transaction read. The lag
// in seconds is measured from the newest time recorded by SourceTime or
// CaughtUp.
func (m *Reader) SourceTime(t time.Time) {
	if m != nil {
		storeMax(&m.lagRef, t.UnixNano())
	}
}

// CaughtUp records that at time t the reader had read everything the
// server had written (a heartbeat, a keepalive, the server's position
// equal to the reader's), so an idle source shows a small lag.
func (m *Reader) CaughtUp(t time.Time) { m.SourceTime(t) }

// LagBytes records the bytes between the server's position and the
// reader's.
func (m *Reader) LagBytes(n int64) {
	if m != nil {
		m.lagBytes.Set(float64(max(n, 0)))
	}
}

// SlotRetained records the WAL bytes the PostgreSQL slot retains.
func (m *Reader) SlotRetained(n int64) {
	if m == nil {
		return
	}
	m.retainedOnce.Do(func() { m.retained = m.reg.slotRetained.WithLabelValues(m.source) })
	m.retained.Set(float64(n))
}

// Transaction records the captured row changes of one source transaction.
func (m *Reader) Transaction(rows int) {
	if m != nil {
		m.txRows.Observe(float64(rows))
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// Snapshot states, the values of SnapshotState.
const (
	SnapshotPending = "pending"
	SnapshotRunning = "running"
	SnapshotDone    = "done"
)

var snapshotStates = [...]string{SnapshotPending, SnapshotRunning, SnapshotDone}

// ReaderTable records one captured table's metrics. Get it once per table
// with Reader.Table and keep it. A nil *ReaderTable records nothing.
type ReaderTable struct {
	// ops holds the event counters by op letter ('c', 'u', 'd', 'r', 't').
	ops                    [5]prometheus.Counter
	snapRows, snapEstimate prometheus.Gauge
	states                 [len(snapshotStates)]prometheus.Gauge
}

// opNames maps the Debezium op letters to the op label.
var opNames = [...]struct {
	op   byte
	name string
}{{'c', "create"}, {'u', "update"}, {'d', "delete"}, {'r', "read"}, {'t', "truncate"}}

// Table returns the recorder of table ("db.table"), creating it on first
// use. A nil Reader returns nil.
func (m *Reader) Table(table string) *ReaderTable {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.tables[table]; t != nil {
		return t
	}
	r := m.reg
	t := &ReaderTable{
		snapRows:     r.snapRows.WithLabelValues(m.source, table),
		snapEstimate: r.snapEstimate.WithLabelValues(m.source, table),
	}
	for i, o := range opNames {
		t.ops[i] = r.events.WithLabelValues(m.source, table, o.name)
	}
	for i, s := range snapshotStates {
		t.states[i] = r.snapState.WithLabelValues(m.source, table, s)
	}
	m.tables[table] = t
	return t
}

// Events counts n row changes of op, a Debezium op letter: 'c' create,
// 'u' update, 'd' delete, 'r' snapshot read, 't' truncate.
func (t *ReaderTable) Events(op byte, n int) {
	if t == nil {
		return
	}
	for i, o := range opNames {
		if o.op == op {
			t.ops[i].Add(float64(n))
			return
		}
	}
}

// SnapshotState records the table's snapshot state: SnapshotPending,
// SnapshotRunning or SnapshotDone.
func (t *ReaderTable) SnapshotState(state string) {
	if t == nil {
		return
	}
	for i, s := range snapshotStates {
		t.states[i].Set(boolValue(s == state))
	}
}

// SnapshotRows records the rows of the table's snapshot published so far.
func (t *ReaderTable) SnapshotRows(n int64) {
	if t != nil {
		t.snapRows.Set(float64(n))
	}
}

// SnapshotEstimate records the server's estimate of the table's rows.
func (t *ReaderTable) SnapshotEstimate(n int64) {
	if t != nil {
		t.snapEstimate.Set(float64(max(n, 0)))
	}
}

// Publisher records a Kafka publisher's metrics. A nil *Publisher records
// nothing.
type Publisher struct {
	published, txns     prometheus.Counter
	commitDur, txEvents prometheus.Observer
}

// Publisher returns the recorder of the publisher of source's reader. A
// nil Registry returns nil.
func (r *Registry) Publisher(source string) *Publisher {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.publishers[source]; p != nil {
		return p
	}
	p := &Publisher{
		published: r.published.WithLabelValues(source),
		txns:      r.txns.WithLabelValues(source),
		commitDur: r.commitDur.WithLabelValues(source),
		txEvents:  r.txEvents.WithLabelValues(source),
	}
	r.publishers[source] = p
	return p
}

// Committed records a committed Kafka transaction of events events that
// took d to commit.
func (p *Publisher) Committed(events int, d time.Duration) {
	if p == nil {
		return
	}
	p.txns.Inc()
	p.published.Add(float64(events))
	p.commitDur.Observe(d.Seconds())
	p.txEvents.Observe(float64(events))
}
