package compactor

import (
	"context"
	"time"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/lake/notify"
	"github.com/tributary-dev/tributary/schema"
)

// sourceTimes follows, per partition, the source commit times of the
// records a worker applies, for the notifications' CompleteThrough.
type sourceTimes struct {
	// applied is the commit time of the last change committed to the
	// lake, per partition, since the worker started.
	applied map[int32]time.Time
	// pending is the newest commit time folded since the last commit,
	// and first the first offset folded, per partition.
	pending map[int32]time.Time
	first   map[int32]int64
}

// fold notes a record folded into the batch.
func (s *sourceTimes) fold(p int32, offset int64, t time.Time) {
	if s.pending == nil {
		s.pending, s.first, s.applied = map[int32]time.Time{}, map[int32]int64{}, map[int32]time.Time{}
	}
	if _, ok := s.first[p]; !ok {
		s.first[p] = offset
	}
	if t.After(s.pending[p]) || s.pending[p].IsZero() {
		s.pending[p] = t
	}
}

// notify tells the notifier about a commit. A notifier's error is logged:
// the commit stands.
func (w *worker) notify(ctx context.Context, b *lake.Batch, st lake.Stats) {
	s := &w.times
	defer func() { clear(s.pending); clear(s.first) }()
	n := w.c.cfg.Notifier
	if n == nil || st.SnapshotID == 0 {
		return
	}
	c := w.commitOf(b.Table.ID, st, b.Checkpoint)
	c.CommittedAt = time.Now().UTC()
	c.Truncated = b.Truncate
	for _, ch := range b.Changes {
		if ch.Delete {
			c.Deletes++
		} else {
			c.Upserts++
		}
	}
	if b.Resync == lake.ResyncEnd {
		c.Deletes = st.Deletes // the old rows nothing rewrote
	}
	var newest time.Time
	for p, t := range s.pending {
		if t.After(s.applied[p]) {
			s.applied[p] = t
		}
		if t.After(newest) {
			newest = t
		}
		c.Offsets[p] = notify.Interval{From: s.first[p], To: b.Checkpoint.Offsets[p]}
	}
	if !newest.IsZero() {
		c.SourceTimeMax = &newest
	}
	if len(s.applied) == len(w.parts) {
		// Each partition is in source commit order, so every change
		// committed before the oldest of the partitions' last applied
		// changes has been applied.
		var oldest time.Time
		for _, t := range s.applied {
			if oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
		c.CompleteThrough = &oldest
	}
	if err := n.Notify(ctx, c); err != nil {
		w.log.Warn("commit notification failed; the commit stands", "snapshot", st.SnapshotID, "err", err)
	}
}

// replay repeats the notification of the table's last commit after the
// worker opened it: the process that made the commit may have stopped
// before it notified.
func (w *worker) replay(ctx context.Context, tbl lake.Table, id schema.TableID) {
	n := w.c.cfg.Notifier
	lc, ok := tbl.(lake.LastCommitter)
	if n == nil || !ok {
		return
	}
	last, ok := lc.LastCommit()
	if !ok {
		return
	}
	c := w.commitOf(id, last.Stats, last.Checkpoint)
	c.CommittedAt, c.Replay = last.At, true
	for p, o := range last.Checkpoint.Offsets {
		c.Offsets[p] = notify.Interval{From: -1, To: o}
	}
	if err := n.Notify(ctx, c); err != nil {
		w.log.Warn("commit notification (replay) failed", "snapshot", last.Stats.SnapshotID, "err", err)
	}
}

// commitOf fills what every notification of the table has.
func (w *worker) commitOf(id schema.TableID, st lake.Stats, cp lake.Checkpoint) *notify.Commit {
	tc := w.src.tableConfig(id)
	return &notify.Commit{
		Table: tc.Namespace + "." + tc.Name, Namespace: tc.Namespace, Name: tc.Name,
		SourceTable: id.String(), TopicPrefix: w.src.cfg.TopicPrefix,
		SnapshotID: st.SnapshotID, RowsAdded: st.Rows, PositionDeletes: st.Deletes,
		DataFiles: st.DataFiles, DeleteFiles: st.DeleteFiles,
		Topic: cp.Topic, Offsets: map[int32]notify.Interval{},
	}
}
