package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary/integration/harness"
)

// runCheck runs `tributary check` on config files and returns its exit
// code and output.
func runCheck(t *testing.T, env []string, files ...string) (int, string) {
	t.Helper()
	args := []string{"check"}
	for _, f := range files {
		args = append(args, "-c", f)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("tributary check: %v\n%s", err, out)
	return 0, ""
}

// TestCheck runs `tributary check` against sources, Kafka and lakes that
// miss one prerequisite each: every problem must be reported with its fix
// and exit code 3 (2 for an invalid config), and a good setup must pass.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	var (
		my, myOff *harness.MariaDB
		pg, pgRep *harness.Postgres
		wg        sync.WaitGroup
	)
	wg.Go(func() { my = harness.MariaDBT(t, harness.MariaDBOptions{}) })
	wg.Go(func() { myOff = harness.MariaDBT(t, harness.MariaDBOptions{NoBinlog: true}) })
	wg.Go(func() { pg = harness.PostgresT(t, harness.PostgresOptions{}) })
	wg.Go(func() {
		pgRep = harness.PostgresT(t, harness.PostgresOptions{ExtraArgs: []string{"-c", "wal_level=replica"}})
	})
	wg.Wait()
	if my == nil || myOff == nil || pg == nil || pgRep == nil {
		t.FailNow()
	}
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, my, shopSchema...)
	execAll(t, myOff, shopSchema...)
	pgExec(t, pg, pgSchema...)
	pgExec(t, pgRep, pgSchema...)
	dead, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mysqlCfg := func(name string, m *harness.MariaDB, user, extra string, brokers string) string {
		return write(name+".yaml", fmt.Sprintf(`name: %s
type: mysql
mysql: {host: 127.0.0.1, port: %d, user: %s, password: "${PW}", server_id: 77}
tables:
  include: ["shop.*"]
%s
kafka: {brokers: [%q]}
`, name, m.Port, user, extra, brokers))
	}
	pgCfg := func(name string, p *harness.Postgres, user, extra string) string {
		return write(name+".yaml", fmt.Sprintf(`name: %s
type: postgres
postgres: {host: 127.0.0.1, port: %d, user: %s, password: "${PW}", database: %s}
tables:
  include: ["public.*"]
%s
kafka: {brokers: [%q]}
`, name, p.Port, user, p.Database, extra, k.Addrs[0]))
	}
	lakeCfg := func(name, warehouse string) string {
		return write(name+".yaml", fmt.Sprintf(`kafka: {brokers: [%q]}
warehouse: {path: %s}
sources: [{topic_prefix: x}]
`, k.Addrs[0], warehouse))
	}
	// Users with one privilege missing each.
	for _, q := range []string{
		"CREATE USER noslave IDENTIFIED BY 'pw'", "GRANT SELECT ON *.* TO noslave",
		"CREATE USER noselect IDENTIFIED BY 'pw'", "GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO noselect",
		"GRANT SELECT ON shop.orders TO noselect", "GRANT SELECT ON shop.items TO noselect",
		// kv is visible to noselect (a table it has no privilege on at all
		// is not: neither check nor the reader can know of it).
		"GRANT INSERT ON shop.kv TO noselect",
	} {
		if err := my.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	pgExec(t, pg, "CREATE ROLE norepl LOGIN PASSWORD 'pw'", "GRANT pg_read_all_data TO norepl")

	cases := []struct {
		name string
		file string
		pw   string
		// setup and undo change the server around the check.
		setup, undo []string
		code        int
		want        []string
	}{
		{name: "mysql ok", file: mysqlCfg("myok", my, my.User, "", k.Addrs[0]), pw: my.Password, code: 0,
			want: []string{"ok    source mysql", "ok    kafka: may create topics myok.*", "ok    kafka: may use transactional id tributary-reader-myok", "all checks passed"}},
		{name: "binlog off", file: mysqlCfg("myoff", myOff, myOff.User, "", k.Addrs[0]), pw: myOff.Password, code: 3,
			want: []string{"FAIL  source: binary logging is off", "fix: start the server with log_bin"}},
		{name: "statement format", file: mysqlCfg("mystmt", my, my.User, "", k.Addrs[0]), pw: my.Password, code: 3,
			setup: []string{"SET GLOBAL binlog_format = 'STATEMENT'"}, undo: []string{"SET GLOBAL binlog_format = 'ROW'"},
			want: []string{"FAIL  source: binlog_format is STATEMENT, not ROW", "fix: SET GLOBAL binlog_format = 'ROW'"}},
		{name: "minimal image", file: mysqlCfg("mymin", my, my.User, "", k.Addrs[0]), pw: my.Password, code: 3,
			setup: []string{"SET GLOBAL binlog_row_image = 'MINIMAL'"}, undo: []string{"SET GLOBAL binlog_row_image = 'FULL'"},
			want: []string{"FAIL  source: binlog_row_image is MINIMAL, not FULL", "fix: SET GLOBAL binlog_row_image = 'FULL'"}},
		{name: "no replication grant", file: mysqlCfg("mynoslave", my, "noslave", "", k.Addrs[0]), pw: "pw", code: 3,
			want: []string{"FAIL  source: user noslave may not read binlog status", "fix: GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'noslave'"}},
		{name: "no select", file: mysqlCfg("mynoselect", my, "noselect", "", k.Addrs[0]), pw: "pw", code: 3,
			want: []string{"FAIL  source: user noselect may not read shop.kv", "fix: GRANT SELECT ON `shop`.`kv` TO 'noselect'@'%';"}},
		{name: "no primary key", file: mysqlCfg("mynokey", my, my.User, "", k.Addrs[0]), pw: my.Password, code: 3,
			setup: []string{"CREATE TABLE shop.nokey (a INT, b TEXT)"}, undo: []string{"DROP TABLE shop.nokey"},
			want: []string{"FAIL  source: table shop.nokey has no primary key", "fix: ALTER TABLE `shop`.`nokey` ADD PRIMARY KEY (...)"}},
		{name: "no primary key skipped", file: mysqlCfg("mynokeyskip", my, my.User, "  without_primary_key: skip", k.Addrs[0]), pw: my.Password, code: 0,
			setup: []string{"CREATE TABLE shop.nokey (a INT, b TEXT)"}, undo: []string{"DROP TABLE shop.nokey"},
			want: []string{"all checks passed"}},
		{name: "wrong password", file: mysqlCfg("mypw", my, my.User, "", k.Addrs[0]), pw: "wrong", code: 3,
			want: []string{"FAIL  source:", "mysql.password"}},
		{name: "kafka unreachable", file: mysqlCfg("mykafka", my, my.User, "", fmt.Sprintf("127.0.0.1:%d", dead)), pw: my.Password, code: 3,
			want: []string{"ok    source mysql", "FAIL  kafka at [127.0.0.1:", "fix: check kafka.brokers"}},
		{name: "postgres ok", file: pgCfg("pgok", pg, pg.User, ""), pw: pg.Password, code: 0,
			want: []string{"ok    source postgres", "all checks passed"}},
		{name: "wal_level replica", file: pgCfg("pgrep", pgRep, pgRep.User, ""), pw: pgRep.Password, code: 3,
			want: []string{"FAIL  source: wal_level is replica, not logical", "ALTER SYSTEM SET wal_level = logical;"}},
		{name: "no replication role", file: pgCfg("pgnorepl", pg, "norepl", ""), pw: "pw", code: 3,
			want: []string{"lacks the REPLICATION attribute", `ALTER ROLE "norepl" WITH REPLICATION;`}},
		{name: "postgres no key", file: pgCfg("pgnokey", pg, pg.User, ""), pw: pg.Password, code: 3,
			setup: []string{"CREATE TABLE nokey (a int, b text)", "ALTER TABLE nokey OWNER TO tributary"}, undo: []string{"DROP TABLE nokey"},
			want: []string{"FAIL  source:", "nokey"}},
		{name: "invalid config", file: write("bad.yaml", "name: bad\ntype: mysql\nmysql: {host: h, port: 3306, user: u, server_id: 1}\ntabels: {}\n"), code: 2,
			want: []string{"FAIL  config:", `unknown key "tabels"`, `did you mean "tables"?`}},
		{name: "lake ok", file: lakeCfg("lakeok", filepath.Join(dir, "wh")), code: 0,
			want: []string{"ok    kafka: [", "ok    lake: catalog answers, warehouse", "all checks passed"}},
		{name: "lake unwritable", file: lakeCfg("lakero", "/proc/tributary-check"), code: 3,
			want: []string{"FAIL  lake:", "warehouse"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isPG := strings.HasPrefix(c.name, "postgres") || strings.HasPrefix(c.name, "pg") || strings.Contains(c.name, "wal_level") || strings.Contains(c.name, "replication role")
			for _, q := range c.setup {
				if isPG {
					pgExec(t, pg, q)
				} else if err := my.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			defer func() {
				for _, q := range c.undo {
					if isPG {
						pgExec(t, pg, q)
					} else if err := my.Exec(ctx, q); err != nil {
						t.Fatal(err)
					}
				}
			}()
			code, out := runCheck(t, []string{"PW=" + c.pw}, c.file)
			if code != c.code {
				t.Errorf("exit code %d, want %d:\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}
