package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// plan is what one batch does to the table, worked out against the key
// index before anything is written.
type plan struct {
	src      *schema.Table
	truncate bool
	// deletes maps a data file number to the row positions to delete.
	deletes map[int][]int64
	// groups holds the rows to write, by partition path.
	groups map[string]*rowGroup
	// gone lists keys deleted without a new row.
	gone []string
	// deletedAt maps the source position of each delete change to the
	// location of the row it removes.
	deletedAt     map[string]uint64
	rows, ndelete int
	ingested      time.Time
}

func (p *plan) empty() bool { return p.rows == 0 && p.ndelete == 0 }

// rowGroup is the new rows of one partition.
type rowGroup struct {
	path      string      // "col_day=2024-01-05", "" when unpartitioned
	partition map[int]any // spec field id -> value
	changes   []*lake.Change
}

// plan works out the deletes and the new rows of a batch.
func (w *Table) plan(ctx context.Context, b *lake.Batch) (*plan, error) {
	p := &plan{src: b.Table, truncate: b.Truncate, deletes: map[int][]int64{}, groups: map[string]*rowGroup{}, deletedAt: map[string]uint64{}, ingested: time.Now()}
	ix := w.index
	if b.Truncate {
		for _, l := range ix.keys {
			f, pos := splitLoc(l)
			p.deletes[f] = append(p.deletes[f], pos)
			p.ndelete++
		}
	}
	part, err := w.partitioner(b.Table)
	if err != nil {
		return nil, err
	}
	var toast []*lake.Change
	for i := range b.Changes {
		ch := &b.Changes[i]
		if !b.Truncate {
			if l, ok := ix.keys[ch.Key]; ok {
				f, pos := splitLoc(l)
				p.deletes[f] = append(p.deletes[f], pos)
				p.ndelete++
				if ch.Delete && ch.Meta.Position != "" {
					p.deletedAt[ch.Meta.Position] = l
				}
			}
		}
		if ch.Delete {
			p.gone = append(p.gone, ch.Key)
			continue
		}
		if len(ch.Row) != len(b.Table.Columns) {
			return nil, fmt.Errorf("table %s: row of key %s has %d values for %d columns", w.name(), ch.Key, len(ch.Row), len(b.Table.Columns))
		}
		if slices.Contains(ch.Unchanged, true) {
			toast = append(toast, ch)
		}
		path, values, err := part(ch.Row)
		if err != nil {
			return nil, fmt.Errorf("table %s key %s: %w", w.name(), ch.Key, err)
		}
		g := p.groups[path]
		if g == nil {
			g = &rowGroup{path: path, partition: values}
			p.groups[path] = g
		}
		g.changes = append(g.changes, ch)
		p.rows++
	}
	if len(toast) > 0 && !b.Truncate {
		if err := w.fillUnchanged(ctx, b.Table, toast, p.deletedAt); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// writtenFiles are the files of one commit.
type writtenFiles struct {
	data    []writtenData
	deletes []iceberg.DataFile
}

// writtenData is a data file with the keys of its rows, in row order.
type writtenData struct {
	df   iceberg.DataFile
	keys []string
}

func (w *Table) fileIO(ctx context.Context) (icebergio.WriteFileIO, error) {
	fs, err := w.tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("table %s storage: %w", w.name(), err)
	}
	wfs, ok := fs.(icebergio.WriteFileIO)
	if !ok {
		return nil, fmt.Errorf("table %s storage is read-only", w.name())
	}
	return wfs, nil
}

// writeFiles writes the plan's data files and position delete files.
func (w *Table) writeFiles(ctx context.Context, p *plan) (*writtenFiles, error) {
	wfs, err := w.fileIO(ctx)
	if err != nil {
		return nil, err
	}
	sc := w.tbl.Schema()
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("table %s arrow schema: %w", w.name(), err)
	}
	out := &writtenFiles{}
	for _, path := range slices.Sorted(maps.Keys(p.groups)) {
		g := p.groups[path]
		for chunk := range slices.Chunk(g.changes, w.lake.cfg.TargetFileRows) {
			wd, err := w.writeData(wfs, sc, asc, p, g, chunk)
			if err != nil {
				return nil, err
			}
			out.data = append(out.data, wd)
		}
	}
	if out.deletes, err = w.writeDeletes(wfs, p); err != nil {
		return nil, err
	}
	return out, nil
}

func (w *Table) newFilePath(partitionPath, suffix string) string {
	dir := w.tbl.Location() + "/data/"
	if partitionPath != "" {
		dir += partitionPath + "/"
	}
	return dir + uuid.NewString() + suffix + ".parquet"
}

// writeData writes one data file of new rows.
func (w *Table) writeData(wfs icebergio.WriteFileIO, sc *iceberg.Schema, asc *arrow.Schema, p *plan, g *rowGroup, changes []*lake.Change) (writtenData, error) {
	rec, err := buildRecord(sc, asc, p.src, changes, p.ingested)
	if err != nil {
		return writtenData{}, fmt.Errorf("table %s: %w", w.name(), err)
	}
	defer rec.Release()
	path := w.newFilePath(g.path, "")
	meta, size, err := writeParquet(wfs, path, rec)
	if err != nil {
		return writtenData{}, err
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: sc, Spec: w.tbl.Spec(), Format: iceberg.ParquetFile, Metadata: meta,
		FilePath: path, FileSize: size, Content: iceberg.EntryContentData,
		PartitionValues: g.partition, SortOrderID: w.tbl.SortOrder().OrderID(),
		Properties: w.tbl.Properties(), FormatVersion: w.tbl.Metadata().Version(),
	})
	if err != nil {
		return writtenData{}, fmt.Errorf("data file %s: %w", path, err)
	}
	keys := make([]string, len(changes))
	for i, ch := range changes {
		keys[i] = ch.Key
	}
	return writtenData{df: df, keys: keys}, nil
}

// buildRecord lays out rows in the lake schema: source columns by name
// (null for a lake column the source no longer has), then the metadata
// columns.
func buildRecord(sc *iceberg.Schema, asc *arrow.Schema, src *schema.Table, changes []*lake.Change, ingested time.Time) (arrow.RecordBatch, error) {
	rb := array.NewRecordBuilder(memory.DefaultAllocator, asc)
	defer rb.Release()
	for fi, f := range sc.Fields() {
		b := rb.Field(fi)
		b.Reserve(len(changes))
		if err := appendColumn(b, f, src, changes, ingested); err != nil {
			return nil, err
		}
	}
	rec := rb.NewRecordBatch()
	for fi, f := range sc.Fields() {
		if f.Required && rec.Column(fi).NullN() > 0 {
			rec.Release()
			return nil, fmt.Errorf("column %s is required in the lake but a change has no value for it", f.Name)
		}
	}
	return rec, nil
}

func appendColumn(b array.Builder, f iceberg.NestedField, src *schema.Table, changes []*lake.Change, ingested time.Time) error {
	switch f.Name {
	case ColCommittedAt:
		tb := b.(*array.TimestampBuilder)
		for _, ch := range changes {
			if ch.Meta.CommitTime.IsZero() {
				tb.AppendNull()
			} else {
				tb.Append(arrow.Timestamp(ch.Meta.CommitTime.UnixMicro()))
			}
		}
	case ColPosition:
		sb := b.(*array.StringBuilder)
		for _, ch := range changes {
			sb.Append(ch.Meta.Position)
		}
	case ColOp:
		sb := b.(*array.StringBuilder)
		for _, ch := range changes {
			sb.Append(ch.Meta.Op.String())
		}
	case ColIngestedAt:
		tb := b.(*array.TimestampBuilder)
		for range changes {
			tb.Append(arrow.Timestamp(ingested.UnixMicro()))
		}
	default:
		ci := src.Index(f.Name)
		if ci < 0 {
			b.AppendNulls(len(changes))
			return nil
		}
		t := src.Columns[ci].Type
		for _, ch := range changes {
			if err := appendValue(b, t, ch.Row[ci]); err != nil {
				return fmt.Errorf("column %s key %s: %w", f.Name, ch.Key, err)
			}
		}
	}
	return nil
}

// writeDeletes writes one position delete file per partition of the data
// files the plan deletes from, rows sorted by file path and position.
func (w *Table) writeDeletes(wfs icebergio.WriteFileIO, p *plan) ([]iceberg.DataFile, error) {
	type part struct {
		specID int
		values map[int]any
		files  []int
	}
	parts := map[string]*part{}
	for f := range p.deletes {
		df := w.index.files[f]
		k := fmt.Sprintf("%d/%v", df.specID, sortedValues(df.partition))
		if parts[k] == nil {
			parts[k] = &part{specID: df.specID, values: df.partition}
		}
		parts[k].files = append(parts[k].files, f)
	}
	asc, err := table.SchemaToArrowSchema(iceberg.PositionalDeleteSchema, nil, true, false)
	if err != nil {
		return nil, err
	}
	var out []iceberg.DataFile
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		pt := parts[k]
		slices.SortFunc(pt.files, func(a, b int) int { return strings.Compare(w.index.files[a].path, w.index.files[b].path) })
		rb := array.NewRecordBuilder(memory.DefaultAllocator, asc)
		paths, positions := rb.Field(0).(*array.StringBuilder), rb.Field(1).(*array.Int64Builder)
		for _, f := range pt.files {
			pos := p.deletes[f]
			slices.Sort(pos)
			for _, x := range pos {
				paths.Append(w.index.files[f].path)
				positions.Append(x)
			}
		}
		rec := rb.NewRecordBatch()
		rb.Release()
		df, err := w.writeDeleteFile(wfs, rec, pt.specID, pt.values, pt.files)
		rec.Release()
		if err != nil {
			return nil, err
		}
		out = append(out, df)
	}
	return out, nil
}

func (w *Table) writeDeleteFile(wfs icebergio.WriteFileIO, rec arrow.RecordBatch, specID int, values map[int]any, files []int) (iceberg.DataFile, error) {
	spec := w.tbl.Metadata().PartitionSpecByID(specID)
	if spec == nil {
		return nil, fmt.Errorf("table %s: no partition spec %d", w.name(), specID)
	}
	path := w.newFilePath(partitionPath(*spec, values), "-deletes")
	meta, size, err := writeParquet(wfs, path, rec)
	if err != nil {
		return nil, err
	}
	args := table.DataFileArgs{
		Schema: iceberg.PositionalDeleteSchema, Spec: *spec, Format: iceberg.ParquetFile, Metadata: meta,
		FilePath: path, FileSize: size, Content: iceberg.EntryContentPosDeletes,
		PartitionValues: values, Properties: w.tbl.Properties(), FormatVersion: w.tbl.Metadata().Version(),
	}
	if len(files) == 1 {
		ref := w.index.files[files[0]].path
		args.ReferencedDataFile = &ref
	}
	df, err := table.DataFileFromMetadata(args)
	if err != nil {
		return nil, fmt.Errorf("delete file %s: %w", path, err)
	}
	return df, nil
}

func sortedValues(m map[int]any) []any {
	out := make([]any, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// updateIndex records a committed plan in the key index.
func (w *Table) updateIndex(p *plan, files *writtenFiles) error {
	ix := w.index
	for f, pos := range p.deletes {
		ix.files[f].deleted += int64(len(pos))
	}
	if p.truncate {
		clear(ix.keys)
	}
	if len(p.deletedAt) > 0 {
		ix.deleted = append([]map[string]uint64{p.deletedAt}, ix.deleted[:min(len(ix.deleted), keepDeleted-1)]...)
	}
	for _, k := range p.gone {
		delete(ix.keys, k)
	}
	for _, d := range files.data {
		n, err := ix.addFile(&dataFile{path: d.df.FilePath(), partition: d.df.Partition(), specID: int(d.df.SpecID()), rows: d.df.Count()})
		if err != nil {
			return err
		}
		for pos, k := range d.keys {
			ix.keys[k] = loc(n, int64(pos))
		}
	}
	return nil
}
