package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// flushTimeout bounds one lake commit.
const flushTimeout = 5 * time.Minute

// worker applies one topic to its lake table. Its goroutine owns every
// field below ahead.
type worker struct {
	c     *Compactor
	src   *source
	topic string
	parts []int32
	log   *slog.Logger

	// own is cancelled once the worker's topic is no longer this
	// member's (lost, or revoked and its flush too slow): no commit
	// starts after that, and the one in flight is aborted.
	own    context.Context
	disown context.CancelCauseFunc

	in   chan fetched
	quit chan bool // true: commit what is pending first
	done chan struct{}
	// ahead is what the topic has fetched that the goroutine has not yet
	// handled; it is shared with the poll loop.
	ahead fetchAhead

	// session is the context of the worker's session, ended with it.
	session context.Context
	tbl     lake.Table
	table   schema.TableID
	// next is, per partition, the offset of the next record to apply;
	// records below it are already in the table.
	next map[int32]int64
	acc  accumulator
	// barrier holds, per partition, the offset of a table-level record
	// (truncate, resync marker: sent to every partition) waiting for the
	// same record on every other partition; held keeps the records that
	// came after it. barrierOp and barrierTable are the record's op and
	// schema version.
	barrier      map[int32]int64
	held         map[int32][]*kgo.Record
	barrierOp    schema.Op
	barrierTable *schema.Table
	cols         columnIndex
	scanner      envelopeScanner
	images       schema.Envelope
	// lastSchema is the schema version of the last record.
	lastSchema struct {
		id      schema.TableID
		version int
		t       *schema.Table
	}
	// halted is set once the worker stops applying records: bad input or
	// a failure that ends the session.
	halted error
	// m records the topic's metrics; stable holds the last stable
	// offsets fetches report and applied the offsets the table holds,
	// for the consume lag (metrics.go).
	m       *metrics.LakeTable
	stable  stableOffsets
	applied map[int32]int64
	// times holds the source commit times of notifications (notify.go).
	times sourceTimes
}

// errLost and errRevokedSlow are the causes of a worker's disowning.
var (
	errLost        = errors.New("topic lost: this member is no longer in the group")
	errRevokedSlow = errors.New("topic revoked and its last commit took too long")
)

// maintained is a table's last maintenance.
type maintained struct {
	at    time.Time
	files int64 // data files it left
}

func newWorker(c *Compactor, src *source, topic string, parts []int32) *worker {
	own, disown := context.WithCancelCause(context.Background())
	return &worker{
		own: own, disown: disown,
		c: c, src: src, topic: topic, parts: parts, log: c.log.With("topic", topic),
		in: make(chan fetched, maxFetchesAhead), quit: make(chan bool), done: make(chan struct{}),
		next: map[int32]int64{}, cols: columnIndex{}, barrier: map[int32]int64{}, held: map[int32][]*kgo.Record{},
		m: c.cfg.Metrics.Table(topic),
	}
}

// open opens the lake table (or takes the one kept from an earlier
// session) and positions the worker at its checkpoint.
func (w *worker) open(ctx context.Context) error {
	tbl := w.c.table(w.topic)
	if r, ok := tbl.(lake.Refresher); ok && tbl != nil {
		// Kept from an earlier session, or after a failed commit: another
		// writer may have committed since. Refreshing keeps the key index.
		if err := r.Refresh(ctx); err != nil {
			w.log.Warn("cannot refresh the lake table kept from before; opening it again", "error", err)
			w.c.setTable(w.topic, nil)
			tbl = nil
		}
	}
	if tbl == nil {
		t, err := w.src.schemas.newest(ctx, w.topic)
		if err != nil {
			return fmt.Errorf("read schemas: %w", err)
		}
		if t == nil {
			// A reader commits a table's schema with its first change, so
			// the topic is not a reader's: retrying cannot help.
			return badInput{fmt.Errorf("no schema for topic %s on %s: the topic was not written by a tributary reader", w.topic, schema.SchemaTopic(w.src.cfg.TopicPrefix))}
		}
		if tbl, err = w.c.cfg.Lake.Open(ctx, t, w.src.tableConfig(t.ID)); err != nil {
			return fmt.Errorf("open lake table of %s: %w", t.ID, err)
		}
		w.c.setTable(w.topic, tbl)
		defer w.replay(ctx, tbl, t.ID)
	}
	w.tbl = tbl
	cp := tbl.Checkpoint()
	switch cp.Topic {
	case w.topic:
		w.next = maps.Clone(cp.Offsets)
	case "":
	default:
		w.log.Warn("lake table was last written from another topic; reading this one from its start", "checkpoint_topic", cp.Topic)
	}
	return nil
}

// start runs the worker in session ctx.
func (w *worker) start(ctx context.Context) {
	w.session = ctx
	go w.run(ctx)
}

// fetched is one fetch's records of the worker's topic, and their size.
type fetched struct {
	recs  []*kgo.Record
	bytes int64
}

// maxFetchesAhead is how many fetches a worker may have waiting; fetching
// its topic pauses at half as many, so that the poll loop, which serves
// every topic, never waits for one slow table.
const maxFetchesAhead = 16

// fetchAhead bounds what a topic has fetched and its worker not yet
// handled, in bytes (Config.FetchAhead) and in fetches: past either, the
// poll loop pauses fetching the topic, and the worker resumes it once it
// is down to half. Franz-go drops what it had buffered of a paused topic
// and fetches it again from the next offset after the resume, so nothing
// is lost or repeated. Memory then stays bounded however far behind a
// table is (before, 16 fetches of any size could wait per table, up to
// a gigabyte for a table of many partitions).
type fetchAhead struct {
	mu      sync.Mutex
	bytes   int64
	fetches int
	paused  bool
}

// send hands a fetch's records of this topic to the worker, pausing the
// topic when the worker is too far behind.
func (w *worker) send(ctx context.Context, f fetched) {
	a := &w.ahead
	a.mu.Lock()
	a.bytes += f.bytes
	a.fetches++
	if !a.paused && (a.bytes > w.c.cfg.FetchAhead || a.fetches >= maxFetchesAhead/2) {
		a.paused = true
		w.c.pauseTopic(w.topic)
	}
	a.mu.Unlock()
	select {
	case w.in <- f:
	case <-w.done:
	case <-ctx.Done():
	}
}

// handled tells the poll loop side that f is handled, resuming the topic
// once the worker is down to half of what pauses it.
func (w *worker) handled(f fetched) {
	a := &w.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bytes -= f.bytes
	a.fetches--
	if a.paused && a.bytes <= w.c.cfg.FetchAhead/2 && a.fetches <= maxFetchesAhead/4 {
		a.paused = false
		w.c.resumeTopic(w.topic)
	}
}

// stop ends the worker and waits for it.
func (w *worker) stop(flush bool) {
	select {
	case w.quit <- flush:
	case <-w.done:
	}
	<-w.done
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	for {
		var tick <-chan time.Time
		if w.acc.records > 0 && w.halted == nil {
			tick = time.After(time.Until(w.acc.first.Add(w.c.cfg.Interval)))
		}
		select {
		case f := <-w.in:
			w.handle(ctx, f.recs)
			w.handled(f)
			w.reportLag()
		case <-tick:
			w.flush(ctx)
			w.reportLag()
		case flush := <-w.quit:
			if flush && w.halted == nil {
				w.flush(ctx)
			}
			return
		}
	}
}

// badInput marks an error that stops the table rather than the session.
type badInput struct{ err error }

func (b badInput) Error() string { return b.err.Error() }
func (b badInput) Unwrap() error { return b.err }

func (w *worker) handle(ctx context.Context, recs []*kgo.Record) {
	for _, r := range recs {
		if w.halted != nil {
			return
		}
		err := w.record(ctx, r)
		if err == nil {
			w.recycle(r)
			continue
		}
		var bad badInput
		if errors.As(err, &bad) {
			err = fmt.Errorf("topic %s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, bad.err)
			w.flush(ctx) // what came before the bad record is good
			if errors.Is(err, lake.ErrIncompatible) {
				w.halt(err)
				return
			}
			w.haltWith(err, fmt.Sprintf("find what wrote it (a tributary reader never writes such a record), then delete the records of %s partition %d before offset %d (kafka-delete-records.sh; the records before it are already in the lake) and restart the compactor",
				r.Topic, r.Partition, r.Offset+1))
			return
		}
		w.fail(err)
		return
	}
}

// halt stops the table for bad input; the rest of the compactor goes on.
func (w *worker) halt(err error) {
	fix := "restart the compactor once the input is fixed"
	if errors.Is(err, lake.ErrIncompatible) {
		fix = "drop the lake table (the compactor creates it again with the new schema) and re-snapshot the source table (tributary reader --resnapshot db.table), then restart the compactor"
	}
	w.haltWith(err, fix)
}

// haltWith is halt with the fix the log line gives.
func (w *worker) haltWith(err error, fix string) {
	if w.halted != nil {
		return
	}
	w.halted = err
	w.c.cfg.Metrics.Error(metrics.ErrorBadInput)
	w.log.Error("lake table stopped: a record cannot be applied; nothing after it is applied until it is fixed", "error", err, "fix", fix)
	w.c.stop(w.topic, err)
}

// fail stops the worker and ends the session, which starts again from the
// tables' checkpoints.
func (w *worker) fail(err error) {
	if w.halted != nil {
		return
	}
	if cause := context.Cause(w.own); cause != nil {
		// Another member owns the topic now: drop what is held; the
		// session goes on.
		w.halted = cause
		w.log.Info("topic no longer owned; dropping the records not yet committed", "records", w.acc.records, "reason", cause, "error", err)
		w.acc.reset()
		return
	}
	w.halted = err
	w.c.cfg.Metrics.Error(errorKind(err))
	if _, ok := w.c.table(w.topic).(lake.Refresher); !ok {
		w.c.setTable(w.topic, nil)
	} // else kept, and refreshed when opened again: its key index survives
	if w.session != nil && w.session.Err() != nil {
		// A revoked worker whose session ended while it committed: the
		// next session is not its to end.
		w.log.Warn("commit failed after the session ended; the next owner of the topic starts from the table's checkpoint", "error", err)
		return
	}
	w.c.fail(fmt.Errorf("topic %s: %w", w.topic, err))
}

// record folds one record into the batch.
func (w *worker) record(ctx context.Context, r *kgo.Record) error {
	if o, ok := w.next[r.Partition]; ok && r.Offset < o {
		return nil // already in the lake
	}
	if _, waiting := w.barrier[r.Partition]; waiting {
		w.held[r.Partition] = append(w.held[r.Partition], r)
		return nil
	}
	if r.Attrs.IsControl() {
		w.next[r.Partition] = r.Offset + 1 // a transaction marker
		return nil
	}
	if w.tbl == nil {
		if err := w.open(ctx); err != nil {
			return err
		}
		if o, ok := w.next[r.Partition]; ok && r.Offset < o {
			return nil
		}
	}
	if r.Value == nil {
		w.next[r.Partition] = r.Offset + 1 // tombstone
		return nil
	}
	env, err := w.scanner.scan(r.Value)
	if err != nil {
		return badInput{err}
	}
	t, err := w.schemaOf(ctx, env)
	if err != nil {
		return err
	}
	if op := env.op(); op.TableLevel() {
		w.barrier[r.Partition] = r.Offset
		w.barrierOp, w.barrierTable = op, t
		if len(w.barrier) == len(w.parts) {
			return w.passBarrier(ctx)
		}
		return nil
	}
	full, codec := &w.images, w.cols.of(t)
	w.scanner.guess, w.scanner.codec = t, codec
	if err := env.images(t, codec, full); err != nil {
		return badInput{err}
	}
	if w.acc.resync != lake.ResyncNone {
		if err := w.flushErr(ctx); err != nil { // a resync marker commits alone
			return err
		}
	}
	if w.acc.table != nil && w.acc.table != t && w.acc.records > 0 {
		// A new schema version: commit the rows of the old one first.
		if err := w.flushErr(ctx); err != nil {
			return err
		}
	}
	meta := env.meta(&codec.box)
	if err := w.acc.add(full, t, meta); err != nil {
		return badInput{err}
	}
	w.times.fold(r.Partition, r.Offset, meta.CommitTime)
	w.next[r.Partition] = r.Offset + 1
	if w.acc.records >= w.c.cfg.MaxRows {
		return w.flushErr(ctx)
	}
	return nil
}

// schemaOf returns the schema version of an envelope, checking that the
// table belongs to the topic; the last version found is kept, since
// consecutive records nearly always share it.
func (w *worker) schemaOf(ctx context.Context, env *envelope) (*schema.Table, error) {
	id, version := env.tableID(), env.Source.Version
	if l := &w.lastSchema; l.t != nil && l.version == version && l.id == id {
		return l.t, nil
	}
	t, err := w.src.schemas.lookup(ctx, id, version)
	if err != nil {
		if errors.Is(err, ErrUnknownSchema) {
			return nil, badInput{err}
		}
		return nil, err
	}
	if own := schema.TopicName(w.src.cfg.TopicPrefix, t.ID); own != w.topic {
		return nil, badInput{fmt.Errorf("a change of table %s, whose topic is %s", t.ID, own)}
	}
	if w.table != (schema.TableID{}) && t.ID != w.table {
		return nil, badInput{fmt.Errorf("topic carries table %s after table %s", t.ID, w.table)}
	}
	w.table = t.ID
	w.lastSchema.id, w.lastSchema.version, w.lastSchema.t = id, version, t
	return t, nil
}

// passBarrier applies a table-level record once every partition has
// reached it, then folds in the records held behind the barrier.
//
// A truncate drops the pending rows and clears the table with the next
// commit. A resync marker commits the rows before it first, then itself
// on its own (lake.Resync), before any change after it: the table must
// tell rows before a begin marker from rows after it.
func (w *worker) passBarrier(ctx context.Context) error {
	if w.acc.resync != lake.ResyncNone {
		if err := w.flushErr(ctx); err != nil { // a resync marker commits alone
			return err
		}
	}
	switch w.barrierOp {
	case schema.OpTruncate:
		if w.acc.table == nil || w.acc.records == 0 {
			w.acc.table = w.barrierTable
		}
		w.acc.clear()
		w.passed()
	case schema.OpResyncBegin, schema.OpResyncEnd:
		if err := w.flushErr(ctx); err != nil {
			return err
		}
		w.passed()
		w.acc.table = w.barrierTable
		w.acc.resync = lake.ResyncBegin
		if w.barrierOp == schema.OpResyncEnd {
			w.acc.resync = lake.ResyncEnd
		}
		w.acc.touch()
		w.log.Info("resync marker reached on every partition", "op", w.barrierOp.String())
		// It commits with the next flush: on the timer, so that the
		// transaction markers after it are covered, or before the next
		// change (record).
	}
	held := w.held
	w.held = map[int32][]*kgo.Record{}
	for _, p := range slices.Sorted(maps.Keys(held)) {
		for _, r := range held[p] {
			if err := w.record(ctx, r); err != nil {
				return err
			}
			w.recycle(r)
		}
	}
	return nil
}

// passed moves every partition past the barrier's record.
func (w *worker) passed() {
	for p, o := range w.barrier {
		w.next[p] = o + 1
	}
	w.barrier = map[int32]int64{}
}

// flush commits the batch; a failure fails the worker.
func (w *worker) flush(ctx context.Context) {
	if err := w.flushErr(ctx); err != nil {
		var bad badInput
		if errors.As(err, &bad) {
			w.halt(bad.err)
			return
		}
		w.fail(err)
	}
}

func (w *worker) flushErr(ctx context.Context) error {
	if w.acc.records == 0 {
		return nil
	}
	if w.acc.empty() {
		w.acc.reset() // only tombstones: nothing to commit
		return nil
	}
	if cause := context.Cause(w.own); cause != nil {
		return cause // checked right before a commit starts
	}
	fctx, cancel := context.WithTimeout(w.own, flushTimeout)
	defer cancel()
	cp := lake.Checkpoint{Topic: w.topic, Offsets: maps.Clone(w.next)}
	b := w.acc.batch(cp)
	st, err := w.tbl.Apply(fctx, b)
	if err != nil {
		if errors.Is(err, lake.ErrIncompatible) {
			return badInput{err}
		}
		return fmt.Errorf("commit %d changes: %w", len(b.Changes), err)
	}
	w.log.Debug("committed", "records", w.acc.records, "rows", st.Rows, "deletes", st.Deletes,
		"data_files", st.DataFiles, "delete_files", st.DeleteFiles, "took", st.Duration, "freshness", time.Since(w.acc.first))
	w.notify(fctx, b, st)
	w.reportCommit(b, st)
	w.acc.reset()
	w.c.commitOffsets(cp)
	return w.maintain(fctx)
}

// maintain rewrites the table's files and expires its snapshots when it is
// due, between two commits of the same worker, so the two never conflict.
func (w *worker) maintain(ctx context.Context) error {
	m, ok := w.tbl.(lake.Maintainer)
	if !ok {
		return nil
	}
	if !w.maintenanceDue() {
		return nil
	}
	st, err := m.Maintain(ctx)
	w.c.setMaintained(w.topic, w.dataFiles())
	if err != nil {
		return maintainError{err}
	}
	w.reportMaintained()
	w.log.Debug("maintained", "rewritten", st.RewrittenFiles, "into", st.NewFiles, "delete_files_removed", st.RemovedDeleteFiles,
		"snapshots_expired", st.ExpiredSnapshots, "orphans_removed", st.RemovedOrphans, "took", st.Duration)
	return nil
}

// maintenanceDue reports whether the table is due for maintenance:
// MaintainEvery after the last one (the first one MaintainEvery after the
// compactor started with the table), or sooner once its data files
// reach MaintainFiles and twice what the last one left.
func (w *worker) maintenanceDue() bool {
	last := w.c.lastMaintained(w.topic)
	if time.Since(last.at) >= w.c.cfg.MaintainEvery {
		return true
	}
	n := w.dataFiles()
	return n >= w.c.cfg.MaintainFiles && n >= 2*last.files
}

// dataFiles returns the table's data files, 0 when unknown.
func (w *worker) dataFiles() int64 {
	if s, ok := w.tbl.(lake.Sizer); ok {
		return s.Size().DataFiles
	}
	return 0
}
