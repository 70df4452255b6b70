package integration

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/schema"
)

// everyType has a column of every MySQL/MariaDB type the reader maps.
const everyType = `CREATE TABLE shop.every (
	id INT NOT NULL PRIMARY KEY,
	ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
	i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, b BOOL,
	d65 DECIMAL(65,30), d10 DECIMAL(10,2), d38 DECIMAL(38,0),
	f FLOAT, dbl DOUBLE,
	bt1 BIT(1), bt64 BIT(64),
	dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME, tm6 TIME(6), yr YEAR,
	c CHAR(10), vc VARCHAR(255), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
	l1 VARCHAR(50) CHARACTER SET latin1, gb VARCHAR(50) CHARACTER SET gbk,
	bn BINARY(8), vb VARBINARY(64), bl BLOB, lb LONGBLOB,
	e ENUM('a','b','c'), st SET('x','y','z'),
	js JSON, g GEOMETRY, pt POINT)`

var everyRows = []string{
	// Minimums, negatives and the smallest fractions.
	`(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 0,
	  '-99999999999999999999999999999999999.999999999999999999999999999999', -99999999.99, -99999999999999999999999999999999999999,
	  -3.4028234e38, -1.7976931348623157e308, b'0', b'0',
	  '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.001', '-838:59:59', '-838:59:58.999999', 1901,
	  '', '', '', '', '', '', '', '', '', '', '', '', 'a', '', '{}', ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(-1.5 2.25)'))`,
	// Maximums.
	`(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 1,
	  '99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 99999999999999999999999999999999999999,
	  3.4028234e38, 1.7976931348623157e308, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
	  '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '838:59:59', '838:59:58.999999', 2155,
	  'tenchars!!', REPEAT('v', 255), REPEAT('t', 255), REPEAT('x', 3000), REPEAT('m', 70000), REPEAT('l', 100000),
	  'café £ ÿ', '中文字符', X'0102030405060708', X'00FF00FF', REPEAT(X'AB', 1000), REPEAT(X'CD', 70000),
	  'c', 'x,y,z', '{"k": [1, 2.5, "s", null, true], "n": {"a": "b"}}', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), ST_GeomFromText('POINT(180 90)'))`,
	// NULL in every nullable column.
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL)`,
	// Ordinary values, zero dates, text that needs escaping.
	`(4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, '0.000000000000000000000000000001', 0.01, 1,
	  0.1, 0.30000000000000004, b'1', b'1010', '0000-00-00', '0000-00-00 00:00:00', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789', '00:00:00', '12:00:00.5', 0,
	  'a  ', 'tab\there "q" \\ 🚀', 'ß', 'line\nbreak', 'Ωmega', 'emoji 🚀🚀', 'naïve', '汉字', X'00', X'', X'', X'', 'b', 'y', '[1,"x"]', ST_GeomFromText('LINESTRING(0 0,1 1,2 0)'), ST_GeomFromText('POINT(3 4)'))`,
}

// TestMySQLEveryType snapshots and streams a table with a column of every
// type and checks each value in Kafka against the source, which compares
// it exactly.
func TestMySQLEveryType(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, "CREATE DATABASE shop", everyType)
	for _, r := range everyRows {
		execAll(t, m, "INSERT INTO shop.every VALUES "+r)
	}
	stop := startReader(t, m, k, "types", nil)
	waitCaughtUp(t, m, k, "types", "types", 60*time.Second)
	// Streamed copies of every row, an update of every column, a key
	// change, a delete, and DDL.
	execAll(t, m,
		"INSERT INTO shop.every SELECT id + 100, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, b, d65, d10, d38, f, dbl, bt1, bt64, dt, dtm, dtm6, ts, tm, tm6, yr, c, vc, tt, tx, mt, lt, l1, gb, bn, vb, bl, lb, e, st, js, g, pt FROM shop.every",
		"UPDATE shop.every e JOIN shop.every s ON s.id = 2 SET e.ti = s.ti, e.biu = s.biu, e.d65 = s.d65, e.f = s.f, e.dbl = s.dbl, e.bt64 = s.bt64, e.dtm6 = s.dtm6, e.tm6 = s.tm6, e.gb = s.gb, e.lb = s.lb, e.st = s.st, e.js = s.js, e.g = s.g WHERE e.id = 104",
		"UPDATE shop.every SET id = 200 WHERE id = 101",
		"DELETE FROM shop.every WHERE id = 103",
		"ALTER TABLE shop.every ADD COLUMN extra DECIMAL(20,5) NOT NULL DEFAULT 1.5",
		"UPDATE shop.every SET extra = -0.00001 WHERE id = 102",
	)
	waitCaughtUp(t, m, k, "types", "types", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := verify.CompareExact(ctx, conn, k.Addrs, "types", schema.TableID{Database: "shop", Name: "every"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Details {
		t.Error(d)
	}
	if !res.Equal() {
		t.Errorf("%s", res)
	}
	if res.SourceRows != 7 {
		t.Errorf("source has %d rows, want 7", res.SourceRows)
	}

	// The check must see a one-ulp float change and one changed character
	// made behind the (stopped) reader's back.
	execAll(t, m, "UPDATE shop.every SET f = 0.10000001, gb = '汉子' WHERE id = 4")
	res, err = verify.CompareExact(ctx, conn, k.Addrs, "types", schema.TableID{Database: "shop", Name: "every"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Differing != 1 || len(res.Details) != 2 {
		t.Errorf("a changed row went unnoticed: %s %v", res, res.Details)
	}
}
