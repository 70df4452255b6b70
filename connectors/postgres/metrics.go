package postgres

import (
	"time"

	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// tableMetrics returns the metrics recorder of a captured table, made on
// first use; nil without metrics.
func (r *reader) tableMetrics(t *table) *metrics.ReaderTable {
	if t.m == nil && r.s.cfg.Metrics != nil {
		t.m = r.s.cfg.Metrics.Table(t.id.String())
	}
	return t.m
}

// pgOps maps pgoutput's row message letters to change ops.
var pgOps = [256]byte{'I': byte(schema.OpCreate), 'U': byte(schema.OpUpdate), 'D': byte(schema.OpDelete)}

// reportSnapshots records every captured table's snapshot state and rows,
// every HeartbeatInterval, on the commit timer.
func (r *reader) reportSnapshots() {
	if r.s.cfg.Metrics == nil || time.Since(r.reported) < r.s.cfg.HeartbeatInterval {
		return
	}
	r.reported = time.Now()
	for name, st := range r.cp.Tables {
		id, err := schema.ParseTableID(name)
		if err != nil {
			continue
		}
		t := r.reg.tables[id]
		if t == nil || t.skip {
			continue
		}
		tm := r.tableMetrics(t)
		tm.SnapshotState(st.Snapshot)
		tm.SnapshotRows(st.Rows)
	}
}
