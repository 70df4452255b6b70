package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pglogrepl"

	"github.com/tributary-dev/tributary/schema"
)

// relationFor returns the resolved relation of a change, resolving it
// (and publishing a new schema version) on first use. It returns nil for
// a relation the reader does not capture.
func (r *reader) relationFor(ctx context.Context, oid uint32) (*relation, error) {
	rel := r.reg.rels[oid]
	if rel == nil {
		return nil, fmt.Errorf("pgoutput: change for relation %d, which was never described", oid)
	}
	if !rel.resolved {
		a, err := r.reg.resolve(ctx, r.q, rel)
		if err != nil {
			return nil, err
		}
		if err := r.adopted(ctx, rel.id, a); err != nil {
			return nil, err
		}
	}
	if rel.t == nil || rel.t.skip {
		return nil, nil
	}
	return rel, nil
}

// adopted publishes a new schema version, records it in the checkpoint,
// and queues a snapshot when the change rewrote stored values.
func (r *reader) adopted(ctx context.Context, id schema.TableID, a adoption) error {
	if a.sch == nil {
		return nil
	}
	if err := r.sink.AddSchema(ctx, a.sch); err != nil {
		return err
	}
	st := r.cp.Tables[id.String()]
	if st == nil {
		// A table first seen while streaming needs no snapshot: every row
		// it has came through the stream.
		st = &tableState{Snapshot: snapDone}
		r.cp.Tables[id.String()] = st
	}
	st.Version = a.sch.Version
	r.dirty = true
	r.s.log.Info("schema version", "table", id, "version", a.sch.Version, "columns", len(a.sch.Columns))
	if a.rewrites {
		r.s.log.Info("a column was added or retyped: snapshotting the table again, since existing rows changed without row events", "table", id)
		r.queueSnapshot(id)
	}
	return nil
}

// eventAlloc hands out the events and images of row changes from shared
// blocks: two allocations per many rows instead of two per row. A block
// lives until the sink is done with every event cut from it, a few
// hundred rows at most after the last one.
type eventAlloc struct {
	evs  []schema.Event
	vals []any
}

func (a *eventAlloc) event() *schema.Event {
	if len(a.evs) == 0 {
		a.evs = make([]schema.Event, 64)
	}
	e := &a.evs[0]
	a.evs = a.evs[1:]
	return e
}

// image returns n nil values; appending to it never reaches the next
// image.
func (a *eventAlloc) image(n int) []any {
	if n > 256 {
		return make([]any, n)
	}
	if len(a.vals) < n {
		a.vals = make([]any, 1024)
	}
	img := a.vals[:n:n]
	a.vals = a.vals[n:]
	return img
}

// decodeTuple turns a tuple into an image. unchanged, when not nil, gets
// the positions of unchanged TOAST values; without it they are an error.
func (r *reader) decodeTuple(rel *relation, cols []tupleCol, unchanged *[]bool) ([]any, error) {
	if len(cols) != len(rel.decs) {
		return nil, fmt.Errorf("pgoutput: tuple of %s has %d columns, relation has %d", rel.id, len(cols), len(rel.decs))
	}
	img := r.alloc.image(len(cols))
	for i, c := range cols {
		switch c.kind {
		case colNull:
		case colUnchanged:
			if unchanged == nil {
				return nil, fmt.Errorf("pgoutput: unchanged TOAST value in a tuple that must be complete (%s.%s)", rel.id, rel.sch.Columns[i].Name)
			}
			if *unchanged == nil {
				*unchanged = make([]bool, len(cols))
			}
			(*unchanged)[i] = true
		case colText:
			v, err := rel.decs[i](c.data)
			if err != nil {
				return nil, fmt.Errorf("decode %s.%s: %w", rel.id, rel.sch.Columns[i].Name, err)
			}
			img[i] = v
		default:
			return nil, fmt.Errorf("pgoutput: binary value for %s.%s: the reader asks for text", rel.id, rel.sch.Columns[i].Name)
		}
	}
	return img, nil
}

// rowChange stages the events of one row message of the open transaction.
func (r *reader) rowChange(ctx context.Context, data []byte, streamed bool) error {
	c := &r.chg
	if err := parseChange(data, streamed, c); err != nil {
		return fmt.Errorf("pgoutput: %w", err)
	}
	rel, err := r.relationFor(ctx, c.rel)
	if err != nil || rel == nil {
		return err
	}
	n := r.tx.rows
	r.tx.rows++
	if r.tx.skip > 0 {
		r.tx.skip--
		return nil
	}
	var events rowEvents
	err = r.events(&events, rel, c)
	if unknownLabel(err) {
		// ALTER TYPE ... ADD VALUE: read the enum types again.
		if err = r.refreshTypes(ctx, rel); err == nil {
			events = rowEvents{}
			err = r.events(&events, rel, c)
		}
	}
	if err != nil {
		return err
	}
	if rel.t != nil {
		r.tableMetrics(rel.t).Events(pgOps[c.op], 1)
	}
	src := r.source(n)
	w := r.snap.openWindow(rel.id)
	moved := ""
	for _, e := range events.list() {
		if w != nil {
			moved = w.touch(e, moved)
		}
		e.Source = src
		if err := r.stage(ctx, e); err != nil {
			return err
		}
	}
	if r.staged >= r.s.cfg.MaxTxRows {
		return r.commit(ctx)
	}
	return nil
}

// unknownLabel reports whether err is an *errUnknownLabel.
func unknownLabel(err error) bool {
	if err == nil {
		return false // errors.As would cost an allocation per row
	}
	var unknown *errUnknownLabel
	return errors.As(err, &unknown)
}

// refreshTypes forgets the catalog entries of a relation's types and
// resolves it again, publishing the new version.
func (r *reader) refreshTypes(ctx context.Context, rel *relation) error {
	r.reg.types.clear()
	a, err := r.reg.resolve(ctx, r.q, rel)
	if err != nil {
		return err
	}
	return r.adopted(ctx, rel.id, a)
}

// rowEvents holds the one or two events of a row message.
type rowEvents struct {
	evs [2]*schema.Event
	n   int
}

func (re *rowEvents) list() []*schema.Event { return re.evs[:re.n] }

// add appends an event cut from the reader's blocks.
func (r *reader) addEvent(re *rowEvents, sch *schema.Table, op schema.Op, before, after []any, unchanged []bool) {
	e := r.alloc.event()
	e.Table, e.Op, e.Before, e.After, e.Unchanged = sch, op, before, after, unchanged
	re.evs[re.n] = e
	re.n++
}

// events turns a row message into change events. An update that changes
// the key becomes a delete of the old key and a create of the new one.
func (r *reader) events(out *rowEvents, rel *relation, c *change) error {
	sch := rel.sch
	switch c.op {
	case 'I':
		after, err := r.decodeTuple(rel, c.new, nil)
		if err != nil {
			return err
		}
		r.addEvent(out, sch, schema.OpCreate, nil, after, nil)
		return nil
	case 'D':
		before, err := r.decodeTuple(rel, c.old, nil)
		if err != nil {
			return err
		}
		r.addEvent(out, sch, schema.OpDelete, before, nil, nil)
		return nil
	}
	var unchanged []bool
	after, err := r.decodeTuple(rel, c.new, &unchanged)
	if err != nil {
		return err
	}
	var before []any
	if c.oldKind != 0 {
		if before, err = r.decodeTuple(rel, c.old, nil); err != nil {
			return err
		}
	}
	if c.oldKind == 'O' && unchanged != nil {
		// REPLICA IDENTITY FULL: the old row holds the unchanged values.
		for i, u := range unchanged {
			if u {
				after[i] = before[i]
			}
		}
		unchanged = nil
	}
	if before != nil && !sameKey(sch, before, after) {
		// Under REPLICA IDENTITY DEFAULT or INDEX the create may still
		// have unchanged TOAST columns: their values are the deleted row's
		// (docs/types-postgres.md).
		r.addEvent(out, sch, schema.OpDelete, before, nil, nil)
		r.addEvent(out, sch, schema.OpCreate, nil, after, unchanged)
		return nil
	}
	if c.oldKind != 'O' {
		// A key-only old tuple is not a before image.
		before = nil
	}
	r.addEvent(out, sch, schema.OpUpdate, before, after, unchanged)
	return nil
}

func sameKey(t *schema.Table, a, b []any) bool {
	for _, i := range t.KeyIndex {
		if !valueEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// valueEqual compares key values: scalars, byte strings and, for the rare
// array key, their elements.
func valueEqual(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && slices.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, valueEqual)
	case map[string]any:
		return false
	}
	return a == b
}

// truncate stages a truncate of every captured table the message names.
func (r *reader) truncate(ctx context.Context, data []byte, streamed bool) error {
	m, err := pglogrepl.ParseV2(data, streamed)
	if err != nil {
		return fmt.Errorf("pgoutput truncate: %w", err)
	}
	tm := m.(*pglogrepl.TruncateMessageV2)
	for _, oid := range tm.RelationIDs {
		rel, err := r.relationFor(ctx, oid)
		if err != nil {
			return err
		}
		if rel == nil {
			continue
		}
		n := r.tx.rows
		r.tx.rows++
		if r.tx.skip > 0 {
			r.tx.skip--
			continue
		}
		r.snap.markRewrite(rel.id)
		if err := r.stage(ctx, &schema.Event{Table: rel.sch, Op: schema.OpTruncate, Source: r.source(n)}); err != nil {
			return err
		}
	}
	return nil
}

// source is the source block of the open transaction's row n.
func (r *reader) source(n int) schema.Source {
	return schema.Source{
		Connector:  "postgresql",
		Name:       r.s.cfg.Name,
		LSN:        uint64(r.tx.commitLSN),
		TxID:       r.tx.txid,
		Row:        n,
		CommitTime: r.tx.commitTime,
	}
}
