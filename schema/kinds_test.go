package schema

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestPostgresKindsRoundTrip pins the JSON form of the kinds added for
// PostgreSQL and checks that DecodeTypedValue gives back exactly what
// AppendTypedValue wrote.
func TestPostgresKindsRoundTrip(t *testing.T) {
	ints := &Type{Kind: KindInt32}
	texts := &Type{Kind: KindString}
	tests := []struct {
		typ  Type
		v    any
		json string
	}{
		{Type{Kind: KindTimeTZ}, "12:34:56.789+05:30", `"12:34:56.789+05:30"`},
		{Type{Kind: KindTimeTZ}, "00:00:00-12:15:30", `"00:00:00-12:15:30"`},
		{Type{Kind: KindInterval}, Interval{Months: 14, Days: -3, Micros: 14706789000}, `"P1Y2M-3DT4H5M6.789S"`},
		{Type{Kind: KindInterval}, Interval{}, `"PT0S"`},
		{Type{Kind: KindInterval}, Interval{Months: -12}, `"P-1Y"`},
		{Type{Kind: KindInterval}, Interval{Micros: -1500000}, `"PT-1.5S"`},
		{Type{Kind: KindInterval}, Interval{Months: math.MinInt32, Days: math.MaxInt32, Micros: math.MinInt64}, `"P-178956970Y-8M2147483647DT-2562047788H-54.775808S"`},
		{Type{Kind: KindInet}, "192.168.1.0/24", `"192.168.1.0/24"`},
		{Type{Kind: KindInet}, "::1", `"::1"`},
		{Type{Kind: KindMACAddr}, "08:00:2b:01:02:03:04:05", `"08:00:2b:01:02:03:04:05"`},
		{Type{Kind: KindVarBit}, "0010", `"0010"`},
		{Type{Kind: KindVarBit}, "", `""`},
		{Type{Kind: KindArray, Elem: ints}, []any{int64(1), nil, int64(-3)}, `[1,null,-3]`},
		{Type{Kind: KindArray, Elem: ints}, []any{[]any{int64(1), int64(2)}, []any{int64(3), nil}}, `[[1,2],[3,null]]`},
		{Type{Kind: KindArray, Elem: ints}, []any{}, `[]`},
		{Type{Kind: KindArray, Elem: texts}, []any{"a b", `c"d`, nil, "NULL", ""}, `["a b","c\"d",null,"NULL",""]`},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindTimestampTZ}}, []any{int64(0)}, `["1970-01-01T00:00:00Z"]`},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindInterval}}, []any{Interval{Days: 1}}, `["P1D"]`},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindBytes}}, []any{[]byte{0xff}}, `["/w=="]`},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindJSON}}, []any{`[1]`}, `["[1]"]`},
		{Type{Kind: KindMap}, map[string]any{"b c": nil, "a": "1", `q"`: `x\y`}, `{"a":"1","b c":null,"q\"":"x\\y"}`},
		{Type{Kind: KindMap}, map[string]any{}, `{}`},
		// Postgres timestamps beyond the years Go's RFC 3339 parser takes,
		// and the infinities mapped to the int64 limits.
		{Type{Kind: KindTimestampTZ}, int64(math.MaxInt64), `"294247-01-10T04:00:54.775807Z"`},
		{Type{Kind: KindTimestampTZ}, int64(math.MinInt64), `"-290308-12-21T19:59:05.224192Z"`},
		{Type{Kind: KindTimestampTZ}, time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), `"-4712-01-01T00:00:00Z"`},
		{Type{Kind: KindTimestampTZ}, time.Date(10000, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro(), `"10000-12-31T23:59:59.999999Z"`},
		{Type{Kind: KindDecimal}, "NaN", `"NaN"`},
		{Type{Kind: KindDecimal}, "-Infinity", `"-Infinity"`},
		{Type{Kind: KindArray, Elem: ints}, nil, `null`},
	}
	for _, tt := range tests {
		b, err := AppendTypedValue(nil, tt.typ, tt.v)
		if err != nil {
			t.Errorf("AppendTypedValue(%s, %v): %v", tt.typ, tt.v, err)
			continue
		}
		if string(b) != tt.json {
			t.Errorf("AppendTypedValue(%s, %v) = %s, want %s", tt.typ, tt.v, b, tt.json)
		}
		if !json.Valid(b) {
			t.Errorf("%s is not valid JSON", b)
		}
		got, err := DecodeTypedValue(tt.typ, b)
		if err != nil {
			t.Errorf("DecodeTypedValue(%s, %s): %v", tt.typ, b, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.v) {
			t.Errorf("DecodeTypedValue(%s, %s) = %#v, want %#v", tt.typ, b, got, tt.v)
		}
	}
}

// TestPostgresKindsRejectWrongValues checks that each new kind refuses Go
// values of another type, and that arrays need their element type.
func TestPostgresKindsRejectWrongValues(t *testing.T) {
	tests := []struct {
		typ Type
		v   any
	}{
		{Type{Kind: KindTimeTZ}, int64(1)},
		{Type{Kind: KindInterval}, "P1D"},
		{Type{Kind: KindMap}, map[string]string{"a": "b"}},
		{Type{Kind: KindMap}, map[string]any{"a": 1}},
		{Type{Kind: KindArray}, []any{int64(1)}},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindArray, Elem: &Type{Kind: KindInt32}}}, []any{}},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindInt32}}, []int64{1}},
		{Type{Kind: KindArray, Elem: &Type{Kind: KindInt32}}, []any{"x"}},
	}
	for _, tt := range tests {
		if b, err := AppendTypedValue(nil, tt.typ, tt.v); err == nil {
			t.Errorf("AppendTypedValue(%s, %#v) = %s, want an error", tt.typ, tt.v, b)
		}
	}
	if _, err := AppendValue(nil, KindArray, []any{}); err == nil {
		t.Errorf("AppendValue(array) without an element type succeeded")
	}
	if _, err := DecodeValue(KindArray, json.RawMessage(`[]`)); err == nil {
		t.Errorf("DecodeValue(array) without an element type succeeded")
	}
	if _, err := DecodeTypedValue(Type{Kind: KindMap}, json.RawMessage(`{"a":1}`)); err == nil {
		t.Errorf("a map with a number value decoded")
	}
}

// TestParseInterval pins the parser on Postgres's own iso_8601 output and
// on malformed input.
func TestParseInterval(t *testing.T) {
	good := []struct {
		in   string
		want Interval
	}{
		{"PT0S", Interval{}},
		{"P1Y2M-3DT4H5M6.789S", Interval{Months: 14, Days: -3, Micros: 4*3_600_000_000 + 5*60_000_000 + 6_789_000}},
		{"P-1Y-2M", Interval{Months: -14}},
		{"PT-4H-5M-6.000001S", Interval{Micros: -(4*3_600_000_000 + 5*60_000_000 + 6_000_001)}},
		{"P3D", Interval{Days: 3}},
		{"PT0.5S", Interval{Micros: 500_000}},
		{"PT2562047788H54.775807S", Interval{Micros: math.MaxInt64 - 0}},
	}
	for _, tt := range good {
		got, err := ParseInterval(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseInterval(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if tt.in != "PT2562047788H54.775807S" && got.String() != tt.in {
			t.Errorf("ParseInterval(%q).String() = %q", tt.in, got.String())
		}
	}
	for _, in := range []string{"", "P", "1D", "P1", "PT1.5H", "P1D1D", "PT1S2S", "P1X", "PT1.1234567S", "P99999999999Y", "PTT1S", "P-D", "PT9223372036854775807H"} {
		if got, err := ParseInterval(in); err == nil {
			t.Errorf("ParseInterval(%q) = %+v, want an error", in, got)
		}
	}
}

// TestArrayTypeEqual checks that Type.Equal and String look at the element.
func TestArrayTypeEqual(t *testing.T) {
	a := Type{Kind: KindArray, Elem: &Type{Kind: KindDecimal, Precision: 10, Scale: 2}}
	b := Type{Kind: KindArray, Elem: &Type{Kind: KindDecimal, Precision: 10, Scale: 2}}
	c := Type{Kind: KindArray, Elem: &Type{Kind: KindDecimal, Precision: 10, Scale: 3}}
	if !a.Equal(b) || a.Equal(c) || a.Equal(Type{Kind: KindArray}) {
		t.Errorf("Equal ignores the element type")
	}
	if got := a.String(); got != "array<decimal(10,2)>" {
		t.Errorf("String() = %q", got)
	}
	var back Type
	raw, _ := json.Marshal(a)
	if err := json.Unmarshal(raw, &back); err != nil || !back.Equal(a) {
		t.Errorf("JSON round trip of %s gave %s (%v)", raw, back, err)
	}
}

// TestEnvelopeWithPostgresKinds runs an event with every new kind, and an
// unchanged TOAST column, through AppendEnvelope and DecodeEnvelope.
func TestEnvelopeWithPostgresKinds(t *testing.T) {
	tbl := &Table{ID: TableID{Database: "public", Name: "t"}, Version: 3, Key: []string{"id"}, Columns: []Column{
		{Name: "id", Type: Type{Kind: KindInt64}},
		{Name: "tz", Type: Type{Kind: KindTimeTZ}, Nullable: true},
		{Name: "iv", Type: Type{Kind: KindInterval}, Nullable: true},
		{Name: "ip", Type: Type{Kind: KindInet}, Nullable: true},
		{Name: "mac", Type: Type{Kind: KindMACAddr}, Nullable: true},
		{Name: "vb", Type: Type{Kind: KindVarBit}, Nullable: true},
		{Name: "arr", Type: Type{Kind: KindArray, Elem: &Type{Kind: KindString}}, Nullable: true},
		{Name: "h", Type: Type{Kind: KindMap}, Nullable: true},
		{Name: "big", Type: Type{Kind: KindString}, Nullable: true},
	}}
	if err := tbl.Prepare(); err != nil {
		t.Fatal(err)
	}
	after := []any{int64(7), "01:02:03+00:00", Interval{Days: 2}, "10.0.0.1", "08:00:2b:01:02:03", "101",
		[]any{[]any{"a", nil}, []any{"b", "c"}}, map[string]any{"k": "v", "n": nil}, nil}
	e := &Event{Table: tbl, Op: OpUpdate, After: after, Unchanged: []bool{8: true},
		Source: Source{Connector: "postgresql", Name: "pg", LSN: 42, TxID: "9", CommitTime: time.Unix(1, 0)}}
	b, err := AppendEnvelope(nil, e, time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	env, err := DecodeEnvelope(b, func(TableID, int) (*Table, error) { return tbl, nil })
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(env.After, after) {
		t.Errorf("after = %#v, want %#v", env.After, after)
	}
	if !reflect.DeepEqual(env.Unchanged, []string{"big"}) {
		t.Errorf("unchanged = %v, want [big]", env.Unchanged)
	}
}
