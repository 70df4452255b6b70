package schema

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestValueRoundTrip pins the JSON form of every kind and checks that
// DecodeValue gives back exactly the value AppendValue wrote.
func TestValueRoundTrip(t *testing.T) {
	tests := []struct {
		kind Kind
		v    any
		json string
	}{
		{KindBool, true, `true`},
		{KindInt8, int64(-128), `-128`},
		{KindInt64, int64(math.MinInt64), `-9223372036854775808`},
		{KindUint64, uint64(math.MaxUint64), `18446744073709551615`},
		{KindFloat32, float32(3.1415927), `3.1415927`},
		{KindFloat32, float32(math.Inf(-1)), `"-Infinity"`},
		{KindFloat64, sum(0.1, 0.2), `0.30000000000000004`},
		{KindFloat64, 2.2250738585072014e-308, `2.2250738585072014e-308`},
		{KindFloat64, math.Inf(1), `"Infinity"`},
		{KindDecimal, "-12345678901234567890123456789012345.123456789012345678901234567890", `"-12345678901234567890123456789012345.123456789012345678901234567890"`},
		{KindString, "tab\t\"q\" \\ \u2028 日本 🚀 \x01", `"tab\t\"q\" \\ \u2028 日本 🚀 \u0001"`},
		{KindBytes, []byte{0, 1, 0xff}, `"AAH/"`},
		{KindJSON, `{"a":[1,2.50]}`, `"{\"a\":[1,2.50]}"`},
		{KindEnum, "paid", `"paid"`},
		{KindSet, "a,c", `"a,c"`},
		{KindBit, uint64(0xffffffffffffffff), `18446744073709551615`},
		{KindDate, int32(-719528), `-719528`},
		{KindTime, int64(-3020399000000), `-3020399000000`},
		{KindTimestamp, int64(1700000000123456), `1700000000123456`},
		{KindTimestampTZ, int64(1700000000123456), `"2023-11-14T22:13:20.123456Z"`},
		{KindTimestampTZ, int64(-1), `"1969-12-31T23:59:59.999999Z"`},
		{KindUUID, "0e9f2a5c-0000-4000-8000-000000000001", `"0e9f2a5c-0000-4000-8000-000000000001"`},
		{KindGeometry, []byte{1, 1, 0, 0, 0}, `"AQEAAAA="`},
		{KindString, nil, `null`},
	}
	for _, tt := range tests {
		b, err := AppendValue(nil, tt.kind, tt.v)
		if err != nil {
			t.Errorf("AppendValue(%s, %v): %v", tt.kind, tt.v, err)
			continue
		}
		if string(b) != tt.json {
			t.Errorf("AppendValue(%s, %v) = %s, want %s", tt.kind, tt.v, b, tt.json)
		}
		if !json.Valid(b) {
			t.Errorf("AppendValue(%s, %v) = %s is not valid JSON", tt.kind, tt.v, b)
		}
		got, err := DecodeValue(tt.kind, b)
		if err != nil {
			t.Errorf("DecodeValue(%s, %s): %v", tt.kind, b, err)
			continue
		}
		if f, ok := tt.v.(float64); ok && math.IsNaN(f) {
			continue
		}
		if !reflect.DeepEqual(got, tt.v) {
			t.Errorf("DecodeValue(%s, %s) = %#v, want %#v", tt.kind, b, got, tt.v)
		}
	}
}

func TestAppendValueRejectsWrongGoType(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		v    any
	}{{KindInt64, 1}, {KindDate, int64(1)}, {KindString, []byte("x")}, {KindBytes, "x"}, {"nope", 1}} {
		if _, err := AppendValue(nil, tt.kind, tt.v); err == nil {
			t.Errorf("AppendValue(%s, %T) did not fail", tt.kind, tt.v)
		}
	}
}

func TestInvalidUTF8BecomesReplacement(t *testing.T) {
	b := appendString(nil, "a\xffb")
	if string(b) != `"a\ufffdb"` {
		t.Errorf("got %s", b)
	}
}

func testTable() *Table {
	t := &Table{ID: TableID{"shop", "orders"}, Version: 3, Key: []string{"id", "line"}, Columns: []Column{
		{Name: "id", Type: Type{Kind: KindInt64}},
		{Name: "note", Type: Type{Kind: KindString}, Nullable: true},
		{Name: "line", Type: Type{Kind: KindInt32}},
		{Name: "at", Type: Type{Kind: KindTimestampTZ, Precision: 6}},
	}}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}

// TestEnvelopeRoundTrip encodes events of every op and decodes them back.
func TestEnvelopeRoundTrip(t *testing.T) {
	tbl := testTable()
	lookup := func(id TableID, v int) (*Table, error) { return tbl, nil }
	commit := time.UnixMilli(1700000000123)
	src := Source{Connector: "mysql", Name: "orders", ServerID: 7, GTID: "0-7-42", TxID: "0-7-42", File: "bin.000001", Pos: 1234, Row: 2, CommitTime: commit}
	before := []any{int64(1), "old", int64(1), int64(1700000000000000)}
	after := []any{int64(1), nil, int64(1), int64(1700000000000001)}
	for _, e := range []Event{
		{Table: tbl, Op: OpCreate, After: after, Source: src},
		{Table: tbl, Op: OpUpdate, Before: before, After: after, Source: src},
		{Table: tbl, Op: OpDelete, Before: before, Source: src},
		{Table: tbl, Op: OpRead, After: after, Source: Source{Connector: "mysql", Name: "orders", Snapshot: true, CommitTime: commit}},
	} {
		b, err := AppendEnvelope(nil, &e, time.UnixMilli(1700000001000))
		if err != nil {
			t.Fatalf("%c: %v", e.Op, err)
		}
		env, err := DecodeEnvelope(b, lookup)
		if err != nil {
			t.Fatalf("%c: decode %s: %v", e.Op, b, err)
		}
		if env.Op != e.Op || !reflect.DeepEqual(env.Before, e.Before) || !reflect.DeepEqual(env.After, e.After) {
			t.Errorf("%c: round trip of %s gave op %c before %v after %v", e.Op, b, env.Op, env.Before, env.After)
		}
		if env.SchemaVersion != 3 || env.Database != "shop" || env.Table != "orders" {
			t.Errorf("%c: source block %v", e.Op, env.Source)
		}
		for _, want := range []string{`"ts_ms":1700000001000`, `"connector":"mysql"`, `"schema_version":3`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%c: %s lacks %s", e.Op, b, want)
			}
		}
		key, err := AppendKey(nil, &e)
		if err != nil || string(key) != `{"id":1,"line":1}` {
			t.Errorf("%c: key %s, %v", e.Op, key, err)
		}
	}
}

// TestUnchangedColumnsAreLeftOut checks the TOAST contract: an unchanged
// column is absent from "after" and named in source.unchanged, never null.
func TestUnchangedColumnsAreLeftOut(t *testing.T) {
	tbl := testTable()
	e := Event{Table: tbl, Op: OpUpdate, Before: []any{int64(1), "x", int64(1), int64(0)}, After: []any{int64(1), nil, int64(2), int64(0)},
		Unchanged: []bool{false, true, false, false}, Source: Source{Connector: "postgresql", LSN: 99, TxID: "7"}}
	b, err := AppendEnvelope(nil, &e, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		After  map[string]any `json:"after"`
		Source map[string]any `json:"source"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.After["note"]; ok {
		t.Errorf("unchanged column written into after: %s", b)
	}
	env, err := DecodeEnvelope(b, func(TableID, int) (*Table, error) { return tbl, nil })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env.Unchanged, []string{"note"}) {
		t.Errorf("unchanged = %v", env.Unchanged)
	}
}

func TestTopicNames(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		id     TableID
		want   string
	}{
		{"orders", TableID{"shop", "items"}, "orders.shop.items"},
		{"orders", TableID{"my db", "täble$1"}, "orders.my_db.t_ble_1"},
	} {
		if got := TopicName(tt.prefix, tt.id); got != tt.want {
			t.Errorf("TopicName(%q, %v) = %q, want %q", tt.prefix, tt.id, got, tt.want)
		}
	}
	if SchemaTopic("o") != "o._schemas" || SchemaKey(TableID{"a", "b"}, 2) != "a.b/2" {
		t.Error("schema topic or key changed")
	}
}

func TestSameShapeIgnoresVersionAndNative(t *testing.T) {
	a, b := testTable(), testTable()
	b.Version = 9
	b.Columns[0].Type.Native = "bigint(20)"
	if !a.SameShape(b) {
		t.Error("version or native spelling changed the shape")
	}
	b.Columns[1].Nullable = false
	if a.SameShape(b) {
		t.Error("nullability did not change the shape")
	}
	if err := (&Table{ID: a.ID, Columns: a.Columns}).Prepare(); err == nil {
		t.Error("a table without a key prepared")
	}
}

// sum adds at run time (constants would fold to exactly 0.3).
func sum(a, b float64) float64 { return a + b }

// TestEncoderMatchesAppendEnvelope checks that the cached source block
// never leaks from one transaction or table into the next.
func TestEncoderMatchesAppendEnvelope(t *testing.T) {
	a, b := testTable(), testTable()
	b.ID.Name, b.Version = "other", 5
	var enc Encoder
	now := time.UnixMilli(1)
	for i, e := range []Event{
		{Table: a, Op: OpCreate, After: []any{int64(1), nil, int64(1), int64(0)}, Source: Source{Connector: "mysql", GTID: "0-1-1", Row: 0}},
		{Table: a, Op: OpCreate, After: []any{int64(2), nil, int64(1), int64(0)}, Source: Source{Connector: "mysql", GTID: "0-1-1", Row: 1}},
		{Table: b, Op: OpCreate, After: []any{int64(2), nil, int64(1), int64(0)}, Source: Source{Connector: "mysql", GTID: "0-1-1", Row: 2}},
		{Table: b, Op: OpCreate, After: []any{int64(3), nil, int64(1), int64(0)}, Source: Source{Connector: "mysql", GTID: "0-1-2", Row: 0}},
		{Table: a, Op: OpRead, After: []any{int64(3), nil, int64(1), int64(0)}, Source: Source{Connector: "mysql", Snapshot: true}},
		{Table: a, Op: OpUpdate, Before: []any{int64(3), nil, int64(1), int64(0)}, After: []any{int64(3), "x\"y", int64(2), int64(0)},
			Source: Source{Connector: "mysql", GTID: "0-1-3", TxID: "0-1-3"}},
		{Table: a, Op: OpDelete, Before: []any{int64(3), "x", int64(2), int64(0)}, Source: Source{Connector: "mysql", GTID: "0-1-3", TxID: "0-1-3", Row: 1}},
		{Table: b, Op: OpCreate, After: []any{int64(4), "z", int64(1), int64(0)}, Source: Source{Connector: "postgresql", LSN: 7, TxID: "77"}},
		{Table: b, Op: OpUpdate, After: []any{int64(4), nil, int64(1), int64(0)}, Unchanged: []bool{false, true, false, false},
			Source: Source{Connector: "postgresql", LSN: 8, TxID: "78"}},
		{Table: b, Op: OpCreate, After: []any{int64(5), "w", int64(1), int64(0)}, Source: Source{Connector: "postgresql", LSN: 9}},
	} {
		got, err1 := enc.AppendEnvelope(nil, &e, now)
		want, err2 := AppendEnvelope(nil, &e, now)
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Errorf("event %d: encoder %s (%v), want %s (%v)", i, got, err1, want, err2)
		}
		got, err1 = enc.AppendKey(nil, &e)
		want, err2 = AppendKey(nil, &e)
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Errorf("event %d: encoder key %s (%v), want %s (%v)", i, got, err1, want, err2)
		}
	}
}

// TestAppendStringMatchesEncodingJSON checks the fast path against
// encoding/json on strings with every byte value in every position.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	check := func(s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Fatalf("appendString(%q) = %s decodes to %q", s, got, back)
		}
	}
	for c := range 256 {
		for pos := range 17 {
			b := []byte(strings.Repeat("abcdefgh", 3))
			b[pos] = byte(c)
			check(string(b))
		}
	}
	check("日本語のテキスト and ascii 🚀 mixed \u2028 \u2029 end")
}
