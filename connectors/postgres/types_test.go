package postgres

import (
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

// Catalog entries of the non-built-in types the tests use, as pg_type
// describes them (OIDs as a fresh database would give them).
var testCatalog = map[uint32]*pgType{
	1007:  {OID: 1007, Name: "_int4", Type: 'b', Category: 'A', Elem: 23, Delim: ','},
	1231:  {OID: 1231, Name: "_numeric", Type: 'b', Category: 'A', Elem: 1700, Delim: ','},
	1009:  {OID: 1009, Name: "_text", Type: 'b', Category: 'A', Elem: 25, Delim: ','},
	1020:  {OID: 1020, Name: "_box", Type: 'b', Category: 'A', Elem: 603, Delim: ';'},
	1185:  {OID: 1185, Name: "_timestamptz", Type: 'b', Category: 'A', Elem: 1184, Delim: ','},
	16390: {OID: 16390, Name: "mood", Type: 'e', Category: 'E', Labels: []string{"sad", "ok", "happy"}},
	16389: {OID: 16389, Name: "_mood", Type: 'b', Category: 'A', Elem: 16390, Delim: ','},
	16400: {OID: 16400, Name: "price", Type: 'd', Category: 'N', Base: 1700, BaseMod: 12<<16 | 2 + 4},
	16401: {OID: 16401, Name: "posint", Type: 'd', Category: 'N', Base: 23, BaseMod: -1},
	16402: {OID: 16402, Name: "_posint", Type: 'b', Category: 'A', Elem: 16401, Delim: ','},
	16403: {OID: 16403, Name: "ints", Type: 'd', Category: 'A', Base: 1007, BaseMod: -1},
	16410: {OID: 16410, Name: "hstore", Type: 'b', Category: 'U'},
	16420: {OID: 16420, Name: "citext", Type: 'b', Category: 'S'},
	16430: {OID: 16430, Name: "geometry", Type: 'b', Category: 'U'},
	16440: {OID: 16440, Name: "pair", Type: 'c', Category: 'C'},
	3904:  {OID: 3904, Name: "int4range", Type: 'r', Category: 'R'},
	16450: {OID: 16450, Name: "loop", Type: 'd', Base: 16450},
}

func testLookup(oid uint32) (*pgType, error) {
	if t := testCatalog[oid]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("type %d not in the test catalog", oid)
}

// numericMod is the atttypmod of numeric(p,s).
func numericMod(p, s int) int32 { return int32(p<<16|(s&0x7ff)) + 4 }

// The mapping table of docs/types-postgres.md: a column's type OID and
// modifier, and the neutral type it maps to.
var mappingTests = []struct {
	sql    string
	oid    uint32
	typmod int32
	want   schema.Type
}{
	{"smallint", 21, -1, schema.Type{Kind: schema.KindInt16}},
	{"integer", 23, -1, schema.Type{Kind: schema.KindInt32}},
	{"bigint", 20, -1, schema.Type{Kind: schema.KindInt64}},
	{"oid", 26, -1, schema.Type{Kind: schema.KindInt64}},
	{"xid8", 5069, -1, schema.Type{Kind: schema.KindUint64}},
	{"numeric(10,2)", 1700, numericMod(10, 2), schema.Type{Kind: schema.KindDecimal, Precision: 10, Scale: 2}},
	{"numeric(65,30)", 1700, numericMod(65, 30), schema.Type{Kind: schema.KindDecimal, Precision: 65, Scale: 30}},
	{"numeric(1000,0)", 1700, numericMod(1000, 0), schema.Type{Kind: schema.KindDecimal, Precision: 1000}},
	{"numeric", 1700, -1, schema.Type{Kind: schema.KindDecimal}},
	{"numeric(5,-2)", 1700, numericMod(5, -2), schema.Type{Kind: schema.KindDecimal, Precision: 7}},
	{"numeric(3,5)", 1700, numericMod(3, 5), schema.Type{Kind: schema.KindDecimal, Precision: 5, Scale: 5}},
	{"real", 700, -1, schema.Type{Kind: schema.KindFloat32}},
	{"double precision", 701, -1, schema.Type{Kind: schema.KindFloat64}},
	{"money", 790, -1, schema.Type{Kind: schema.KindDecimal, Precision: 19, Scale: 2}},
	{"boolean", 16, -1, schema.Type{Kind: schema.KindBool}},
	{"text", 25, -1, schema.Type{Kind: schema.KindString}},
	{"varchar(10)", 1043, 14, schema.Type{Kind: schema.KindString}},
	{"char(3)", 1042, 7, schema.Type{Kind: schema.KindString}},
	{`"char"`, 18, -1, schema.Type{Kind: schema.KindString}},
	{"name", 19, -1, schema.Type{Kind: schema.KindString}},
	{"bytea", 17, -1, schema.Type{Kind: schema.KindBytes}},
	{"uuid", 2950, -1, schema.Type{Kind: schema.KindUUID}},
	{"json", 114, -1, schema.Type{Kind: schema.KindJSON}},
	{"jsonb", 3802, -1, schema.Type{Kind: schema.KindJSON}},
	{"date", 1082, -1, schema.Type{Kind: schema.KindDate}},
	{"time", 1083, -1, schema.Type{Kind: schema.KindTime, Precision: 6}},
	{"time(3)", 1083, 3, schema.Type{Kind: schema.KindTime, Precision: 3}},
	{"timetz", 1266, -1, schema.Type{Kind: schema.KindTimeTZ, Precision: 6}},
	{"timestamp(0)", 1114, 0, schema.Type{Kind: schema.KindTimestamp}},
	{"timestamp", 1114, -1, schema.Type{Kind: schema.KindTimestamp, Precision: 6}},
	{"timestamptz(2)", 1184, 2, schema.Type{Kind: schema.KindTimestampTZ, Precision: 2}},
	{"interval", 1186, -1, schema.Type{Kind: schema.KindInterval}},
	{"interval day to second(3)", 1186, 0x0c000003, schema.Type{Kind: schema.KindInterval}},
	{"inet", 869, -1, schema.Type{Kind: schema.KindInet}},
	{"cidr", 650, -1, schema.Type{Kind: schema.KindInet}},
	{"macaddr", 829, -1, schema.Type{Kind: schema.KindMACAddr}},
	{"macaddr8", 774, -1, schema.Type{Kind: schema.KindMACAddr}},
	{"bit(1)", 1560, 1, schema.Type{Kind: schema.KindBit, Precision: 1}},
	{"bit(64)", 1560, 64, schema.Type{Kind: schema.KindBit, Precision: 64}},
	{"bit(65)", 1560, 65, schema.Type{Kind: schema.KindVarBit}},
	{"bit varying(5)", 1562, 5, schema.Type{Kind: schema.KindVarBit}},
	{"xml", 142, -1, schema.Type{Kind: schema.KindString}},
	{"point", 600, -1, schema.Type{Kind: schema.KindString}},
	{"polygon", 604, -1, schema.Type{Kind: schema.KindString}},
	{"tsvector", 3614, -1, schema.Type{Kind: schema.KindString}},
	{"pg_lsn", 3220, -1, schema.Type{Kind: schema.KindString}},
	{"mood (enum)", 16390, -1, schema.Type{Kind: schema.KindEnum, Values: []string{"sad", "ok", "happy"}}},
	{"price (domain over numeric(12,2))", 16400, -1, schema.Type{Kind: schema.KindDecimal, Precision: 12, Scale: 2}},
	{"posint (domain over integer)", 16401, -1, schema.Type{Kind: schema.KindInt32}},
	{"integer[]", 1007, -1, schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindInt32}}},
	{"numeric(10,2)[][]", 1231, numericMod(10, 2), schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindDecimal, Precision: 10, Scale: 2}}},
	{"mood[]", 16389, -1, schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindEnum, Values: []string{"sad", "ok", "happy"}}}},
	{"posint[]", 16402, -1, schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindInt32}}},
	{"ints (domain over integer[])", 16403, -1, schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindInt32}}},
	{"box[]", 1020, -1, schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindString}}},
	{"hstore", 16410, -1, schema.Type{Kind: schema.KindMap}},
	{"citext", 16420, -1, schema.Type{Kind: schema.KindString}},
	{"geometry (PostGIS)", 16430, -1, schema.Type{Kind: schema.KindGeometry}},
	{"pair (composite)", 16440, -1, schema.Type{Kind: schema.KindString}},
	{"int4range", 3904, -1, schema.Type{Kind: schema.KindString}},
}

func TestMapType(t *testing.T) {
	for _, tt := range mappingTests {
		got, dec, err := mapType(tt.oid, tt.typmod, testLookup)
		if err != nil {
			t.Errorf("%s: %v", tt.sql, err)
			continue
		}
		if !got.Equal(tt.want) || dec == nil {
			t.Errorf("%s: mapType = %s, want %s", tt.sql, got, tt.want)
		}
	}
	if _, _, err := mapType(16450, -1, testLookup); err == nil {
		t.Errorf("a domain over itself mapped")
	}
	if _, _, err := mapType(99999, -1, testLookup); err == nil {
		t.Errorf("an unknown OID mapped")
	}
}

func days(y, m, d int) int32 {
	return int32(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func micros(y, m, d, hh, mm, ss, us int) int64 {
	return time.Date(y, time.Month(m), d, hh, mm, ss, us*1000, time.UTC).UnixMicro()
}

// decodeTests pin how each type's text, exactly as Postgres writes it with
// the reader's session settings, decodes.
var decodeTests = []struct {
	oid    uint32
	typmod int32
	text   string
	want   any
}{
	{21, -1, "-32768", int64(-32768)},
	{23, -1, "2147483647", int64(2147483647)},
	{20, -1, "-9223372036854775808", int64(math.MinInt64)},
	{20, -1, "9223372036854775807", int64(math.MaxInt64)},
	{5069, -1, "18446744073709551615", uint64(math.MaxUint64)},
	{700, -1, "1e-06", float32(1e-06)},
	{700, -1, "3.4028235e+38", float32(math.MaxFloat32)},
	{700, -1, "-Infinity", float32(math.Inf(-1))},
	{701, -1, "0.30000000000000004", 0.30000000000000004},
	{701, -1, "Infinity", math.Inf(1)},
	{1700, -1, "-12.340", "-12.340"},
	{1700, -1, "NaN", "NaN"},
	{1700, -1, "Infinity", "Infinity"},
	{1700, -1, "10000000000000000000000000000000000000000", "10000000000000000000000000000000000000000"},
	{790, -1, "-$1,234,567.89", "-1234567.89"},
	{790, -1, "$92,233,720,368,547,758.07", "92233720368547758.07"},
	{16, -1, "t", true},
	{16, -1, "f", false},
	{25, -1, "línea\nnueva 🚀", "línea\nnueva 🚀"},
	{1042, 7, "x  ", "x  "},
	{17, -1, `\x00ff10`, []byte{0, 0xff, 0x10}},
	{17, -1, `\x`, []byte{}},
	{2950, -1, "0e9f2a5c-0000-4000-8000-000000000001", "0e9f2a5c-0000-4000-8000-000000000001"},
	{3802, -1, `{"a": [1, 2.50]}`, `{"a": [1, 2.50]}`},
	{1082, -1, "2024-02-29", days(2024, 2, 29)},
	{1082, -1, "1970-01-01", int32(0)},
	{1082, -1, "0001-01-01 BC", days(0, 1, 1)},
	{1082, -1, "4713-11-24 BC", days(-4712, 11, 24)},
	{1082, -1, "10000-01-01", days(10000, 1, 1)},
	{1082, -1, "infinity", int32(math.MaxInt32)},
	{1082, -1, "-infinity", int32(math.MinInt32)},
	{1083, -1, "00:00:00", int64(0)},
	{1083, -1, "13:14:15.000001", int64(((13*60+14)*60+15)*1_000_000 + 1)},
	{1083, -1, "24:00:00", int64(86_400_000_000)},
	{1266, -1, "12:34:56.789+05:30", "12:34:56.789+05:30"},
	{1266, -1, "00:00:00-12:15:30", "00:00:00-12:15:30"},
	{1266, -1, "23:59:59.999999+00", "23:59:59.999999+00:00"},
	{1266, -1, "01:02:03-08", "01:02:03-08:00"},
	{1114, -1, "2024-01-31 12:00:00.5", micros(2024, 1, 31, 12, 0, 0, 500000)},
	{1114, -1, "1969-12-31 23:59:59.999999", int64(-1)},
	{1114, -1, "4713-01-01 00:00:00 BC", micros(-4712, 1, 1, 0, 0, 0, 0)},
	{1114, -1, "294246-12-31 23:59:59", micros(294246, 12, 31, 23, 59, 59, 0)},
	{1114, -1, "infinity", int64(math.MaxInt64)},
	{1114, -1, "-infinity", int64(math.MinInt64)},
	{1184, -1, "2024-01-01 09:00:00.5+00", micros(2024, 1, 1, 9, 0, 0, 500000)},
	{1184, -1, "2024-01-01 14:30:00+05:30", micros(2024, 1, 1, 9, 0, 0, 0)},
	{1184, -1, "1900-01-01 00:00:00-00:17:30", micros(1900, 1, 1, 0, 17, 30, 0)},
	{1184, -1, "0044-03-15 12:00:00+00 BC", micros(-43, 3, 15, 12, 0, 0, 0)},
	{1186, -1, "P1Y2M-3DT4H5M6.789S", schema.Interval{Months: 14, Days: -3, Micros: 14706789000}},
	{1186, -1, "PT0S", schema.Interval{}},
	{869, -1, "::ffff:10.0.0.1/120", "::ffff:10.0.0.1/120"},
	{829, -1, "08:00:2b:01:02:03", "08:00:2b:01:02:03"},
	{1560, 4, "0101", uint64(5)},
	{1560, 64, "1000000000000000000000000000000000000000000000000000000000000001", uint64(1<<63 | 1)},
	{1562, 8, "0010", "0010"},
	{16390, -1, "happy", "happy"},
	{1007, -1, "{{1,2},{3,NULL}}", []any{[]any{int64(1), int64(2)}, []any{int64(3), nil}}},
	{1007, -1, "[0:2]={1,2,3}", []any{int64(1), int64(2), int64(3)}},
	{1007, -1, "{}", []any{}},
	{1009, -1, `{"a b","c\"d",NULL,"NULL","",x,"{}","a,b","\\"}`, []any{"a b", `c"d`, nil, "NULL", "", "x", "{}", "a,b", `\`}},
	{1020, -1, "{(2,2),(0,0);(1,1),(0,0)}", []any{"(2,2),(0,0)", "(1,1),(0,0)"}},
	{1185, -1, `{"2024-01-01 00:00:00+00",infinity}`, []any{micros(2024, 1, 1, 0, 0, 0, 0), int64(math.MaxInt64)}},
	{16389, -1, "{sad,happy}", []any{"sad", "happy"}},
	{16410, -1, `"a"=>"1", "q\""=>"x\\y", "b c"=>NULL`, map[string]any{"a": "1", `q"`: `x\y`, "b c": nil}},
	{16410, -1, ``, map[string]any{}},
	// POINT(1 2) with SRID 4326, little-endian EWKB, and the WKB it becomes.
	{16430, -1, "0101000020E6100000000000000000F03F0000000000000040", mustHex("0101000000000000000000F03F0000000000000040")},
	{16430, -1, "0101000000000000000000F03F0000000000000040", mustHex("0101000000000000000000F03F0000000000000040")},
	{16440, -1, `(1,"a b")`, `(1,"a b")`},
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeTests {
		typ, dec, err := mapType(tt.oid, tt.typmod, testLookup)
		if err != nil {
			t.Fatalf("type %d: %v", tt.oid, err)
		}
		got, err := dec([]byte(tt.text))
		if err != nil {
			t.Errorf("decode %s %q: %v", typ, tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decode %s %q = %#v, want %#v", typ, tt.text, got, tt.want)
			continue
		}
		// Every decoded value must encode as its kind on Kafka.
		if _, err := schema.AppendTypedValue(nil, typ, got); err != nil {
			t.Errorf("encode %s %#v: %v", typ, got, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	bad := []struct {
		oid  uint32
		text string
	}{
		{16, "yes"},
		{23, "12a"},
		{20, "99999999999999999999"},
		{1700, "1e5"},
		{17, "00ff"},
		{1082, "2024-13-01"},
		{1114, "294277-01-01 00:00:00"},
		{1114, "2024-01-01T00:00:00"},
		{1184, "2024-01-01 00:00:00"},
		{1083, "25:00:00"},
		{1186, "1 day"},
		{1560, "012"},
		{16390, "furious"},
		{1007, "{1,2"},
		{1007, "{1,,2}"},
		{1007, `{"1}`},
		{16410, `"a"=>`},
		{16430, "zz"},
	}
	for _, tt := range bad {
		_, dec, err := mapType(tt.oid, -1, testLookup)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := dec([]byte(tt.text)); err == nil {
			t.Errorf("decode type %d %q = %#v, want an error", tt.oid, tt.text, got)
		}
	}
}

func TestDaysFromCivil(t *testing.T) {
	for y := -5000; y <= 5000; y += 7 {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {3, 1}, {12, 31}} {
			want := time.Date(y, time.Month(md[0]), md[1], 0, 0, 0, 0, time.UTC).Unix() / 86400
			if got := daysFromCivil(int64(y), int64(md[0]), int64(md[1])); got != want {
				t.Fatalf("daysFromCivil(%d-%02d-%02d) = %d, want %d", y, md[0], md[1], got, want)
			}
		}
	}
}
