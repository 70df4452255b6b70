package postgres

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// itValue is an SQL literal stored into a column and the neutral value it
// must read back as.
type itValue struct {
	sql  string
	want any
}

// itColumn is one column of the type table. Row k holds vals[k], or NULL
// past the end; the last row is NULL in every column.
type itColumn struct {
	name, typ string
	want      schema.Type
	vals      []itValue
}

func i64(v int64) any { return v }

// typeColumns hold every mapped type with its edge values.
var typeColumns = []itColumn{
	{"c_int2", "smallint", schema.Type{Kind: schema.KindInt16}, []itValue{{"-32768", i64(-32768)}, {"32767", i64(32767)}}},
	{"c_int4", "integer", schema.Type{Kind: schema.KindInt32}, []itValue{{"-2147483648", i64(math.MinInt32)}, {"2147483647", i64(math.MaxInt32)}}},
	{"c_int8", "bigint", schema.Type{Kind: schema.KindInt64}, []itValue{{"-9223372036854775808", i64(math.MinInt64)}, {"9223372036854775807", i64(math.MaxInt64)}}},
	{"c_num", "numeric(10,2)", schema.Type{Kind: schema.KindDecimal, Precision: 10, Scale: 2}, []itValue{{"-12345678.9", "-12345678.90"}, {"'NaN'", "NaN"}, {"0", "0.00"}}},
	{"c_numu", "numeric", schema.Type{Kind: schema.KindDecimal}, []itValue{
		{"1e40", "10000000000000000000000000000000000000000"}, {"-0.000000000000000000000000000000000000000001", "-0.000000000000000000000000000000000000000001"},
		{"'Infinity'", "Infinity"}, {"'-Infinity'", "-Infinity"}, {"'NaN'", "NaN"}, {"12345678901234567890123456789012345678901234567890.5", "12345678901234567890123456789012345678901234567890.5"}}},
	{"c_real", "real", schema.Type{Kind: schema.KindFloat32}, []itValue{{"1e-06", float32(1e-06)}, {"'NaN'", float32(math.NaN())}, {"'-Infinity'", float32(math.Inf(-1))}, {"3.4028235e38", float32(math.MaxFloat32)}}},
	{"c_dbl", "double precision", schema.Type{Kind: schema.KindFloat64}, []itValue{{"0.1::float8 + 0.2", 0.30000000000000004}, {"'Infinity'", math.Inf(1)}, {"2.2250738585072014e-308", 2.2250738585072014e-308}}},
	{"c_money", "money", schema.Type{Kind: schema.KindDecimal, Precision: 19, Scale: 2}, []itValue{{"-1234567.89", "-1234567.89"}, {"'92233720368547758.07'", "92233720368547758.07"}, {"0", "0.00"}}},
	{"c_bool", "boolean", schema.Type{Kind: schema.KindBool}, []itValue{{"true", true}, {"false", false}}},
	{"c_text", "text", schema.Type{Kind: schema.KindString}, []itValue{{"E'l\\u00ednea\\nnueva \\U0001F680 \"q\\''", "línea\nnueva 🚀 \"q'"}, {"''", ""}}},
	{"c_vc", "varchar(10)", schema.Type{Kind: schema.KindString}, []itValue{{"'日本語'", "日本語"}}},
	{"c_ch", "char(3)", schema.Type{Kind: schema.KindString}, []itValue{{"'x'", "x  "}}},
	{"c_bytea", "bytea", schema.Type{Kind: schema.KindBytes}, []itValue{{`'\x00ff10'`, []byte{0, 0xff, 0x10}}, {"''", []byte{}}}},
	{"c_uuid", "uuid", schema.Type{Kind: schema.KindUUID}, []itValue{{"'0E9F2A5C-0000-4000-8000-000000000001'", "0e9f2a5c-0000-4000-8000-000000000001"}}},
	{"c_json", "json", schema.Type{Kind: schema.KindJSON}, []itValue{{`'{"a": [1, 2.50]}'`, `{"a": [1, 2.50]}`}}},
	{"c_jsonb", "jsonb", schema.Type{Kind: schema.KindJSON}, []itValue{{`'{"b":1, "a":[1,2.50]}'`, `{"a": [1, 2.50], "b": 1}`}}},
	{"c_date", "date", schema.Type{Kind: schema.KindDate}, []itValue{{"'2024-02-29'", days(2024, 2, 29)}, {"'0044-03-15 BC'", days(-43, 3, 15)}, {"'infinity'", int32(math.MaxInt32)}, {"'-infinity'", int32(math.MinInt32)}, {"'10000-01-01'", days(10000, 1, 1)}}},
	{"c_time", "time(3)", schema.Type{Kind: schema.KindTime, Precision: 3}, []itValue{{"'13:14:15.123'", int64(((13*60+14)*60+15)*1_000_000 + 123_000)}, {"'24:00:00'", int64(86_400_000_000)}}},
	{"c_timetz", "timetz", schema.Type{Kind: schema.KindTimeTZ, Precision: 6}, []itValue{{"'12:34:56.789+05:30'", "12:34:56.789+05:30"}, {"'00:00:00-12:15:30'", "00:00:00-12:15:30"}, {"'01:00:00+00'", "01:00:00+00:00"}}},
	{"c_ts", "timestamp", schema.Type{Kind: schema.KindTimestamp, Precision: 6}, []itValue{{"'2024-01-31 12:00:00.5'", micros(2024, 1, 31, 12, 0, 0, 500000)},
		{"'0044-03-15 12:00:00 BC'", micros(-43, 3, 15, 12, 0, 0, 0)}, {"'infinity'", int64(math.MaxInt64)}, {"'-infinity'", int64(math.MinInt64)}, {"'294246-12-31 23:59:59.999999'", micros(294246, 12, 31, 23, 59, 59, 999999)}}},
	{"c_tstz", "timestamptz(3)", schema.Type{Kind: schema.KindTimestampTZ, Precision: 3}, []itValue{{"'2024-01-01 14:30:00.123+05:30'", micros(2024, 1, 1, 9, 0, 0, 123000)}, {"'infinity'", int64(math.MaxInt64)}}},
	{"c_iv", "interval", schema.Type{Kind: schema.KindInterval}, []itValue{{"'1 year 2 months -3 days 04:05:06.789'", schema.Interval{Months: 14, Days: -3, Micros: 14706789000}}, {"'-1.5 seconds'", schema.Interval{Micros: -1500000}}, {"'0'", schema.Interval{}}}},
	{"c_inet", "inet", schema.Type{Kind: schema.KindInet}, []itValue{{"'192.168.1.5/24'", "192.168.1.5/24"}, {"'::1'", "::1"}}},
	{"c_cidr", "cidr", schema.Type{Kind: schema.KindInet}, []itValue{{"'10.0.0.0/8'", "10.0.0.0/8"}}},
	{"c_mac", "macaddr", schema.Type{Kind: schema.KindMACAddr}, []itValue{{"'08:00:2B:01:02:03'", "08:00:2b:01:02:03"}}},
	{"c_mac8", "macaddr8", schema.Type{Kind: schema.KindMACAddr}, []itValue{{"'08:00:2b:01:02:03:04:05'", "08:00:2b:01:02:03:04:05"}}},
	{"c_bit", "bit(4)", schema.Type{Kind: schema.KindBit, Precision: 4}, []itValue{{"B'0101'", uint64(5)}, {"B'1111'", uint64(15)}}},
	{"c_bit70", "bit(70)", schema.Type{Kind: schema.KindVarBit}, []itValue{{"B'1" + strings.Repeat("0", 69) + "'", "1" + strings.Repeat("0", 69)}}},
	{"c_vbit", "varbit(8)", schema.Type{Kind: schema.KindVarBit}, []itValue{{"B'0010'", "0010"}, {"B''", ""}}},
	{"c_enum", "mood", schema.Type{Kind: schema.KindEnum, Values: []string{"sad", "ok", "happy"}}, []itValue{{"'happy'", "happy"}}},
	{"c_dom", "price", schema.Type{Kind: schema.KindDecimal, Precision: 12, Scale: 2}, []itValue{{"12.5", "12.50"}}},
	{"c_arr", "integer[]", schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindInt32}}, []itValue{
		{"'{{1,2},{3,NULL}}'", []any{[]any{int64(1), int64(2)}, []any{int64(3), nil}}}, {"'{}'", []any{}}, {"'[0:1]={7,8}'", []any{int64(7), int64(8)}}}},
	{"c_tarr", "text[]", schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindString}}, []itValue{{`ARRAY['a b', 'c"d', NULL, 'NULL', '', '{x}']`, []any{"a b", `c"d`, nil, "NULL", "", "{x}"}}}},
	{"c_narr", "numeric(5,2)[]", schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindDecimal, Precision: 5, Scale: 2}}, []itValue{{"'{1.5,NaN}'", []any{"1.50", "NaN"}}}},
	{"c_tsarr", "timestamptz[]", schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindTimestampTZ, Precision: 6}}, []itValue{{"ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity']", []any{micros(2024, 1, 1, 0, 0, 0, 0), int64(math.MaxInt64)}}}},
	{"c_earr", "mood[]", schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindEnum, Values: []string{"sad", "ok", "happy"}}}, []itValue{{"'{sad,happy}'", []any{"sad", "happy"}}}},
	{"c_hs", "hstore", schema.Type{Kind: schema.KindMap}, []itValue{{`'a=>1, "b c"=>NULL, "q\""=>"x\\y"'`, map[string]any{"a": "1", "b c": nil, `q"`: `x\y`}}}},
	{"c_point", "point", schema.Type{Kind: schema.KindString}, []itValue{{"'(1,2)'", "(1,2)"}}},
	{"c_comp", "pair", schema.Type{Kind: schema.KindString}, []itValue{{"ROW(1, 'a b')", `(1,"a b")`}}},
	{"c_range", "int4range", schema.Type{Kind: schema.KindString}, []itValue{{"'[1,5)'", "[1,5)"}}},
	{"c_xml", "xml", schema.Type{Kind: schema.KindString}, []itValue{{"'<a>1</a>'", "<a>1</a>"}}},
}

var typeSetup = []string{
	"CREATE EXTENSION IF NOT EXISTS hstore",
	"CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
	"CREATE DOMAIN price AS numeric(12,2)",
	"CREATE TYPE pair AS (a int, b text)",
	// The database's own time zone must not leak into values.
	"ALTER DATABASE test SET timezone TO 'America/New_York'",
	"ALTER DATABASE test SET intervalstyle TO 'sql_standard'",
	"ALTER DATABASE test SET datestyle TO 'German'",
}

func typeRows() int {
	n := 0
	for _, c := range typeColumns {
		n = max(n, len(c.vals))
	}
	return n + 1
}

// insertTypeRows fills a table with the rows typeColumns describe.
func insertTypeRows(ctx context.Context, t *testing.T, p *harness.Postgres, table string) {
	t.Helper()
	names := []string{"id"}
	for _, c := range typeColumns {
		names = append(names, c.name)
	}
	for k := range typeRows() {
		vals := []string{fmt.Sprint(k)}
		for _, c := range typeColumns {
			if k < len(c.vals) {
				vals = append(vals, c.vals[k].sql)
			} else {
				vals = append(vals, "NULL")
			}
		}
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(names, ", "), strings.Join(vals, ", "))
		if err := p.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTypesEndToEnd stores every mapped type in a real PostgreSQL 15 and
// checks the values the reader publishes, through the snapshot (text
// query results) and through the stream (pgoutput), against the expected
// neutral values and the expected column types.
func TestTypesEndToEnd(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	for _, s := range typeSetup {
		if err := p.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	defs := []string{"id int PRIMARY KEY"}
	for _, c := range typeColumns {
		defs = append(defs, c.name+" "+c.typ)
	}
	for _, table := range []string{"snap_types", "stream_types"} {
		if err := p.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s); ALTER TABLE %s OWNER TO tributary", table, strings.Join(defs, ", "), table)); err != nil {
			t.Fatal(err)
		}
	}
	insertTypeRows(ctx, t, p, "snap_types")
	sink := &memSink{}
	_, stop := runSource(t, testConfig(p, "types"), sink)
	waitFor(t, 30*time.Second, "the snapshot", sink.snapshotsDone)
	insertTypeRows(ctx, t, p, "stream_types")
	want := map[string]schema.Op{"snap_types": schema.OpRead, "stream_types": schema.OpCreate}
	got := map[string]map[int64][]any{}
	var schemas = map[string]*schema.Table{}
	waitFor(t, 30*time.Second, "the streamed rows", func() bool {
		got = map[string]map[int64][]any{}
		for _, e := range sink.committed() {
			if want[e.Table.ID.Name] != e.Op {
				continue
			}
			if got[e.Table.ID.Name] == nil {
				got[e.Table.ID.Name] = map[int64][]any{}
			}
			got[e.Table.ID.Name][e.After[0].(int64)] = e.After
			schemas[e.Table.ID.Name] = e.Table
		}
		return len(got["stream_types"]) == typeRows()
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for table, rows := range got {
		sch := schemas[table]
		for i, c := range typeColumns {
			col := sch.Columns[i+1]
			if col.Name != c.name || !col.Type.Equal(c.want) {
				t.Errorf("%s.%s: type %s, want %s", table, c.name, col.Type, c.want)
			}
			for k := range typeRows() {
				var want any
				if k < len(c.vals) {
					want = c.vals[k].want
				}
				if v := rows[int64(k)][i+1]; !sameValue(v, want) {
					t.Errorf("%s.%s row %d (%s): got %#v, want %#v", table, c.name, k, valueSQL(c, k), v, want)
				}
			}
		}
		if len(rows) != typeRows() {
			t.Errorf("%s: %d rows, want %d", table, len(rows), typeRows())
		}
	}
}

func valueSQL(c itColumn, k int) string {
	if k < len(c.vals) {
		return c.vals[k].sql
	}
	return "NULL"
}

// sameValue is DeepEqual with NaN equal to itself.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float32:
		if y, ok := b.(float32); ok && x != x && y != y {
			return true
		}
	case float64:
		if y, ok := b.(float64); ok && x != x && y != y {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}
