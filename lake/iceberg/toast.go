package iceberg

import (
	"context"
	"fmt"
	"slices"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// fillUnchanged fills the columns a change marks unchanged (Postgres TOAST
// values the source did not send) from the key's live lake row or, for a
// create, from the row the delete at the same source position removes
// (deletedAt, this batch) or removed (one of the last commits). Rows are
// read file by file, each file once.
func (w *Table) fillUnchanged(ctx context.Context, src *schema.Table, changes []*lake.Change, deletedAt map[string]uint64) error {
	type want struct {
		pos int64
		ch  *lake.Change
	}
	byFile := map[int][]want{}
	for _, ch := range changes {
		var l uint64
		ok := false
		if ch.Meta.Op == schema.OpCreate && ch.Meta.Position != "" {
			if l, ok = deletedAt[ch.Meta.Position]; !ok {
				l, ok = w.index.deletedAt(ch.Meta.Position)
			}
		}
		if !ok {
			l, ok = w.index.keys.Get(ch.KeyHash())
		}
		if !ok {
			w.log.Warn("change leaves columns unchanged but the lake has no row for its key; they stay NULL", "key", ch.Key)
			continue
		}
		f, pos := splitLoc(l)
		byFile[f] = append(byFile[f], want{pos, ch})
	}
	if len(byFile) == 0 {
		return nil
	}
	fs, err := w.tbl.FS(ctx)
	if err != nil {
		return err
	}
	sc := w.tbl.Schema()
	for f, wants := range byFile {
		slices.SortFunc(wants, func(a, b want) int { return int(a.pos - b.pos) })
		// Read every source column the lake has; only unchanged ones are used.
		var ids, cols []int
		for ci, c := range src.Columns {
			if fld, ok := sc.FindFieldByName(c.Name); ok {
				ids, cols = append(ids, fld.ID), append(cols, ci)
			}
		}
		path := w.index.files[f].path
		next := 0
		err := readColumns(ctx, fs, path, ids, func(pos int64, vals []columnValue) error {
			for next < len(wants) && wants[next].pos == pos {
				ch := wants[next].ch
				for i, ci := range cols {
					if ci >= len(ch.Unchanged) || !ch.Unchanged[ci] {
						continue
					}
					v, err := valueAt(vals[i].arr, src.Columns[ci].Type, vals[i].row)
					if err != nil {
						return fmt.Errorf("%s row %d column %s: %w", path, pos, src.Columns[ci].Name, err)
					}
					ch.Row[ci] = v
				}
				next++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("table %s: read unchanged columns: %w", w.name(), err)
		}
	}
	return nil
}
