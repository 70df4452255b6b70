package iceberg

import (
	"strconv"

	"github.com/tributary-dev/tributary/lake"
)

var _ lake.Sizer = (*Table)(nil)

// Size reads the delete-file debt and the added bytes from the current
// snapshot's summary (total-delete-files, total-position-deletes,
// added-files-size); zero for a table without snapshots.
func (w *Table) Size() lake.Size {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tbl == nil {
		return lake.Size{}
	}
	s := w.tbl.CurrentSnapshot()
	if s == nil || s.Summary == nil {
		return lake.Size{}
	}
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(s.Summary.Properties[k], 10, 64)
		return n
	}
	return lake.Size{
		DeleteFiles:     num("total-delete-files"),
		PositionDeletes: num("total-position-deletes"),
		AddedBytes:      num("added-files-size"),
		DataFiles:       num("total-data-files"),
	}
}
