package mysql

import (
	"context"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

// applyDDL acts on a table DDL statement seen in the binlog.
func (r *reader) applyDDL(ctx context.Context, d ddl) error {
	r.s.log.Info("ddl", "kind", d.Kind, "tables", d.Tables, "to", d.To)
	switch d.Kind {
	case ddlCreate:
		for _, id := range d.Tables {
			if t := r.reg.tables[id]; t != nil && t.sch != nil {
				// CREATE OR REPLACE dropped the old table.
				if err := r.dropTable(ctx, id); err != nil {
					return err
				}
			}
			r.reg.invalidate(id)
		}
	case ddlAlter, ddlAlterMinor:
		for _, id := range d.Tables {
			if t := r.reg.tables[id]; t != nil && t.sch != nil {
				for _, rn := range d.Renames {
					t.renamed(rn.From, rn.To)
				}
			}
			if err := r.alterTable(ctx, id, d.Kind == ddlAlter); err != nil {
				return err
			}
		}
	case ddlTruncate:
		for _, id := range d.Tables {
			if err := r.truncate(ctx, id); err != nil {
				return err
			}
		}
	case ddlDrop:
		for _, id := range d.Tables {
			if err := r.dropTable(ctx, id); err != nil {
				return err
			}
		}
	case ddlRename:
		for i, from := range d.Tables {
			if err := r.dropTable(ctx, from); err != nil {
				return err
			}
			if err := r.newTable(ctx, d.To[i]); err != nil {
				return err
			}
		}
	case ddlDropDatabase:
		for id, t := range r.reg.tables {
			if id.Database == d.Database && t.sch != nil {
				if err := r.dropTable(ctx, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// markDDL discards an open snapshot window on the table.
func (r *reader) markDDL(id schema.TableID) {
	if w := r.snap.window; w != nil && w.table == id {
		w.ddl = true
	}
}

// truncate publishes a truncate of a captured table.
func (r *reader) truncate(ctx context.Context, id schema.TableID) error {
	r.markDDL(id)
	t := r.reg.tables[id]
	if !r.reg.included(id) || t == nil || t.sch == nil || t.skip {
		return nil
	}
	src := r.source(0)
	return r.stage(ctx, &schema.Event{Table: t.sch, Op: schema.OpTruncate, Source: src})
}

// dropTable publishes a dropped table as truncated and forgets its schema;
// a table created again under the name continues the version numbers.
func (r *reader) dropTable(ctx context.Context, id schema.TableID) error {
	if err := r.truncate(ctx, id); err != nil {
		return err
	}
	if t := r.reg.tables[id]; t != nil {
		t.sch, t.cols = nil, nil
	}
	r.reg.invalidate(id)
	if _, ok := r.cp.Tables[id.String()]; ok {
		delete(r.cp.Tables, id.String())
		r.dirty = true
	}
	return nil
}

// newTable starts capturing a table that appeared under a new name with
// rows in it (RENAME): its schema from information_schema and a snapshot.
func (r *reader) newTable(ctx context.Context, id schema.TableID) error {
	r.reg.invalidate(id)
	if !r.reg.included(id) {
		return nil
	}
	return r.reload(ctx, id, true)
}

// alterTable handles ALTER TABLE. The binlog's own row metadata describes
// later rows; without it the schema is read again now. An ALTER that can
// change stored values (ADD/MODIFY/CHANGE/CONVERT) writes no row events, so
// the table is snapshotted again to carry the new values.
func (r *reader) alterTable(ctx context.Context, id schema.TableID, changesValues bool) error {
	r.markDDL(id)
	r.reg.invalidate(id)
	if !r.reg.included(id) {
		return nil
	}
	if !r.srv.rowMetadata || changesValues {
		return r.reload(ctx, id, changesValues)
	}
	return nil
}

// reload reads a table's schema from information_schema, publishes it when
// it changed, and optionally queues a snapshot.
func (r *reader) reload(ctx context.Context, id schema.TableID, snapshot bool) error {
	cols, key, err := r.reg.load(id)
	if err != nil || len(cols) == 0 {
		return err
	}
	sch, err := r.reg.build(id, cols, key)
	if err != nil {
		return err
	}
	t := r.reg.get(id)
	if newSch := r.reg.adopt(t, cols, sch); newSch != nil {
		if err := r.publishSchema(ctx, newSch); err != nil {
			return err
		}
	}
	if t.skip || !snapshot {
		return nil
	}
	r.cp.Tables[id.String()] = &tableState{Version: t.sch.Version, Snapshot: snapPending}
	r.dirty = true
	return nil
}

// Resnapshot asks a running reader to snapshot a table again while it
// streams. It does not block; a reader that is not running drops the
// request (use Config.Resnapshot at start instead).
func (s *Source) Resnapshot(id schema.TableID) {
	select {
	case s.resnap <- id:
	default:
	}
}

func (r *reader) resnapshot(ctx context.Context, id schema.TableID) error {
	t := r.reg.tables[id]
	if t == nil || t.sch == nil {
		r.s.log.Warn("resnapshot: table is not captured", "table", id)
		return nil
	}
	// Consumers keep what they hold; the end marker after the snapshot
	// removes rows they hold that the source does not.
	if err := r.stage(ctx, r.marker(t.sch, schema.OpResyncBegin)); err != nil {
		return err
	}
	r.cp.Tables[id.String()] = &tableState{Version: r.tableVersion(id), Snapshot: snapPending, Resync: true}
	r.dirty = true
	r.s.log.Info("resnapshot requested", "table", id, "at", time.Now())
	return nil
}
