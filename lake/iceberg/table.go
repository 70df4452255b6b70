package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// Snapshot summary keys written by every ingestion commit.
const (
	// SummaryCheckpoint holds the lake.Checkpoint the snapshot reaches,
	// as JSON: {"topic":"...","offsets":{"0":123}}.
	SummaryCheckpoint = "tributary.checkpoint"
	// SummaryCommitID is a random id per commit, which resolves an
	// ambiguous commit.
	SummaryCommitID = "tributary.commit-id"
)

// Table properties written by a commit that adds no file (a resync marker
// that changes no row): Iceberg has no empty snapshot, so such a commit
// keeps its checkpoint in the table's properties, with the snapshot it was
// committed on top of; lastCheckpoint prefers it to that snapshot's own.
const (
	PropCheckpoint         = "tributary.checkpoint"
	PropCheckpointSnapshot = "tributary.checkpoint-snapshot"
	PropCommitID           = "tributary.commit-id"
)

// Table writes one lake table. Its methods may be called from several
// goroutines: each waits for the one in progress (a worker of an ended
// session may still be committing what it held when the next session's
// worker opens the same table).
type Table struct {
	// mu serializes the methods: a commit is planned on the key index and
	// the table as they are, and neither may change until it is done.
	mu    sync.Mutex
	lake  *Lake
	cat   catalog.Catalog
	ident table.Identifier
	cfg   lake.TableConfig
	log   *slog.Logger

	tbl    *table.Table
	source *schema.Table // the source schema the lake schema was last checked against
	// newest is the newest source version known (Open's, or a batch's).
	newest *schema.Table
	// views holds the lake views of older source versions (lakeView).
	views      map[*schema.Table]lakeViewAt
	index      *keyIndex
	checkpoint lake.Checkpoint
	// props are the Parquet settings of data files whose single key
	// column is propsKey (see dataProps).
	props    *parquet.WriterProperties
	propsKey string
	// deleteTargets caches the data files each live position delete file
	// points into (a file never changes), for maintenance.
	deleteTargets map[string][]string
	// broken is set when the table must be opened again.
	broken error
}

var (
	_ lake.Table     = (*Table)(nil)
	_ lake.Refresher = (*Table)(nil)
)

// checkpointJSON is the summary form of a lake.Checkpoint.
type checkpointJSON struct {
	Topic      string           `json:"topic"`
	Offsets    map[string]int64 `json:"offsets"`
	SourceTime time.Time        `json:"source_time,omitzero"`
	// ResyncMark is set while a resync runs: rows in data files whose data
	// sequence number is at most the mark are old (see resync.go).
	ResyncMark *int64 `json:"resync_mark,omitempty"`
}

func encodeCheckpoint(c lake.Checkpoint) string {
	j := checkpointJSON{Topic: c.Topic, Offsets: map[string]int64{}, SourceTime: c.SourceTime.UTC()}
	if c.Resyncing {
		j.ResyncMark = &c.ResyncMark
	}
	for p, o := range c.Offsets {
		j.Offsets[strconv.Itoa(int(p))] = o
	}
	b, _ := json.Marshal(j)
	return string(b)
}

func decodeCheckpoint(s string) (lake.Checkpoint, error) {
	var j checkpointJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return lake.Checkpoint{}, fmt.Errorf("decode %s %q: %w", SummaryCheckpoint, s, err)
	}
	c := lake.Checkpoint{Topic: j.Topic, Offsets: map[int32]int64{}, SourceTime: j.SourceTime}
	if j.ResyncMark != nil {
		c.Resyncing, c.ResyncMark = true, *j.ResyncMark
	}
	for p, o := range j.Offsets {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return lake.Checkpoint{}, fmt.Errorf("decode %s: partition %q", SummaryCheckpoint, p)
		}
		c.Offsets[int32(n)] = o
	}
	return c, nil
}

// lastCheckpoint walks back from the current snapshot to the newest one
// that records a checkpoint (maintenance snapshots record none).
func lastCheckpoint(tbl *table.Table) (lake.Checkpoint, error) {
	meta := tbl.Metadata()
	props := tbl.Properties()
	base, err := strconv.ParseInt(props[PropCheckpointSnapshot], 10, 64)
	atBase := func(id int64) bool { return err == nil && id == base && props[PropCheckpoint] != "" }
	if atBase(0) && tbl.CurrentSnapshot() == nil {
		return decodeCheckpoint(props[PropCheckpoint])
	}
	for s := tbl.CurrentSnapshot(); s != nil; {
		if atBase(s.SnapshotID) {
			return decodeCheckpoint(props[PropCheckpoint])
		}
		if s.Summary != nil {
			if v, ok := s.Summary.Properties[SummaryCheckpoint]; ok {
				return decodeCheckpoint(v)
			}
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = meta.SnapshotByID(*s.ParentSnapshotID)
	}
	return lake.Checkpoint{Offsets: map[int32]int64{}}, nil
}

// hasCommit reports whether the table's current snapshot or one of its
// ancestors carries the commit id.
func hasCommit(tbl *table.Table, id string) bool {
	meta := tbl.Metadata()
	for s := tbl.CurrentSnapshot(); s != nil; {
		if s.Summary != nil && s.Summary.Properties[SummaryCommitID] == id {
			return true
		}
		if s.ParentSnapshotID == nil {
			return false
		}
		s = meta.SnapshotByID(*s.ParentSnapshotID)
	}
	return false
}

// load reads the checkpoint; the key index is built on the first Apply,
// when the source schema (and so the key) is known.
func (w *Table) load(ctx context.Context) error {
	cp, err := lastCheckpoint(w.tbl)
	if err != nil {
		return fmt.Errorf("table %s: %w", w.name(), err)
	}
	w.checkpoint = cp
	return nil
}

func (w *Table) name() string { return strings.Join(w.ident, ".") }

// Checkpoint returns the Kafka position of the last commit.
func (w *Table) Checkpoint() lake.Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checkpoint.Clone()
}

// Close releases the key index. It is idempotent; it waits for a call in
// progress.
func (w *Table) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.index = nil
	w.broken = errors.New("table closed")
}

// maxAttempts bounds the commits of one Apply: a conflict with a writer
// that did not move the checkpoint is planned again, a few times at most.
const maxAttempts = 3

// Apply commits one batch as one snapshot: the batch's new rows as data
// files, the rows they replace and the deleted rows as position deletes,
// and the checkpoint in the summary. When the commit conflicts with
// snapshots that left the checkpoint where this table had it (another
// writer's maintenance, a snapshot of no data), the table is refreshed
// and the batch planned and committed again, up to maxAttempts times;
// when they moved it, Apply returns ErrConflict.
func (w *Table) Apply(ctx context.Context, b *lake.Batch) (lake.Stats, error) {
	start := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return lake.Stats{}, fmt.Errorf("table %s must be opened again: %w", w.name(), w.broken)
	}
	ctx = w.lake.withStorage(ctx)
	base := w.checkpoint.Clone()
	for attempt := 1; ; attempt++ {
		stats, err := w.apply(ctx, b)
		stats.Duration = time.Since(start)
		if err == nil || !errors.Is(err, lake.ErrConflict) || attempt == maxAttempts || ctx.Err() != nil {
			return stats, err
		}
		if rerr := w.refresh(ctx); rerr != nil {
			w.broken = err
			return stats, fmt.Errorf("%w (and %w)", err, rerr)
		}
		if !sameOffsets(w.checkpoint, base) {
			w.broken = err // the caller resumes from the table's checkpoint
			return stats, err
		}
		w.log.Info("commit conflict with snapshots that kept the checkpoint; planning the batch again", "attempt", attempt, "error", err)
	}
}

// sameOffsets reports whether two checkpoints reach the same Kafka
// position.
func sameOffsets(a, b lake.Checkpoint) bool {
	return a.Topic == b.Topic && maps.Equal(a.Offsets, b.Offsets)
}

// apply is one attempt of Apply.
func (w *Table) apply(ctx context.Context, b *lake.Batch) (lake.Stats, error) {
	if err := w.prepare(ctx, b.Table); err != nil {
		return lake.Stats{}, err
	}
	p, err := w.plan(ctx, b)
	if err != nil {
		return lake.Stats{}, err
	}
	stats := lake.Stats{Rows: p.rows, Deletes: p.ndelete}
	cp := b.Checkpoint.Clone()
	cp.SourceTime = w.checkpoint.SourceTime
	cp.Resyncing, cp.ResyncMark = w.resyncState(b)
	for i := range b.Changes {
		if t := b.Changes[i].Meta.CommitTime; t.After(cp.SourceTime) {
			cp.SourceTime = t
		}
	}
	if p.empty() && b.Resync == lake.ResyncNone {
		w.checkpoint = cp
		return stats, nil
	}
	if p.empty() {
		// A resync marker is committed even when it changes no row: the
		// table must remember the resync (and the marker's offsets)
		// across restarts.
		tbl, err := w.commitCheckpoint(ctx, p.base, cp)
		if err != nil {
			w.broken = err
			return stats, err
		}
		w.tbl, w.checkpoint = tbl, cp
		return stats, nil
	}
	files, err := w.writeFiles(ctx, p)
	if err != nil {
		return stats, err
	}
	var cow *cowFiles
	if w.cfg.CopyOnWrite && len(p.deletes) > 0 {
		if cow, err = w.rewriteTouched(ctx, p); err != nil {
			return stats, err
		}
	}
	stats.DataFiles, stats.DeleteFiles = len(files.data), len(files.deletes)
	if cow != nil {
		stats.DataFiles += len(cow.packed)
	}
	tbl, id, err := w.commit(ctx, p.base, cp, files, cow)
	if err != nil {
		w.broken = err
		return stats, err
	}
	w.tbl = tbl
	err = w.updateIndex(p, files, commitSnapshot(tbl, id))
	if err == nil && cow != nil {
		err = w.replaced(cow)
	}
	if err != nil {
		w.index = nil
		w.broken = err
		return stats, err
	}
	w.checkpoint = cp
	stats.SnapshotID = tbl.CurrentSnapshot().SnapshotID
	return stats, nil
}

// Refresh loads the table again from the catalog, after a failed commit or
// when another writer may have committed, and keeps its key index, which
// the next Apply or Maintain brings forward from the snapshots committed
// since (or builds again when its snapshot is no ancestor of the current
// one). When it returns nil the table can apply batches again and
// Checkpoint is the table's last commit.
func (w *Table) Refresh(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refresh(ctx)
}

// refresh is Refresh, with w.mu held.
func (w *Table) refresh(ctx context.Context) error {
	ctx = w.lake.withStorage(ctx)
	tbl, err := w.cat.LoadTable(ctx, w.ident)
	if err != nil {
		return fmt.Errorf("reload table %s: %w", w.name(), err)
	}
	cp, err := lastCheckpoint(tbl)
	if err != nil {
		return fmt.Errorf("table %s: %w", w.name(), err)
	}
	w.tbl, w.checkpoint, w.broken = tbl, cp, nil
	return nil
}

// commitSnapshot returns the id of the snapshot with a commit id among the
// current snapshot and its ancestors, or -1.
func commitSnapshot(tbl *table.Table, id string) int64 {
	meta := tbl.Metadata()
	for s := tbl.CurrentSnapshot(); s != nil; {
		if s.Summary != nil && s.Summary.Properties[SummaryCommitID] == id {
			return s.SnapshotID
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = meta.SnapshotByID(*s.ParentSnapshotID)
	}
	return -1
}

// commit adds the files in one row delta whose summary carries the
// checkpoint, pinned to the snapshot of base, the table the plan was made
// against (whatever w.tbl has become since: a commit on top of another
// snapshot would delete the wrong rows), and returns the table and the
// commit id.
func (w *Table) commit(ctx context.Context, base *table.Table, cp lake.Checkpoint, files *writtenFiles, cow *cowFiles) (*table.Table, string, error) {
	id := uuid.NewString()
	props := iceberg.Properties{SummaryCheckpoint: encodeCheckpoint(cp), SummaryCommitID: id}
	txn := base.NewTransaction()
	if err := txn.AssertRefSnapshotID(table.MainBranch); err != nil {
		return nil, id, fmt.Errorf("commit %s: %w", w.name(), err)
	}
	if cow != nil {
		// Copy-on-write: one overwrite of the touched files.
		var add []iceberg.DataFile
		for _, f := range files.data {
			add = append(add, f.df)
		}
		for _, f := range cow.packed {
			add = append(add, f.df)
		}
		if err := txn.ReplaceFiles(ctx, cow.old, add, nil, props); err != nil {
			return nil, id, fmt.Errorf("stage commit %s: %w", w.name(), err)
		}
	} else {
		rd := txn.NewRowDelta(props)
		for _, f := range files.data {
			rd.AddRows(f.df)
		}
		for _, f := range files.deletes {
			rd.AddDeletes(f)
		}
		if err := rd.Commit(ctx); err != nil {
			return nil, id, fmt.Errorf("stage commit %s: %w", w.name(), err)
		}
	}
	tbl, err := txn.Commit(ctx)
	if err == nil {
		return tbl, id, nil
	}
	if isConflict(err) {
		return nil, id, fmt.Errorf("commit %s: %w: %w", w.name(), lake.ErrConflict, err)
	}
	tbl, err = w.resolve(ctx, base, id, err)
	return tbl, id, err
}

// commitCheckpoint commits a checkpoint without a snapshot, in the
// table's properties, pinned to the current snapshot of base, the table
// the plan was made against.
func (w *Table) commitCheckpoint(ctx context.Context, baseTbl *table.Table, cp lake.Checkpoint) (*table.Table, error) {
	id := uuid.NewString()
	base := int64(0)
	if s := baseTbl.CurrentSnapshot(); s != nil {
		base = s.SnapshotID
	}
	txn := baseTbl.NewTransaction()
	if err := txn.AssertRefSnapshotID(table.MainBranch); err != nil {
		return nil, fmt.Errorf("commit %s: %w", w.name(), err)
	}
	props := iceberg.Properties{PropCheckpoint: encodeCheckpoint(cp), PropCheckpointSnapshot: strconv.FormatInt(base, 10), PropCommitID: id}
	if err := txn.SetProperties(props); err != nil {
		return nil, fmt.Errorf("commit %s: %w", w.name(), err)
	}
	tbl, err := txn.Commit(ctx)
	if err == nil {
		return tbl, nil
	}
	if isConflict(err) {
		return nil, fmt.Errorf("commit %s: %w: %w", w.name(), lake.ErrConflict, err)
	}
	return w.resolveWith(ctx, baseTbl, func(t *table.Table) bool { return t.Properties()[PropCommitID] == id }, err)
}

// isConflict reports whether a commit error says the table moved since it
// was loaded. The SQL and Glue catalogs report a failed requirement as a
// plain error, not table.ErrCommitFailed.
func isConflict(err error) bool {
	return errors.Is(err, table.ErrCommitFailed) || strings.Contains(err.Error(), "requirement failed")
}

// resolve decides an ambiguous commit by reloading the table and looking
// for the commit id. It retries the reload while the catalog is down, for
// up to a minute.
func (w *Table) resolve(ctx context.Context, baseTbl *table.Table, id string, cause error) (*table.Table, error) {
	return w.resolveWith(ctx, baseTbl, func(t *table.Table) bool { return hasCommit(t, id) }, cause)
}

// resolveWith is resolve with a test of whether the commit happened;
// baseTbl is the table the commit was pinned to.
func (w *Table) resolveWith(ctx context.Context, baseTbl *table.Table, committed func(*table.Table) bool, cause error) (*table.Table, error) {
	w.log.Warn("commit outcome unknown; reloading the table to find out", "error", cause)
	base := baseTbl.CurrentSnapshot()
	delay := 200 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		tbl, err := w.cat.LoadTable(ctx, w.ident)
		if err == nil {
			switch {
			case committed(tbl):
				w.log.Info("the ambiguous commit did happen")
				return tbl, nil
			case tbl.CurrentSnapshot() != nil && (base == nil || tbl.CurrentSnapshot().SnapshotID != base.SnapshotID):
				return nil, fmt.Errorf("commit %s: %w (after: %w)", w.name(), lake.ErrConflict, cause)
			default:
				return nil, fmt.Errorf("commit %s did not happen: %w", w.name(), cause)
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("commit %s: outcome unknown, table cannot be reloaded (%v): %w", w.name(), err, cause)
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
