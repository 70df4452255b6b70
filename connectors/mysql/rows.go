package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/schema"
)

// rows turns one binlog rows event into change events. body holds the
// event's undecoded rows when the syncer decoded only its header.
func (r *reader) rows(ctx context.Context, e *replication.RowsEvent, h *replication.EventHeader, body []byte) error {
	t, m, newSch, err := r.reg.resolve(e.Table)
	if err != nil || t == nil {
		return err
	}
	if newSch != nil {
		if err := r.publishSchema(ctx, newSch); err != nil {
			return err
		}
	}
	if !r.inTx {
		// A server without GTIDs and a non-transactional table.
		r.beginTx("", h)
	}
	rows, decoded, err := r.decodeRows(e, h, body, t, m)
	if err != nil {
		return err
	}
	cols := m.cols
	if decoded {
		cols = nil // the images hold neutral values already
	}
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		r.tableMetrics(t).Events(byte(schema.OpCreate), len(rows))
		for _, row := range rows {
			if err := r.change(ctx, t, cols, nil, row); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeDelete:
		r.tableMetrics(t).Events(byte(schema.OpDelete), len(rows))
		for _, row := range rows {
			if err := r.change(ctx, t, cols, row, nil); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeUpdate:
		r.tableMetrics(t).Events(byte(schema.OpUpdate), len(rows)/2)
		for i := 0; i+1 < len(rows); i += 2 {
			if err := r.change(ctx, t, cols, rows[i], rows[i+1]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("mysql rows event %v for %s: unsupported", h.EventType, t.id)
	}
	return nil
}

// decodeRows returns the row images of an event. decoded is true when
// they hold neutral values (read by the table's rowDecoder), false when
// they hold go-mysql's values, which change converts with fromBinlog.
func (r *reader) decodeRows(e *replication.RowsEvent, h *replication.EventHeader, body []byte, t *table, m *mapped) (rows [][]any, decoded bool, err error) {
	if body == nil {
		return e.Rows, false, nil // decoded by go-mysql
	}
	if m.dec != nil && fastRows(e, h) {
		rows, err = m.dec.decode(t.id, body)
		return rows, true, err
	}
	if err := e.DecodeData(0, body); err != nil {
		return nil, false, fmt.Errorf("mysql decode rows of %s: %w", t.id, err)
	}
	return e.Rows, false, nil
}

// publishSchema stages a new schema version and records it in the
// checkpoint.
func (r *reader) publishSchema(ctx context.Context, sch *schema.Table) error {
	if err := r.sink.AddSchema(ctx, sch); err != nil {
		return err
	}
	st := r.cp.Tables[sch.ID.String()]
	if st == nil {
		// A table created while streaming needs no snapshot.
		st = &tableState{Snapshot: snapDone}
		r.cp.Tables[sch.ID.String()] = st
	}
	st.Version = sch.Version
	r.dirty = true
	r.s.log.Info("schema version", "table", sch.ID, "version", sch.Version, "columns", len(sch.Columns))
	return nil
}

// change stages one row change. An update that changes the key becomes a
// delete of the old key and a create of the new one. cols convert images
// of go-mysql's values; nil when the images hold neutral values.
func (r *reader) change(ctx context.Context, t *table, cols []column, before, after []any) error {
	n := r.txRows
	r.txRows++
	if r.skip > 0 {
		r.skip--
		return nil
	}
	var err error
	if cols != nil {
		if before, err = decodeRow(t, cols, before); err != nil {
			return err
		}
		if after, err = decodeRow(t, cols, after); err != nil {
			return err
		}
	}
	if w := r.snap.window; w != nil && w.table == t.id {
		w.touch(t.sch, before, after)
	}
	src := r.source(n)
	switch {
	case before == nil:
		err = r.stage(ctx, r.event(t.sch, schema.OpCreate, nil, after, &src))
	case after == nil:
		err = r.stage(ctx, r.event(t.sch, schema.OpDelete, before, nil, &src))
	case !sameKey(t.sch, before, after):
		if err = r.stage(ctx, r.event(t.sch, schema.OpDelete, before, nil, &src)); err == nil {
			err = r.stage(ctx, r.event(t.sch, schema.OpCreate, nil, after, &src))
		}
	default:
		err = r.stage(ctx, r.event(t.sch, schema.OpUpdate, before, after, &src))
	}
	if err != nil {
		return err
	}
	if r.staged >= r.s.cfg.MaxTxRows {
		return r.commit(ctx)
	}
	return nil
}

// eventChunk is how many change events share one allocation.
const eventChunk = 64

// event returns a new change event, allocated with others: an event is
// never changed after it is staged, and lives until the sink is done.
func (r *reader) event(sch *schema.Table, op schema.Op, before, after []any, src *schema.Source) *schema.Event {
	if len(r.slab) == 0 {
		r.slab = make([]schema.Event, eventChunk)
	}
	e := &r.slab[0]
	r.slab = r.slab[1:]
	*e = schema.Event{Table: sch, Op: op, Before: before, After: after, Source: *src}
	return e
}

func decodeRow(t *table, cols []column, row []any) ([]any, error) {
	if row == nil {
		return nil, nil
	}
	if len(row) != len(cols) {
		return nil, fmt.Errorf("mysql row of %s has %d values for %d columns", t.id, len(row), len(cols))
	}
	out := make([]any, len(row))
	for i := range cols {
		v, err := cols[i].fromBinlog(row[i])
		if err != nil {
			return nil, fmt.Errorf("mysql decode %s.%s: %w", t.id, cols[i].Name, err)
		}
		out[i] = v
	}
	return out, nil
}

func sameKey(t *schema.Table, a, b []any) bool {
	for _, i := range t.KeyIndex {
		if !valueEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func valueEqual(a, b any) bool {
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && slices.Equal(x, y)
	}
	return a == b
}

// query handles a query event: transaction control and DDL.
func (r *reader) query(ctx context.Context, e *replication.QueryEvent, h *replication.EventHeader) error {
	q := strings.TrimSpace(string(e.Query))
	switch {
	case strings.EqualFold(q, "BEGIN"):
		if !r.inTx {
			r.beginTx("", h)
		}
		r.txBegun = true
		return nil
	case strings.EqualFold(q, "COMMIT"):
		r.advance(h)
		return r.endTx(ctx)
	}
	d := parseDDL(string(e.Schema), q)
	if r.inTx && r.txBegun && d.Kind == ddlNone {
		// SAVEPOINT and similar statements inside a transaction.
		return nil
	}
	if !r.inTx {
		r.beginTx("", h)
	}
	// DDL and other statements outside BEGIN ... COMMIT are transactions
	// of their own.
	if d.Kind != ddlNone {
		if err := r.applyDDL(ctx, d); err != nil {
			return err
		}
	}
	r.advance(h)
	return r.endTx(ctx)
}
