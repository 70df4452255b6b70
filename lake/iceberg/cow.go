package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/iceberg-go"
)

// Copy-on-write tables (lake.TableConfig.CopyOnWrite) get no position
// delete files: each commit writes again, without the rows it deletes,
// the data files it deletes rows from, and replaces them together with
// adding the new rows' files, in one overwrite snapshot. Readers that
// ignore delete files read such tables right; the price is rewriting the
// touched files on every commit.

// cowFiles is what a copy-on-write commit replaces.
type cowFiles struct {
	files  []int              // index numbers of the data files replaced
	old    []iceberg.DataFile // their manifest entries
	packed []writtenData      // their rows that stay, one file per partition
}

// rewriteTouched writes again the live rows of the data files p deletes
// rows from, minus those rows.
func (w *Table) rewriteTouched(ctx context.Context, p *plan) (*cowFiles, error) {
	ix := w.index
	out := &cowFiles{}
	rw := &rewrite{live: map[int][]liveRow{}, groups: map[string][]int{}, values: map[string]map[int]any{}}
	gone := map[int]map[int64]bool{}
	for _, f := range slices.Sorted(maps.Keys(p.deletes)) {
		df := ix.files[f]
		if df.df == nil {
			return nil, fmt.Errorf("table %s: data file %s has no manifest entry in the key index", w.name(), df.path)
		}
		out.files = append(out.files, f)
		out.old = append(out.old, df.df)
		part := fmt.Sprint(sortedValues(df.partition))
		rw.groups[part] = append(rw.groups[part], f)
		rw.values[part] = df.partition
		gone[f] = map[int64]bool{}
		for _, pos := range p.deletes[f] {
			gone[f][pos] = true
		}
	}
	for key, l := range ix.keys.All() {
		f, pos := splitLoc(l)
		if g, ok := gone[f]; ok && !g[pos] {
			rw.live[f] = append(rw.live[f], liveRow{pos, key})
		}
	}
	for _, rows := range rw.live {
		slices.SortFunc(rows, func(a, b liveRow) int { return int(a.pos - b.pos) })
	}
	wfs, err := w.fileIO(ctx)
	if err != nil {
		return nil, err
	}
	_, fsc, asc, err := w.fileSchemas()
	if err != nil {
		return nil, err
	}
	for _, part := range slices.Sorted(maps.Keys(rw.groups)) {
		wd, ok, err := w.packFiles(ctx, wfs, fsc, asc, rw.groups[part], rw, rw.values[part])
		if err != nil {
			return nil, err
		}
		if ok {
			out.packed = append(out.packed, wd)
		}
	}
	return out, nil
}

// replaced records a committed copy-on-write replacement in the key
// index: the old files are gone, the rows that stayed live in the new
// ones.
func (w *Table) replaced(c *cowFiles) error {
	for _, n := range c.files {
		w.index.files[n].removed = true
	}
	for _, a := range c.packed {
		n, err := w.index.addFile(&dataFile{path: a.df.FilePath(), partition: a.df.Partition(), specID: int(a.df.SpecID()), rows: a.df.Count(), df: a.df})
		if err != nil {
			return err
		}
		w.index.setKeys(n, a.keys)
	}
	return nil
}
