package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/schema"
)

// TestLakeEveryTypeMySQL carries the table with a column of every
// MySQL/MariaDB type (types_test.go) through the whole pipeline: snapshot,
// streamed copies, an update of every column from another row, a key
// change, a delete and an added column; then the lake table must equal the
// source row by row, read with iceberg-go and with icebird.
func TestLakeEveryTypeMySQL(t *testing.T) {
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	execAll(t, m, "CREATE DATABASE shop", everyType)
	for _, r := range everyRows {
		execAll(t, m, "INSERT INTO shop.every VALUES "+r)
	}
	// Odd names, a binary key, generated and invisible columns, and
	// values at the edges of what the types hold.
	execAll(t, m, "CREATE TABLE shop.`Odd Table` ("+
		"`Key` BINARY(16) NOT NULL, `select` INT NOT NULL, `名前` VARCHAR(20) CHARACTER SET utf8mb4, `a``b` CHAR(4) CHARACTER SET utf8mb4, "+
		"du DECIMAL(10,3) UNSIGNED, f73 FLOAT(7,3), d102 DOUBLE(10,2), tu TINYINT(1) UNSIGNED, e ENUM('', 'x'), "+
		"tx TEXT, js JSON, upd TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), "+
		"gv INT AS (`select` * 2) VIRTUAL, gs VARCHAR(30) AS (CONCAT(`名前`, '!')) STORED, hid INT INVISIBLE DEFAULT 7, "+
		"PRIMARY KEY (`Key`, `select`))",
		// An invalid ENUM value is stored as '' (index 0) outside strict mode.
		"SET STATEMENT sql_mode = '' FOR INSERT INTO shop.`Odd Table` (`Key`, `select`, `名前`, `a``b`, du, f73, d102, tu, e, tx, js) VALUES "+
			"(X'00000000000000000000000000000000', 0, 'trailing  ', '🚀🚀🚀🚀', 9999999.999, 9999.999, 99999999.99, 255, 'bogus', CONCAT('nul', CHAR(0), 'byte'), '{\"u\": \"\\u00e9\\ud83d\\ude80\", \"big\": 123456789012345678901234567890}'), "+
			"(X'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00', -1, '', '', 0, -9999.999, -0.01, 0, '', '', '[]'), "+
			"(X'0102', 5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
	)
	// MariaDB's UUID (a key here) and INET6, which the binlog shows as
	// BINARY(16); UUIDs of versions 1, 4 and 7 and the nil UUID, stored in
	// different byte orders.
	execAll(t, m, "CREATE TABLE shop.ids (u UUID NOT NULL PRIMARY KEY, ip INET6, b BINARY(16), n INT)",
		"INSERT INTO shop.ids VALUES ('6ccd780c-baba-1026-9564-5b8c656024db', '::ffff:1.2.3.4', X'00', 1), "+
			"('0E9F2A5C-0000-4000-8000-000000000001', '2001:db8::1', NULL, 2), ('01890a5d-ac96-774b-bcce-b302099a8057', '::', NULL, 3), "+
			"('00000000-0000-0000-0000-000000000000', NULL, NULL, 4)")
	stopReader := startReader(t, m, k, "ltypes", nil)
	// Partitioned by columns with NULLs, zero dates and the types' limits.
	startCompactorWith(t, k, l, "ltypes", map[string]compactor.TableOptions{
		"shop.every": {PartitionColumn: "dtm"}, "shop.Odd Table": {PartitionColumn: "upd", Granularity: "hour"},
	})
	id := schema.TableID{Database: "shop", Name: "every"}
	odd := schema.TableID{Database: "shop", Name: "Odd Table"}
	compareLake(t, m, k, l, "ltypes", id)
	compareLake(t, m, k, l, "ltypes", odd)
	ids := schema.TableID{Database: "shop", Name: "ids"}
	compareLake(t, m, k, l, "ltypes", ids)
	execAll(t, m,
		"INSERT INTO shop.every SELECT id + 100, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, b, d65, d10, d38, f, dbl, bt1, bt64, dt, dtm, dtm6, ts, tm, tm6, yr, c, vc, tt, tx, mt, lt, l1, gb, bn, vb, bl, lb, e, st, js, g, pt FROM shop.every",
		"UPDATE shop.every e JOIN shop.every s ON s.id = 2 SET e.ti = s.ti, e.tiu = s.tiu, e.si = s.si, e.siu = s.siu, e.mi = s.mi, e.miu = s.miu, e.i = s.i, e.iu = s.iu, e.bi = s.bi, e.biu = s.biu, e.b = s.b, e.d65 = s.d65, e.d10 = s.d10, e.d38 = s.d38, e.f = s.f, e.dbl = s.dbl, e.bt1 = s.bt1, e.bt64 = s.bt64, e.dt = s.dt, e.dtm = s.dtm, e.dtm6 = s.dtm6, e.ts = s.ts, e.tm = s.tm, e.tm6 = s.tm6, e.yr = s.yr, e.c = s.c, e.vc = s.vc, e.tt = s.tt, e.tx = s.tx, e.mt = s.mt, e.lt = s.lt, e.l1 = s.l1, e.gb = s.gb, e.bn = s.bn, e.vb = s.vb, e.bl = s.bl, e.lb = s.lb, e.e = s.e, e.st = s.st, e.js = s.js, e.g = s.g, e.pt = s.pt WHERE e.id = 104",
		"UPDATE shop.every e JOIN shop.every s ON s.id = 1 SET e.d65 = s.d65, e.d38 = s.d38, e.f = s.f, e.dbl = s.dbl, e.dtm6 = s.dtm6, e.tm = s.tm, e.tm6 = s.tm6, e.bt64 = s.bt64 WHERE e.id = 102",
		"UPDATE shop.every SET id = 200 WHERE id = 101",
		"DELETE FROM shop.every WHERE id = 103",
		"ALTER TABLE shop.every ADD COLUMN extra DECIMAL(20,5) NOT NULL DEFAULT 1.5",
		"UPDATE shop.every SET extra = -0.00001 WHERE id = 102",
	)
	execAll(t, m,
		"UPDATE shop.`Odd Table` SET `select` = `select` + 10, hid = 8 WHERE `select` = 5",
		"UPDATE shop.`Odd Table` SET `Key` = X'0A', `名前` = 'moved' WHERE `select` = 0",
		"UPDATE shop.`Odd Table` SET tx = REPEAT('z', 5000) WHERE `select` = -1",
		"DELETE FROM shop.`Odd Table` WHERE `select` = 15",
		"INSERT INTO shop.`Odd Table` (`Key`, `select`, `名前`) VALUES (X'0102', 5, 'again')",
		"ALTER TABLE shop.`Odd Table` ADD COLUMN `new col` DATETIME(3) NULL",
		"UPDATE shop.`Odd Table` SET `new col` = '2024-02-29 23:59:59.999'",
	)
	// Streamed UUIDs and addresses, a key change, and the columns through
	// a rename, an added column and a BINARY(16) becoming a UUID.
	execAll(t, m,
		"INSERT INTO shop.ids VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1:0:0:2:0:0:3:4', NULL, 5), "+
			"('ffffffff-ffff-ffff-ffff-ffffffffffff', 'fe80::1:2', NULL, 6), ('11111111-2222-3333-4444-555555555555', '::1.2.3.4', NULL, 7)",
		"UPDATE shop.ids SET ip = '::1' WHERE n = 1",
		"UPDATE shop.ids SET u = '6ccd780c-baba-1026-9564-5b8c656024dc' WHERE n = 1",
		"ALTER TABLE shop.ids RENAME COLUMN ip TO addr",
		"UPDATE shop.ids SET addr = '2001:db8:1:0:1::1' WHERE n = 2",
		"ALTER TABLE shop.ids ADD COLUMN u2 UUID NULL",
		"UPDATE shop.ids SET u2 = u WHERE n > 4",
		"UPDATE shop.ids SET b = X'11111111222233334444555555555555'",
		"ALTER TABLE shop.ids MODIFY b UUID NULL",
		"UPDATE shop.ids SET n = n + 100 WHERE n = 7",
	)
	waitCaughtUp(t, m, k, "ltypes", "ltypes", 60*time.Second)
	compareLake(t, m, k, l, "ltypes", ids)
	compareIcebird(t, m, k, l, "ltypes", ids)
	compareLake(t, m, k, l, "ltypes", id)
	compareIcebird(t, m, k, l, "ltypes", id)
	compareLake(t, m, k, l, "ltypes", odd)
	compareIcebird(t, m, k, l, "ltypes", odd)

	// The comparison must see a one-ulp FLOAT change and a changed
	// microsecond, made behind the (stopped) reader's back.
	if err := stopReader(); err != nil {
		t.Fatal(err)
	}
	execAll(t, m, "UPDATE shop.every SET f = 0.10000001 WHERE id = 4", "UPDATE shop.every SET dtm6 = '1000-01-01 00:00:00.000002' WHERE id = 1")
	conn, err := m.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := verify.CompareLake(context.Background(), conn, l, k.Addrs, "ltypes", "shop", id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Differing != 2 || res.Equal() {
		t.Errorf("changed rows went unnoticed: %s %v", res, res.Details)
	}
}

// pgEveryType is a column of every PostgreSQL type the reader maps, with
// edge values: row k holds each column's k-th value, or NULL.
var pgEveryType = []struct {
	name, typ string
	vals      []string
}{
	{"c_int2", "smallint", []string{"-32768", "32767"}},
	{"c_int4", "integer", []string{"-2147483648", "2147483647"}},
	{"c_int8", "bigint", []string{"-9223372036854775808", "9223372036854775807"}},
	{"c_num", "numeric(10,2)", []string{"-12345678.9", "0", "99999999.99"}},
	{"c_num38", "numeric(38,6)", []string{"-99999999999999999999999999999999.999999", "0.000001"}},
	{"c_numu", "numeric", []string{"1e40", "-0.000000000000000000000000000000000000000001", "'Infinity'", "'-Infinity'", "'NaN'", "12345678901234567890123456789012345678901234567890.5"}},
	{"c_real", "real", []string{"1e-06", "'NaN'", "'-Infinity'", "3.4028235e38", "0.1"}},
	{"c_dbl", "double precision", []string{"0.1::float8 + 0.2", "'Infinity'", "2.2250738585072014e-308", "'NaN'", "-1.7976931348623157e308"}},
	{"c_money", "money", []string{"-1234567.89", "'92233720368547758.07'", "0"}},
	{"c_bool", "boolean", []string{"true", "false"}},
	{"c_text", "text", []string{"E'l\\u00ednea\\nnueva \\U0001F680 \"q\\''", "''", "E'tab\\there \\\\ back'"}},
	{"c_vc", "varchar(10)", []string{"'日本語'", "'  pad  '"}},
	{"c_ch", "char(3)", []string{"'x'", "''"}},
	{"c_bytea", "bytea", []string{`'\x00ff10'`, "''"}},
	{"c_uuid", "uuid", []string{"'0E9F2A5C-0000-4000-8000-000000000001'", "'00000000-0000-0000-0000-000000000000'"}},
	{"c_json", "json", []string{`'{"a": [1, 2.50]}'`, `'"s"'`}},
	{"c_jsonb", "jsonb", []string{`'{"b":1, "a":[1,2.50]}'`, "'null'"}},
	{"c_date", "date", []string{"'2024-02-29'", "'0044-03-15 BC'", "'infinity'", "'-infinity'", "'1970-01-01'"}},
	{"c_time", "time(3)", []string{"'13:14:15.123'", "'24:00:00'", "'00:00:00'"}},
	{"c_timetz", "timetz", []string{"'12:34:56.789+05:30'", "'00:00:00-12:15:30'", "'01:00:00+00'"}},
	{"c_ts", "timestamp", []string{"'2024-01-31 12:00:00.5'", "'0044-03-15 12:00:00 BC'", "'infinity'", "'-infinity'", "'1969-12-31 23:59:59.999999'"}},
	{"c_tstz", "timestamptz(3)", []string{"'2024-01-01 14:30:00.123+05:30'", "'infinity'", "'1900-01-01 00:00:00+00'"}},
	{"c_iv", "interval", []string{"'1 year 2 months -3 days 04:05:06.789'", "'-1.5 seconds'", "'0'"}},
	{"c_inet", "inet", []string{"'192.168.1.5/24'", "'::1'"}},
	{"c_cidr", "cidr", []string{"'10.0.0.0/8'"}},
	{"c_mac", "macaddr", []string{"'08:00:2B:01:02:03'"}},
	{"c_mac8", "macaddr8", []string{"'08:00:2b:01:02:03:04:05'"}},
	{"c_bit", "bit(4)", []string{"B'0101'", "B'1111'", "B'0000'"}},
	{"c_bit70", "bit(70)", []string{"B'1" + strings.Repeat("0", 69) + "'"}},
	{"c_vbit", "varbit(8)", []string{"B'0010'", "B''"}},
	{"c_enum", "mood", []string{"'happy'", "'sad'"}},
	{"c_dom", "price", []string{"12.5"}},
	{"c_arr", "integer[]", []string{"'{{1,2},{3,NULL}}'", "'{}'", "'[0:1]={7,8}'"}},
	{"c_tarr", "text[]", []string{`ARRAY['a b', 'c"d', NULL, 'NULL', '', '{x}']`}},
	{"c_narr", "numeric(5,2)[]", []string{"'{1.5,NaN}'"}},
	{"c_tsarr", "timestamptz[]", []string{"ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity']"}},
	{"c_earr", "mood[]", []string{"'{sad,happy}'"}},
	{"c_hs", "hstore", []string{`'a=>1, "b c"=>NULL, "q\""=>"x\\y"'`}},
	{"c_point", "point", []string{"'(1,2)'"}},
	{"c_comp", "pair", []string{"ROW(1, 'a b')"}},
	{"c_range", "int4range", []string{"'[1,5)'", "'empty'"}},
	{"c_xml", "xml", []string{"'<a>1</a>'"}},
	{"c_char1", `"char"`, []string{"'a'", "''"}},
	{"c_name", "name", []string{"'some name'"}},
	{"c_oid", "oid", []string{"4294967295", "0"}},
	{"c_lsn", "pg_lsn", []string{"'16/B374D848'"}},
	{"c_tsv", "tsvector", []string{"'a fat cat sat on a mat'"}},
	{"c_mrange", "int4multirange", []string{"'{[1,3), [5,7)}'"}},
	{"c_box", "box", []string{"'((0,0),(1,1))'"}},
	{"c_barr", "bytea[]", []string{`ARRAY['\x00ff'::bytea, NULL, '']`}},
	{"c_uarr", "uuid[]", []string{"ARRAY['0e9f2a5c-0000-4000-8000-000000000001'::uuid]"}},
	{"c_jarr", "jsonb[]", []string{`ARRAY['{"a": 1}'::jsonb, 'null', '"s"']`}},
	{"c_boolarr", "boolean[]", []string{"'{t,f,NULL}'"}},
	{"c_ivarr", "interval[]", []string{"ARRAY['1 day'::interval, '-1 year 2 mons']"}},
	{"c_darr", "date[]", []string{"ARRAY['2024-02-29'::date, 'infinity']"}},
	{"c_f8arr", "float8[]", []string{"'{1.5,NaN,-Infinity,0.1}'"}},
}

// TestLakeEveryTypePostgres carries a table with a column of every
// PostgreSQL type through the whole pipeline, under a database whose time
// zone, date and interval styles differ from the reader's: snapshot,
// streamed copies, an update of every column from another row, a key
// change, a delete and an added column. The lake table must equal the
// source row by row.
func TestLakeEveryTypePostgres(t *testing.T) {
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	var cols, names []string
	rows := 0
	for _, c := range pgEveryType {
		cols = append(cols, c.name+" "+c.typ)
		names = append(names, c.name)
		rows = max(rows, len(c.vals))
	}
	pgExec(t, p,
		"CREATE EXTENSION IF NOT EXISTS hstore",
		"CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
		"CREATE DOMAIN price AS numeric(12,2)",
		"CREATE TYPE pair AS (a int, b text)",
		"ALTER DATABASE test SET timezone TO 'America/New_York'",
		"ALTER DATABASE test SET intervalstyle TO 'sql_standard'",
		"ALTER DATABASE test SET datestyle TO 'German'",
		fmt.Sprintf("CREATE TABLE every (id int PRIMARY KEY, %s)", strings.Join(cols, ", ")),
		"ALTER TABLE every OWNER TO tributary")
	insert := func(id int, k int) string {
		vals := []string{fmt.Sprint(id)}
		for _, c := range pgEveryType {
			if k < len(c.vals) {
				vals = append(vals, c.vals[k])
			} else {
				vals = append(vals, "NULL")
			}
		}
		return fmt.Sprintf("INSERT INTO every (id, %s) VALUES (%s)", strings.Join(names, ", "), strings.Join(vals, ", "))
	}
	for k := range rows + 1 { // the last row is NULL but for its key
		pgExec(t, p, insert(k, k))
	}
	// Odd names, a binary and time key, a generated column, and a column
	// dropped before the reader starts.
	pgExec(t, p,
		`CREATE TABLE "Odd Table" ("Key" bytea NOT NULL, "at" timestamptz NOT NULL, "select" int, "new col" text, "a""b" varchar(5),
			"名前" text, gen int GENERATED ALWAYS AS ("select" * 2) STORED, gone int, PRIMARY KEY ("Key", "at"))`,
		`ALTER TABLE "Odd Table" DROP COLUMN gone`,
		`ALTER TABLE "Odd Table" OWNER TO tributary`,
		`INSERT INTO "Odd Table" VALUES ('\x00', '2024-01-01 00:00:00+00', 1, 'a', 'x"y', '名', DEFAULT),
			('\xff00', 'infinity', -1, '', '', '', DEFAULT), ('', '1970-01-01 00:00:00.000001+00', NULL, NULL, NULL, NULL, DEFAULT)`)
	_, stopReader := startPGReader(t, p, k, "pgtypes", nil)
	// Partitioned by columns with NULLs, infinities and dates BC.
	startCompactorWith(t, k, l, "pgtypes", map[string]compactor.TableOptions{
		"public.every": {PartitionColumn: "c_ts"}, "public.Odd Table": {PartitionColumn: "at", Granularity: "hour"},
	})
	tables := pgTables("every", "Odd Table")
	compareLakePG(t, p, k, l, "pgtypes", tables)

	set := make([]string, len(names))
	for i, n := range names {
		set[i] = fmt.Sprintf("%s = s.%s", n, n)
	}
	pgExec(t, p,
		fmt.Sprintf("INSERT INTO every SELECT id + 100, %s FROM every", strings.Join(names, ", ")),
		fmt.Sprintf("UPDATE every e SET %s FROM every s WHERE s.id = 1 AND e.id = 3", strings.Join(set, ", ")),
		fmt.Sprintf("UPDATE every e SET %s FROM every s WHERE s.id = %d AND e.id = 0", strings.Join(set, ", "), rows),
		"UPDATE every SET id = 200 WHERE id = 101",
		"DELETE FROM every WHERE id = 102",
		insert(300, 2),
		"ALTER TABLE every ADD COLUMN extra numeric(20,5) NOT NULL DEFAULT 1.5",
		"UPDATE every SET extra = -0.00001 WHERE id = 4",
		`UPDATE "Odd Table" SET "select" = 10, "new col" = 'b' WHERE "Key" = '\x00'`,
		`UPDATE "Odd Table" SET "Key" = '\x0102', at = '-infinity' WHERE "select" = -1`,
		`INSERT INTO "Odd Table" ("Key", at, "select", "名前") VALUES ('\xfffe', now(), 5, 'новый')`,
		`DELETE FROM "Odd Table" WHERE "Key" = ''`,
		`ALTER TABLE "Odd Table" ADD COLUMN "Mixed Case" numeric`,
		`UPDATE "Odd Table" SET "Mixed Case" = 1e-20`,
	)
	pgWaitCaughtUp(t, p, k, "pgtypes", 60*time.Second)
	compareLakePG(t, p, k, l, "pgtypes", tables)
	// Streamed changes after the new snapshot that DDL may bring.
	pgExec(t, p,
		`UPDATE "Odd Table" SET "select" = 7, "Mixed Case" = 2 WHERE "Key" = '\x00'`,
		`INSERT INTO "Odd Table" ("Key", at, "select") VALUES ('\x03', '2000-01-01', 3)`,
		"UPDATE every SET c_int4 = 1 WHERE id = 1",
	)
	pgWaitCaughtUp(t, p, k, "pgtypes", 60*time.Second)
	compareLakePG(t, p, k, l, "pgtypes", tables)
	// Logical replication does not carry the generated column, so the
	// snapshots leave it out too: no schema version has it.
	schemas, err := verify.ReadSchemas(context.Background(), k.Addrs, "pgtypes")
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; ; v++ {
		sch, err := schemas.Lookup(tables[1], v)
		if err != nil {
			if v == 1 {
				t.Fatal(err)
			}
			break
		}
		if sch.Index("gen") >= 0 {
			t.Errorf("schema version %d of %s has the generated column", v, tables[1])
		}
	}

	// The comparison must see a one-ulp real change and a changed
	// microsecond, made behind the (stopped) reader's back.
	if err := stopReader(); err != nil {
		t.Fatal(err)
	}
	pgExec(t, p, "UPDATE every SET c_real = 0.100000009 WHERE id = 4", "UPDATE every SET c_ts = '1969-12-31 23:59:59.999998' WHERE id = 4",
		"UPDATE every SET c_dbl = 0.30000000000000007 WHERE id = 0")
	ctx := context.Background()
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res, err := verify.CompareLakePostgres(ctx, conn, l, k.Addrs, "pgtypes", "public", tables[0])
	if err != nil {
		t.Fatal(err)
	}
	if res.Differing != 2 || res.Equal() {
		t.Errorf("changed rows went unnoticed: %s %v", res, res.Details)
	}
}
