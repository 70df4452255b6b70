package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// ddlStep is one schema change and changes to rows valid after it.
type ddlStep struct {
	ddl string
	dml []string
}

// churn returns inserts, key changes, updates and deletes that are valid
// whatever the other columns are: step k inserts its own ids.
func churn(table string, k int) []string {
	base := 1000 * (k + 1)
	return []string{
		fmt.Sprintf("INSERT INTO %s (id) VALUES (%d), (%d), (%d)", table, base, base+1, base+2),
		fmt.Sprintf("UPDATE %s SET id = id + 100000 WHERE id %% 13 = %d AND id < 100000", table, k%13),
		fmt.Sprintf("DELETE FROM %s WHERE id %% 17 = %d", table, k%17),
	}
}

// TestLakeDDLStormMySQL runs one table through a storm of schema changes
// (columns added, dropped, re-added with another type, widened, made
// incompatible, renamed, reordered, a table converted to another
// character set), each followed by row changes, with the compactor
// restarted in the middle; the lake table must equal the source.
func TestLakeDDLStormMySQL(t *testing.T) {
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	execAll(t, m, "CREATE DATABASE shop",
		"CREATE TABLE shop.storm (id INT NOT NULL PRIMARY KEY, a INT, b VARCHAR(10), c DECIMAL(10,2), d DATETIME, e TEXT)",
		"INSERT INTO shop.storm SELECT seq, seq * 3, CONCAT('b', seq), seq / 7, '2024-01-01' + INTERVAL seq HOUR, REPEAT('e', seq % 50) FROM shop.seq_1_to_300")
	startReader(t, m, k, "storm", nil)
	stop := startCompactor(t, k, l, "storm")
	steps := []ddlStep{
		{"ALTER TABLE shop.storm ADD COLUMN f INT NOT NULL DEFAULT 7", []string{"UPDATE shop.storm SET f = id % 5 WHERE id % 2 = 0"}},
		{"ALTER TABLE shop.storm MODIFY a BIGINT", []string{"UPDATE shop.storm SET a = a * 10000000000 WHERE id % 3 = 0"}},
		{"ALTER TABLE shop.storm MODIFY b VARCHAR(100)", []string{"UPDATE shop.storm SET b = REPEAT('x', 80) WHERE id % 4 = 0"}},
		{"ALTER TABLE shop.storm CHANGE c c2 DECIMAL(14,2)", []string{"UPDATE shop.storm SET c2 = 123456789012.34 WHERE id % 5 = 0"}},
		{"ALTER TABLE shop.storm MODIFY a VARCHAR(30)", []string{"UPDATE shop.storm SET a = CONCAT('text ', id) WHERE id % 6 = 0"}},
		{"ALTER TABLE shop.storm DROP COLUMN e", nil},
		{"ALTER TABLE shop.storm ADD COLUMN e INT", []string{"UPDATE shop.storm SET e = id WHERE id % 7 = 0"}},
		{"ALTER TABLE shop.storm MODIFY f INT NOT NULL DEFAULT 7 FIRST", []string{"UPDATE shop.storm SET f = 99 WHERE id % 8 = 0"}},
		{"ALTER TABLE shop.storm RENAME COLUMN b TO b_new", []string{"UPDATE shop.storm SET b_new = 'renamed' WHERE id % 9 = 0"}},
		{"ALTER TABLE shop.storm ADD COLUMN g DATETIME(6) AFTER id", []string{"UPDATE shop.storm SET g = '2025-06-01 12:00:00.123456' WHERE id % 10 = 0"}},
		{"ALTER TABLE shop.storm MODIFY d DATE", []string{"UPDATE shop.storm SET d = '1999-12-31' WHERE id % 11 = 0"}},
		{"ALTER TABLE shop.storm CONVERT TO CHARACTER SET latin1", []string{"UPDATE shop.storm SET b_new = 'café' WHERE id % 12 = 0"}},
		{"ALTER TABLE shop.storm DROP COLUMN a, ADD COLUMN a DOUBLE AFTER g", []string{"UPDATE shop.storm SET a = id / 3 WHERE id % 2 = 1"}},
		{"ALTER TABLE shop.storm MODIFY e BIGINT UNSIGNED", []string{"UPDATE shop.storm SET e = 18446744073709551615 WHERE id % 14 = 0"}},
	}
	id := schema.TableID{Database: "shop", Name: "storm"}
	for i, s := range steps {
		execAll(t, m, append(append([]string{s.ddl}, s.dml...), churn("shop.storm", i)...)...)
		if i == len(steps)/2 {
			// Halfway: the lake catches up, then the compactor restarts
			// while the storm goes on.
			waitCaughtUp(t, m, k, "storm", "storm", 60*time.Second)
			compareLake(t, m, k, l, "storm", id)
			stop()
			stop = startCompactor(t, k, l, "storm")
		}
	}
	waitCaughtUp(t, m, k, "storm", "storm", 60*time.Second)
	compareLake(t, m, k, l, "storm", id)
	compareIcebird(t, m, k, l, "storm", id)
}

// TestLakeDDLStormPostgres is TestLakeDDLStormMySQL on PostgreSQL, whose
// stream carries no DDL: the reader learns each shape from the relation
// messages and the catalog.
func TestLakeDDLStormPostgres(t *testing.T) {
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	l := localLake(t)
	pgExec(t, p,
		"CREATE TABLE storm (id int PRIMARY KEY, a int, b varchar(10), c numeric(10,2), d timestamp, e text)",
		"ALTER TABLE storm OWNER TO tributary",
		"INSERT INTO storm SELECT g, g * 3, 'b' || g, g / 7.0, '2024-01-01'::timestamp + g * interval '1 hour', repeat('e', g % 50) FROM generate_series(1, 300) g")
	startPGReader(t, p, k, "pgstorm", nil)
	stop := startCompactor(t, k, l, "pgstorm")
	steps := []ddlStep{
		{"ALTER TABLE storm ADD COLUMN f int NOT NULL DEFAULT 7", []string{"UPDATE storm SET f = id % 5 WHERE id % 2 = 0"}},
		{"ALTER TABLE storm ALTER COLUMN a TYPE bigint", []string{"UPDATE storm SET a = a * 10000000000 WHERE id % 3 = 0"}},
		{"ALTER TABLE storm ALTER COLUMN b TYPE varchar(100)", []string{"UPDATE storm SET b = repeat('x', 80) WHERE id % 4 = 0"}},
		{"ALTER TABLE storm RENAME COLUMN c TO c2", []string{"UPDATE storm SET c2 = 12345678.91 WHERE id % 5 = 0"}},
		{"ALTER TABLE storm ALTER COLUMN c2 TYPE numeric(14,2)", []string{"UPDATE storm SET c2 = 123456789012.34 WHERE id % 5 = 1"}},
		{"ALTER TABLE storm ALTER COLUMN a TYPE text", []string{"UPDATE storm SET a = 'text ' || id WHERE id % 6 = 0"}},
		{"ALTER TABLE storm DROP COLUMN e", nil},
		{"ALTER TABLE storm ADD COLUMN e int", []string{"UPDATE storm SET e = id WHERE id % 7 = 0"}},
		{"ALTER TABLE storm RENAME COLUMN b TO b_new", []string{"UPDATE storm SET b_new = 'renamed' WHERE id % 9 = 0"}},
		{"ALTER TABLE storm ALTER COLUMN d TYPE date", []string{"UPDATE storm SET d = '1999-12-31' WHERE id % 11 = 0"}},
		{"ALTER TABLE storm ALTER COLUMN f DROP NOT NULL", []string{"UPDATE storm SET f = NULL WHERE id % 12 = 0"}},
		{"ALTER TABLE storm REPLICA IDENTITY FULL", []string{"UPDATE storm SET b_new = 'full' WHERE id % 13 = 0"}},
		{"ALTER TABLE storm DROP COLUMN a, ADD COLUMN a double precision", []string{"UPDATE storm SET a = id / 3.0 WHERE id % 2 = 1"}},
		{"ALTER TABLE storm ADD COLUMN g timestamptz DEFAULT now()", []string{"UPDATE storm SET g = '2025-06-01 12:00:00.123456+02' WHERE id % 10 = 0"}},
	}
	tables := pgTables("storm")
	for i, s := range steps {
		pgExec(t, p, append(append([]string{s.ddl}, s.dml...), churn("storm", i)...)...)
		if i == len(steps)/2 {
			pgWaitCaughtUp(t, p, k, "pgstorm", 60*time.Second)
			compareLakePG(t, p, k, l, "pgstorm", tables)
			stop()
			stop = startCompactor(t, k, l, "pgstorm")
		}
	}
	pgWaitCaughtUp(t, p, k, "pgstorm", 60*time.Second)
	compareLakePG(t, p, k, l, "pgstorm", tables)
}
