package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// PropSourceVersion is the table property holding the source schema
// version the lake schema was last evolved to.
const PropSourceVersion = "tributary.source-version"

// prepare makes the lake schema able to hold rows of src, evolving it by
// name, and builds the key index on first use.
func (w *Table) prepare(ctx context.Context, src *schema.Table) error {
	if w.newest == nil || src.ID == w.newest.ID && src.Version > w.newest.Version {
		w.newest = src
	}
	if src.Version < w.lakeVersion() {
		// An older version after a newer one: a topic's partitions are
		// consumed in no order across each other. The lake keeps the
		// newer version's names, lakeView lays the rows out on them, and
		// only what the older rows need (a column made optional, one
		// dropped since) is evolved.
		view := w.lakeView(src)
		if err := w.evolve(ctx, view, true); err != nil {
			return err
		}
		if w.source == nil {
			w.source = view // for the key index's column names
		}
		return w.syncIndex(ctx)
	}
	if w.source != src && (w.source == nil || !w.source.SameShape(src)) {
		if err := w.evolve(ctx, src, false); err != nil {
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

// lakeVersion returns the source version the lake schema was last
// evolved to, 0 when unknown (tables from before it was recorded).
func (w *Table) lakeVersion() int {
	v, _ := strconv.Atoi(w.tbl.Properties()[PropSourceVersion])
	return v
}

// lakeView returns src with its columns under the names the lake knows
// them by. For a version older than the lake's, a column renamed since
// gets the lake's name for it, found through the aliases of the newest
// version known (unless src also has the newer name, which then is
// another column). Rows of src line up with the view's columns.
func (w *Table) lakeView(src *schema.Table) *schema.Table {
	if src.Version >= w.lakeVersion() || w.newest == nil || w.newest.ID != src.ID {
		return src
	}
	sc := w.tbl.Schema()
	if v, ok := w.views[src]; ok && v.schemaID == sc.ID && v.newest == w.newest {
		return v.view
	}
	view := *src
	view.Columns = slices.Clone(src.Columns)
	for _, c := range w.newest.Columns {
		if src.Index(c.Name) >= 0 {
			continue
		}
		// The lake's name for c: its name, or the newest of its earlier
		// names the lake has (the lake may be behind the newest version).
		lakeName := ""
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if _, ok := sc.FindFieldByName(n); ok {
				lakeName = n
				break
			}
		}
		if lakeName == "" {
			continue
		}
		for _, a := range c.Aliases {
			if j := src.Index(a); j >= 0 {
				view.Columns[j].Name = lakeName
				break
			}
		}
	}
	// A column whose older type the lake column no longer takes (retype)
	// is left out.
	for j := range view.Columns {
		c := &view.Columns[j]
		f, ok := sc.FindFieldByName(c.Name)
		if !ok || slices.Contains(src.KeyIndex, j) {
			continue
		}
		if want, err := IcebergType(c.Type); err == nil && !compatible(f.Type, want) {
			c.Name = retypedPrefix + c.Name
		}
	}
	view.Key = make([]string, len(src.KeyIndex))
	for i, j := range src.KeyIndex {
		view.Key[i] = view.Columns[j].Name
	}
	if w.views == nil {
		w.views = map[*schema.Table]lakeViewAt{}
	}
	w.views[src] = lakeViewAt{view: &view, schemaID: sc.ID, newest: w.newest}
	return &view
}

// lakeViewAt is a lake view of an older source version, valid while the
// lake schema and the newest version it was made against stay.
type lakeViewAt struct {
	view     *schema.Table
	schemaID int
	newest   *schema.Table
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
			w.log.Info("key index refreshed", "snapshots", n, "from_snapshot", from, "rows", w.index.keys.Len(), "files", len(w.index.files), "took", time.Since(start).Round(time.Millisecond))
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
	w.log.Info("key index built", "rows", ix.keys.Len(), "files", len(ix.files), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// evolve commits the schema changes src needs: renamed columns (rename),
// new columns (optional, placed before the metadata columns), required
// columns made optional when the source allows NULL or dropped them, and
// safe type promotions. A column narrowed in the source keeps its wider
// lake type.
func (w *Table) evolve(ctx context.Context, src *schema.Table, older bool) error {
	if !older {
		if err := w.rename(ctx, src); err != nil {
			return err
		}
		if err := w.retype(ctx, src); err != nil {
			return err
		}
	}
	sc := w.tbl.Schema()
	txn := w.tbl.NewTransaction()
	us := txn.UpdateSchema(true, false)
	changed := false
	for _, c := range src.Columns {
		if strings.HasPrefix(c.Name, retypedPrefix) {
			continue // an older version's value the lake column cannot hold
		}
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
		switch {
		case f.Type.Equals(want):
		case promotable(f.Type, want):
			upd.FieldType = iceberg.Optional[iceberg.Type]{Val: want, Valid: true}
		case promotable(want, f.Type):
			// Narrowed in the source: the lake's wider type holds every
			// value of the new one, and its old rows need it.
		default:
			return fmt.Errorf("table %s column %s: lake type %s, source type %s (%s): %w", w.name(), c.Name, f.Type, want, c.Type, lake.ErrIncompatible)
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
	if err := txn.SetProperties(iceberg.Properties{PropSourceVersion: strconv.Itoa(max(src.Version, w.lakeVersion()))}); err != nil {
		return fmt.Errorf("table %s: %w", w.name(), err)
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

// retypedPrefix starts the name lakeView gives a column of an older
// version whose type the lake column no longer takes: no lake column has
// such a name, so its values are left out (NULL).
const retypedPrefix = "\x00retyped:"

// compatible reports whether a lake column of type lake can hold the
// values of a source column of lake type src, as is or widened.
func compatible(lake, src iceberg.Type) bool {
	return lake.Equals(src) || promotable(lake, src) || promotable(src, lake)
}

// retype replaces the lake columns whose source type changed in a way no
// Iceberg promotion covers (a decimal becoming a string, say): the field
// is deleted and evolve adds a new one under the same name with the new
// type, NULL in old rows. The readers snapshot a table again after such a
// change, so every row gets its new value. A key or partition column
// cannot be replaced: that stops the table (lake.ErrIncompatible).
func (w *Table) retype(ctx context.Context, src *schema.Table) error {
	sc := w.tbl.Schema()
	var drop []string
	for _, c := range src.Columns {
		f, ok := sc.FindFieldByName(c.Name)
		if !ok || isMetaColumn(c.Name) {
			continue
		}
		want, err := IcebergType(c.Type)
		if err != nil {
			return fmt.Errorf("table %s column %s: %w", w.name(), c.Name, err)
		}
		if compatible(f.Type, want) {
			continue
		}
		spec := w.tbl.Spec()
		partition := len(spec.FieldsBySourceID(f.ID)) > 0
		if slices.Contains(src.Key, c.Name) || partition {
			return fmt.Errorf("table %s column %s: lake type %s, source type %s (%s), and a key or partition column cannot be replaced: %w", w.name(), c.Name, f.Type, want, c.Type, lake.ErrIncompatible)
		}
		drop = append(drop, c.Name)
	}
	if len(drop) == 0 {
		return nil
	}
	txn := w.tbl.NewTransaction()
	us := txn.UpdateSchema(true, false)
	for _, name := range drop {
		us.DeleteColumn([]string{name})
	}
	if err := us.Commit(); err != nil {
		return fmt.Errorf("table %s: replace columns %v: %w", w.name(), drop, err)
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		w.broken = err
		return fmt.Errorf("table %s: commit column replacement: %w", w.name(), err)
	}
	w.log.Warn("column types changed beyond what Iceberg can widen: the lake columns are replaced by new ones, NULL in old rows until the reader's new snapshot of the table sends them again",
		"columns", drop, "source_version", src.Version)
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
	if err := txn.SetProperties(iceberg.Properties{PropSourceVersion: strconv.Itoa(max(src.Version, w.lakeVersion()))}); err != nil {
		return fmt.Errorf("table %s: %w", w.name(), err)
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
