package compactor

import (
	"reflect"
	"testing"
	"time"

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
	}}
	if err := tbl.Prepare(); err != nil {
		t.Fatal(err)
	}
	full := []any{int64(-7), "tab\t \"quote\" é 🚀 \\ \u2028", "-12.50", []byte{0, 1, 255}, 1.5e300, int64(1700000000123456),
		[]any{int64(1), nil, []any{int64(2)}}, map[string]any{"k": "v", "n": nil}, schema.Interval{Months: 14, Days: -3, Micros: 4_500_000}, true}
	nulls := []any{int64(8), nil, nil, nil, nil, nil, nil, nil, nil, nil}
	src := schema.Source{Connector: "postgresql", Name: "n", LSN: 0x16B374D848, TxID: "77", Row: 3, CommitTime: time.UnixMilli(1700000000000)}
	mysql := schema.Source{Connector: "mysql", Name: "n", GTID: "0-1-9", File: "bin.01", Pos: 4, Row: 1}
	events := []*schema.Event{
		{Table: tbl, Op: schema.OpCreate, After: full, Source: src},
		{Table: tbl, Op: schema.OpUpdate, Before: nulls, After: full, Unchanged: []bool{false, true, false, false, false, false, false, false, false, false}, Source: src},
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
		got, err := env.images(tbl, names)
		if err != nil {
			t.Fatalf("%c: %v", e.Op, err)
		}
		if !reflect.DeepEqual(got.Before, want.Before) || !reflect.DeepEqual(got.After, want.After) || !reflect.DeepEqual(got.Unchanged, want.Unchanged) {
			t.Errorf("%c:\n got %#v %#v\nwant %#v %#v", e.Op, got.Before, got.After, want.Before, want.After)
		}
		if env.tableID() != tbl.ID || env.Source.Version != 3 || env.op() != e.Op {
			t.Errorf("%c: header %+v", e.Op, env.Source)
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
	if _, err := scanImage([]byte(`{"id":"x"}`), tbl, names); err == nil {
		t.Error("a string for an int64 column was accepted")
	}
}
