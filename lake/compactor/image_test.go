package compactor

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

// kindsTable has one nullable column of every kind (arrays of several
// element kinds), named c0, c1, ..., and an int64 key.
var kindsTable = func() *schema.Table {
	var types []schema.Type
	for _, k := range []schema.Kind{schema.KindBool, schema.KindInt8, schema.KindInt16, schema.KindInt32, schema.KindInt64,
		schema.KindUint64, schema.KindFloat32, schema.KindFloat64, schema.KindString, schema.KindBytes, schema.KindJSON,
		schema.KindDate, schema.KindTime, schema.KindTimestamp, schema.KindTimestampTZ, schema.KindUUID, schema.KindGeometry,
		schema.KindTimeTZ, schema.KindInterval, schema.KindInet, schema.KindMACAddr, schema.KindVarBit, schema.KindMap} {
		types = append(types, schema.Type{Kind: k})
	}
	ints, texts := schema.Type{Kind: schema.KindInt64}, schema.Type{Kind: schema.KindString}
	types = append(types,
		schema.Type{Kind: schema.KindDecimal, Precision: 10, Scale: 2}, schema.Type{Kind: schema.KindDecimal},
		schema.Type{Kind: schema.KindEnum, Values: []string{"a", "b"}}, schema.Type{Kind: schema.KindSet, Values: []string{"a", "b"}},
		schema.Type{Kind: schema.KindBit, Precision: 1}, schema.Type{Kind: schema.KindBit, Precision: 64},
		schema.Type{Kind: schema.KindArray, Elem: &ints}, schema.Type{Kind: schema.KindArray, Elem: &texts})
	t := &schema.Table{ID: schema.TableID{Database: "db", Name: "kinds"}, Version: 1, Key: []string{"id"},
		Columns: []schema.Column{{Name: "id", Type: ints}}}
	for i, ty := range types {
		t.Columns = append(t.Columns, schema.Column{Name: fmt.Sprintf("c%d", i), Type: ty, Nullable: true})
	}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}()

// kindValues are JSON values to decode as every column of kindsTable:
// the encoder's forms of each kind, and forms it never writes (escapes,
// white space, bad UTF-8, numbers out of range, wrong types).
var kindValues = []string{
	`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `255`, `256`, `-129`, `2147483647`, `2147483648`, `-2147483648`, `-2147483649`,
	`9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `-9223372036854775809`, `18446744073709551615`,
	`18446744073709551616`, `99999999999999999999999`, `1.5`, `-0.0`, `1e3`, `1E-3`, `1e400`, `-1e400`, `1e-400`, `0.1`,
	`3.4028235e38`, `3.5e38`, `5e-324`, `"NaN"`, `"Infinity"`, `"-Infinity"`, `"nan"`, `"N\u0061N"`, `01`, `+1`, `.5`, `-`, `1.`,
	`""`, `"a"`, `"a reasonably long string value"`, `"tab\t \"quote\" é 🚀 \\ \u2028"`, `"\u00e9\ud83d\ude80"`, `"\ud800"`,
	`"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ude80\ud83d"`, "\"\xff\xfe\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", `"\/\b\f\n\r\t"`,
	`"\u0000"`, `"\'"`, `"\x"`, "\"\x01\"", `"-12.50"`, `"12345678901234567890123456789012345678.5"`, `"-0.00"`, `"AAEC"`,
	`"AAEC/w=="`, `"AAE"`, `"A\nAEC"`, `"A\/AA"`, `"!!"`, `"2024-01-02T03:04:05Z"`, `"2024-01-02T03:04:05.123456789Z"`,
	`"2024-01-02T03:04:05+07:00"`, `"294247-01-10T04:00:54.775807Z"`, `"2024-02-30T00:00:00Z"`, `"P1Y2M-3DT4H5M6.789S"`, `"PT0S"`,
	`"12:34:56.789+05:30"`, `"10.0.0.1/8"`, `"aa:bb:cc:dd:ee:ff"`, `"0011"`, `"a,b"`, `"5b0d3a0e-6c53-4d6f-9a3b-2d1c9e8f7a60"`,
	`[]`, `[1,null,[2,3]]`, `["a","b\"c",null]`, `[1,"a"]`, `[[[]]]`, `{}`, `{"k":"v","n":null}`, `{"k":1}`, `[1,]`, `{"k"}`,
	` 1 `, "\t\"a\"\n", ` [ 1 , 2 ] `, ` { "k" : "v" } `, `nul`, `tru`, `true1`, `"unterminated`,
}

// sameValue reports whether two decoded values are identical: same types,
// same floats to the bit (NaN included), same nesting.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// checkImage decodes data with scanImage and with schema.DecodeImage: the
// values must be identical, and both must fail or neither (scanImage
// returns DecodeImage's error, which names the first bad column that
// DecodeImage's map iteration meets, so messages may differ).
func checkImage(t *testing.T, data []byte, tbl *schema.Table, c *tableCodec) {
	t.Helper()
	got, err := scanImage(data, tbl, c)
	want, werr := schema.DecodeImage(data, tbl)
	if (err == nil) != (werr == nil) {
		t.Fatalf("image %s: scanImage error %v, DecodeImage error %v", data, err, werr)
	}
	if !sameValue(got, want) {
		t.Fatalf("image %s:\nscanImage   %#v\nDecodeImage %#v", data, got, want)
	}
}

// TestScanImageKinds decodes every value of kindValues as every kind,
// alone and beside other columns, with scanImage and with
// schema.DecodeImage: both must agree value by value, errors included.
func TestScanImageKinds(t *testing.T) {
	c := columnIndex{}.of(kindsTable)
	for _, col := range kindsTable.Columns {
		for _, v := range kindValues {
			checkImage(t, []byte(`{"`+col.Name+`":`+v+`}`), kindsTable, c)
			checkImage(t, []byte(`{"id":7,"`+col.Name+`":`+v+`,"c8":"after"}`), kindsTable, c)
			checkImage(t, []byte(` { "id" : 7 , "`+col.Name+`" : `+v+` } `), kindsTable, c)
		}
	}
	for _, img := range []string{`null`, ``, `{}`, ` null`, `[]`, `{"id":1,"id":2}`, `{"id":"x","id":2}`, `{"id":1,}`, `{"id":1}x`,
		`{"nope":1}`, `{"i\u0064":1}`, `{"id":1,"nope":"x"}`, `{"c0":1,"nope":2}`, `{"id" 1}`, `{"id":1 "c0":true}`, `{`, `{"id":`} {
		checkImage(t, []byte(img), kindsTable, c)
	}
}

// TestScanImageEncoded decodes images written by schema's encoder, with a
// value of every kind, null and edge values.
func TestScanImageEncoded(t *testing.T) {
	c := columnIndex{}.of(kindsTable)
	rows := [][]any{
		{int64(1), true, int64(-128), int64(32767), int64(math.MinInt32), int64(math.MaxInt64), uint64(math.MaxUint64),
			float32(1.5), math.Inf(-1), "tab\t \"q\" é 🚀 \\ \u2028 \x00", []byte{0, 1, 255}, `{"a":[1,"\u00e9"]}`,
			int32(math.MinInt32), int64(-1), int64(math.MinInt64), int64(1700000000123456), "5b0d3a0e-6c53-4d6f-9a3b-2d1c9e8f7a60",
			[]byte{1, 1, 0, 0, 0}, "12:34:56+05:30", schema.Interval{Months: 14, Days: -3, Micros: 4_500_000}, "::1/128",
			"08:00:2b:01:02:03", "0101", map[string]any{"k": "v", "n": nil}, "-12345678.90", "123456789012345678901234567890.123456789",
			"a", "a,b", uint64(1), uint64(1<<63 + 5), []any{int64(1), nil, []any{int64(2)}}, []any{"x\"y", nil, ""}},
		{int64(2), false, nil, nil, nil, nil, nil, float32(math.NaN()), math.NaN(), "", []byte{}, nil, int32(math.MaxInt32), nil,
			nil, int64(math.MaxInt64), nil, nil, nil, nil, nil, nil, "", nil, "NaN", "-Infinity", nil, "", nil, nil, []any{}, []any{}},
	}
	for _, row := range rows {
		e := &schema.Event{Table: kindsTable, Op: schema.OpUpdate, Before: row, After: row}
		raw, err := schema.AppendEnvelope(nil, e, time.UnixMilli(0))
		if err != nil {
			t.Fatal(err)
		}
		env, err := scanEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, env.After, kindsTable, c)
		got, err := scanImage(env.After, kindsTable, c)
		if err != nil || !sameValue(got, row) {
			t.Errorf("%s: decoded %#v (%v), want %#v", env.After, got, err, row)
		}
	}
}

// TestScanStrings reads JSON strings with the scanner and with
// encoding/json: the text must be the same, and either both accept a
// string or both refuse it.
func TestScanStrings(t *testing.T) {
	for _, v := range kindValues {
		checkString(t, []byte(v))
	}
	var long strings.Builder
	for r := rune(0); r < 0x3000; r += 7 {
		long.WriteRune(r)
	}
	b, _ := json.Marshal(long.String())
	checkString(t, b)
	for n := range 40 { // every length around the 8-byte steps of the scanner
		s := strings.Repeat("a", n)
		for _, special := range []string{`\"`, `\\`, "é", "\xff", "\x1f", `"`} {
			checkString(t, []byte(`"`+s+special+s+`"`))
		}
	}
}

func checkString(t *testing.T, v []byte) {
	t.Helper()
	var want string
	werr := json.Unmarshal(v, &want)
	if werr == nil && (len(v) == 0 || v[0] != '"') {
		return // not a string
	}
	s := jsonScanner{b: v}
	got, err := s.text()
	if err == nil && !s.end() {
		err = errScan
	}
	if (err == nil) != (werr == nil) || got != want && err == nil {
		t.Fatalf("string %q: scanned %q (%v), encoding/json %q (%v)", v, got, err, want, werr)
	}
}

// TestParseIntegers compares parseInt and parseUint with strconv.
func TestParseIntegers(t *testing.T) {
	for _, v := range append(kindValues, "", "00", "007", "-007", "0000000000000000000000001", "9223372036854775806",
		"-9223372036854775807", "18446744073709551614", "184467440737095516150", "1844674407370955161") {
		checkIntegers(t, v)
	}
}

func checkIntegers(t *testing.T, v string) {
	t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if m, ok := parseInt([]byte(v)); (err == nil && !strings.HasPrefix(v, "+")) != ok || ok && m != n {
		t.Errorf("parseInt(%q) = %d, %v; strconv %d, %v", v, m, ok, n, err)
	}
	u, err := strconv.ParseUint(v, 10, 64)
	if m, ok := parseUint([]byte(v)); (err == nil) != ok || ok && m != u {
		t.Errorf("parseUint(%q) = %d, %v; strconv %d, %v", v, m, ok, u, err)
	}
}
