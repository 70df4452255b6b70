package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// The snapshot reads each table in primary-key chunks without locks while
// the stream goes on: the DBLog algorithm, with watermarks that workers
// write into the WAL as transactional logical messages.
//
//  1. A worker commits a low watermark, waits until every transaction that
//     committed before it is visible (see waitCommitsVisible), selects the
//     chunk after the last key (its statement snapshot sees everything
//     committed before the watermark), and commits a high watermark.
//  2. The stream meets the low watermark in commit order and opens a
//     window on the table: it records the key of every change of the
//     table it publishes until the high watermark.
//  3. At the high watermark the chunk's rows whose keys the stream changed
//     are dropped (the stream's events carry their newer state) and the
//     rest are published as reads, right there in the stream's order. A
//     truncate inside the window discards the chunk, which is read again.
//     (An update that left TOAST values unchanged carries only part of the
//     row: see window.reads.)
//
// A worker reads up to readAhead chunks of its table ahead of the stream;
// SnapshotWorkers tables are read at once. The checkpoint holds each
// table's last published key, so a restart resumes at the next chunk.

// readAhead bounds the chunks a worker reads before the stream has
// published them.
const readAhead = 2

// tableRun is one pass of a worker over a table, from a key onwards.
type tableRun struct {
	id    schema.TableID
	gen   int
	key   []string
	after []string
	ctx   context.Context
	stop  context.CancelFunc
	// credit holds a token per chunk the worker may read ahead.
	credit chan struct{}
	// queue holds the windows the stream opened, oldest first.
	queue []*window
	total int64
	began time.Time
	rows0 int64
}

// chunkResult is one chunk read by a worker.
type chunkResult struct {
	run    *tableRun
	window string
	after  []string // the key the chunk starts after
	sch    *schema.Table
	rows   [][]any
	last   []string // the last row's key, as text
	total  int64    // the table's row estimate
	done   bool
	gone   bool // the table no longer exists
	err    error
}

// wmMessage is the content of a watermark message.
type wmMessage struct {
	Kind   string `json:"k"` // "low" or "high"
	Window string `json:"w"`
	Table  string `json:"t"`
	Gen    int    `json:"g"`
}

// snapshotter runs the workers and tracks the windows. Its methods other
// than worker run on the stream goroutine.
type snapshotter struct {
	r       *reader
	token   string // tells this run's watermarks from an earlier run's
	ctx     context.Context
	jobs    chan *tableRun
	results chan chunkResult
	runs    map[schema.TableID]*tableRun
	windows map[string]*window
	pending map[string]*chunkResult
	gen     int
	logged  time.Time
}

func newSnapshotter(r *reader) *snapshotter {
	var b [6]byte
	_, _ = rand.Read(b[:])
	n := r.s.cfg.SnapshotWorkers
	return &snapshotter{r: r, token: hex.EncodeToString(b[:]), jobs: make(chan *tableRun, n), results: make(chan chunkResult, n),
		runs: map[schema.TableID]*tableRun{}, windows: map[string]*window{}, pending: map[string]*chunkResult{}}
}

func (sn *snapshotter) start(ctx context.Context) {
	sn.ctx = ctx
	for range sn.r.s.cfg.SnapshotWorkers {
		go sn.worker(ctx)
	}
}

func (sn *snapshotter) stop() {
	for _, run := range sn.runs {
		run.stop()
	}
}

// schedule starts a run for each table waiting for its snapshot, as long
// as workers are free.
func (sn *snapshotter) schedule() {
	r := sn.r
	if sn.ctx == nil {
		return
	}
	var names []string
	for name, st := range r.cp.Tables {
		if st.Snapshot == snapPending || st.Snapshot == snapRunning {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if len(sn.runs) >= r.s.cfg.SnapshotWorkers {
			return
		}
		id, _ := schema.ParseTableID(name)
		if sn.runs[id] != nil {
			continue
		}
		st := r.cp.Tables[name]
		t := r.reg.tables[id]
		if t == nil || t.sch == nil || t.skip {
			st.Snapshot, st.After = snapDone, nil
			r.dirty = true
			continue
		}
		sn.gen++
		run := &tableRun{id: id, gen: sn.gen, key: t.sch.Key, after: slices.Clone(st.After),
			credit: make(chan struct{}, readAhead), began: time.Now(), rows0: st.Rows}
		for range readAhead {
			run.credit <- struct{}{}
		}
		run.ctx, run.stop = context.WithCancel(sn.ctx)
		sn.runs[id] = run
		sn.jobs <- run
		r.s.log.Info("snapshot", "table", id, "from", st.After, "rows_done", st.Rows)
	}
}

// cancel ends a table's run; schedule starts a new one from the
// checkpoint's key.
func (sn *snapshotter) cancel(id schema.TableID) {
	run := sn.runs[id]
	if run == nil {
		return
	}
	run.stop()
	delete(sn.runs, id)
	for _, w := range run.queue {
		delete(sn.windows, w.id)
	}
	for id, res := range sn.pending {
		if res.run == run {
			delete(sn.pending, id)
		}
	}
}

// openWindow returns the table's window the stream is inside, if any.
func (sn *snapshotter) openWindow(id schema.TableID) *window {
	run := sn.runs[id]
	if run == nil || len(run.queue) == 0 {
		return nil
	}
	if w := run.queue[len(run.queue)-1]; !w.closed {
		return w
	}
	return nil
}

// markRewrite discards the open window's chunk of a table whose rows
// changed without row events (a truncate).
func (sn *snapshotter) markRewrite(id schema.TableID) {
	if w := sn.openWindow(id); w != nil {
		w.invalid = true
	}
}

// watermark handles a watermark the stream reached, in commit order.
func (sn *snapshotter) watermark(ctx context.Context, content []byte) error {
	var m wmMessage
	if err := json.Unmarshal(content, &m); err != nil {
		return nil // not ours after all
	}
	id, err := schema.ParseTableID(m.Table)
	if err != nil {
		return nil
	}
	run := sn.runs[id]
	if run == nil || run.gen != m.Gen || !strings.HasPrefix(m.Window, sn.token+".") {
		return nil // a cancelled run, or an earlier reader's
	}
	switch m.Kind {
	case "low":
		w := &window{id: m.Window, run: run, keys: map[string]*keyState{}}
		if res := sn.pending[m.Window]; res != nil {
			w.result = res
			delete(sn.pending, m.Window)
		}
		run.queue = append(run.queue, w)
		sn.windows[m.Window] = w
	case "high":
		if w := sn.windows[m.Window]; w != nil {
			w.closed = true
		}
	}
	return nil
}

// arrived takes a chunk from a worker.
func (sn *snapshotter) arrived(ctx context.Context, res chunkResult) error {
	if err := sn.store(res); err != nil {
		return err
	}
	if !sn.r.tx.open {
		return sn.emitReady(ctx)
	}
	return nil
}

// store files a chunk with its window, or keeps it until the stream
// reaches the window.
func (sn *snapshotter) store(res chunkResult) error {
	run := sn.runs[res.run.id]
	if run != res.run {
		return nil // from a cancelled run
	}
	switch {
	case res.gone:
		sn.r.s.log.Info("snapshot: the table is gone", "table", run.id)
		sn.finish(run)
		return nil
	case res.err != nil:
		return fmt.Errorf("snapshot %s: %w", run.id, res.err)
	}
	run.total = res.total
	if w := sn.windows[res.window]; w != nil {
		w.result = &res
	} else {
		sn.pending[res.window] = &res
	}
	return nil
}

// emitReady publishes, for each table, the chunks whose window the stream
// has closed, oldest first. It runs at transaction boundaries, right after
// the high watermark's transaction, so a chunk lands exactly where its
// watermark is; if the worker's result is not in yet, it waits for it.
func (sn *snapshotter) emitReady(ctx context.Context) error {
	for _, id := range sortedRuns(sn.runs) {
		run := sn.runs[id]
		for run != nil && len(run.queue) > 0 && run.queue[0].closed {
			w := run.queue[0]
			if err := sn.await(ctx, w); err != nil {
				return err
			}
			if sn.runs[id] != run {
				break // cancelled while waiting
			}
			run.queue = run.queue[1:]
			delete(sn.windows, w.id)
			if w.invalid {
				sn.cancel(id) // read it again from the checkpoint's key
				break
			}
			if err := sn.emit(ctx, run, w); err != nil {
				return err
			}
			select {
			case run.credit <- struct{}{}:
			default:
			}
			run = sn.runs[id]
		}
	}
	return nil
}

func sortedRuns(m map[schema.TableID]*tableRun) []schema.TableID {
	ids := make([]schema.TableID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b schema.TableID) int {
		if a.Database != b.Database {
			return compareStrings(a.Database, b.Database)
		}
		return compareStrings(a.Name, b.Name)
	})
	return ids
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// await waits for a closed window's chunk, which its worker sends right
// after writing the high watermark.
func (sn *snapshotter) await(ctx context.Context, w *window) error {
	timeout := time.After(5 * time.Minute)
	for w.result == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("snapshot %s: the chunk of window %s did not arrive", w.run.id, w.id)
		case res := <-sn.results:
			if err := sn.store(res); err != nil {
				return err
			}
			if sn.runs[w.run.id] != w.run {
				return nil
			}
		}
	}
	return nil
}

// emit publishes a chunk's rows that the stream did not change as reads,
// and moves the table's snapshot state past them.
func (sn *snapshotter) emit(ctx context.Context, run *tableRun, w *window) error {
	r, res := sn.r, w.result
	st := r.cp.Tables[run.id.String()]
	t := r.reg.tables[run.id]
	if st == nil || t == nil {
		sn.finish(run)
		return nil
	}
	if t.sch == nil || !res.sch.SameShape(t.sch) {
		if err := r.adopted(ctx, run.id, r.reg.adopt(t, res.sch)); err != nil {
			return err
		}
		if sn.runs[run.id] != run {
			return nil // the new shape restarted the snapshot
		}
	}
	src := schema.Source{Connector: "postgresql", Name: r.s.cfg.Name, LSN: uint64(r.readLSN()), CommitTime: time.Now(), Snapshot: true}
	reads := w.reads()
	r.s.stats.superseded.Add(int64(max(0, len(res.rows)-len(reads))))
	for i, row := range reads {
		src.Row = i
		if err := r.stage(ctx, &schema.Event{Table: t.sch, Op: schema.OpRead, After: row, Source: src}); err != nil {
			return err
		}
	}
	if st.Snapshot != snapRunning {
		st.Started = time.Now().UTC()
	}
	st.Rows += int64(len(res.rows))
	r.s.stats.snapRows.Add(int64(len(res.rows)))
	r.dirty = true
	tm := r.tableMetrics(t)
	tm.Events(byte(schema.OpRead), len(reads))
	tm.SnapshotRows(st.Rows)
	tm.SnapshotEstimate(run.total)
	if res.done {
		tm.SnapshotState(metrics.SnapshotDone)
		st.Snapshot, st.After = snapDone, nil
		r.s.log.Info("snapshot done", "table", run.id, "rows", st.Rows, "took", time.Since(run.began).Round(time.Millisecond))
		sn.finish(run)
		return nil
	}
	st.Snapshot, st.After = snapRunning, res.last
	tm.SnapshotState(metrics.SnapshotRunning)
	return nil
}

func (sn *snapshotter) finish(run *tableRun) {
	if st := sn.r.cp.Tables[run.id.String()]; st != nil && st.Snapshot != snapDone {
		st.Snapshot, st.After = snapDone, nil
		sn.r.dirty = true
	}
	sn.cancel(run.id)
}

// progress logs each running table's rows, estimate and ETA every 10s.
func (sn *snapshotter) progress() {
	if len(sn.runs) == 0 || time.Since(sn.logged) < 10*time.Second {
		return
	}
	sn.logged = time.Now()
	var total int64
	for _, id := range sortedRuns(sn.runs) {
		run := sn.runs[id]
		st := sn.r.cp.Tables[id.String()]
		if st == nil {
			continue
		}
		total += max(run.total, st.Rows)
		rate := float64(st.Rows-run.rows0) / time.Since(run.began).Seconds()
		eta := "unknown"
		if rate > 0 && run.total > st.Rows {
			eta = (time.Duration(float64(run.total-st.Rows)/rate) * time.Second).Round(time.Second).String()
		}
		sn.r.s.log.Info("snapshot progress", "table", id, "rows", st.Rows, "estimate", run.total, "rows_per_s", int64(rate), "eta", eta)
	}
	sn.r.s.stats.snapTotal.Store(total)
}

// queueSnapshot (re)starts a table's snapshot from its first row.
func (r *reader) queueSnapshot(id schema.TableID) {
	st := r.cp.Tables[id.String()]
	if st == nil {
		st = &tableState{}
		if t := r.reg.tables[id]; t != nil && t.sch != nil {
			st.Version = t.sch.Version
		}
		r.cp.Tables[id.String()] = st
	}
	st.Snapshot, st.After, st.Rows = snapPending, nil, 0
	r.dirty = true
	if r.snap != nil {
		r.snap.cancel(id)
	}
}

// Resnapshot asks a running reader to snapshot a table again while it
// streams. It does not block; a reader that is not running drops the
// request (use Config.Resnapshot at start instead).
func (s *Source) Resnapshot(id schema.TableID) {
	select {
	case s.resnap <- id:
	default:
	}
}

func (r *reader) resnapshot(ctx context.Context, id schema.TableID) error {
	t := r.reg.tables[id]
	if t == nil || t.sch == nil {
		r.s.log.Warn("resnapshot: the table is not captured", "table", id)
		return nil
	}
	r.s.log.Info("resnapshot requested", "table", id)
	// Consumers keep what they hold; the end marker after the snapshot
	// removes rows they hold that the source does not.
	if err := r.stage(ctx, r.marker(t.sch, schema.OpResyncBegin, r.readLSN())); err != nil {
		return err
	}
	r.queueSnapshot(id)
	r.cp.Tables[id.String()].Resync = true
	if r.snap != nil {
		r.snap.schedule()
	}
	return nil
}
