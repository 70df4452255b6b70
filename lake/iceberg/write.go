package iceberg

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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
	// base is the table the plan was made against; the commit is pinned
	// to its snapshot.
	base     *table.Table
	src      *schema.Table
	truncate bool
	// deletes maps a data file number to the row positions to delete.
	deletes map[int][]int64
	// groups holds the rows to write, by partition path.
	groups map[string]*rowGroup
	// order holds the group of each row to write, in batch order.
	order []*rowGroup
	// gone lists keys deleted without a new row.
	gone []keyHash
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
	rows      int         // len(changes), counted before they are gathered
	changes   []*lake.Change
	// files are the data files of the rows, and next the number of rows
	// gathered into them (gatherFiles).
	files []*fileRows
	next  int
}

// plan works out the deletes and the new rows of a batch.
func (w *Table) plan(ctx context.Context, b *lake.Batch) (*plan, error) {
	p := &plan{base: w.tbl, src: w.lakeView(b.Table), truncate: b.Truncate, deletes: map[int][]int64{}, groups: map[string]*rowGroup{}, deletedAt: map[string]uint64{}, ingested: time.Now()}
	ix := w.index
	if b.Resync != lake.ResyncNone {
		if len(b.Changes) > 0 || b.Truncate {
			return nil, fmt.Errorf("table %s: a resync batch holds changes", w.name())
		}
		if b.Resync == lake.ResyncEnd {
			if err := w.planResyncEnd(ctx, p); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	hashes := make([]keyHash, len(b.Changes))
	for i := range b.Changes {
		hashes[i] = b.Changes[i].KeyHash()
	}
	if b.Truncate {
		for _, l := range ix.keys.All() {
			f, pos := splitLoc(l)
			p.deletes[f] = append(p.deletes[f], pos)
			p.ndelete++
		}
	}
	part, err := w.partitioner(b.Table)
	if err != nil {
		return nil, err
	}
	if !b.Truncate {
		// The live rows the changes replace or delete.
		ix.keys.lookupAll(hashes, func(i int, l uint64) {
			f, pos := splitLoc(l)
			p.deletes[f] = append(p.deletes[f], pos)
			p.ndelete++
			if ch := &b.Changes[i]; ch.Delete && ch.Meta.Position != "" {
				p.deletedAt[ch.Meta.Position] = l
			}
		})
	}
	var toast []*lake.Change
	p.order = make([]*rowGroup, 0, len(b.Changes))
	for i := range b.Changes {
		ch := &b.Changes[i]
		if ch.Delete {
			p.gone = append(p.gone, hashes[i])
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
		g.rows++
		p.order = append(p.order, g)
		p.rows++
	}
	// Each group's rows, in batch order, in a slice of their number.
	for _, g := range p.groups {
		g.changes = make([]*lake.Change, 0, g.rows)
	}
	next := 0
	for i := range b.Changes {
		if !b.Changes[i].Delete {
			g := p.order[next]
			g.changes = append(g.changes, &b.Changes[i])
			next++
		}
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
	keys []keyHash
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
	sc, fsc, asc, err := w.fileSchemas()
	if err != nil {
		return nil, err
	}
	files, err := gatherFiles(sc, asc, p, w.lake.cfg.TargetFileRows)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", w.name(), err)
	}
	out := &writtenFiles{}
	for i, f := range files {
		wd, err := w.writeData(wfs, fsc, asc, p, f)
		releaseColumns(f.cols)
		files[i] = nil // its columns can go
		if err != nil {
			for _, f := range files[i+1:] {
				releaseColumns(f.cols)
			}
			return nil, err
		}
		out.data = append(out.data, wd)
	}
	if w.cfg.CopyOnWrite {
		return out, nil // the files rows are deleted from are written again (cow.go)
	}
	if out.deletes, err = w.writeDeletes(wfs, p); err != nil {
		return nil, err
	}
	return out, nil
}

// fileSchemas returns the table's schema, the schema its data files are
// written with, and that one in Arrow. A data file's columns have the
// table's field ids and types, and the names Java Iceberg's writers give
// them (iceberg.SanitizeColumnNames, as iceberg-go's own writer does): a
// name that is no Avro name ("new col", "a`b", "1st") is escaped
// ("new_x20col"); letters beyond ASCII are kept ("名前"), as Java keeps them.
// Readers that match columns by field id (Trino, Spark, iceberg-go) do
// not mind; readers that match them by the escaped name need it.
func (w *Table) fileSchemas() (sc, fsc *iceberg.Schema, asc *arrow.Schema, err error) {
	sc = w.tbl.Schema()
	if fsc, err = iceberg.SanitizeColumnNames(sc); err != nil {
		return nil, nil, nil, fmt.Errorf("table %s: %w", w.name(), err)
	}
	if asc, err = table.SchemaToArrowSchema(fsc, nil, true, false); err != nil {
		return nil, nil, nil, fmt.Errorf("table %s arrow schema: %w", w.name(), err)
	}
	return sc, fsc, asc, nil
}

func (w *Table) newFilePath(partitionPath, suffix string) string {
	dir := w.tbl.Location() + "/data/"
	if partitionPath != "" {
		dir += partitionPath + "/"
	}
	return dir + uuid.NewString() + suffix + ".parquet"
}

// fileRows are the rows of one data file to write: a chunk of a
// partition's rows, gathered in columns, with their keys.
type fileRows struct {
	g       *rowGroup
	changes []*lake.Change
	cols    []dataColumn
	keys    []keyHash
}

// gatherFiles lays out the plan's rows in data files of at most target
// rows each, partition by partition, and gathers their columns in one
// pass over the rows in batch order: a pass per file would read through
// the memory of the whole batch once for each partition.
func gatherFiles(sc *iceberg.Schema, asc *arrow.Schema, p *plan, target int) ([]*fileRows, error) {
	var files []*fileRows
	for _, path := range slices.Sorted(maps.Keys(p.groups)) {
		g := p.groups[path]
		g.files, g.next = nil, 0
		for chunk := range slices.Chunk(g.changes, target) {
			f := &fileRows{g: g, changes: chunk, cols: newColumns(sc, asc, p.src, len(chunk), p.ingested), keys: make([]keyHash, 0, len(chunk))}
			files = append(files, f)
			g.files = append(g.files, f)
		}
	}
	for _, g := range p.order {
		k := g.next
		g.next++
		f, ch := g.files[k/target], g.changes[k]
		gatherRow(f.cols, ch)
		f.keys = append(f.keys, ch.KeyHash())
	}
	for i, f := range files {
		if err := finishColumns(f.cols, f.changes); err != nil {
			for _, f := range files[i+1:] {
				releaseColumns(f.cols)
			}
			for _, f := range files[:i] {
				releaseColumns(f.cols)
			}
			return nil, err
		}
	}
	return files, nil
}

// writeData writes one data file of new rows.
func (w *Table) writeData(wfs icebergio.WriteFileIO, sc *iceberg.Schema, asc *arrow.Schema, p *plan, f *fileRows) (writtenData, error) {
	path := w.newFilePath(f.g.path, "")
	meta, size, err := writeColumns(wfs, path, asc, f.cols, len(f.changes), w.dataProps(p.src))
	if err != nil {
		return writtenData{}, fmt.Errorf("table %s: %w", w.name(), err)
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: sc, Spec: w.tbl.Spec(), Format: iceberg.ParquetFile, Metadata: meta,
		FilePath: path, FileSize: size, Content: iceberg.EntryContentData,
		PartitionValues: f.g.partition, SortOrderID: w.tbl.SortOrder().OrderID(),
		Properties: w.tbl.Properties(), FormatVersion: w.tbl.Metadata().Version(),
	})
	if err != nil {
		return writtenData{}, fmt.Errorf("data file %s: %w", path, err)
	}
	return writtenData{df: df, keys: f.keys}, nil
}

// appendKind says what a columnAppender appends.
type appendKind uint8

const (
	appendNull        appendKind = iota // a lake column the source no longer has
	appendCommittedAt                   // the metadata columns
	appendPosition
	appendOp
	appendIngestedAt
	appendInt64  // source values, each into its usual builder,
	appendInt32  // without the type switch of appendValue;
	appendString // anything else goes through appendValue
	appendDate
	appendTimestamp
	appendFloat64
	appendBool
	appendAny
)

// columnAppender appends one lake column's value of each change.
type columnAppender struct {
	kind     appendKind
	ci       int // source column
	typ      schema.Type
	name     string
	b        array.Builder
	ingested arrow.Timestamp

	i64  *array.Int64Builder
	i32  *array.Int32Builder
	str  *array.StringBuilder
	date *array.Date32Builder
	ts   *array.TimestampBuilder
	f64  *array.Float64Builder
	bl   *array.BooleanBuilder
}

// newColumnAppender returns the appender of lake column name, of Arrow
// type dt, with builder b (nil when the column's values go elsewhere, see
// setBuilder).
func newColumnAppender(b array.Builder, name string, dt arrow.DataType, src *schema.Table, ingested time.Time) columnAppender {
	a := columnAppender{name: name, ingested: arrow.Timestamp(ingested.UnixMicro())}
	switch name {
	case ColCommittedAt:
		a.kind = appendCommittedAt
	case ColPosition:
		a.kind = appendPosition
	case ColOp:
		a.kind = appendOp
	case ColIngestedAt:
		a.kind = appendIngestedAt
	default:
		if a.ci = src.Index(name); a.ci < 0 {
			a.kind = appendNull
			break
		}
		a.typ = src.Columns[a.ci].Type
		switch dt.ID() {
		case arrow.INT64:
			a.kind = appendInt64
		case arrow.INT32:
			a.kind = appendInt32
		case arrow.STRING:
			a.kind = appendString
		case arrow.DATE32:
			a.kind = appendDate
		case arrow.TIMESTAMP:
			a.kind = appendTimestamp
		case arrow.FLOAT64:
			a.kind = appendFloat64
		case arrow.BOOL:
			a.kind = appendBool
		default:
			a.kind = appendAny
		}
	}
	if b != nil {
		a.setBuilder(b)
	}
	return a
}

// setBuilder makes b, a builder of the column's Arrow type, the one the
// appender appends to.
func (a *columnAppender) setBuilder(b array.Builder) {
	a.b = b
	a.str, _ = b.(*array.StringBuilder)
	a.ts, _ = b.(*array.TimestampBuilder)
	a.i64, _ = b.(*array.Int64Builder)
	a.i32, _ = b.(*array.Int32Builder)
	a.date, _ = b.(*array.Date32Builder)
	a.f64, _ = b.(*array.Float64Builder)
	a.bl, _ = b.(*array.BooleanBuilder)
}

// reserveData makes room in a text column's builder for the bytes of the
// changes' values, which it would otherwise find by growing its buffer
// again and again (copying it each time).
func (a *columnAppender) reserveData(changes []*lake.Change) {
	if a.str == nil {
		return
	}
	n := 0
	switch a.kind {
	case appendPosition:
		for _, ch := range changes {
			n += len(ch.Meta.Position)
		}
	case appendOp:
		n = len(changes)
	case appendString:
		for _, ch := range changes {
			if x, ok := ch.Row[a.ci].(string); ok {
				n += len(x)
			}
		}
	default:
		return
	}
	a.str.ReserveData(n)
}

// opNames are the op column's values.
var opNames = func() (out [256]string) {
	for i := range out {
		out[i] = schema.Op(i).String()
	}
	return out
}()

func (a *columnAppender) append(ch *lake.Change) error {
	switch a.kind {
	case appendNull:
		a.b.AppendNull()
		return nil
	case appendCommittedAt:
		if ch.Meta.CommitTime.IsZero() {
			a.ts.AppendNull()
		} else {
			a.ts.Append(arrow.Timestamp(ch.Meta.CommitTime.UnixMicro()))
		}
		return nil
	case appendPosition:
		a.str.Append(ch.Meta.Position)
		return nil
	case appendOp:
		a.str.Append(opNames[ch.Meta.Op])
		return nil
	case appendIngestedAt:
		a.ts.Append(a.ingested)
		return nil
	}
	v := ch.Row[a.ci]
	ok := true
	switch a.kind {
	case appendInt64:
		var x int64
		if x, ok = v.(int64); ok {
			a.i64.Append(x)
		}
	case appendInt32:
		var x int64
		if x, ok = v.(int64); ok && x >= math.MinInt32 && x <= math.MaxInt32 {
			a.i32.Append(int32(x))
		} else {
			ok = false
		}
	case appendString:
		var x string
		if x, ok = v.(string); ok {
			a.str.Append(x)
		}
	case appendDate:
		var x int32
		if x, ok = v.(int32); ok {
			a.date.Append(arrow.Date32(x))
		}
	case appendTimestamp:
		var x int64
		if x, ok = v.(int64); ok {
			a.ts.Append(arrow.Timestamp(x))
		}
	case appendFloat64:
		var x float64
		if x, ok = v.(float64); ok {
			a.f64.Append(x)
		}
	case appendBool:
		var x bool
		if x, ok = v.(bool); ok {
			a.bl.Append(x)
		}
	default:
		ok = false
	}
	if ok {
		return nil
	}
	// Nulls, other kinds and values of an unexpected type.
	if err := appendValue(a.b, a.typ, v); err != nil {
		return fmt.Errorf("column %s key %s: %w", a.name, ch.Key, err)
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
		rb := array.NewRecordBuilder(arrowPool, asc)
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
	meta, size, err := writeParquet(wfs, path, rec, deleteProps)
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

// updateIndex records a plan committed as snapshot snap in the key index.
func (w *Table) updateIndex(p *plan, files *writtenFiles, snap int64) error {
	ix := w.index
	ix.snapshot = snap
	for f, pos := range p.deletes {
		ix.files[f].deleted += int64(len(pos))
	}
	if p.truncate {
		ix.keys.Clear()
	}
	if len(p.deletedAt) > 0 {
		ix.deleted = append([]map[string]uint64{p.deletedAt}, ix.deleted[:min(len(ix.deleted), keepDeleted-1)]...)
	}
	ix.keys.deleteAll(p.gone)
	var slots []keySlot
	for _, d := range files.data {
		n, err := ix.addFile(&dataFile{path: d.df.FilePath(), partition: d.df.Partition(), specID: int(d.df.SpecID()), rows: d.df.Count(), df: d.df})
		if err != nil {
			return err
		}
		if slots == nil {
			slots = make([]keySlot, 0, p.rows)
		}
		for pos, k := range d.keys {
			slots = append(slots, keySlot{k, loc(n, int64(pos))})
		}
	}
	ix.keys.setAll(slots) // all at once: one walk over the table
	return nil
}
