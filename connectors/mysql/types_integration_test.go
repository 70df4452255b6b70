package mysql

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// itValue is one SQL expression stored into a column and the neutral value
// it must read back as.
type itValue struct {
	sql  string
	want any
}

// serverText and serverWKB, as a want, stand for the value the server
// itself returns: the column's text converted by MariaDB to utf8mb4, or
// ST_AsBinary of a geometry. They check that our charset tables and SRID
// stripping agree with MariaDB's own conversions.
type (
	serverText struct{}
	serverWKB  struct{}
)

// itColumn is one column of the integration table. Row k holds vals[k],
// or NULL past the end; the last row is NULL in every column.
type itColumn struct {
	name, ddl string
	vals      []itValue
}

// v pairs SQL expressions with wanted values: v(sql1, want1, sql2, want2...).
func v(pairs ...any) []itValue {
	out := make([]itValue, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, itValue{pairs[i].(string), pairs[i+1]})
	}
	return out
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// numbered returns prefix0, prefix1... prefix(n-1).
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

// allBytes is a hex literal of every byte value, 0x00 to 0xFF.
func allBytes() string {
	var b strings.Builder
	b.WriteString("x'")
	for i := range 256 {
		fmt.Fprintf(&b, "%02x", i)
	}
	return b.String() + "'"
}

// itCharsets are the text columns in character sets other than utf8mb4:
// a sample of text each set can hold, and for single-byte sets every byte
// value, whose text MariaDB's own conversion must match.
var itCharsets = []struct {
	charset, sample string
	singleByte      bool
}{
	{"latin1", "é€Ž", true}, {"latin2", "ąčž", true}, {"cp1250", "Šđ", true}, {"cp1251", "При", true},
	{"cp1256", "اب", true}, {"cp1257", "ąė", true}, {"greek", "αβ", true}, {"hebrew", "אב", true},
	{"latin5", "ığ", true}, {"latin7", "ąž", true}, {"koi8r", "При", true}, {"koi8u", "єї", true},
	{"cp850", "éÿ", true}, {"cp852", "ąč", true}, {"cp866", "Пр", true}, {"macroman", "éü", true},
	{"tis620", "กข", true}, {"ascii", "abc", false}, {"utf8mb3", "é中", false}, {"gbk", "中文", false},
	{"gb2312", "中文・―", false}, {"big5", "中文", false}, {"sjis", `日本\〜‖−¢£¬`, false}, {"cp932", "日本①＼～∥－￠￡￢", false},
	{"ujis", `日本\〜‖−¢£¬`, false}, {"eucjpms", "日本＼～∥－￠￡￢", false}, {"euckr", "한국", false}, {"ucs2", "aé中", false},
	{"utf16", "a𝄞", false}, {"utf16le", "a𝄞", false}, {"utf32", "a𝄞", false},
}

// itColumns lists a column of every supported type with edge values.
func itColumns() []itColumn {
	dmax := "99999999999999999999999999999999999.999999999999999999999999999999"
	cols := []itColumn{
		{"i8", "TINYINT", v("-128", int64(-128), "127", int64(127))},
		{"u8", "TINYINT UNSIGNED", v("0", int64(0), "255", int64(255))},
		{"b", "BOOL", v("FALSE", int64(0), "TRUE", int64(1))},
		{"i16", "SMALLINT", v("-32768", int64(-32768), "32767", int64(32767))},
		{"u16", "SMALLINT UNSIGNED", v("0", int64(0), "65535", int64(65535))},
		{"i24", "MEDIUMINT", v("-8388608", int64(-8388608), "8388607", int64(8388607))},
		{"u24", "MEDIUMINT UNSIGNED", v("0", int64(0), "16777215", int64(16777215))},
		{"i32", "INT", v("-2147483648", int64(math.MinInt32), "2147483647", int64(math.MaxInt32))},
		{"u32", "INT UNSIGNED", v("0", int64(0), "4294967295", int64(math.MaxUint32))},
		{"i64", "BIGINT", v("-9223372036854775808", int64(math.MinInt64), "9223372036854775807", int64(math.MaxInt64))},
		{"u64", "BIGINT UNSIGNED", v("0", uint64(0), "18446744073709551615", uint64(math.MaxUint64))},
		{"d65", "DECIMAL(65,30)", v("-"+dmax, "-"+dmax, dmax, dmax, "0", "0.000000000000000000000000000000",
			"-0.000000000000000000000000000001", "-0.000000000000000000000000000001")},
		{"d52", "DECIMAL(5,2)", v("-0.5", "-0.50", "999.99", "999.99", "0", "0.00", "-0", "0.00")},
		{"d22", "DECIMAL(2,2)", v("-0.99", "-0.99", ".01", "0.01")},
		{"n10", "NUMERIC(10,0)", v("-12", "-12", "9999999999", "9999999999")},
		{"f", "FLOAT", v("-1.5", float32(-1.5), "0.1", float32(0.1), "3.40282e38", float32(3.40282e38))},
		{"dbl", "DOUBLE", v("-2.25e300", -2.25e300, "1.7976931348623157e308", math.MaxFloat64, "5e-324", 5e-324)},
		{"bt1", "BIT(1)", v("b'0'", uint64(0), "b'1'", uint64(1))},
		{"bt10", "BIT(10)", v("b'1010101010'", uint64(682), "b'0'", uint64(0))},
		{"bt64", "BIT(64)", v("b'"+strings.Repeat("1", 64)+"'", uint64(math.MaxUint64), "b'1'", uint64(1))},
		{"dt", "DATE", v("'1000-01-01'", days("1000-01-01"), "'9999-12-31'", days("9999-12-31"),
			"'0000-00-00'", nil, "'2020-00-15'", nil)},
		{"y", "YEAR", v("1901", int64(1901), "2155", int64(2155), "0", int64(0))},
		{"c", "CHAR(5)", v("'ab  '", "ab", "' a'", " a", "''", "")},
		{"c100", "CHAR(100)", v("'x'", "x", "'😀'", "😀")},
		{"vc", "VARCHAR(300)", v("'ab  '", "ab  ", `'😀é	"\\'`, "😀é\t\"\\")},
		{"tt", "TINYTEXT", v("'tiny'", "tiny")},
		{"tx", "TEXT", v("'line\\nline'", "line\nline")},
		{"mt", "MEDIUMTEXT", v("'medium'", "medium")},
		{"lt", "LONGTEXT", v("REPEAT('x', 70000)", strings.Repeat("x", 70000))},
		{"j", "JSON", v(`'{"b": 1, "a": [1.0]}'`, `{"b": 1, "a": [1.0]}`)}, // MariaDB: LONGTEXT
		{"bin", "BINARY(4)", v("x'61'", []byte("a\x00\x00\x00"), "x'00000000'", make([]byte, 4), "''", make([]byte, 4),
			"x'61626364'", []byte("abcd"))},
		{"vb", "VARBINARY(8)", v("x'6100'", []byte("a\x00"), "''", []byte{})},
		{"vcb", "VARCHAR(5) CHARACTER SET binary", v("'ab'", []byte("ab"))},
		{"tb", "TINYBLOB", v("x'00ff'", []byte{0, 0xff})},
		{"bl", "BLOB", v("''", []byte{})},
		{"mb", "MEDIUMBLOB", v("x'01'", []byte{1})},
		{"lb", "LONGBLOB", v("REPEAT(x'ab', 70000)", bytes.Repeat([]byte{0xab}, 70000))},
		{"txb", "TEXT CHARACTER SET binary", v("'t'", []byte("t"))},
		{"e", `ENUM('', 'a''b', 'c\\d', 'x,y', 'é')`, v("'a''b'", "a'b", `'c\\d'`, `c\d`, "'zzz'", "", "'é'", "é")},
		{"el1", "ENUM('é', 'ü') CHARACTER SET latin1", v("'é'", "é", "'ü'", "ü")},
		{"e300", "ENUM('" + strings.Join(numbered("v", 300), "','") + "')", v("'v299'", "v299", "'v0'", "v0")}, // 2-byte index
		{"s", "SET('a', 'b', 'c')", v("'c,a'", "a,c", "''", "", "'b'", "b")},
		{"s64", "SET('" + strings.Join(members64(), "','") + "')",
			v("'"+strings.Join(members64(), ",")+"'", strings.Join(members64(), ","), "'m63,m00'", "m00,m63")},
		{"g", "GEOMETRY", v("ST_GeomFromText('POINT(1 2)', 4326)", unhex(pointWKB),
			"ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')", serverWKB{})},
		{"p", "POINT", v("POINT(3, 4)", serverWKB{})},
		{"ls", "LINESTRING", v("ST_GeomFromText('LINESTRING(0 0,1 1,2 3)')", serverWKB{})},
		{"pg", "POLYGON", v("ST_GeomFromText('POLYGON((0 0,2 0,2 2,0 0))')", serverWKB{})},
		{"mp", "MULTIPOINT", v("ST_GeomFromText('MULTIPOINT(0 0,1 1)')", serverWKB{})},
		{"mls", "MULTILINESTRING", v("ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))')", serverWKB{})},
		{"mpg", "MULTIPOLYGON", v("ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))')", serverWKB{})},
		{"gc", "GEOMETRYCOLLECTION", v("ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))')", serverWKB{})},
	}
	for n := range 7 {
		cols = append(cols, fspColumns(n)...)
	}
	for _, cs := range itCharsets {
		col := itColumn{name: "t_" + cs.charset, ddl: "VARCHAR(260) CHARACTER SET " + cs.charset,
			vals: v(sqlString(cs.sample), cs.sample)}
		if cs.singleByte {
			col.vals = append(col.vals, itValue{allBytes(), serverText{}})
		}
		cols = append(cols, col, itColumn{name: "c_" + cs.charset, ddl: "CHAR(12) CHARACTER SET " + cs.charset,
			vals: v(sqlString(cs.sample+"  "), cs.sample)})
	}
	return cols
}

// fspColumns returns a DATETIME, TIMESTAMP and TIME column of fsp n, with
// values that use all n digits.
func fspColumns(n int) []itColumn {
	frac := func(digits string) string {
		if n == 0 {
			return ""
		}
		return "." + digits[:n]
	}
	us := func(digits string) int64 { // the first n digits as microseconds
		var x int64
		for i := range 6 {
			x *= 10
			if i < n {
				x += int64(digits[i] - '0')
			}
		}
		return x
	}
	typ := func(name string) string {
		if n == 0 {
			return name
		}
		return fmt.Sprintf("%s(%d)", name, n)
	}
	return []itColumn{
		{fmt.Sprintf("dtm%d", n), typ("DATETIME"), v(
			"'1969-12-31 23:59:59"+frac("999999")+"'", µs("1969-12-31 23:59:59")+us("999999"),
			"'9999-12-31 23:59:59"+frac("999999")+"'", µs("9999-12-31 23:59:59")+us("999999"),
			"'1000-01-01 00:00:00"+frac("000001")+"'", µs("1000-01-01 00:00:00")+us("000001"),
			"'0000-00-00 00:00:00'", nil)},
		{fmt.Sprintf("ts%d", n), typ("TIMESTAMP") + " NULL DEFAULT NULL", v(
			"'1970-01-01 00:00:01"+frac("000001")+"'", 1_000_000+us("000001"),
			"'2038-01-19 03:14:07"+frac("999999")+"'", µs("2038-01-19 03:14:07")+us("999999"),
			"'2024-02-29 12:34:56"+frac("123456")+"'", µs("2024-02-29 12:34:56")+us("123456"),
			"'0000-00-00 00:00:00'", nil)},
		{fmt.Sprintf("tm%d", n), typ("TIME"), v(
			"'-838:59:59'", int64(-3020399_000000),
			"'838:59:59'", int64(3020399_000000),
			"'-00:00:01"+frac("123456")+"'", -(1_000_000 + us("123456")),
			"'12:34:56"+frac("123456")+"'", 45296_000000+us("123456"))},
	}
}

// itExec runs statements on conn and fails the test on an error.
func itExec(t *testing.T, conn *client.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Execute(s); err != nil {
			t.Fatalf("%.200s: %v", s, err)
		}
	}
}

// TestTypesMariaDB writes every supported type into a real MariaDB and
// reads it back through information_schema and a binary-protocol snapshot,
// and through the binlog's table maps and row events: both paths must give
// the same columns and, for every row image, the same values, equal to the
// expected ones.
func TestTypesMariaDB(t *testing.T) {
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	itExec(t, conn, "SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'", "USE "+quoteIdent(m.Database))

	cols := itColumns()
	rows := 1
	ddl := []string{"id INT NOT NULL PRIMARY KEY", "touch INT NOT NULL"}
	for _, c := range cols {
		ddl = append(ddl, quoteIdent(c.name)+" "+c.ddl)
		rows = max(rows, len(c.vals)+1)
	}
	itExec(t, conn, "CREATE TABLE types ("+strings.Join(ddl, ", ")+")")
	pos := itPosition(t, conn)
	for r := range rows {
		names, vals := []string{"id", "touch"}, []string{fmt.Sprint(r), "0"}
		for _, c := range cols {
			if r < len(c.vals) {
				names, vals = append(names, quoteIdent(c.name)), append(vals, c.vals[r].sql)
			}
		}
		itExec(t, conn, "INSERT INTO types ("+strings.Join(names, ", ")+") VALUES ("+strings.Join(vals, ", ")+")")
	}

	info := itInfoColumns(t, conn, m.Database)
	want := itWant(t, conn, cols, rows)
	itCompare(t, "snapshot", info, itSnapshot(t, conn, info), want)
	itExec(t, conn, "SET SESSION sql_mode = 'PAD_CHAR_TO_FULL_LENGTH'")
	itCompare(t, "snapshot with PAD_CHAR_TO_FULL_LENGTH", info, itSnapshot(t, conn, info), want)
	itExec(t, conn, "SET SESSION sql_mode = ''")

	itExec(t, conn, "UPDATE types SET touch = 1", "DELETE FROM types")
	images := itBinlog(t, ctx, m, conn, pos, info, 4*rows)
	if len(images) != 4*rows {
		t.Fatalf("binlog gave %d row images, want %d", len(images), 4*rows)
	}
	after := make([][]any, rows)
	for r := range want {
		after[r] = slices.Clone(want[r])
		after[r][1] = int64(1)
	}
	itCompare(t, "binlog insert", info, images[:rows], want)
	for r := range rows {
		itCompare(t, "binlog update before", info, images[rows+2*r:rows+2*r+1], want[r:r+1])
		itCompare(t, "binlog update after", info, images[rows+2*r+1:rows+2*r+2], after[r:r+1])
	}
	itCompare(t, "binlog delete", info, images[3*rows:], after)
}

// itPosition returns the binlog position after the last write.
func itPosition(t *testing.T, conn *client.Conn) gomysql.Position {
	t.Helper()
	res, err := conn.Execute("SHOW MASTER STATUS")
	if err != nil || res.RowNumber() != 1 {
		t.Fatalf("show master status: %v", err)
	}
	file, _ := res.GetString(0, 0)
	pos, _ := res.GetUint(0, 1)
	return gomysql.Position{Name: file, Pos: uint32(pos)}
}

// itInfoColumns maps the table's information_schema.COLUMNS rows.
func itInfoColumns(t *testing.T, conn *client.Conn, db string) []column {
	t.Helper()
	res, err := conn.Execute(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, ''), IS_NULLABLE = 'YES',
		IFNULL(NUMERIC_PRECISION, -1), IFNULL(NUMERIC_SCALE, -1), IFNULL(DATETIME_PRECISION, -1), IFNULL(CHARACTER_OCTET_LENGTH, -1)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'types' ORDER BY ORDINAL_POSITION`, db)
	if err != nil {
		t.Fatal(err)
	}
	var cols []column
	for i := range res.RowNumber() {
		var ic infoColumn
		ic.Name, _ = res.GetString(i, 0)
		ic.DataType, _ = res.GetString(i, 1)
		ic.ColumnType, _ = res.GetString(i, 2)
		ic.Charset, _ = res.GetString(i, 3)
		n, _ := res.GetInt(i, 4)
		ic.Nullable = n == 1
		ic.NumericPrecision, _ = res.GetInt(i, 5)
		ic.NumericScale, _ = res.GetInt(i, 6)
		ic.DatetimePrecision, _ = res.GetInt(i, 7)
		ic.CharOctetLength, _ = res.GetInt(i, 8)
		c, err := columnFromInfo(ic)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return cols
}

// itWant returns the expected neutral rows, asking the server for the
// values given as serverText and serverWKB.
func itWant(t *testing.T, conn *client.Conn, cols []itColumn, rows int) [][]any {
	t.Helper()
	want := make([][]any, rows)
	for r := range want {
		want[r] = []any{int64(r), int64(0)}
		for _, c := range cols {
			var w any
			if r < len(c.vals) {
				w = c.vals[r].want
			}
			switch w.(type) {
			case serverText:
				w = itServerValue(t, conn, "CONVERT("+quoteIdent(c.name)+" USING utf8mb4)", r)
				w = string(w.([]byte))
			case serverWKB:
				w = itServerValue(t, conn, "ST_AsBinary("+quoteIdent(c.name)+")", r)
			}
			want[r] = append(want[r], w)
		}
	}
	return want
}

// itServerValue returns the bytes of one expression of row id, read over
// the text protocol.
func itServerValue(t *testing.T, conn *client.Conn, expr string, id int) []byte {
	t.Helper()
	res, err := conn.Execute(fmt.Sprintf("SELECT %s FROM types WHERE id = %d", expr, id))
	if err != nil || res.RowNumber() != 1 {
		t.Fatalf("%s of row %d: %v", expr, id, err)
	}
	return bytes.Clone(res.Values[0][0].AsString())
}

// itSnapshot reads the table over the binary protocol as a snapshot chunk
// does, and decodes it with fromBinary.
func itSnapshot(t *testing.T, conn *client.Conn, cols []column) [][]any {
	t.Helper()
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = selectExpr(c)
	}
	stmt, err := conn.Prepare("SELECT " + strings.Join(exprs, ", ") + " FROM types ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	var out [][]any
	var res gomysql.Result
	err = stmt.ExecuteSelectStreaming(&res, func(row []gomysql.FieldValue) error {
		vals := make([]any, len(cols))
		for i := range row {
			var err error
			if vals[i], err = cols[i].fromBinary(row[i]); err != nil {
				return err
			}
		}
		out = append(out, vals)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// itBinlog reads the binlog from pos until it has n row images of the
// table, decoding each table map with columnsFromTableMap (which must agree
// with information_schema) and each image with fromBinlog. The reader's own
// rowDecoder, which reads the same bytes without go-mysql's decoding, must
// give the same images.
func itBinlog(t *testing.T, ctx context.Context, m *harness.MariaDB, conn *client.Conn, pos gomysql.Position, info []column, n int) [][]any {
	t.Helper()
	charsets := itCollations(t, conn)
	charsetOf := func(id uint64) (string, bool) { s, ok := charsets[id]; return s, ok }
	// The rowDecoder's images of each rows event; the syncer parses ahead
	// of the loop below, on its own goroutine. Both map the same table map
	// event, whose methods fill caches as they go (EnumStrValueString): mu
	// keeps them apart (the reader maps table maps on one goroutine).
	var mu sync.Mutex
	fast := map[*replication.RowsEvent][][]any{}
	mapColumns := func(e *replication.TableMapEvent) ([]column, error) {
		mu.Lock()
		defer mu.Unlock()
		return columnsFromTableMap(e, charsetOf)
	}
	decodeFunc := func(e *replication.RowsEvent, data []byte) error {
		p, err := e.DecodeHeader(data)
		if err != nil {
			return err
		}
		if cols, err := mapColumns(e.Table); err == nil && string(e.Table.Table) == "types" {
			d := newRowDecoder(e.Table, cols)
			if d == nil {
				t.Errorf("no rowDecoder for the types table")
			} else if rows, err := d.decode(schema.TableID{Name: "types"}, data[p:]); err != nil {
				t.Errorf("rowDecoder: %v", err)
			} else {
				mu.Lock()
				fast[e] = rows
				mu.Unlock()
			}
		}
		return e.DecodeData(p, data)
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 9999, Flavor: gomysql.MariaDBFlavor, Host: m.Host, Port: uint16(m.Port),
		User: m.User, Password: m.Password, TimestampStringLocation: time.UTC,
		RowsEventDecodeFunc: decodeFunc,
	})
	defer syncer.Close()
	stream, err := syncer.StartSync(pos)
	if err != nil {
		t.Fatal(err)
	}
	var images [][]any
	var cols []column
	for len(images) < n {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			t.Fatalf("binlog after %d images: %v", len(images), err)
		}
		switch e := ev.Event.(type) {
		case *replication.TableMapEvent:
			if cols, err = mapColumns(e); err != nil {
				t.Fatal(err)
			}
			for i := range info {
				assertSameColumn(t, cols[i], info[i])
			}
		case *replication.RowsEvent:
			first := len(images)
			for _, row := range e.Rows {
				vals := make([]any, len(row))
				for i := range row {
					if vals[i], err = cols[i].fromBinlog(row[i]); err != nil {
						t.Fatal(err)
					}
				}
				images = append(images, vals)
			}
			mu.Lock()
			got := fast[e]
			mu.Unlock()
			itCompare(t, "rowDecoder", cols, got, images[first:])
		}
	}
	return images
}

// itCollations maps collation ids to character set names, as the reader
// does.
func itCollations(t *testing.T, conn *client.Conn) map[uint64]string {
	t.Helper()
	res, err := conn.Execute("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[uint64]string, res.RowNumber())
	for i := range res.RowNumber() {
		id, _ := res.GetUint(i, 0)
		out[id], _ = res.GetString(i, 1)
	}
	return out
}

// itCompare fails for every value of got that differs from want.
func itCompare(t *testing.T, what string, cols []column, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for r := range want {
		for i, c := range cols {
			if !reflect.DeepEqual(got[r][i], want[r][i]) {
				t.Errorf("%s: row %v column %s %s: got %s, want %s", what, want[r][0], c.Name, c.Type.Native,
					itShow(got[r][i]), itShow(want[r][i]))
			} else if _, err := schema.AppendValue(nil, c.Type.Kind, got[r][i]); err != nil {
				t.Errorf("%s: row %v column %s: %v", what, want[r][0], c.Name, err)
			}
		}
	}
}

// itShow prints a value short enough for an error message.
func itShow(x any) string {
	s := fmt.Sprintf("%T %#v", x, x)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
