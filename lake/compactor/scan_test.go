package compactor

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/box"
	"github.com/tributary-dev/tributary/schema"
)

// TestScanEnvelope decodes envelopes of every kind with the fast scanner
// and with schema.DecodeEnvelope; both must agree.
func TestScanEnvelope(t *testing.T) {
	tbl := &schema.Table{ID: schema.TableID{Database: "d\"b", Name: "t"}, Version: 3, Key: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindInt64}},
		{Name: "s", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
		{Name: "d", Type: schema.Type{Kind: schema.KindDecimal, Precision: 10, Scale: 2}, Nullable: true},
		{Name: "b", Type: schema.Type{Kind: schema.KindBytes}, Nullable: true},
		{Name: "f", Type: schema.Type{Kind: schema.KindFloat64}, Nullable: true},
		{Name: "ts", Type: schema.Type{Kind: schema.KindTimestampTZ}, Nullable: true},
		{Name: "a", Type: schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindInt32}}, Nullable: true},
		{Name: "m", Type: schema.Type{Kind: schema.KindMap}, Nullable: true},
		{Name: "iv", Type: schema.Type{Kind: schema.KindInterval}, Nullable: true},
		{Name: "weird \"name\"", Type: schema.Type{Kind: schema.KindBool}, Nullable: true},
		{Name: "day", Type: schema.Type{Kind: schema.KindDate}, Nullable: true},
		{Name: "at", Type: schema.Type{Kind: schema.KindTimestamp}, Nullable: true},
	}}
	if err := tbl.Prepare(); err != nil {
		t.Fatal(err)
	}
	full := []any{int64(-7), "tab\t \"quote\" é 🚀 \\ \u2028", "-12.50", []byte{0, 1, 255}, 1.5e300, int64(1700000000123456),
		[]any{int64(1), nil, []any{int64(2)}}, map[string]any{"k": "v", "n": nil}, schema.Interval{Months: 14, Days: -3, Micros: 4_500_000}, true, int32(-719162), int64(-62135596800000000)}
	nulls := []any{int64(8), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
	src := schema.Source{Connector: "postgresql", Name: "n", LSN: 0x16B374D848, TxID: "77", Row: 3, CommitTime: time.UnixMilli(1700000000000)}
	mysql := schema.Source{Connector: "mysql", Name: "n", GTID: "0-1-9", File: "bin.01", Pos: 4, Row: 1}
	events := []*schema.Event{
		{Table: tbl, Op: schema.OpCreate, After: full, Source: src},
		{Table: tbl, Op: schema.OpUpdate, Before: nulls, After: full, Unchanged: []bool{false, true, false, false, false, false, false, false, false, false, false, false}, Source: src},
		{Table: tbl, Op: schema.OpDelete, Before: full, Source: mysql},
		{Table: tbl, Op: schema.OpRead, After: nulls, Source: schema.Source{Connector: "mysql", File: "bin.02", Pos: 99, Snapshot: true}},
		{Table: tbl, Op: schema.OpTruncate, Source: mysql},
	}
	names := columnIndex{}.of(tbl)
	for _, e := range events {
		raw, err := schema.AppendEnvelope(nil, e, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		want, err := schema.DecodeEnvelope(raw, func(schema.TableID, int) (*schema.Table, error) { return tbl, nil })
		if err != nil {
			t.Fatal(err)
		}
		env, err := scanEnvelope(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		slow, err := decodeEnvelope(raw)
		if err != nil || !reflect.DeepEqual(env, slow) {
			t.Errorf("%c: scanned %+v, encoding/json %+v (%v)", e.Op, env, slow, err)
		}
		got := &schema.Envelope{}
		if err := env.images(tbl, names, got); err != nil {
			t.Fatalf("%c: %v", e.Op, err)
		}
		if !reflect.DeepEqual(got.Before, want.Before) || !reflect.DeepEqual(got.After, want.After) || !reflect.DeepEqual(got.Unchanged, want.Unchanged) {
			t.Errorf("%c:\n got %#v %#v\nwant %#v %#v", e.Op, got.Before, got.After, want.Before, want.After)
		}
		if env.tableID() != tbl.ID || env.Source.Version != 3 || env.op() != e.Op {
			t.Errorf("%c: header %+v", e.Op, env.Source)
		}
		if m, sm := env.meta(new(box.Boxer)), slow.meta(new(box.Boxer)); m != sm {
			t.Errorf("%c: meta %+v, encoding/json %+v", e.Op, m, sm)
		}
	}
	// The position metadata column of each source.
	for _, c := range []struct {
		src  schema.Source
		want string
	}{
		{src, "16/B374D848#3"},
		{mysql, "0-1-9#1"},
		{schema.Source{Connector: "mysql", File: "bin.02", Pos: 99, Row: 7}, "bin.02:99#7"},
	} {
		raw, err := schema.AppendEnvelope(nil, &schema.Event{Table: tbl, Op: schema.OpCreate, After: nulls, Source: c.src}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var es envelopeScanner
		es.scan([]byte(`{"op":"c","source":{"db":"x","gtid":"0-1-1","row":0}}`)) // a previous envelope
		env, err := es.scan(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := env.meta(new(box.Boxer)).Position; got != c.want {
			t.Errorf("position %q, want %q", got, c.want)
		}
		if env.Source.DB != tbl.ID.Database {
			t.Errorf("db %q after another envelope", env.Source.DB)
		}
	}
	var es envelopeScanner
	for _, v := range []string{`{"op":"c","source":{"pos":"x"}}`, `{"op":"c","source":{"row":1x}}`, `{"op":"c","source":{"row":-}}`} {
		if _, err := es.scan([]byte(v)); err == nil {
			t.Errorf("scan(%s) accepted it", v)
		}
	}
	for _, bad := range []string{``, `{`, `{"op":"c"`, `[1]`, `{"op":"cc","source":{}}`, `{"op":1}`} {
		if _, err := scanEnvelope([]byte(bad)); err == nil {
			t.Errorf("scanEnvelope(%q) accepted it", bad)
		}
	}
	if _, err := scanImage([]byte(`{"nope":1}`), tbl, names); err == nil {
		t.Error("an unknown column was accepted")
	}
	for _, bad := range []string{`{"id":"x"}`, `{"id":1.5}`, `{"id":99999999999999999999}`, `{"id":1,"day":4294967296}`, `{"id":1,"at":true}`} {
		if _, err := scanImage([]byte(bad), tbl, names); err == nil {
			t.Errorf("scanImage(%s) accepted it", bad)
		}
	}
	if img, err := scanImage([]byte(`{"day":3,"id":2,"at":null}`), tbl, names); err != nil || img[0] != int64(2) || img[10] != int32(3) || img[11] != nil {
		t.Errorf("columns out of order: %#v, %v", img, err)
	}
}

// TestScanEnvelopeSequence scans envelopes one after another with one
// scanner, in every order, so that each starts from what the scanner
// remembers of the one before (the source memo): every envelope must
// decode as encoding/json decodes it.
func TestScanEnvelopeSequence(t *testing.T) {
	tbl := itemsTable("items", 1)
	my := schema.Source{Connector: "mysql", Name: "src", ServerID: 1, GTID: "0-1-9", File: "bin.000001", Pos: 4, Row: 1, CommitTime: time.UnixMilli(1700000000000)}
	pg := schema.Source{Connector: "postgresql", Name: "src", LSN: 0x16B374D848, TxID: "77", Row: 3, CommitTime: time.UnixMilli(1700000000000)}
	var values [][]byte
	add := func(src schema.Source, unchanged []bool) {
		e := &schema.Event{Table: tbl, Op: schema.OpCreate, After: rowOf(1, "a"), Unchanged: unchanged, Source: src}
		raw, err := schema.AppendEnvelope(nil, e, time.UnixMilli(1700000000001))
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, raw)
	}
	for _, src := range []schema.Source{my, pg} {
		add(src, nil)
		add(src, []bool{false, true, false})
		for _, change := range []func(*schema.Source){
			func(s *schema.Source) { s.Row++ },
			func(s *schema.Source) { s.Row = 10 },
			func(s *schema.Source) { s.GTID = "0-1-10" },
			func(s *schema.Source) { s.GTID = "" },
			func(s *schema.Source) { s.Pos = 40 },
			func(s *schema.Source) { s.LSN++ },
			func(s *schema.Source) { s.LSN *= 10 },
			func(s *schema.Source) { s.CommitTime = s.CommitTime.Add(time.Millisecond) },
			func(s *schema.Source) { s.CommitTime = s.CommitTime.Add(10 * time.Hour) },
			func(s *schema.Source) { s.File = "bin.000002" },
			func(s *schema.Source) { s.Snapshot = true },
			func(s *schema.Source) { s.TxID = "777" },
		} {
			c := src
			change(&c)
			add(c, nil)
		}
	}
	for _, v := range []string{
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","pos":7,"row":1}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","pos":7,"row":1,"pos":null,"row":null}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","pos":70,"row":null}}`,
		`{"op":"c","source":{"version":"x","ts_ms":50,"db":"shop","gtid":"","file":""}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"sh\u006fp","gtid":"a\u0062","row":2}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5 ,"db":"shop","gtid":"ab","row":2}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","gtid":"ab","unchanged":["v"],"row":2}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","gtid":"ab","unknown":1,"row":2}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","gtid":"ab","row":2},"source":{"row":3}}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","gtid":"ab","row":2}`,
		`{"op":"c","source":{"version":"x","ts_ms":5,"db":"shop","gtid":"ab","row":2x}}`,
		`{"op":"c","source":{}}`, `{"op":"c","source":{"version":"x"}}`,
	} {
		values = append(values, []byte(v))
	}
	var es envelopeScanner
	for _, a := range values {
		for _, b := range values {
			checkAfter(t, &es, a, b)
			checkAfter(t, &es, b, b)
		}
	}
}

// benchEnvelopes returns n envelopes like the compactor benchmarks'.
func benchEnvelopes(b *testing.B, n int) ([][]byte, *schema.Table) {
	tbl := itemsTable("items", 1)
	var enc schema.Encoder
	out := make([][]byte, n)
	for i := range out {
		e := &schema.Event{Table: tbl, Op: schema.OpCreate, After: rowOf(int64(i), "a reasonably long string value"),
			Source: schema.Source{Connector: "mysql", Name: "src", GTID: fmt.Sprintf("0-1-%d", i+1), CommitTime: time.UnixMilli(1700000000000)}}
		raw, err := enc.AppendEnvelope(nil, e, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		out[i] = raw
	}
	return out, tbl
}

// BenchmarkScanEnvelope decodes an envelope, its images and its metadata
// columns, as the compactor does for each record.
func BenchmarkScanEnvelope(b *testing.B) {
	values, tbl := benchEnvelopes(b, 1024)
	codec := columnIndex{}.of(tbl)
	var es envelopeScanner
	var out schema.Envelope
	var bytes int64
	for _, v := range values {
		bytes += int64(len(v))
	}
	b.SetBytes(bytes / int64(len(values)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		env, err := es.scan(values[i%len(values)])
		if err != nil {
			b.Fatal(err)
		}
		if err := env.images(tbl, codec, &out); err != nil {
			b.Fatal(err)
		}
		_ = env.meta(&codec.box)
	}
}
