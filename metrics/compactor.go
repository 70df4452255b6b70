package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The error kinds of a compactor.
const (
	ErrorFetch       = "fetch"       // fetching from Kafka failed
	ErrorCommit      = "commit"      // a lake commit failed; the session starts again
	ErrorConflict    = "conflict"    // another writer committed to a lake table
	ErrorBadInput    = "bad_input"   // a record cannot be applied; its table stopped
	ErrorMaintenance = "maintenance" // maintaining a lake table failed
)

// Compactor records a compactor's metrics. A nil *Compactor records
// nothing. Its methods are safe for concurrent use.
type Compactor struct {
	group  string
	reg    *Registry
	errs   errorCounters
	up     atomic.Bool
	joined atomic.Bool

	mu     sync.Mutex
	tables map[string]*LakeTable
}

// Compactor returns the recorder of the compactor of consumer group
// group, creating it on first use; it is also a readiness check of the
// registry. A nil Registry returns nil.
func (r *Registry) Compactor(group string) *Compactor {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if c := r.compactors[group]; c != nil {
		r.mu.Unlock()
		return c
	}
	c := &Compactor{
		group:  group,
		reg:    r,
		errs:   newErrorCounters(r.errors, "compactor", group, ErrorFetch, ErrorCommit, ErrorConflict, ErrorBadInput, ErrorMaintenance),
		tables: map[string]*LakeTable{},
	}
	r.compactors[group] = c
	r.mu.Unlock()
	r.addComponent(c)
	return c
}

func (c *Compactor) kind() (string, string) { return "compactor", c.group }
func (c *Compactor) running() bool          { return c.up.Load() }

// Ready reports whether the compactor runs and has joined its consumer
// group.
func (c *Compactor) Ready() error {
	if c == nil {
		return nil
	}
	switch {
	case !c.up.Load():
		return notReady("not running")
	case !c.joined.Load():
		return notReady("not in the consumer group yet")
	}
	return nil
}

// Running records that the compactor started (true) or stopped (false).
func (c *Compactor) Running(up bool) {
	if c == nil {
		return
	}
	c.up.Store(up)
	if !up {
		c.joined.Store(false)
	}
}

// Joined records that the compactor joined its group (true) or left it
// (false).
func (c *Compactor) Joined(in bool) {
	if c != nil {
		c.joined.Store(in)
	}
}

// Error counts an error of kind.
func (c *Compactor) Error(kind string) {
	if c != nil {
		c.errs.inc(kind)
	}
}

// LakeTable records the metrics of one topic and its lake table. Get it
// once per topic with Compactor.Table and keep it. A nil *LakeTable
// records nothing.
type LakeTable struct {
	topic                      string
	through                    atomic.Int64 // unix nanos of the newest source commit applied
	lag, delFiles, delRows     prometheus.Gauge
	records, commits, rows     prometheus.Counter
	deletes, bytes, maintained prometheus.Counter
	dataFiles, deleteFiles     prometheus.Counter
	commitDur                  prometheus.Observer
}

// Table returns the recorder of topic, creating it on first use. A nil
// Compactor returns nil.
func (c *Compactor) Table(topic string) *LakeTable {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tables[topic]; t != nil {
		return t
	}
	r := c.reg
	t := &LakeTable{
		topic:       topic,
		lag:         r.consumeLag.WithLabelValues(topic),
		delFiles:    r.delFiles.WithLabelValues(topic),
		delRows:     r.delRows.WithLabelValues(topic),
		records:     r.records.WithLabelValues(topic),
		commits:     r.commits.WithLabelValues(topic),
		rows:        r.rows.WithLabelValues(topic),
		deletes:     r.deletes.WithLabelValues(topic),
		bytes:       r.bytes.WithLabelValues(topic),
		maintained:  r.maintained.WithLabelValues(topic),
		dataFiles:   r.files.WithLabelValues(topic, "data"),
		deleteFiles: r.files.WithLabelValues(topic, "deletes"),
		commitDur:   r.lakeCommitDur,
	}
	c.tables[topic] = t
	return t
}

// Records counts n records consumed from the topic.
func (t *LakeTable) Records(n int) {
	if t != nil {
		t.records.Add(float64(n))
	}
}

// ConsumeLag records the records between the topic's last stable offset
// and the table's position, summed over partitions.
func (t *LakeTable) ConsumeLag(n int64) {
	if t != nil {
		t.lag.Set(float64(max(n, 0)))
	}
}

// Commit describes one lake commit.
type Commit struct {
	Duration time.Duration
	// Rows and Deletes count the rows and position deletes written;
	// DataFiles, DeleteFiles and Bytes the files added and their size.
	Rows, Deletes, DataFiles, DeleteFiles int
	Bytes                                 int64
	// Through is the newest source commit time the table now holds; zero
	// when unknown.
	Through time.Time
}

// Committed records one lake commit.
func (t *LakeTable) Committed(c Commit) {
	if t == nil {
		return
	}
	t.commits.Inc()
	t.commitDur.Observe(c.Duration.Seconds())
	t.rows.Add(float64(c.Rows))
	t.deletes.Add(float64(c.Deletes))
	t.dataFiles.Add(float64(c.DataFiles))
	t.deleteFiles.Add(float64(c.DeleteFiles))
	t.bytes.Add(float64(c.Bytes))
	if !c.Through.IsZero() {
		storeMax(&t.through, c.Through.UnixNano())
	}
}

// Debt records the table's delete-file debt: the position delete files
// and rows of its current snapshot.
func (t *LakeTable) Debt(files, rows int64) {
	if t == nil {
		return
	}
	t.delFiles.Set(float64(files))
	t.delRows.Set(float64(rows))
}

// Maintained counts one maintenance run.
func (t *LakeTable) Maintained() {
	if t != nil {
		t.maintained.Inc()
	}
}
