package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// badEnv is what every case of the bad-input catalogue shares: one broker,
// the servers, and the checkpoints a bad run must leave where they are.
type badEnv struct {
	k            *harness.Kafka
	my, myOff    *harness.MariaDB
	pg, pgRep    *harness.Postgres
	s3           *harness.S3
	dir          string
	local, onS3  *iceberg.Lake
	localTables  []string // namespace.table of the local lake
	s3Tables     []string
	replace      *strings.Replacer
	deadPort     int
	poisonOffset int64 // offset of the first poison record in each pz topic
}

// Config templates; @NAME@ placeholders are filled by badEnv.replace.
const (
	badMySQL = `name: catmy
type: mysql
mysql:
  host: 127.0.0.1
  port: @MYPORT@
  user: tributary
  password: ${TEST_DB_PASSWORD}
  server_id: 202
  connect_timeout: 3s
tables:
  include: ["shop.*"]
kafka:
  brokers: ["@KAFKA@"]
`
	badPostgres = `name: catpg
type: postgres
postgres:
  host: 127.0.0.1
  port: @PGPORT@
  user: tributary
  password: ${TEST_PG_PASSWORD}
  database: test
  connect_timeout: 3s
tables:
  include: ["public.*"]
kafka:
  brokers: ["@KAFKA@"]
`
	badLake = `kafka:
  brokers: ["@KAFKA@"]
  group: cat-@CASE@
  session_timeout: 6s
warehouse:
  path: @WH@
sources:
  - topic_prefix: catmy
commit:
  interval: 200ms
`
	badS3Lake = `kafka:
  brokers: ["@KAFKA@"]
  group: cat-@CASE@
  session_timeout: 6s
warehouse:
  s3:
    bucket: lake
    prefix: wh
    region: us-east-1
    endpoint: @S3EP@
    path_style: true
    access_key_id: @S3KEY@
    secret_access_key: ${TEST_S3_SECRET}
catalog:
  uri: sqlite:@S3CAT@
sources:
  - topic_prefix: pzs3
    namespace: "{prefix}"
commit:
  interval: 200ms
`
)

// edit replaces old with new in s once; old must be there.
func edit(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic(fmt.Sprintf("edit: %q is not in\n%s", old, s))
	}
	return strings.Replace(s, old, new, 1)
}

// poisonLake is the lake config of one poisoned prefix.
func poisonLake(prefix string) string {
	return edit(badLake, "  - topic_prefix: catmy\n", "  - topic_prefix: "+prefix+"\n    namespace: \"{prefix}\"\n")
}

// badCase is one entry of the catalogue: a command run on a config, the
// exit code it must end with, and what its output must say (what is
// wrong, and how to fix it).
type badCase struct {
	name string
	cmd  string // reader or compactor
	// yaml is the config file; "" runs the command without -c.
	yaml string
	// args replace "-c FILE" when set.
	args []string
	env  []string
	// setup and cleanup change a server around the run.
	setup, cleanup func(t *testing.T, e *badEnv)
	code           int
	want           []string
	// running: the compactor stops the bad table and serves the others;
	// once the output says want, SIGTERM must stop it with code.
	running bool
}

func badCatalogue() []badCase {
	reader := func(name, yaml string, code int, want ...string) badCase {
		return badCase{name: name, cmd: "reader", yaml: yaml, code: code, want: want}
	}
	lakeCase := func(name, yaml string, code int, want ...string) badCase {
		return badCase{name: name, cmd: "compactor", yaml: yaml, code: code, want: want}
	}
	poison := func(name, prefix string, want ...string) badCase {
		return badCase{name: name, cmd: "compactor", yaml: poisonLake(prefix), running: true, code: 0,
			want: append([]string{"lake table stopped: a record cannot be applied", "topic " + prefix + ".shop.t partition 0 offset 2:"}, want...)}
	}
	setGlobal := func(set, reset string) (func(*testing.T, *badEnv), func(*testing.T, *badEnv)) {
		return func(t *testing.T, e *badEnv) { execAll(t, e.my, "SET GLOBAL "+set) },
			func(t *testing.T, e *badEnv) { execAll(t, e.my, "SET GLOBAL "+reset) }
	}
	stmtSet, stmtReset := setGlobal("binlog_format = 'STATEMENT'", "binlog_format = 'ROW'")
	minSet, minReset := setGlobal("binlog_row_image = 'MINIMAL'", "binlog_row_image = 'FULL'")
	my, pg := badMySQL, badPostgres
	cases := []badCase{
		// Source config files: exit 2, file:line:column and the fix.
		{name: "no-config-flag", cmd: "reader", args: []string{}, code: 2, want: []string{"-c FILE is required"}},
		{name: "config-file-missing", cmd: "reader", args: []string{"-c", "/nonexistent/orders.yaml"}, code: 2,
			want: []string{"/nonexistent/orders.yaml", "no such file or directory"}},
		reader("yaml-tab-indent", edit(my, "  host: 127.0.0.1", "\thost: 127.0.0.1"), 2, "invalid YAML at", "cfg.yaml:4:", "indent with spaces, not tabs"),
		reader("yaml-unclosed-list", edit(my, `["@KAFKA@"]`, `["@KAFKA@"`), 2, "invalid YAML at", "cfg.yaml:"),
		reader("yaml-two-documents", my+"---\n"+my, 2, "holds 2 YAML documents", "put one configuration in each file"),
		reader("yaml-empty-file", "", 2, "the file is empty; see docs/config.md"),
		reader("unknown-key", edit(my, "  password:", "  pasword:"), 2, `unknown key "pasword" at`, "cfg.yaml:7:3", `did you mean "password"`),
		reader("unknown-top-key", edit(my, "kafka:", "kafak:"), 2, `unknown key "kafak"`, `did you mean "kafka"`),
		reader("duplicate-key", edit(my, "  server_id: 202\n", "  server_id: 202\n  server_id: 203\n"), 2, `duplicate key "server_id" at`, "keep one of the two"),
		reader("port-not-number", edit(my, "port: @MYPORT@", "port: abc"), 2, "mysql.port at", `expected a whole number, got "abc"`),
		reader("port-quoted", edit(my, "port: @MYPORT@", `port: "3306"`), 2, "mysql.port at", "whole number"),
		reader("port-out-of-range", edit(my, "port: @MYPORT@", "port: 70000"), 2, "mysql.port", "70000"),
		reader("chunk-size-fraction", my+"snapshot:\n  chunk_size: 3.5\n", 2, "snapshot.chunk_size at", "whole number"),
		reader("duration-bare-number", edit(my, "connect_timeout: 3s", "connect_timeout: 10"), 2, "mysql.connect_timeout at", "10s"),
		reader("size-bad-unit", edit(my, `  brokers: ["@KAFKA@"]`, "  brokers: [\"@KAFKA@\"]\n  batch_max_bytes: 16 potatoes"), 2, "kafka.batch_max_bytes at", "MiB"),
		reader("type-invalid", edit(my, "type: mysql", "type: oracle"), 2, "type", `"oracle"`, "mysql", "postgres"),
		reader("snapshot-mode-invalid", my+"snapshot:\n  mode: always\n", 2, "snapshot.mode", `"always"`, "initial", "never"),
		reader("tls-mode-invalid", edit(my, "  connect_timeout: 3s\n", "  connect_timeout: 3s\n  tls:\n    mode: sometimes\n"), 2, "mysql.tls.mode", "verify-full"),
		reader("tls-file-without-tls", edit(my, "  connect_timeout: 3s\n", "  connect_timeout: 3s\n  tls:\n    ca_file: /etc/ca.pem\n"), 2, "mysql.tls", "disable"),
		reader("flavor-invalid", edit(my, "  connect_timeout: 3s\n", "  connect_timeout: 3s\n  flavor: percona\n"), 2, "mysql.flavor", "mariadb"),
		reader("without-pk-policy-invalid", edit(my, `  include: ["shop.*"]`, "  include: [\"shop.*\"]\n  without_primary_key: ignore"), 2, "tables.without_primary_key", "skip"),
		reader("missing-host", edit(my, "  host: 127.0.0.1\n", ""), 2, "mysql.host", "required"),
		reader("missing-server-id", edit(my, "  server_id: 202\n", ""), 2, "mysql.server_id in", "set it to a number not used by any replica"),
		reader("missing-name", edit(my, "name: catmy\n", ""), 2, "name", "required"),
		reader("missing-type-block", edit(my, "type: mysql", "type: postgres"), 2, "postgres", "mysql"),
		reader("bad-name", edit(my, "name: catmy", "name: Cat My"), 2, "name", `"Cat My"`),
		reader("include-without-dot", edit(my, `["shop.*"]`, `["shop"]`), 2, "tables.include[0]", "shop.*"),
		reader("keys-with-wildcard", edit(my, `  include: ["shop.*"]`, "  include: [\"shop.*\"]\n  keys:\n    \"shop.*\": [id]"), 2, "tables.keys", "wildcard"),
		reader("brokers-empty", edit(my, `  brokers: ["@KAFKA@"]`, "  brokers: []"), 2, "kafka.brokers is empty", `set kafka.brokers: ["host:9092"]`),
		reader("broker-without-port", edit(my, `["@KAFKA@"]`, `["localhost"]`), 2, "kafka.brokers[0]", "host:port"),
		reader("env-secret-unset", edit(my, "${TEST_DB_PASSWORD}", "${TRIBUTARY_UNSET_SECRET}"), 2, "mysql.password at", "TRIBUTARY_UNSET_SECRET", "not set"),
		reader("file-secret-missing", edit(my, "${TEST_DB_PASSWORD}", "file:/nonexistent/db-password"), 2, "mysql.password at",
			"cannot read secret file /nonexistent/db-password: no such file or directory; create it or fix the path after file:"),
		reader("file-secret-too-big", edit(my, "${TEST_DB_PASSWORD}", "file:/dev/zero"), 2, "mysql.password at", "more than the 65536 bytes a secret may have"),
		reader("resnapshot-flag-bad", my, 2, "--resnapshot", "want database.table"),

		// Lake config files: exit 2.
		lakeCase("lake-unknown-key", edit(badLake, "  path:", "  pth:"), 2, `unknown key "pth"`, `did you mean "path"`),
		lakeCase("lake-no-warehouse", edit(badLake, "warehouse:\n  path: @WH@\n", ""), 2, "warehouse", "set path (a local folder) or s3 (a bucket)"),
		lakeCase("lake-two-warehouses", edit(badLake, "  path: @WH@\n", "  path: @WH@\n  s3: {bucket: lake}\n"), 2, "both path and s3 are set; keep one"),
		lakeCase("lake-catalog-kind-invalid", badLake+"catalog:\n  kind: hive\n", 2, "catalog.kind", `"hive"`, "sql"),
		lakeCase("lake-catalog-glue-local", badLake+"catalog:\n  kind: glue\n", 2, "glue needs the warehouse on S3"),
		lakeCase("lake-catalog-uri-scheme", badLake+"catalog:\n  uri: mysql://root@db/lake\n", 2, "catalog.uri", "neither a PostgreSQL URL nor a SQLite path", "sqlite:/path/to/catalog.db"),
		lakeCase("lake-s3-without-catalog", edit(badS3Lake, "catalog:\n  uri: sqlite:@S3CAT@\n", ""), 2, "catalog.uri", "required for a sql catalog with an S3 warehouse"),
		lakeCase("lake-s3-half-credentials", edit(badS3Lake, "    secret_access_key: ${TEST_S3_SECRET}\n", ""), 2, "set both access_key_id and secret_access_key"),
		lakeCase("lake-session-timeout", edit(badLake, "session_timeout: 6s", "session_timeout: 1s"), 2, "kafka.session_timeout", "use 6s to 5m"),
		lakeCase("lake-no-sources", edit(badLake, "sources:\n  - topic_prefix: catmy\n", ""), 2, "sources", "required"),
		lakeCase("lake-partition-by-missing", edit(badLake, "  - topic_prefix: catmy\n", "  - topic_prefix: catmy\n    tables:\n      shop.orders: {granularity: day}\n"), 2,
			"granularity", "set without partition_by", "name the date or timestamp column to partition by"),
		lakeCase("lake-write-mode-invalid", edit(badLake, "  - topic_prefix: catmy\n", "  - topic_prefix: catmy\n    tables:\n      shop.orders: {write_mode: cow}\n"), 2,
			"write_mode", `"cow"`, "copy-on-write"),
		lakeCase("lake-granularity-invalid", edit(badLake, "  - topic_prefix: catmy\n", "  - topic_prefix: catmy\n    tables:\n      shop.orders: {partition_by: created, granularity: week}\n"), 2,
			"granularity", `"week"`, "month"),

		// MySQL/MariaDB sources.
		reader("mysql-wrong-password", my, 3, "access denied: check mysql.user and mysql.password"),
		reader("mysql-unreachable", edit(my, "port: @MYPORT@", "port: @DEADPORT@"), 1, "is the server running and reachable? check mysql.host and mysql.port"),
		reader("kafka-unreachable", edit(my, `["@KAFKA@"]`, `["127.0.0.1:@DEADPORT@"]`), 1, "is Kafka reachable"),
		reader("mysql-binlog-off", edit(edit(my, "port: @MYPORT@", "port: @MYOFFPORT@"), "name: catmy", "name: c-binlogoff"), 3,
			"binary logging is off", "start the server with log_bin"),
		{name: "mysql-statement-format", cmd: "reader", yaml: my, setup: stmtSet, cleanup: stmtReset, code: 3,
			want: []string{"binlog_format is STATEMENT, not ROW", "SET GLOBAL binlog_format = 'ROW'"}},
		{name: "mysql-minimal-row-image", cmd: "reader", yaml: my, setup: minSet, cleanup: minReset, code: 3,
			want: []string{"binlog_row_image is MINIMAL, not FULL", "SET GLOBAL binlog_row_image = 'FULL'"}},
		reader("mysql-no-replication-grant", edit(my, "user: tributary", "user: weak"), 3, "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'weak'"),
		reader("mysql-no-primary-key", edit(edit(my, `["shop.*"]`, `["shop.*", "nopk.*"]`), "name: catmy", "name: c-mynopk"), 3,
			"table nopk.t has no primary key", "ALTER TABLE `nopk`.`t` ADD PRIMARY KEY", "tables.without_primary_key: skip"),
		reader("mysql-keys-unknown-column", edit(edit(my, `["shop.*"]`, "[\"shop.*\", \"nopk.*\"]\n  keys:\n    nopk.t: [nope]"), "name: catmy", "name: c-mykeys"), 3, "nopk.t", `"nope"`),
		reader("mysql-unsupported-type", edit(edit(my, `["shop.*"]`, `["shop.*", "uu.*"]`), "name: catmy", "name: c-myuuid"), 3, "column u: character set \"armscii8\": unknown character set", "tables.exclude"),

		// PostgreSQL sources.
		reader("pg-wrong-password", pg, 3, "password authentication failed", "postgres.password"),
		reader("pg-unreachable", edit(pg, "port: @PGPORT@", "port: @DEADPORT@"), 1, "postgres.host", "postgres.port"),
		reader("pg-database-missing", edit(pg, "database: test", "database: nope"), 3, `database "nope" does not exist`, "postgres.database"),
		reader("pg-wal-level-replica", edit(edit(pg, "port: @PGPORT@", "port: @PGREPPORT@"), "name: catpg", "name: c-pgwal"), 3,
			"wal_level is replica, not logical", "ALTER SYSTEM SET wal_level = logical;"),
		reader("pg-no-replication-role", edit(edit(pg, "user: tributary", "user: norepl"), "name: catpg", "name: c-pgnorepl"), 3,
			"lacks the REPLICATION attribute", `ALTER ROLE "norepl" WITH REPLICATION;`),
		reader("pg-no-primary-key", edit(pg, `["public.*"]`, `["public.*", "nopk.*"]`), 3,
			"table nopk.t has no primary key", "REPLICA IDENTITY FULL", "tables.without_primary_key: skip"),
		reader("pg-replica-identity-nothing", edit(pg, `["public.*"]`, `["public.*", "ri.*"]`), 3,
			"REPLICA IDENTITY NOTHING", `ALTER TABLE "ri"."t" REPLICA IDENTITY DEFAULT;`),
		reader("pg-keys-unknown-column", edit(pg, `["public.*"]`, "[\"public.*\", \"nopk.*\"]\n  keys:\n    nopk.t: [nope]"), 3,
			`tables.keys names column "nope", which nopk.t does not have`),
		reader("pg-slot-wrong-plugin", edit(pg, "name: catpg", "name: c-pgplugin"), 3,
			"uses the output plugin test_decoding, not pgoutput", "pg_drop_replication_slot('tributary_c_pgplugin')"),
		reader("pg-publication-missing-table", edit(edit(pg, "name: catpg", "name: c-pgpub"), `["public.*"]`, `["pm.*"]`), 3,
			`does not include "pm"."b"`, `ALTER PUBLICATION "tributary_c_pgpub" ADD TABLE "pm"."b";`),

		// The lake: the compactor stops before joining its group.
		lakeCase("lake-kafka-unreachable", edit(badLake, `["@KAFKA@"]`, `["127.0.0.1:@DEADPORT@"]`), 1, "is Kafka reachable? check kafka.brokers"),
		lakeCase("s3-wrong-secret", badS3Lake, 1, "access denied", "check warehouse.s3.access_key_id and warehouse.s3.secret_access_key"),
		lakeCase("s3-unknown-key-id", edit(badS3Lake, "access_key_id: @S3KEY@", "access_key_id: nobody"), 1, "access denied", "warehouse.s3.access_key_id"),
		lakeCase("s3-bucket-missing", edit(badS3Lake, "bucket: lake", "bucket: nolake"), 1, `bucket "nolake" does not exist; create it or fix warehouse.s3.bucket`),
		lakeCase("s3-endpoint-unreachable", edit(badS3Lake, "endpoint: @S3EP@", "endpoint: http://127.0.0.1:@DEADPORT@"), 1,
			"cannot reach the S3 endpoint", "check warehouse.s3.endpoint"),
		lakeCase("catalog-pg-unreachable", badLake+"catalog:\n  uri: postgres://tributary@127.0.0.1:@DEADPORT@/lake\n", 1,
			"the catalog database does not answer", "check catalog.uri"),
		lakeCase("catalog-pg-wrong-password", badLake+"catalog:\n  uri: postgres://tributary:nope@127.0.0.1:@PGPORT@/test\n", 1,
			"the catalog database does not answer", "password authentication failed", "check catalog.uri"),
		lakeCase("catalog-sqlite-unwritable", badLake+"catalog:\n  uri: sqlite:/proc/tributary/catalog.db\n", 1,
			"cannot open the SQLite catalog /proc/tributary/catalog.db", "fix catalog.uri"),
		lakeCase("warehouse-not-a-folder", edit(badLake, "path: @WH@", "path: /etc/hostname/lake"), 1,
			"/etc/hostname/lake", "not a directory", "fix warehouse.path"),
		lakeCase("warehouse-unwritable", edit(badLake, "path: @WH@", "path: /proc/tributary-lake")+"catalog:\n  uri: sqlite:@DIR@/other-catalog.db\n", 1,
			"lake warehouse /proc/tributary-lake: cannot write", "fix warehouse.path"),

		// Poison records on a change topic: the table stops at the record,
		// with the fix; the others go on.
		poison("poison-not-json", "pz1", "decode envelope: invalid character", "kafka-delete-records.sh"),
		poison("poison-truncated-json", "pz2", "decode envelope: unexpected end of JSON input", "kafka-delete-records.sh"),
		poison("poison-wrong-envelope", "pz3", "decode envelope: bad op", "kafka-delete-records.sh"),
		poison("poison-unknown-schema-version", "pz4", "unknown schema version: shop.t version 99 is not on pz4._schemas", "kafka-delete-records.sh"),
		poison("poison-unknown-column", "pz5", `has no column \"nope\"`, "kafka-delete-records.sh"),
		poison("poison-wrong-value-type", "pz6", "column v:", "kafka-delete-records.sh"),
		poison("poison-other-table", "pz7", "a change of table shop.other, whose topic is pz7.shop.other", "kafka-delete-records.sh"),
		{name: "schema-incompatible-change", cmd: "compactor", yaml: poisonLake("pz8"), running: true, want: []string{"lake table stopped", "topic=pz8.shop.t",
			"table pz8.t column id: lake type long, source type string", "a key or partition column cannot be replaced", "source schema change is incompatible with the lake table", "drop the lake table", "--resnapshot"}},
	}
	for i := range cases {
		switch cases[i].name {
		case "mysql-wrong-password":
			cases[i].env = []string{"TEST_DB_PASSWORD=nope"}
		case "pg-wrong-password":
			cases[i].env = []string{"TEST_PG_PASSWORD=nope"}
		case "mysql-no-replication-grant":
			cases[i].env = []string{"TEST_DB_PASSWORD=weak"}
		case "pg-no-replication-role":
			cases[i].env = []string{"TEST_PG_PASSWORD=norepl"}
		case "s3-wrong-secret":
			cases[i].env = []string{"TEST_S3_SECRET=wrong-secret"}
		case "resnapshot-flag-bad":
			cases[i].args = []string{"--resnapshot", "orders"}
		}
	}
	return cases
}

// TestBadInputCatalogue runs the binary on each bad input of the
// catalogue: it must exit with the expected code and say what is wrong and
// how to fix it, and no reader checkpoint, replication slot or lake table
// may move.
func TestBadInputCatalogue(t *testing.T) {
	e := newBadEnv(t)
	for _, tc := range badCatalogue() {
		t.Run(tc.name, func(t *testing.T) {
			before := e.state(t, tc)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			if tc.cleanup != nil {
				t.Cleanup(func() { tc.cleanup(t, e) })
			}
			code, out := e.run(t, tc)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q", w)
				}
			}
			if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
				t.Errorf("the run panicked")
			}
			after := e.state(t, tc)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s moved:\n  before %s\n  after  %s", k, v, after[k])
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// run runs the binary on the case's config and returns its exit code and
// output.
func (e *badEnv) run(t *testing.T, tc badCase) (int, string) {
	args := []string{tc.cmd}
	if tc.args == nil || len(tc.args) > 0 && tc.args[0] != "-c" {
		path := filepath.Join(t.TempDir(), "cfg.yaml")
		yaml := e.replace.Replace(strings.ReplaceAll(tc.yaml, "@CASE@", tc.name))
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-c", path)
	}
	args = append(args, tc.args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "TEST_DB_PASSWORD="+e.my.Password, "TEST_PG_PASSWORD="+e.pg.Password, "TEST_S3_SECRET="+e.s3.SecretKey)
	cmd.Env = append(cmd.Env, tc.env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()
	if tc.running {
		saysAll := func() bool {
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(60 * time.Second); !saysAll(); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("the compactor exited (%v) before it said what is wrong:\n%s", err, out)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the compactor did not say what is wrong in 60s:\n%s", out)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		return 0, out.String()
	case <-time.After(90 * time.Second):
		t.Fatalf("%s still running after 90s (a bad input must stop it):\n%s", tc.cmd, out)
	}
	return 0, ""
}

var configName = regexp.MustCompile(`(?m)^name: (\S+)$`)

// state returns everything a bad run must not move: the baseline readers'
// checkpoints, the case's own reader checkpoint, the PostgreSQL slot's
// confirmed position, and the metadata file of every lake table.
func (e *badEnv) state(t *testing.T, tc badCase) map[string]string {
	ctx := context.Background()
	out := map[string]string{}
	names := []string{"catmy", "catpg"}
	if m := configName.FindStringSubmatch(tc.yaml); m != nil && tc.cmd == "reader" {
		names = append(names, m[1])
	}
	for _, n := range names {
		cp := checkpointOf(t, e.k, n, n)
		b, _ := json.Marshal(cp)
		out["checkpoint "+n] = string(b)
	}
	conn, err := pgx.Connect(ctx, e.pg.SuperConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT slot_name, coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var slot, lsn string
		if err := rows.Scan(&slot, &lsn); err != nil {
			t.Fatal(err)
		}
		out["slot "+slot] = lsn
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		lake   *iceberg.Lake
		tables []string
	}{{e.local, e.localTables}, {e.onS3, e.s3Tables}} {
		for _, name := range l.tables {
			ns, tbl, _ := strings.Cut(name, ".")
			loc, err := l.lake.MetadataLocation(ctx, ns, tbl)
			if err != nil {
				t.Fatalf("lake table %s: %v", name, err)
			}
			out["lake table "+name] = loc
		}
	}
	return out
}

// newBadEnv starts the servers, gives the baseline readers and the lake a
// first commit each, and plants the poison records.
func newBadEnv(t *testing.T) *badEnv {
	ctx := context.Background()
	e := &badEnv{k: harness.KafkaT(t, harness.KafkaOptions{}), dir: t.TempDir()}
	e.my = harness.MariaDBT(t, harness.MariaDBOptions{})
	e.myOff = harness.MariaDBT(t, harness.MariaDBOptions{NoBinlog: true})
	e.pg = harness.PostgresT(t, harness.PostgresOptions{})
	e.pgRep = harness.PostgresT(t, harness.PostgresOptions{ExtraArgs: []string{"-c", "wal_level=replica"}})
	e.s3 = harness.S3T(t, harness.S3Options{})
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e.deadPort = port
	wh := filepath.Join(e.dir, "warehouse")
	s3cat := filepath.Join(e.dir, "s3-catalog.db")
	e.replace = strings.NewReplacer("@KAFKA@", e.k.Addrs[0], "@MYPORT@", strconv.Itoa(e.my.Port), "@MYOFFPORT@", strconv.Itoa(e.myOff.Port),
		"@PGPORT@", strconv.Itoa(e.pg.Port), "@PGREPPORT@", strconv.Itoa(e.pgRep.Port), "@DEADPORT@", strconv.Itoa(e.deadPort),
		"@WH@", wh, "@DIR@", e.dir, "@S3EP@", e.s3.Endpoint, "@S3KEY@", e.s3.AccessKey, "@S3CAT@", s3cat)

	// MariaDB: a captured table, and the tables and users of the cases.
	execAll(t, e.my,
		"CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO shop.orders VALUES (1, 'a'), (2, 'b'), (3, 'c')",
		"CREATE DATABASE nopk", "CREATE TABLE nopk.t (id INT, note VARCHAR(20))",
		"CREATE DATABASE uu", "CREATE TABLE uu.t (id INT PRIMARY KEY, u VARCHAR(10) CHARACTER SET armscii8)",
		"CREATE USER weak IDENTIFIED BY 'weak'", "GRANT SELECT ON *.* TO weak",
	)
	stop := startReader(t, e.my, e.k, "catmy", func(c *mysql.Config) { c.ServerID = 301 })
	waitCaughtUp(t, e.my, e.k, "catmy", "catmy", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("baseline mysql reader: %v", err)
	}

	// PostgreSQL: the same, plus a slot of another plugin and a
	// publication the reader cannot change.
	pgExec(t, e.pg,
		"CREATE TABLE public.items (id int PRIMARY KEY, note text)", "INSERT INTO public.items VALUES (1, 'a'), (2, 'b')", "ALTER TABLE public.items OWNER TO tributary",
		"CREATE ROLE norepl LOGIN PASSWORD 'norepl'", "GRANT pg_read_all_data TO norepl",
		"CREATE SCHEMA nopk", "CREATE TABLE nopk.t (id int, note text)", "ALTER TABLE nopk.t OWNER TO tributary",
		"CREATE SCHEMA ri", "CREATE TABLE ri.t (id int PRIMARY KEY)", "ALTER TABLE ri.t REPLICA IDENTITY NOTHING", "ALTER TABLE ri.t OWNER TO tributary",
		"CREATE SCHEMA pm", "CREATE TABLE pm.a (id int PRIMARY KEY)", "CREATE TABLE pm.b (id int PRIMARY KEY)",
		"CREATE PUBLICATION tributary_c_pgpub FOR TABLE pm.a",
		"SELECT pg_create_logical_replication_slot('tributary_c_pgplugin', 'test_decoding')",
	)
	_, stopPG := startPGReader(t, e.pg, e.k, "catpg", nil)
	pgWaitCaughtUp(t, e.pg, e.k, "catpg", 60*time.Second)
	if err := stopPG(); err != nil {
		t.Fatalf("baseline postgres reader: %v", err)
	}

	// The lakes: one commit of every table, then the poison.
	prefixes := []string{"pz1", "pz2", "pz3", "pz4", "pz5", "pz6", "pz7", "pz8"}
	for _, p := range append(prefixes, "pzs3") {
		seedPoisonTopic(t, e.k, p)
	}
	e.local = iceberg.New(iceberg.Config{Warehouse: wh})
	t.Cleanup(func() { e.local.Close() })
	e.onS3 = iceberg.New(iceberg.Config{Warehouse: "s3://lake/wh", CatalogURI: "sqlite:" + s3cat, S3: iceberg.S3Config{
		Region: e.s3.Region, Endpoint: e.s3.Endpoint, PathStyle: true, AccessKeyID: e.s3.AccessKey, SecretAccessKey: e.s3.SecretKey}})
	t.Cleanup(func() { e.onS3.Close() })
	// sources[i] writes localTables[i].
	sources := []compactor.SourceConfig{{TopicPrefix: "catmy"}}
	e.localTables = []string{"shop.orders"}
	for _, p := range prefixes {
		sources = append(sources, compactor.SourceConfig{TopicPrefix: p, Namespace: "{prefix}"})
		e.localTables = append(e.localTables, p+".t")
	}
	runBaselineCompactor(t, e.k, e.local, sources, e.localTables)
	e.s3Tables = []string{"pzs3.t"}
	runBaselineCompactor(t, e.k, e.onS3, []compactor.SourceConfig{{TopicPrefix: "pzs3", Namespace: "{prefix}"}}, e.s3Tables)
	plantPoison(t, e.k)
	_ = ctx
	return e
}

// poisonTable is the table of the pz topics, v1.
func poisonTable(version int, vKind schema.Kind) *schema.Table {
	t := &schema.Table{ID: schema.TableID{Database: "shop", Name: "t"}, Version: version, Key: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindInt64}}, {Name: "v", Type: schema.Type{Kind: vKind}, Nullable: true}}}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}

// produce writes records (not in a transaction) and waits for them.
func produce(t *testing.T, k *harness.Kafka, recs ...*kgo.Record) {
	t.Helper()
	cl, err := k.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// event renders one change of a poison table as a Kafka record.
func event(t *testing.T, topic string, tbl *schema.Table, id int64, v any) *kgo.Record {
	t.Helper()
	return eventRow(t, topic, tbl, id, []any{id, v})
}

// eventRow is event with the whole row; n places it in the binlog.
func eventRow(t *testing.T, topic string, tbl *schema.Table, n int64, row []any) *kgo.Record {
	t.Helper()
	e := &schema.Event{Table: tbl, Op: schema.OpCreate, After: row,
		Source: schema.Source{Connector: "mysql", Name: "pz", File: "bin.000001", Pos: uint64(100 + n), CommitTime: time.Now()}}
	key, err := schema.AppendKey(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.AppendEnvelope(nil, e, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: key, Value: val}
}

func schemaRecord(t *testing.T, prefix string, tbl *schema.Table) *kgo.Record {
	b, err := json.Marshal(tbl)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: schema.SchemaTopic(prefix), Key: []byte(schema.SchemaKey(tbl.ID, tbl.Version)), Value: b}
}

// seedPoisonTopic creates prefix's schema topic and its table topic of one
// partition, with schema v1 and two good rows (offsets 0 and 1).
func seedPoisonTopic(t *testing.T, k *harness.Kafka, prefix string) {
	cl, err := k.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := schema.TopicName(prefix, schema.TableID{Database: "shop", Name: "t"})
	if _, err := kadm.NewClient(cl).CreateTopics(context.Background(), 1, 1, nil, schema.SchemaTopic(prefix), topic); err != nil {
		t.Fatal(err)
	}
	v1 := poisonTable(1, schema.KindInt64)
	produce(t, k, schemaRecord(t, prefix, v1))
	produce(t, k, event(t, topic, v1, 1, int64(10)), event(t, topic, v1, 2, int64(20)))
}

// plantPoison appends one bad record (offset 2) to each pz topic.
func plantPoison(t *testing.T, k *harness.Kafka) {
	topic := func(p string) string { return schema.TopicName(p, schema.TableID{Database: "shop", Name: "t"}) }
	v1 := poisonTable(1, schema.KindInt64)
	good := string(event(t, topic("pz4"), v1, 3, int64(30)).Value)
	raw := func(p, value string) *kgo.Record {
		return &kgo.Record{Topic: topic(p), Key: []byte(`{"id":3}`), Value: []byte(value)}
	}
	other := &schema.Table{ID: schema.TableID{Database: "shop", Name: "other"}, Version: 1, Key: []string{"id"}, Columns: v1.Columns}
	if err := other.Prepare(); err != nil {
		t.Fatal(err)
	}
	// A key column whose type changes beyond any promotion (a non-key
	// column would be replaced).
	v2 := &schema.Table{ID: v1.ID, Version: 2, Key: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindString}}, {Name: "v", Type: schema.Type{Kind: schema.KindString}, Nullable: true}}}
	if err := v2.Prepare(); err != nil {
		t.Fatal(err)
	}
	produce(t, k, schemaRecord(t, "pz7", other), schemaRecord(t, "pz8", v2))
	produce(t, k,
		raw("pz1", "this is not JSON"),
		raw("pz2", good[:len(good)/2]),
		raw("pz3", `{"payload":{"after":{"id":3}}}`),
		raw("pz4", strings.Replace(good, `"schema_version":1`, `"schema_version":99`, 1)),
		raw("pz5", strings.Replace(good, `"after":{"id":3,"v":30}`, `"after":{"id":3,"nope":30}`, 1)),
		raw("pz6", strings.Replace(good, `"after":{"id":3,"v":30}`, `"after":{"id":3,"v":"thirty"}`, 1)),
		event(t, topic("pz7"), other, 3, int64(30)),
		eventRow(t, topic("pz8"), v2, 3, []any{"3", "thirty"}),
	)
	for _, s := range []string{`"schema_version":1`, `"after":{"id":3,"v":30}`} {
		if !strings.Contains(good, s) {
			t.Fatalf("the envelope changed shape (no %s): %s", s, good)
		}
	}
}

// runBaselineCompactor runs a compactor in this process until every table
// holds its first rows, then stops it; sources[i] writes tables[i].
func runBaselineCompactor(t *testing.T, k *harness.Kafka, l *iceberg.Lake, sources []compactor.SourceConfig, tables []string) {
	c := compactor.New(compactor.Config{Brokers: k.Addrs, Group: "cat-baseline", Interval: 200 * time.Millisecond,
		MaxRows: 1000, MaintainEvery: time.Hour, Lake: l, Logger: testLogger(t), Sources: sources})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("baseline compactor: %v", err)
		}
		if s := c.Stopped(); len(s) > 0 {
			t.Fatalf("baseline compactor stopped tables: %v", s)
		}
	}()
	for i, name := range tables {
		ns, tbl, _ := strings.Cut(name, ".")
		schemas, err := verify.ReadSchemas(context.Background(), k.Addrs, sources[i].TopicPrefix)
		if err != nil {
			t.Fatal(err)
		}
		src, err := schemas.Newest(schema.TableID{Database: "shop", Name: tbl})
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			rows, err := l.ReadTable(context.Background(), ns, tbl, src)
			if err == nil && len(rows) > 0 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("baseline compactor: lake table %s has no rows after 60s: %v", name, err)
			}
		}
	}
}
