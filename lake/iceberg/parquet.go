package iceberg

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	icebergio "github.com/apache/iceberg-go/io"

	"github.com/tributary-dev/tributary/schema"
)

// columnValue is one value of a column being read: row row of arr.
type columnValue struct {
	arr arrow.Array
	row int
}

// readBatchRows is how many rows readColumns decodes at a time.
const readBatchRows = 64 << 10

// readColumns reads the columns with the given Iceberg field ids from a
// Parquet file and calls fn for every row, in file order, with the values
// in fieldIDs order. A field id missing from the file (a column added
// after the file was written) reads as NULL.
func readColumns(ctx context.Context, fs icebergio.IO, path string, fieldIDs []int, fn func(pos int64, cols []columnValue) error) error {
	cols := make([]columnValue, len(fieldIDs))
	return readBatches(ctx, fs, path, fieldIDs, func(first int64, rows int, arrs []arrow.Array) error {
		for i := range cols {
			cols[i].arr = arrs[i]
		}
		for r := range rows {
			for i := range cols {
				cols[i].row = r
			}
			if err := fn(first+int64(r), cols); err != nil {
				return err
			}
		}
		return nil
	})
}

// readBatches reads the columns with the given field ids a batch of rows at
// a time: fn gets the position of the batch's first row, its row count and
// one array per field id, nil for a field the file does not have. The
// arrays are valid only during the call.
func readBatches(ctx context.Context, fs icebergio.IO, path string, fieldIDs []int, fn func(first int64, rows int, arrs []arrow.Array) error) error {
	f, err := fs.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	pr, err := file.NewParquetReader(f)
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	defer pr.Close()
	var leaves []int
	sch := pr.MetaData().Schema
	for _, id := range fieldIDs {
		for c := range sch.NumColumns() {
			if int(sch.Column(c).SchemaNode().FieldID()) == id {
				leaves = append(leaves, c)
				break
			}
		}
	}
	arrs := make([]arrow.Array, len(fieldIDs))
	if len(leaves) == 0 {
		for first := int64(0); first < pr.NumRows(); first += readBatchRows {
			if err := fn(first, int(min(readBatchRows, pr.NumRows()-first)), arrs); err != nil {
				return err
			}
		}
		return nil
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	defer rr.Release()
	var first int64
	cols := make([]columnValue, len(fieldIDs))
	for rr.Next() {
		rec := rr.RecordBatch()
		if err := pickColumns(rec, fieldIDs, cols); err != nil {
			return fmt.Errorf("read parquet %s: %w", path, err)
		}
		for i := range cols {
			arrs[i] = cols[i].arr
		}
		if err := fn(first, int(rec.NumRows()), arrs); err != nil {
			return err
		}
		first += rec.NumRows()
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	return nil
}

// pickColumns points cols at the columns of rec with the given field ids,
// which pqarrow records in each field's metadata; nil for a field the file
// does not have.
func pickColumns(rec arrow.RecordBatch, fieldIDs []int, cols []columnValue) error {
	for i, id := range fieldIDs {
		cols[i].arr = nil
		want := strconv.Itoa(id)
		for j, f := range rec.Schema().Fields() {
			if v, ok := f.Metadata.GetValue("PARQUET:field_id"); ok && v == want {
				cols[i].arr = rec.Column(j)
				break
			}
		}
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writerProps returns the Parquet settings of the files the compactor
// writes: zstd at its fastest level, statistics for the engines' pruning,
// and dictionary encoding except for the source position and the columns
// in distinct, whose values differ on every row of a file (a dictionary of
// them would only be built, then dropped or written in vain).
func writerProps(distinct ...string) *parquet.WriterProperties {
	return parquet.NewWriterProperties(writerPropsOptions(distinct...)...)
}

func writerPropsOptions(distinct ...string) []parquet.WriterProperty {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(128 << 10),
		parquet.WithAllocator(arrowPool),
		parquet.WithDictionaryFor(ColPosition, false),
	}
	for _, c := range distinct {
		opts = append(opts, parquet.WithDictionaryFor(c, false))
	}
	return opts
}

// deleteProps are the settings of position delete files, whose positions
// are distinct.
var deleteProps = writerProps("pos")

// dataProps returns the settings of data files of source schema src: a
// single key column is distinct within each file, since a file holds one
// row per key.
func (w *Table) dataProps(src *schema.Table) *parquet.WriterProperties {
	key := ""
	if src != nil && len(src.Key) == 1 {
		key = src.Key[0]
	}
	if w.props == nil || w.propsKey != key {
		var distinct []string
		if key != "" {
			distinct = append(distinct, key)
		}
		w.props, w.propsKey = writerProps(distinct...), key
	}
	return w.props
}

// arrowWriterProps are pqarrow's defaults with the pooled allocator.
var arrowWriterProps = pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(arrowPool))

// writeParquet writes one record batch as a Parquet file at path and
// returns its footer and size.
func writeParquet(fs icebergio.WriteFileIO, path string, rec arrow.RecordBatch, props *parquet.WriterProperties) (*metadata.FileMetaData, int64, error) {
	out, err := fs.Create(path)
	if err != nil {
		return nil, 0, fmt.Errorf("create %s: %w", path, err)
	}
	cw := &countingWriter{w: out}
	fw, err := pqarrow.NewFileWriter(rec.Schema(), cw, props, arrowWriterProps)
	if err != nil {
		out.Close()
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		out.Close()
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := fw.Close(); err != nil {
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
