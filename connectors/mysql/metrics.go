package mysql

import (
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// tableMetrics returns the metrics recorder of a captured table, made on
// first use.
func (r *reader) tableMetrics(t *table) *metrics.ReaderTable {
	if t.m == nil {
		t.m = r.s.cfg.Metrics.Table(t.id.String())
	}
	return t.m
}

// pollLag runs on the commit timer every LagPollInterval: it measures the
// binlog bytes between the server's position and the reader's, notes a
// caught-up reader, and reports every table's snapshot progress. A failed
// query is counted and logged; it does not end the run.
func (r *reader) pollLag() {
	m := r.s.cfg.Metrics
	if m == nil || time.Since(r.lagPolled) < r.s.cfg.LagPollInterval {
		return
	}
	r.lagPolled = time.Now()
	r.reportSnapshots()
	lag, err := r.lagBytes()
	if err != nil {
		m.Error(metrics.ErrorLagPoll)
		r.s.log.Warn("measure binlog lag", "err", err)
		return
	}
	m.LagBytes(lag)
	if lag == 0 && !r.inTx {
		m.CaughtUp(r.lagPolled)
	}
}

// lagBytes returns the bytes of binlog between the server's current
// position and the reader's: the rest of the reader's file, every file
// between, and the server's offset in its file.
func (r *reader) lagBytes() (int64, error) {
	now, err := masterPosition(r.conn, r.srv)
	if err != nil {
		return 0, err
	}
	if now.File == r.cur.File {
		return int64(now.Pos) - int64(r.cur.Pos), nil
	}
	res, err := r.conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return 0, fmt.Errorf("mysql show binary logs: %w", err)
	}
	var lag int64
	for i := range res.RowNumber() {
		f, _ := res.GetString(i, 0)
		size, _ := res.GetInt(i, 1)
		switch {
		case f == r.cur.File:
			lag += size - int64(r.cur.Pos)
		case f == now.File:
			lag += int64(now.Pos)
		case r.cur.File < f && f < now.File:
			lag += size
		}
	}
	return lag, nil
}

// reportSnapshots records every captured table's snapshot state and rows.
func (r *reader) reportSnapshots() {
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

// estimateRows records the server's row estimate of a table whose
// snapshot starts, once per run.
func (r *reader) estimateRows(t *table) {
	if r.s.cfg.Metrics == nil || r.estimated[t.id] {
		return
	}
	if r.estimated == nil {
		r.estimated = map[schema.TableID]bool{}
	}
	r.estimated[t.id] = true
	res, err := r.conn.Execute("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", t.id.Database, t.id.Name)
	if err != nil {
		r.s.cfg.Metrics.Error(metrics.ErrorLagPoll)
		r.s.log.Warn("estimate table rows", "table", t.id, "err", err)
		return
	}
	if res.RowNumber() > 0 {
		n, _ := res.GetInt(0, 0)
		r.tableMetrics(t).SnapshotEstimate(n)
	}
}
