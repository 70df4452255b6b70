package compactor

import (
	"errors"
	"sync"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/metrics"
)

// stableOffsets holds, per partition, the last stable offset the newest
// fetch reported. The session goroutine writes it; the worker reads it.
type stableOffsets struct {
	mu  sync.Mutex
	lso map[int32]int64
}

func (s *stableOffsets) set(p int32, lso int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lso == nil {
		s.lso = map[int32]int64{}
	}
	s.lso[p] = lso
}

// reportLag records the records between each partition's last stable
// offset and the table's position: the offsets reached the last time
// nothing was pending, so records folded into a batch but not committed
// still count.
func (w *worker) reportLag() {
	if w.m == nil {
		return
	}
	if w.acc.records == 0 {
		if w.applied == nil {
			w.applied = map[int32]int64{}
		}
		for p, o := range w.next {
			w.applied[p] = o
		}
	}
	var lag int64
	w.stable.mu.Lock()
	for p, lso := range w.stable.lso {
		lag += max(0, lso-w.applied[p])
	}
	w.stable.mu.Unlock()
	w.m.ConsumeLag(lag)
}

// reportCommit records a committed batch and the table's debt.
func (w *worker) reportCommit(b *lake.Batch, st lake.Stats) {
	if w.m == nil {
		return
	}
	c := metrics.Commit{Duration: st.Duration, Rows: st.Rows, Deletes: st.Deletes, DataFiles: st.DataFiles, DeleteFiles: st.DeleteFiles}
	for i := range b.Changes {
		if t := b.Changes[i].Meta.CommitTime; t.After(c.Through) {
			c.Through = t
		}
	}
	if s, ok := w.tbl.(lake.Sizer); ok {
		size := s.Size()
		if st.SnapshotID != 0 {
			c.Bytes = size.AddedBytes
		}
		w.m.Debt(size.DeleteFiles, size.PositionDeletes)
	}
	w.m.Committed(c)
}

// reportMaintained records a maintenance run and the table's debt after it.
func (w *worker) reportMaintained() {
	if w.m == nil {
		return
	}
	w.m.Maintained()
	if s, ok := w.tbl.(lake.Sizer); ok {
		size := s.Size()
		w.m.Debt(size.DeleteFiles, size.PositionDeletes)
	}
}

// maintainError is the error of a failed maintenance run.
type maintainError struct{ err error }

func (e maintainError) Error() string { return "maintain: " + e.err.Error() }
func (e maintainError) Unwrap() error { return e.err }

// errorKind classifies an error that ends a worker's session.
func errorKind(err error) string {
	var me maintainError
	switch {
	case errors.As(err, &me):
		return metrics.ErrorMaintenance
	case errors.Is(err, lake.ErrConflict):
		return metrics.ErrorConflict
	}
	return metrics.ErrorCommit
}
