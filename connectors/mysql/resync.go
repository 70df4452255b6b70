package mysql

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

// reset forgets the checkpoint's position, to snapshot every table again.
// Consumers keep the rows they hold: each table the reader captured gets a
// resync begin marker, and its end marker follows its new snapshot, so
// rows deleted while the reader could not see go away then, and the lake
// is never empty in between. It returns the tables marked, with the
// schema their marker was published with.
func (r *reader) reset(ctx context.Context) (map[schema.TableID]*schema.Table, error) {
	r.s.log.Warn("resetting the position: snapshotting every table again into what consumers hold (resync)", "old", r.cp.Position.String())
	marked := map[schema.TableID]*schema.Table{}
	for name := range r.cp.Tables {
		id, err := schema.ParseTableID(name)
		if err != nil {
			continue
		}
		t := r.reg.tables[id]
		if t == nil || t.sch == nil {
			continue
		}
		if err := r.sink.Add(ctx, r.marker(t.sch, schema.OpResyncBegin)); err != nil {
			return nil, err
		}
		marked[id] = t.sch
		t.sch = nil // published again, from the table as it is now
	}
	r.cp = &checkpoint{Tables: map[string]*tableState{}}
	return marked, nil
}

// marker returns a table-level event (resync marker) of a table.
func (r *reader) marker(t *schema.Table, op schema.Op) *schema.Event {
	return &schema.Event{Table: t, Op: op, Source: schema.Source{Connector: "mysql", Name: r.s.cfg.Name, ServerID: r.s.cfg.ServerID, CommitTime: time.Now()}}
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
			if err := r.stage(ctx, r.marker(t.sch, schema.OpResyncEnd)); err != nil {
				return err
			}
			r.s.log.Info("resync done", "table", id)
		}
	}
	return nil
}
