package iceberg

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// buildRecord lays out rows in the lake schema as an Arrow record, as
// pqarrow writes them: the way data files were written before
// writeDataParquet, kept as its reference and for BenchmarkBareAppend.
func buildRecord(sc *iceberg.Schema, asc *arrow.Schema, src *schema.Table, changes []*lake.Change, ingested time.Time) (arrow.RecordBatch, error) {
	rb := array.NewRecordBuilder(arrowPool, asc)
	defer rb.Release()
	cols := make([]columnAppender, len(sc.Fields()))
	for fi, f := range sc.Fields() {
		b := rb.Field(fi)
		b.Reserve(len(changes))
		cols[fi] = newColumnAppender(b, f.Name, asc.Field(fi).Type, src, ingested)
		cols[fi].reserveData(changes)
	}
	for _, ch := range changes {
		for i := range cols {
			if err := cols[i].append(ch); err != nil {
				return nil, err
			}
		}
	}
	rec := rb.NewRecordBatch()
	for fi, f := range sc.Fields() {
		if f.Required && rec.Column(fi).NullN() > 0 {
			rec.Release()
			return nil, requiredErr(f.Name)
		}
	}
	return rec, nil
}

// writeDataParquet writes changes as one Parquet data file the way
// writeFiles does, for the tests.
func writeDataParquet(fs icebergio.WriteFileIO, path string, sc *iceberg.Schema, asc *arrow.Schema, src *schema.Table, changes []*lake.Change, ingested time.Time, props *parquet.WriterProperties) (*metadata.FileMetaData, int64, error) {
	cols, err := gatherColumns(sc, asc, src, changes, ingested)
	if err != nil {
		return nil, 0, err
	}
	defer releaseColumns(cols)
	return writeColumns(fs, path, asc, cols, len(changes), props)
}

// gatherColumns lays out changes in the columns of one data file, row by
// row: each change is read once, while the columns' ends stay in cache.
func gatherColumns(sc *iceberg.Schema, asc *arrow.Schema, src *schema.Table, changes []*lake.Change, ingested time.Time) ([]dataColumn, error) {
	cols := newColumns(sc, asc, src, len(changes), ingested)
	for _, ch := range changes {
		gatherRow(cols, ch)
	}
	if err := finishColumns(cols, changes); err != nil {
		return nil, err
	}
	return cols, nil
}

// TestDataParquetMatchesPqarrow writes the same changes with
// writeDataParquet and through an Arrow record with pqarrow, over every
// lake type (some written directly, some through Arrow), nulls, values of
// an unusual Go type, a lake column the source no longer has, and several
// row groups: the two files must have the same schema, row groups,
// statistics and values.
func TestDataParquetMatchesPqarrow(t *testing.T) {
	kinds := []schema.Type{
		{Kind: schema.KindBool}, {Kind: schema.KindInt32}, {Kind: schema.KindInt64}, {Kind: schema.KindUint64},
		{Kind: schema.KindFloat32}, {Kind: schema.KindFloat64}, {Kind: schema.KindDecimal, Precision: 12, Scale: 3},
		{Kind: schema.KindString}, {Kind: schema.KindBytes}, {Kind: schema.KindDate}, {Kind: schema.KindTime},
		{Kind: schema.KindTimestamp}, {Kind: schema.KindTimestampTZ}, {Kind: schema.KindUUID},
		{Kind: schema.KindBit, Precision: 10}, {Kind: schema.KindInterval},
	}
	full := &schema.Table{ID: schema.TableID{Database: "db", Name: "pq"}, Version: 1, Key: []string{"id"},
		Columns: []schema.Column{{Name: "id", Type: schema.Type{Kind: schema.KindInt64}}, {Name: "gone", Type: schema.Type{Kind: schema.KindString}, Nullable: true}}}
	for i, k := range kinds {
		full.Columns = append(full.Columns, schema.Column{Name: fmt.Sprintf("c%02d", i), Type: k, Nullable: true})
	}
	if err := full.Prepare(); err != nil {
		t.Fatal(err)
	}
	l := New(Config{Warehouse: t.TempDir()})
	defer l.Close()
	ctx := context.Background()
	lt, err := l.Open(ctx, full, lake.TableConfig{Namespace: "db", Name: "pq"})
	if err != nil {
		t.Fatal(err)
	}
	w := lt.(*Table)
	// The source then drops column "gone": the lake keeps it, null.
	src := &schema.Table{ID: full.ID, Version: 2, Key: full.Key, Columns: append([]schema.Column{full.Columns[0]}, full.Columns[2:]...)}
	if err := src.Prepare(); err != nil {
		t.Fatal(err)
	}
	value := func(k schema.Type, i int) any {
		if i%7 == 3 {
			return nil
		}
		switch k.Kind {
		case schema.KindBool:
			return i%2 == 0
		case schema.KindInt32:
			return int64(i - 1000)
		case schema.KindInt64, schema.KindTime, schema.KindTimestamp, schema.KindTimestampTZ:
			return int64(i) * 1_000_003
		case schema.KindUint64:
			return uint64(math.MaxUint64) - uint64(i)
		case schema.KindFloat32:
			return float32(i) / 3
		case schema.KindFloat64:
			return float64(i) / 7
		case schema.KindDecimal:
			return fmt.Sprintf("%d.%03d", i, i%1000)
		case schema.KindString:
			return strings.Repeat("s", i%13) + fmt.Sprint(i%50)
		case schema.KindBytes:
			return []byte{byte(i), 0, byte(i >> 8)}
		case schema.KindDate:
			return int32(i - 500)
		case schema.KindUUID:
			return fmt.Sprintf("0b9f1c1e-2d3a-4c5b-8e7f-%012d", i)
		case schema.KindBit:
			return uint64(i % 1024) // a uint64 in an int64 column: written through Arrow
		case schema.KindInterval:
			return schema.Interval{Months: int32(i % 12), Days: int32(i % 30), Micros: int64(i)} // not a string: through Arrow
		}
		panic(k)
	}
	var changes []*lake.Change
	for i := range 2500 {
		img := []any{int64(i)}
		for _, k := range kinds {
			img = append(img, value(k, i))
		}
		ch := upsert(src, img)
		ch.Meta = lake.RowMeta{Op: schema.OpCreate, Position: fmt.Sprintf("gtid:%d#0", i)}
		if i%5 != 0 {
			ch.Meta.CommitTime = time.UnixMicro(int64(i) * 1_000_000)
		}
		changes = append(changes, &ch)
	}
	sc := w.tbl.Schema()
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	wfs, err := w.fileIO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(append(writerPropsOptions("id"), parquet.WithMaxRowGroupLength(1000))...)
	ingested := time.Now()
	dir := t.TempDir()
	if _, _, err := writeDataParquet(wfs, dir+"/direct.parquet", sc, asc, src, changes, ingested, props); err != nil {
		t.Fatal(err)
	}
	rec, err := buildRecord(sc, asc, src, changes, ingested)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if _, _, err := writeParquet(wfs, dir+"/arrow.parquet", rec, props); err != nil {
		t.Fatal(err)
	}

	direct, ref := openParquet(t, dir+"/direct.parquet"), openParquet(t, dir+"/arrow.parquet")
	dm, rm := direct.MetaData(), ref.MetaData()
	if d, r := dm.Schema.String(), rm.Schema.String(); d != r {
		t.Fatalf("schemas differ:\n%s\npqarrow:\n%s", d, r)
	}
	if dm.NumRowGroups() != rm.NumRowGroups() || dm.NumRowGroups() != 3 {
		t.Fatalf("%d row groups, pqarrow %d, want 3", dm.NumRowGroups(), rm.NumRowGroups())
	}
	for g := range dm.NumRowGroups() {
		dg, rg := dm.RowGroup(g), rm.RowGroup(g)
		if dg.NumRows() != rg.NumRows() {
			t.Errorf("row group %d: %d rows, pqarrow %d", g, dg.NumRows(), rg.NumRows())
		}
		for c := range dg.NumColumns() {
			dc, _ := dg.ColumnChunk(c)
			rc, _ := rg.ColumnChunk(c)
			ds, err1 := dc.Statistics()
			rs, err2 := rc.Statistics()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if (ds == nil) != (rs == nil) || ds != nil && (ds.HasMinMax() != rs.HasMinMax() || ds.NullCount() != rs.NullCount() ||
				string(ds.EncodeMin()) != string(rs.EncodeMin()) || string(ds.EncodeMax()) != string(rs.EncodeMax())) {
				t.Errorf("row group %d column %s: statistics differ", g, dc.PathInSchema())
			}
			if dc.NumValues() != rc.NumValues() || fmt.Sprint(dc.Encodings()) != fmt.Sprint(rc.Encodings()) {
				t.Errorf("row group %d column %s: %d values %v, pqarrow %d %v", g, dc.PathInSchema(), dc.NumValues(), dc.Encodings(), rc.NumValues(), rc.Encodings())
			}
		}
	}
	dt, rt := readParquetTable(t, direct), readParquetTable(t, ref)
	defer dt.Release()
	defer rt.Release()
	if dt.NumRows() != 2500 {
		t.Fatalf("read %d rows, want 2500", dt.NumRows())
	}
	for c := range int(dt.NumCols()) {
		if !array.ChunkedEqual(dt.Column(c).Data(), rt.Column(c).Data()) {
			t.Errorf("column %s: values differ", dt.Schema().Field(c).Name)
		}
	}
}

// TestDataParquetRequired reports a null in a required column, as
// buildRecord did.
func TestDataParquetRequired(t *testing.T) {
	f := newFixture(t, "created")
	w := f.open().(*Table)
	ch := upsert(f.src, row(1, "c", "1.00", day, nil))
	ch.Meta = lake.RowMeta{Op: schema.OpCreate}
	sc := w.tbl.Schema()
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	wfs, err := w.fileIO(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Column "id" is required in the lake; a source without it leaves it null.
	src := &schema.Table{ID: f.src.ID, Version: 9, Key: []string{"customer"}, Columns: f.src.Columns[1:]}
	if err := src.Prepare(); err != nil {
		t.Fatal(err)
	}
	ch.Row = ch.Row[1:]
	_, _, err = writeDataParquet(wfs, t.TempDir()+"/x.parquet", sc, asc, src, []*lake.Change{&ch}, time.Now(), writerProps())
	if err == nil || !strings.Contains(err.Error(), "column id is required") {
		t.Fatalf("error %v, want column id is required", err)
	}
}

func openParquet(t *testing.T, path string) *file.Reader {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func readParquetTable(t *testing.T, r *file.Reader) arrow.Table {
	t.Helper()
	fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, arrowPool)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// BenchmarkWriteData writes one data file of 100,000 new rows, directly
// (writeDataParquet) and through an Arrow record (buildRecord and
// pqarrow), for the two ways to compare.
func BenchmarkWriteData(b *testing.B) {
	f := newFixture(&testing.T{}, "created")
	f.dir = b.TempDir()
	f.lake = New(Config{Warehouse: f.dir})
	defer f.lake.Close()
	ctx := context.Background()
	lt, err := f.lake.Open(ctx, f.src, f.cfg)
	if err != nil {
		b.Fatal(err)
	}
	w := lt.(*Table)
	sc := w.tbl.Schema()
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		b.Fatal(err)
	}
	wfs, err := w.fileIO(ctx)
	if err != nil {
		b.Fatal(err)
	}
	changes := benchChanges(f.src, 0, benchBatch, "new")
	ptrs := make([]*lake.Change, len(changes))
	for i := range changes {
		ptrs[i] = &changes[i]
	}
	props := w.dataProps(f.src)
	dir := b.TempDir()
	b.Run("direct", func(b *testing.B) {
		for range b.N {
			if _, _, err := writeDataParquet(wfs, dir+"/d.parquet", sc, asc, f.src, ptrs, time.Now(), props); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(ptrs))/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("arrow", func(b *testing.B) {
		for range b.N {
			rec, err := buildRecord(sc, asc, f.src, ptrs, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := writeParquet(wfs, dir+"/a.parquet", rec, props); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		b.ReportMetric(float64(b.N*len(ptrs))/b.Elapsed().Seconds(), "rows/s")
	})
}

// TestGatherFiles gathers the rows of three partitions, interleaved in
// the batch, into files of at most 4 rows in one pass: each file must
// hold its partition's rows in batch order, as gathering the file alone
// does, with their keys.
func TestGatherFiles(t *testing.T) {
	f := newFixture(t, "created")
	w := f.open().(*Table)
	sc := w.tbl.Schema()
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	p := &plan{src: f.src, groups: map[string]*rowGroup{}, ingested: time.Now()}
	for i := range 25 {
		path := fmt.Sprint("p", i%3)
		g := p.groups[path]
		if g == nil {
			g = &rowGroup{path: path}
			p.groups[path] = g
		}
		var amount any = fmt.Sprintf("%d.50", i) // through Arrow
		if i == 17 {
			amount = nil
		}
		ch := upsert(f.src, row(int64(i), fmt.Sprint("c", i), amount, int64(i)*day, nil))
		g.changes = append(g.changes, &ch)
		p.order = append(p.order, g)
	}
	files, err := gatherFiles(sc, asc, p, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, path := range []string{"p0", "p1", "p2"} {
		for chunk := range slices.Chunk(p.groups[path].changes, 4) {
			if want >= len(files) {
				t.Fatalf("%d files, want more", len(files))
			}
			got := files[want]
			want++
			if got.g.path != path || !slices.Equal(got.changes, chunk) {
				t.Fatalf("file %d: partition %s, %d rows; want %s, %d rows", want, got.g.path, len(got.changes), path, len(chunk))
			}
			ref, err := gatherColumns(sc, asc, f.src, chunk, p.ingested)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ref {
				g, r := got.cols[i], ref[i]
				if g.kind != r.kind || !slices.Equal(g.def, r.def) || !slices.Equal(g.i64, r.i64) || !slices.Equal(g.i32, r.i32) ||
					!slices.EqualFunc(g.text, r.text, func(a, b parquet.ByteArray) bool { return string(a) == string(b) }) ||
					(g.arr == nil) != (r.arr == nil) || g.arr != nil && !array.Equal(g.arr, r.arr) {
					t.Errorf("file %d (%s) column %s differs from the file gathered alone", want, path, g.field.Name)
				}
			}
			for i, ch := range chunk {
				if got.keys[i] != ch.KeyHash() {
					t.Errorf("file %d row %d: key hash differs", want, i)
				}
			}
			releaseColumns(ref)
		}
	}
	if want != len(files) || want != 7 {
		t.Errorf("%d files, want %d and 7", len(files), want)
	}
	for _, f := range files {
		releaseColumns(f.cols)
	}
}
