package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// prepare makes the lake schema able to hold rows of src, evolving it by
// name, and builds the key index on first use.
func (w *Table) prepare(ctx context.Context, src *schema.Table) error {
	if w.source != src && (w.source == nil || !w.source.SameShape(src)) {
		if err := w.evolve(ctx, src); err != nil {
			return err
		}
		keyChanged := w.source == nil || !slices.Equal(w.source.Key, src.Key)
		w.source = src
		if keyChanged {
			w.index = nil
		}
	}
	w.source = src
	return w.syncIndex(ctx)
}

// syncIndex makes the key index reflect the table's current snapshot:
// built on first use, and brought forward from an ancestor snapshot by
// replaying the snapshots since (refresh), or built again when that is
// not possible.
func (w *Table) syncIndex(ctx context.Context) error {
	cur := int64(0)
	if s := w.tbl.CurrentSnapshot(); s != nil {
		cur = s.SnapshotID
	}
	if w.index != nil && w.index.snapshot == cur {
		return nil
	}
	kr, err := newKeyReader(w.tbl.Schema(), w.source)
	if err != nil {
		return err
	}
	if w.index != nil {
		start, from := time.Now(), w.index.snapshot
		n, err := w.index.refresh(ctx, w.tbl, kr)
		if err == nil {
			w.log.Info("key index refreshed", "snapshots", n, "from_snapshot", from, "rows", len(w.index.keys), "files", len(w.index.files), "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if !errors.Is(err, errRebuild) {
			// A read failed; the index is as it was, for the next try.
			return fmt.Errorf("table %s: refresh key index: %w", w.name(), err)
		}
		w.index = nil
		w.log.Info("key index cannot be refreshed; building it again", "reason", err)
	}
	start := time.Now()
	ix, err := buildIndex(ctx, w.tbl, kr)
	if err != nil {
		return fmt.Errorf("table %s: build key index: %w", w.name(), err)
	}
	w.index = ix
	w.log.Info("key index built", "rows", len(ix.keys), "files", len(ix.files), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// evolve commits the schema changes src needs: new columns (optional,
// placed before the metadata columns), required columns made optional
// when the source allows NULL or dropped them, and safe type promotions.
func (w *Table) evolve(ctx context.Context, src *schema.Table) error {
	if err := w.rename(ctx, src); err != nil {
		return err
	}
	sc := w.tbl.Schema()
	txn := w.tbl.NewTransaction()
	us := txn.UpdateSchema(true, false)
	changed := false
	for _, c := range src.Columns {
		want, err := IcebergType(c.Type)
		if err != nil {
			return fmt.Errorf("table %s column %s: %w", w.name(), c.Name, err)
		}
		f, ok := sc.FindFieldByName(c.Name)
		if !ok {
			us.AddColumn([]string{c.Name}, want, c.Type.Native, false, nil)
			us.MoveBefore([]string{c.Name}, []string{ColCommittedAt})
			changed = true
			continue
		}
		var upd table.ColumnUpdate
		if !f.Type.Equals(want) {
			if !promotable(f.Type, want) {
				return fmt.Errorf("table %s column %s: lake type %s, source type %s (%s): %w", w.name(), c.Name, f.Type, want, c.Type, lake.ErrIncompatible)
			}
			upd.FieldType = iceberg.Optional[iceberg.Type]{Val: want, Valid: true}
		}
		if f.Required && c.Nullable && !slices.Contains(src.Key, c.Name) {
			upd.Required = iceberg.Optional[bool]{Val: false, Valid: true}
		}
		if upd.FieldType.Valid || upd.Required.Valid {
			us.UpdateColumn([]string{c.Name}, upd)
			changed = true
		}
	}
	for _, f := range sc.Fields() {
		if isMetaColumn(f.Name) || src.Index(f.Name) >= 0 || !f.Required {
			continue
		}
		// Dropped in the source: kept in the lake for old rows, NULL in new ones.
		us.UpdateColumn([]string{f.Name}, table.ColumnUpdate{Required: iceberg.Optional[bool]{Val: false, Valid: true}})
		changed = true
	}
	if !changed {
		return nil
	}
	if err := us.Commit(); err != nil {
		return fmt.Errorf("table %s: evolve schema: %w", w.name(), err)
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		w.broken = err
		return fmt.Errorf("table %s: commit schema change: %w", w.name(), err)
	}
	w.log.Info("lake schema evolved", "source_version", src.Version, "schema_id", tbl.Schema().ID)
	w.tbl = tbl
	return nil
}

// rename commits the renames src's column aliases imply: a source column
// the lake does not have by name, one of whose earlier names (newest
// first) the lake has, takes over that field, values and field id
// included. It commits before evolve adds columns, since a column added
// under an old name of another is a new field.
func (w *Table) rename(ctx context.Context, src *schema.Table) error {
	sc := w.tbl.Schema()
	renames := map[string]string{} // lake name -> source name
	for _, c := range src.Columns {
		if _, ok := sc.FindFieldByName(c.Name); ok || isMetaColumn(c.Name) {
			continue
		}
		for _, a := range c.Aliases {
			if _, ok := sc.FindFieldByName(a); ok && !isMetaColumn(a) {
				if _, taken := renames[a]; !taken {
					renames[a] = c.Name
				}
				break
			}
		}
	}
	if len(renames) == 0 {
		return nil
	}
	txn := w.tbl.NewTransaction()
	us := txn.UpdateSchema(true, false)
	for _, from := range slices.Sorted(maps.Keys(renames)) {
		us.RenameColumn([]string{from}, renames[from])
	}
	if err := us.Commit(); err != nil {
		return fmt.Errorf("table %s: rename columns %v: %w", w.name(), renames, err)
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		w.broken = err
		return fmt.Errorf("table %s: commit column renames: %w", w.name(), err)
	}
	w.log.Info("lake columns renamed", "renames", renames, "source_version", src.Version)
	w.tbl = tbl
	return nil
}

func isMetaColumn(name string) bool {
	for _, m := range metaColumns {
		if m.Name == name {
			return true
		}
	}
	return false
}

// promotable reports whether Iceberg allows widening from to to.
func promotable(from, to iceberg.Type) bool {
	switch f := from.(type) {
	case iceberg.Int32Type:
		_, ok := to.(iceberg.Int64Type)
		return ok
	case iceberg.Float32Type:
		_, ok := to.(iceberg.Float64Type)
		return ok
	case iceberg.DecimalType:
		t, ok := to.(iceberg.DecimalType)
		return ok && t.Scale() == f.Scale() && t.Precision() >= f.Precision()
	}
	return false
}
