package postgres

import (
	"context"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

// A table's snapshot is taken again into what consumers already hold
// (--reset-position, --resnapshot, admin resnapshot) as a resync: a begin
// marker, the snapshot with the stream's changes, and an end marker in the
// Kafka transaction that commits the snapshot as done; consumers then drop
// the rows nothing sent since the begin (schema.OpResyncBegin).

// reset forgets the checkpoint's position, to start at the slot's and
// snapshot every table again. Consumers keep the rows they hold: each
// table the reader captured gets a resync begin marker, and its end marker
// follows its new snapshot, so rows deleted while the reader could not see
// go away then, and the lake is never empty in between. It returns the
// tables marked, with the schema their marker was published with.
func (r *reader) reset(ctx context.Context, at lsn) (map[schema.TableID]*schema.Table, error) {
	r.s.log.Warn("resetting the position: snapshotting every table again into what consumers hold (resync)", "old", r.cp.LSN)
	marked := map[schema.TableID]*schema.Table{}
	for name := range r.cp.Tables {
		id, err := schema.ParseTableID(name)
		if err != nil {
			continue
		}
		if t := r.reg.tables[id]; t != nil && t.sch != nil {
			if err := r.sink.Add(ctx, r.marker(t.sch, schema.OpResyncBegin, at)); err != nil {
				return nil, err
			}
			marked[id] = t.sch
		}
	}
	r.cp = &checkpoint{Tables: map[string]*tableState{}}
	return marked, nil
}

// marker returns a table-level event (resync marker) of a table, placed
// like snapshot reads after the transaction at LSN at (readLSN).
func (r *reader) marker(t *schema.Table, op schema.Op, at lsn) *schema.Event {
	return &schema.Event{Table: t, Op: op, Source: schema.Source{Connector: "postgresql", Name: r.s.cfg.Name, LSN: uint64(at), CommitTime: time.Now()}}
}

// readLSN is the LSN snapshot reads and resync markers carry: the commit
// LSN of the last transaction published, or, before any since the reader
// started afresh, the position it started at. Either way it orders them
// after every change published before and before every change after.
func (r *reader) readLSN() lsn {
	if r.cp.CommitLSN != 0 {
		return r.cp.CommitLSN
	}
	return r.pos
}

// endResyncs publishes the end marker of every resync whose snapshot is
// done, in the Kafka transaction that commits the snapshot as done: after
// every row the snapshot sent.
func (r *reader) endResyncs(ctx context.Context) error {
	for name, st := range r.cp.Tables {
		if !st.Resync || st.Snapshot != snapDone {
			continue
		}
		st.Resync = false
		id, err := schema.ParseTableID(name)
		if err != nil {
			continue
		}
		if t := r.reg.tables[id]; t != nil && t.sch != nil {
			if err := r.stage(ctx, r.marker(t.sch, schema.OpResyncEnd, r.readLSN())); err != nil {
				return err
			}
			r.s.log.Info("resync done", "table", id)
		}
	}
	return nil
}
