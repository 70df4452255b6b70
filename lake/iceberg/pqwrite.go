package iceberg

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"

	"github.com/tributary-dev/tributary/internal/sizepool"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// Data files of new rows are written from the changes straight into
// Parquet's column writers. Through pqarrow, every value was first
// appended to an Arrow builder (its text copied into the builder's
// buffer), and the record then converted back into Parquet's values.
// Here the common columns (integers,
// dates, timestamps, doubles, text and the metadata columns) gather their
// values in plain slices, text pointing at the changes' own strings, and
// the rest still go through an Arrow array, written by pqarrow's own
// column writer. The file's Parquet schema is pqarrow's for the same Arrow
// schema, so a file is the one pqarrow.FileWriter would write.

// pqKind is how a data column's values reach Parquet.
type pqKind uint8

const (
	pqArrow   pqKind = iota // an Arrow array, written by pqarrow
	pqInt64                 // INT64 values
	pqInt32                 // INT32 values
	pqFloat64               // DOUBLE values
	pqText                  // BYTE_ARRAY values
)

// pqKinds gives the Parquet values of the appendKinds written directly.
var pqKinds = [...]pqKind{
	appendNull: pqArrow, appendCommittedAt: pqInt64, appendPosition: pqText, appendOp: pqText,
	appendIngestedAt: pqInt64, appendInt64: pqInt64, appendInt32: pqInt32, appendString: pqText,
	appendDate: pqInt32, appendTimestamp: pqInt64, appendFloat64: pqFloat64, appendBool: pqArrow,
	appendAny: pqArrow,
}

// dataColumn holds one column's values for a data file: definition
// levels (nullable columns only) and the values of the rows that are not
// null, in the slice of its kind.
type dataColumn struct {
	app      columnAppender // what the column holds (its builder is nil unless kind is pqArrow)
	field    arrow.Field
	kind     pqKind
	nullable bool
	def      []int16
	i64      []int64
	i32      []int32
	f64      []float64
	text     []parquet.ByteArray
	arr      arrow.Array // the values of a pqArrow column
}

// gather adds the value of ch; false when the value is not of the
// column's usual Go type (the column is then written through Arrow, whose
// appendValue converts it or reports it) or is a null the column cannot
// hold.
func (c *dataColumn) gather(ch *lake.Change) bool {
	a := &c.app
	var v any
	switch a.kind {
	case appendCommittedAt:
		if ch.Meta.CommitTime.IsZero() {
			return c.null()
		}
		c.i64 = append(c.i64, ch.Meta.CommitTime.UnixMicro())
	case appendPosition:
		c.text = append(c.text, textBytes(ch.Meta.Position))
	case appendOp:
		c.text = append(c.text, textBytes(opNames[ch.Meta.Op]))
	case appendIngestedAt:
		c.i64 = append(c.i64, int64(a.ingested))
	default:
		if v = ch.Row[a.ci]; v == nil {
			return c.null()
		}
		switch a.kind {
		case appendInt64, appendTimestamp:
			x, ok := v.(int64)
			if !ok {
				return false
			}
			c.i64 = append(c.i64, x)
		case appendInt32:
			x, ok := v.(int64)
			if !ok || x != int64(int32(x)) {
				return false
			}
			c.i32 = append(c.i32, int32(x))
		case appendDate:
			x, ok := v.(int32)
			if !ok {
				return false
			}
			c.i32 = append(c.i32, x)
		case appendFloat64:
			x, ok := v.(float64)
			if !ok {
				return false
			}
			c.f64 = append(c.f64, x)
		case appendString:
			x, ok := v.(string)
			if !ok {
				return false
			}
			c.text = append(c.text, textBytes(x))
		default:
			return false
		}
	}
	if c.nullable {
		c.def = append(c.def, 1)
	}
	return true
}

func (c *dataColumn) null() bool {
	if !c.nullable {
		return false
	}
	c.def = append(c.def, 0)
	return true
}

// textBytes returns the bytes of s without copying them; Parquet's
// writers only read them.
func textBytes(s string) parquet.ByteArray {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// buildArrow makes the column's Arrow array from every change.
func (c *dataColumn) buildArrow(changes []*lake.Change) error {
	b := array.NewBuilder(arrowPool, c.field.Type)
	defer b.Release()
	b.Reserve(len(changes))
	c.app.setBuilder(b)
	c.app.reserveData(changes)
	for _, ch := range changes {
		if err := c.app.append(ch); err != nil {
			return err
		}
	}
	c.arr = b.NewArray()
	if !c.nullable && c.arr.NullN() > 0 {
		return requiredErr(c.field.Name)
	}
	return nil
}

func requiredErr(name string) error {
	return fmt.Errorf("column %s is required in the lake but a change has no value for it", name)
}

// newColumns returns the columns of a data file of n rows in the lake
// schema sc (asc its Arrow form): source columns by name (null for a lake
// column the source no longer has), then the metadata columns. Rows go in
// with gatherRow, then finishColumns.
func newColumns(sc *iceberg.Schema, asc *arrow.Schema, src *schema.Table, n int, ingested time.Time) []dataColumn {
	fields := sc.Fields()
	cols := make([]dataColumn, len(fields))
	for i, f := range fields {
		c := &cols[i]
		c.field = asc.Field(i)
		c.app = newColumnAppender(nil, f.Name, c.field.Type, src, ingested)
		c.kind, c.nullable = pqKinds[c.app.kind], !f.Required
		if c.nullable {
			c.def, _ = defPool.Get(n)
		}
		switch c.kind {
		case pqInt64:
			c.i64, _ = i64Pool.Get(n)
		case pqInt32:
			c.i32, _ = i32Pool.Get(n)
		case pqFloat64:
			c.f64, _ = f64Pool.Get(n)
		case pqText:
			c.text, _ = textPool.Get(n)
		}
	}
	return cols
}

// The slices of the columns of one data file are the next file's
// (releaseColumns): a batch's files are written one after the other, and
// the next batch's are about the same sizes.
var (
	defPool  sizepool.Pool[int16]
	i64Pool  sizepool.Pool[int64]
	i32Pool  sizepool.Pool[int32]
	f64Pool  sizepool.Pool[float64]
	textPool sizepool.Pool[parquet.ByteArray]
)

// gatherRow adds the values of the next row. A column whose value does
// not fit its slice is built as an Arrow array by finishColumns.
func gatherRow(cols []dataColumn, ch *lake.Change) {
	for i := range cols {
		if c := &cols[i]; c.kind != pqArrow && !c.gather(ch) {
			c.kind, c.def, c.i64, c.i32, c.f64, c.text = pqArrow, nil, nil, nil, nil, nil
		}
	}
}

// finishColumns builds the Arrow arrays of the columns that need them,
// from every row of the file.
func finishColumns(cols []dataColumn, changes []*lake.Change) error {
	for i := range cols {
		if c := &cols[i]; c.kind == pqArrow {
			if err := c.buildArrow(changes); err != nil {
				releaseColumns(cols)
				return err
			}
		}
	}
	return nil
}

// releaseColumns gives back the columns' memory once their file is
// written (or given up): cols must not be used again.
func releaseColumns(cols []dataColumn) {
	for i := range cols {
		c := &cols[i]
		if c.arr != nil {
			c.arr.Release()
		}
		if c.def != nil {
			defPool.Put(c.def)
		}
		if c.i64 != nil {
			i64Pool.Put(c.i64)
		}
		if c.i32 != nil {
			i32Pool.Put(c.i32)
		}
		if c.f64 != nil {
			f64Pool.Put(c.f64)
		}
		if c.text != nil {
			clear(c.text) // they point at the changes' text
			textPool.Put(c.text)
		}
		*c = dataColumn{}
	}
}

// writeColumns writes rows gathered in cols (finished) as a Parquet data
// file at path, and returns its footer and size.
func writeColumns(fs icebergio.WriteFileIO, path string, asc *arrow.Schema, cols []dataColumn, rows int, props *parquet.WriterProperties) (*metadata.FileMetaData, int64, error) {
	pqs, err := pqarrow.ToParquet(asc, props, arrowWriterProps)
	if err != nil {
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	var kv metadata.KeyValueMetadata
	for i, k := range asc.Metadata().Keys() {
		kv.Append(k, asc.Metadata().Values()[i])
	}
	out, err := fs.Create(path)
	if err != nil {
		return nil, 0, fmt.Errorf("create %s: %w", path, err)
	}
	cw := &countingWriter{w: out}
	fw, err := file.NewParquetWriterWithError(cw, pqs.Root(), file.WithWriterProps(props), file.WithWriteMetadata(kv))
	if err == nil {
		err = writeRowGroups(fw, cols, rows, props.MaxRowGroupLength())
		if cerr := fw.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		out.Close()
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return nil, 0, fmt.Errorf("close %s: %w", path, err)
	}
	meta, err := fw.FileMetadata()
	if err != nil {
		return nil, 0, fmt.Errorf("footer of %s: %w", path, err)
	}
	return meta, cw.n, nil
}

// writeRowGroups writes rows columns, groupRows at most per row group.
func writeRowGroups(fw *file.Writer, cols []dataColumn, rows int, groupRows int64) error {
	ctx := pqarrow.NewArrowWriteContext(context.Background(), &arrowWriterProps)
	next := make([]int, len(cols)) // each column's first value of the next row group
	for lo := 0; lo < rows; lo += int(groupRows) {
		hi := min(rows, lo+int(groupRows))
		rgw, err := fw.AppendRowGroupChecked()
		if err != nil {
			return err
		}
		for i := range cols {
			w, err := rgw.NextColumn()
			if err != nil {
				return err
			}
			if err := cols[i].write(ctx, w, lo, hi, &next[i]); err != nil {
				return fmt.Errorf("column %s: %w", cols[i].field.Name, err)
			}
		}
		if err := rgw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// write writes rows lo to hi of the column to w; *first is the first of
// their values, moved past them.
func (c *dataColumn) write(ctx context.Context, w file.ColumnChunkWriter, lo, hi int, first *int) error {
	var def []int16
	n := hi - lo // the rows' values
	if c.nullable && c.kind != pqArrow {
		def = c.def[lo:hi]
		n = 0
		for _, d := range def {
			n += int(d)
		}
	}
	from, to := *first, *first+n
	*first = to
	var err error
	switch w := w.(type) {
	case *file.Int64ColumnChunkWriter:
		if c.kind == pqInt64 {
			_, err = w.WriteBatch(c.i64[from:to], def, nil)
			return err
		}
	case *file.Int32ColumnChunkWriter:
		if c.kind == pqInt32 {
			_, err = w.WriteBatch(c.i32[from:to], def, nil)
			return err
		}
	case *file.Float64ColumnChunkWriter:
		if c.kind == pqFloat64 {
			_, err = w.WriteBatch(c.f64[from:to], def, nil)
			return err
		}
	case *file.ByteArrayColumnChunkWriter:
		if c.kind == pqText {
			_, err = w.WriteBatch(c.text[from:to], def, nil)
			return err
		}
	}
	if c.kind != pqArrow {
		return fmt.Errorf("values of kind %d for a %s column", c.kind, w.Type())
	}
	arr := array.NewSlice(c.arr, int64(lo), int64(hi))
	defer arr.Release()
	if c.nullable {
		def = make([]int16, arr.Len())
		for i := range def {
			if arr.IsValid(i) {
				def[i] = 1
			}
		}
	}
	return pqarrow.WriteArrowToColumn(ctx, w, arr, def, nil, c.nullable)
}
