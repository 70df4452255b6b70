package iceberg

import (
	"strconv"
	"time"

	"github.com/tributary-dev/tributary/lake"
)

var _ lake.LastCommitter = (*Table)(nil)

// LastCommit returns the newest snapshot that an Apply committed: the
// newest with a checkpoint and without the mark of a maintenance commit.
func (w *Table) LastCommit() (lake.Commit, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tbl == nil {
		return lake.Commit{}, false
	}
	meta := w.tbl.Metadata()
	for s := w.tbl.CurrentSnapshot(); s != nil; {
		if s.Summary != nil {
			p := s.Summary.Properties
			if v, ok := p[SummaryCheckpoint]; ok && p["tributary.operation"] == "" {
				cp, err := decodeCheckpoint(v)
				if err != nil {
					return lake.Commit{}, false
				}
				num := func(k string) int { n, _ := strconv.Atoi(p[k]); return n }
				return lake.Commit{
					Stats: lake.Stats{SnapshotID: s.SnapshotID, Rows: num("added-records"), Deletes: num("added-position-deletes"),
						DataFiles: num("added-data-files"), DeleteFiles: num("added-delete-files")},
					Checkpoint: cp,
					At:         time.UnixMilli(s.TimestampMs).UTC(),
				}, true
			}
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = meta.SnapshotByID(*s.ParentSnapshotID)
	}
	return lake.Commit{}, false
}
