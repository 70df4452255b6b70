package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

var day = int64(24 * time.Hour / time.Microsecond)

func ordersTable(version int) *schema.Table {
	t := &schema.Table{
		ID: schema.TableID{Database: "shop", Name: "orders"}, Version: version,
		Columns: []schema.Column{
			{Name: "id", Type: schema.Type{Kind: schema.KindInt64}},
			{Name: "customer", Type: schema.Type{Kind: schema.KindString}},
			{Name: "amount", Type: schema.Type{Kind: schema.KindDecimal, Precision: 12, Scale: 2}, Nullable: true},
			{Name: "created", Type: schema.Type{Kind: schema.KindTimestamp, Precision: 6}},
			{Name: "note", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
		},
		Key: []string{"id"},
	}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}

// model is the expected table: key -> row.
type model map[string][]any

func upsert(t *schema.Table, row []any) lake.Change {
	k, err := lake.KeyOf(t, row)
	if err != nil {
		panic(err)
	}
	return lake.Change{Key: k, Row: row, Meta: lake.RowMeta{Op: schema.OpUpdate, CommitTime: time.UnixMilli(1700000000000), Position: "0-1-1#0"}}
}

func del(t *schema.Table, id int64) lake.Change {
	k, _ := lake.KeyOf(t, []any{id, nil, nil, nil, nil})
	return lake.Change{Key: k, Delete: true}
}

func (m model) apply(b *lake.Batch) {
	if b.Truncate {
		clear(m)
	}
	for _, c := range b.Changes {
		if c.Delete {
			delete(m, c.Key)
		} else {
			m[c.Key] = c.Row
		}
	}
}

type fixture struct {
	t    *testing.T
	dir  string
	conf Config
	lake *Lake
	src  *schema.Table
	cfg  lake.TableConfig
	want model
	next int64 // next offset
}

func newFixture(t *testing.T, partition string) *fixture {
	return newStorageFixture(t, partition, "local")
}

// newStorageFixture returns a fixture on a local warehouse, or on an
// in-process S3 server (gofakes3) with the SQLite catalog in a local file.
func newStorageFixture(t *testing.T, partition, storage string) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), src: ordersTable(1), want: model{}}
	f.cfg = lake.TableConfig{Namespace: "shop", Name: "orders", PartitionColumn: partition}
	f.conf = Config{Warehouse: f.dir}
	if storage == "s3" {
		f.conf = Config{
			Warehouse: "s3://lake/warehouse", CatalogURI: "sqlite:" + f.dir + "/catalog.db",
			S3: S3Config{Endpoint: fakeS3(t), Region: "us-east-1", PathStyle: true, AccessKeyID: "key", SecretAccessKey: "secret"},
		}
	}
	f.lake = New(f.conf)
	t.Cleanup(func() { f.lake.Close() })
	return f
}

func (f *fixture) open() lake.Table {
	f.t.Helper()
	tbl, err := f.lake.Open(context.Background(), f.src, f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return tbl
}

func (f *fixture) batch(changes ...lake.Change) *lake.Batch {
	f.next += int64(len(changes))
	return &lake.Batch{Table: f.src, Changes: changes, Checkpoint: lake.Checkpoint{Topic: "t", Offsets: map[int32]int64{0: f.next}}}
}

func (f *fixture) apply(tbl lake.Table, b *lake.Batch) lake.Stats {
	f.t.Helper()
	st, err := tbl.Apply(context.Background(), b)
	if err != nil {
		f.t.Fatal(err)
	}
	f.want.apply(b)
	return st
}

// check reads the table back and compares it with the model.
func (f *fixture) check() {
	f.t.Helper()
	rows, err := f.lake.ReadTable(context.Background(), f.cfg.Namespace, f.cfg.Name, f.src)
	if err != nil {
		f.t.Fatal(err)
	}
	got := model{}
	for _, r := range rows {
		img := make([]any, len(f.src.Columns))
		for i, c := range f.src.Columns {
			img[i] = r[c.Name]
		}
		k, err := lake.KeyOf(f.src, img)
		if err != nil {
			f.t.Fatal(err)
		}
		if _, dup := got[k]; dup {
			f.t.Errorf("key %s is live twice", k)
		}
		got[k] = img
	}
	for _, k := range slices.Sorted(maps.Keys(f.want)) {
		if !reflect.DeepEqual(got[k], f.want[k]) {
			f.t.Errorf("key %s: lake %v, want %v", k, got[k], f.want[k])
		}
	}
	for k := range got {
		if _, ok := f.want[k]; !ok {
			f.t.Errorf("key %s: in the lake, not expected: %v", k, got[k])
		}
	}
}

func row(id int64, customer string, amount any, created int64, note any) []any {
	return []any{id, customer, amount, created, note}
}

// TestApplyUpsertsAndDeletes applies inserts, updates, a partition move, a
// key change and deletes as separate commits, reopens the table and goes
// on; every read must show exactly one live row per key.
func TestApplyUpsertsAndDeletes(t *testing.T) {
	for _, c := range []struct{ partition, storage string }{{"", "local"}, {"created", "local"}, {"created", "s3"}} {
		t.Run(c.storage+"/partition="+c.partition, func(t *testing.T) {
			f := newStorageFixture(t, c.partition, c.storage)
			s := f.src
			tbl := f.open()
			var batch []lake.Change
			for i := range int64(50) {
				batch = append(batch, upsert(s, row(i, fmt.Sprint("c", i), fmt.Sprintf("%d.%02d", i, i), i%3*day+i, nil)))
			}
			st := f.apply(tbl, f.batch(batch...))
			if st.Rows != 50 || st.Deletes != 0 || st.SnapshotID == 0 {
				t.Errorf("first batch stats %+v", st)
			}
			f.check()

			// Updates in place, a move to another day, deletes, and a
			// key change published as delete + create.
			st = f.apply(tbl, f.batch(
				upsert(s, row(1, "c1", "99.99", 1, "updated")),
				upsert(s, row(2, "c2", nil, 10*day, "moved")),
				del(s, 3), del(s, 1000),
				del(s, 4), upsert(s, row(4000, "c4", "4.04", 4, "new key")),
			))
			if st.Deletes != 4 || st.Rows != 3 {
				t.Errorf("second batch stats %+v, want 4 deletes and 3 rows", st)
			}
			f.check()
			tbl.Close()

			// A new process: the checkpoint and index come from the table.
			f.lake.Close()
			f.lake = New(f.conf)
			tbl = f.open()
			if cp := tbl.Checkpoint(); cp.Topic != "t" || cp.Offsets[0] != f.next {
				t.Errorf("checkpoint after reopen %+v, want offset %d", cp, f.next)
			}
			f.apply(tbl, f.batch(upsert(s, row(2, "c2", "2.00", 2, "moved back")), upsert(s, row(1, "c1", "1.00", 1, "again"))))
			f.check()
			f.apply(tbl, f.batch(del(s, 2), upsert(s, row(60, "c60", nil, -day-1, nil))))
			f.check()

			// Truncate, then rows after it in the same batch.
			b := f.batch(upsert(s, row(7, "c7", nil, 7, "after truncate")))
			b.Truncate = true
			f.apply(tbl, b)
			f.check()
			if len(f.want) != 1 {
				t.Errorf("after truncate the model has %d rows", len(f.want))
			}
		})
	}
}

// TestApplyConflict opens a table twice; a commit through the second
// handle after one through the first is a conflict, and the table keeps
// the first commit only.
func TestApplyConflict(t *testing.T) {
	f := newFixture(t, "")
	s := f.src
	a, b := f.open(), f.open()
	f.apply(a, f.batch(upsert(s, row(1, "a", nil, 0, nil))))
	_, err := b.Apply(context.Background(), f.batch(upsert(s, row(1, "b", nil, 0, nil))))
	if !errors.Is(err, lake.ErrConflict) {
		t.Fatalf("second writer: got %v, want ErrConflict", err)
	}
	if _, err := b.Apply(context.Background(), f.batch()); err == nil {
		t.Error("a table that failed a commit accepted another batch")
	}
	f.check()
	c := f.open()
	if cp := c.Checkpoint(); cp.Offsets[0] != 1 {
		t.Errorf("checkpoint %+v, want the first writer's offset 1", cp)
	}
}

// TestApplyUnchangedColumns fills TOAST columns from the live lake row.
func TestApplyUnchangedColumns(t *testing.T) {
	f := newFixture(t, "created")
	s := f.src
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(s, row(1, "c1", "1.00", 1, "big toasted text"))))
	ch := upsert(s, row(1, "c1", "2.00", 1, nil))
	ch.Unchanged = []bool{false, false, false, false, true}
	if _, err := tbl.Apply(context.Background(), f.batch(ch)); err != nil {
		t.Fatal(err)
	}
	f.want[ch.Key] = row(1, "c1", "2.00", 1, "big toasted text")
	f.check()

	// A key change published as a delete and a create at one source
	// position: the create's unchanged column comes from the deleted row,
	// in the same batch and in the batch after the delete's.
	keyChange := func(from, to int64, pos string, sameBatch bool) {
		d := del(s, from)
		d.Meta.Position = pos
		c := upsert(s, row(to, "moved", "3.00", 1, nil))
		c.Meta = lake.RowMeta{Op: schema.OpCreate, Position: pos}
		c.Unchanged = []bool{false, false, false, false, true}
		if sameBatch {
			if _, err := tbl.Apply(context.Background(), f.batch(c, d)); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, b := range []*lake.Batch{f.batch(d), f.batch(c)} {
				if _, err := tbl.Apply(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
		}
		delete(f.want, d.Key)
		f.want[c.Key] = row(to, "moved", "3.00", 1, "big toasted text")
		f.check()
	}
	keyChange(1, 2, "16/B374D848#0", true)
	keyChange(2, 3, "16/B374D900#4", false)
}

// TestApplySchemaEvolution adds a column and drops one in the source.
func TestApplySchemaEvolution(t *testing.T) {
	f := newFixture(t, "")
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(f.src, row(1, "c1", "1.00", 1, "n"))))
	v2 := ordersTable(2)
	v2.Columns = append(v2.Columns[:4:4], schema.Column{Name: "tag", Type: schema.Type{Kind: schema.KindString}, Nullable: true})
	f.src = v2
	f.want = model{}
	k, _ := lake.KeyOf(v2, []any{int64(2), "c2", nil, int64(2), "t"})
	f.apply(tbl, f.batch(lake.Change{Key: k, Row: []any{int64(2), "c2", nil, int64(2), "t"}, Meta: lake.RowMeta{Op: schema.OpCreate}}))
	f.want[`1`] = []any{int64(1), "c1", "1.00", int64(1), nil}
	f.check()
}

// fakeS3 starts an in-process S3 server with a bucket named "lake" and
// returns its endpoint.
func fakeS3(t *testing.T) string {
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestApplyRename renames a column by its aliases: old rows keep their
// values under the new name, and a column added under the old name in the
// same version (a compactor that missed the version in between) is a new
// column, empty in old rows.
func TestApplyRename(t *testing.T) {
	f := newFixture(t, "")
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(f.src, row(1, "c1", "1.00", 1, "old note")), upsert(f.src, row(2, "c2", nil, 2, nil))))
	v2 := ordersTable(2)
	v2.Columns[4].Name, v2.Columns[4].Aliases = "remark", []string{"note"}
	v2.Columns = append(v2.Columns, schema.Column{Name: "note", Type: schema.Type{Kind: schema.KindInt32}, Nullable: true})
	if err := v2.Prepare(); err != nil {
		t.Fatal(err)
	}
	f.src = v2
	r3 := []any{int64(3), "c3", nil, int64(3), "new remark", int64(7)}
	k, _ := lake.KeyOf(v2, r3)
	f.want = model{}
	f.apply(tbl, f.batch(lake.Change{Key: k, Row: r3, Meta: lake.RowMeta{Op: schema.OpCreate}}))
	f.want[del(v2, 1).Key] = []any{int64(1), "c1", "1.00", int64(1), "old note", nil}
	f.want[del(v2, 2).Key] = []any{int64(2), "c2", nil, int64(2), nil, nil}
	f.check()
	// And again after a reopen, with an update of an old row.
	tbl.Close()
	tbl = f.open()
	r1 := []any{int64(1), "c1", "1.00", int64(1), "updated", int64(1)}
	f.apply(tbl, f.batch(lake.Change{Key: del(v2, 1).Key, Row: r1, Meta: lake.RowMeta{Op: schema.OpUpdate}}))
	f.check()

	// A row of the older version after the newer one (another partition
	// of the topic), also after a reopen: its note is the renamed column.
	for range 2 {
		v1 := ordersTable(1)
		f.src = v1
		r4 := row(4, "c4", nil, 4, "from v1")
		f.apply(tbl, f.batch(upsert(v1, r4)))
		f.src = v2
		f.want[del(v2, 4).Key] = []any{int64(4), "c4", nil, int64(4), "from v1", nil}
		f.check()
		tbl.Close()
		tbl = f.open()
	}
	if cols := len(tbl.(*Table).tbl.Schema().Fields()); cols != len(v2.Columns)+len(metaColumns) {
		t.Errorf("lake schema has %d fields, want %d: an older version evolved it back", cols, len(v2.Columns)+len(metaColumns))
	}
}

// TestApplyRetype changes a column's type beyond any Iceberg promotion
// (string -> long): the lake column is replaced, NULL in old rows, the
// new rows carry their values, and rows of the older version that arrive
// later (another partition) leave it NULL. A key column's such change
// stops the table.
func TestApplyRetype(t *testing.T) {
	f := newFixture(t, "")
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(f.src, row(1, "c1", "1.00", 1, "text"))))
	v1 := f.src
	v2 := ordersTable(2)
	v2.Columns[4].Type = schema.Type{Kind: schema.KindInt64}
	f.src = v2
	r2 := []any{int64(2), "c2", nil, int64(2), int64(42)}
	f.apply(tbl, f.batch(lake.Change{Key: del(v2, 2).Key, Row: r2, Meta: lake.RowMeta{Op: schema.OpCreate}}))
	f.want[del(v2, 1).Key] = []any{int64(1), "c1", "1.00", int64(1), nil}
	f.check()
	// An older row: its note cannot go in the new column.
	if _, err := tbl.Apply(context.Background(), &lake.Batch{Table: v1, Changes: []lake.Change{upsert(v1, row(3, "c3", nil, 3, "old text"))},
		Checkpoint: lake.Checkpoint{Topic: "t", Offsets: map[int32]int64{0: 99}}}); err != nil {
		t.Fatal(err)
	}
	f.want[del(v2, 3).Key] = []any{int64(3), "c3", nil, int64(3), nil}
	f.check()

	v3 := ordersTable(3)
	v3.Columns[4].Type = schema.Type{Kind: schema.KindInt64}
	v3.Columns[0].Type = schema.Type{Kind: schema.KindString}
	if err := v3.Prepare(); err != nil {
		t.Fatal(err)
	}
	_, err := tbl.Apply(context.Background(), &lake.Batch{Table: v3, Changes: []lake.Change{{Key: "x", Row: []any{"x", "c", nil, int64(1), nil}}},
		Checkpoint: lake.Checkpoint{Topic: "t", Offsets: map[int32]int64{0: 100}}})
	if !errors.Is(err, lake.ErrIncompatible) {
		t.Errorf("key column retyped: %v, want ErrIncompatible", err)
	}
}

// TestLocationSegment checks that a name's folder needs no escaping in a
// URI and that names do not share one.
func TestLocationSegment(t *testing.T) {
	seen := map[string]string{}
	for name, want := range map[string]string{
		"orders": "orders", "Order_Items-2": "Order_Items-2", "v1.2": "v1.2", "名前": "名前",
		"Odd Table": "Odd~20Table", "a~20b": "a~7e20b", "a/b": "a~2fb", "100%": "100~25",
		"..": "~2e~2e", ".": "~2e", "a?b#c": "a~3fb~23c", "": "",
	} {
		got := locationSegment(name)
		if got != want {
			t.Errorf("locationSegment(%q) = %q, want %q", name, got, want)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q share the folder %q", name, other, got)
		}
		seen[got] = name
		if u, err := url.Parse("s3://bucket/" + got); err != nil || u.Path != "/"+got || u.EscapedPath() != "/"+got && !strings.ContainsFunc(got, func(r rune) bool { return r >= 0x80 }) {
			t.Errorf("folder %q of %q does not stand for itself in a URI", got, name)
		}
	}
}

// TestDataFileColumnNames checks that a table whose columns are no Avro
// names (a space, a backtick, a leading digit, non-ASCII) gets data files
// whose columns carry the names Java Iceberg's writers give them, with the
// table's field ids, and in a folder that needs no escaping; and that the
// table reads back, through its field ids, as written.
func TestDataFileColumnNames(t *testing.T) {
	f := newFixture(t, "")
	src := &schema.Table{
		ID: schema.TableID{Database: "shop", Name: "Odd Table"}, Version: 1,
		Columns: []schema.Column{
			{Name: "id", Type: schema.Type{Kind: schema.KindInt64}},
			{Name: "new col", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
			{Name: "a`b", Type: schema.Type{Kind: schema.KindInt32}, Nullable: true},
			{Name: "1st", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
			{Name: "名前", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
		},
		Key: []string{"id"},
	}
	if err := src.Prepare(); err != nil {
		t.Fatal(err)
	}
	f.src, f.cfg.Name = src, "Odd Table"
	tbl := f.open()
	row := []any{int64(1), "space", int64(7), "digit", "unicode"}
	k, err := lake.KeyOf(src, row)
	if err != nil {
		t.Fatal(err)
	}
	f.apply(tbl, f.batch(lake.Change{Key: k, Row: row, Meta: lake.RowMeta{Op: schema.OpCreate, CommitTime: time.UnixMilli(1700000000000), Position: "0-1-1#0"}}))

	var files []string
	if err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			files = append(files, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !strings.Contains(files[0], "/shop/Odd~20Table/data/") {
		t.Fatalf("data files %v, want one under shop/Odd~20Table/data", files)
	}
	r, err := file.OpenParquetFile(files[0], false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for i := range r.MetaData().Schema.NumColumns() {
		c := r.MetaData().Schema.Column(i)
		got = append(got, fmt.Sprintf("%s=%d", c.Name(), c.SchemaNode().FieldID()))
	}
	want := []string{"id=1", "new_x20col=2", "a_x60b=3", "_1st=4", "名前=5"}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("data file columns %v, want %v first", got, want)
	}
	rows, err := f.lake.ReadTable(context.Background(), "shop", "Odd Table", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["new col"] != "space" || fmt.Sprint(rows[0]["a`b"]) != "7" || rows[0]["1st"] != "digit" || rows[0]["名前"] != "unicode" {
		t.Errorf("read back %v", rows)
	}
}
