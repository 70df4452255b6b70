package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const file = "sources/a.yaml"

// minimalMySQL is the smallest valid MySQL source.
const minimalMySQL = `name: orders
type: mysql
mysql:
  host: 127.0.0.1
  user: tributary
  server_id: 5401
`

func parse(t *testing.T, doc string) (*Source, error) {
	t.Helper()
	return ParseSource(file, []byte(doc))
}

// unsetenv unsets name for the rest of the test and restores it afterwards.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

// errLines splits a (joined) error into its lines.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestParseSourceMinimalMySQLDefaults(t *testing.T) {
	got, err := parse(t, minimalMySQL)
	if err != nil {
		t.Fatal(err)
	}
	want := &Source{
		Name: "orders",
		Type: SourceMySQL,
		MySQL: &MySQL{
			Host: "127.0.0.1", Port: 3306, User: "tributary", ServerID: 5401, Flavor: FlavorAuto,
			ConnectTimeout: Duration(10 * time.Second), HeartbeatInterval: Duration(10 * time.Second),
			TLS: TLS{Mode: TLSDisable},
		},
		Tables:   Tables{WithoutPrimaryKey: NoKeyFail},
		Snapshot: Snapshot{Mode: SnapshotInitial, ChunkSize: 10000, Workers: 2},
		Kafka: Kafka{
			TopicPrefix: "orders", Partitions: 3, ReplicationFactor: -1,
			TransactionalID: "tributary-reader-orders", BatchMaxEvents: 10000, SplitTransactionRows: 100000,
			BatchMaxBytes: 16 * MiB, Linger: Duration(100 * time.Millisecond), Compression: "snappy", TLS: TLS{Mode: TLSDisable},
		},
		Log:         Log{Level: LogInfo, Format: LogText},
		MemoryLimit: 160 * MiB,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\n%+v\nwant\n%+v\n%+v", got, got.MySQL, want, want.MySQL)
	}
	if !got.Kafka.UsesEmbeddedBroker() {
		t.Error("UsesEmbeddedBroker() = false without brokers")
	}
	if got.MySQL.Addr() != "127.0.0.1:3306" {
		t.Errorf("Addr() = %q", got.MySQL.Addr())
	}
}

func TestParseSourceMinimalPostgresDerivesNames(t *testing.T) {
	got, err := parse(t, `name: billing-eu
type: postgres
postgres:
  host: db.internal
  user: tributary
  database: billing
`)
	if err != nil {
		t.Fatal(err)
	}
	pg := got.Postgres
	if pg.Port != 5432 || pg.Slot != "tributary_billing_eu" || pg.Publication != "tributary_billing_eu" {
		t.Errorf("port, slot, publication = %d, %q, %q", pg.Port, pg.Slot, pg.Publication)
	}
	if got.Kafka.TopicPrefix != "billing-eu" || got.Kafka.TransactionalID != "tributary-reader-billing-eu" {
		t.Errorf("topic prefix, transactional id = %q, %q", got.Kafka.TopicPrefix, got.Kafka.TransactionalID)
	}
}

func TestParseSourceFull(t *testing.T) {
	t.Setenv("TEST_DB_PASSWORD", "0123")
	got, err := parse(t, `name: orders
type: mysql
mysql:
  host: db.internal
  port: 3307
  user: cdc
  password: ${TEST_DB_PASSWORD}
  server_id: 4294967295
  flavor: mariadb
  connect_timeout: 1m30s
  heartbeat_interval: 500ms
  tls: {mode: verify-full, ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, server_name: db}
tables:
  include: ["shop.*"]
  exclude:
    - shop.tmp_*
  keys:
    shop.audit_log: [id, created_at]
  without_primary_key: skip
snapshot:
  mode: never
  chunk_size: 1_000_000
kafka:
  brokers: ["k1:9092", "k2:9093"]
  topic_prefix: shop.orders
  partitions: 12
  replication_factor: 3
  transactional_id: orders-tx
  batch_max_events: 500
  batch_max_bytes: 4MiB
  linger: 0s
  compression: zstd
  sasl: {mechanism: scram-sha-512, user: u, password: p}
  tls: {mode: require}
metrics:
  listen: ":9464"
log:
  level: debug
  format: json
`)
	if err != nil {
		t.Fatal(err)
	}
	wantMySQL := &MySQL{
		Host: "db.internal", Port: 3307, User: "cdc", Password: "0123", ServerID: 4294967295,
		Flavor: FlavorMariaDB, ConnectTimeout: Duration(90 * time.Second), HeartbeatInterval: Duration(500 * time.Millisecond),
		TLS: TLS{Mode: TLSVerifyFull, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "db"},
	}
	if !reflect.DeepEqual(got.MySQL, wantMySQL) {
		t.Errorf("mysql = %+v, want %+v", got.MySQL, wantMySQL)
	}
	wantTables := Tables{Include: []string{"shop.*"}, Exclude: []string{"shop.tmp_*"},
		Keys: map[string][]string{"shop.audit_log": {"id", "created_at"}}, WithoutPrimaryKey: NoKeySkip}
	if !reflect.DeepEqual(got.Tables, wantTables) {
		t.Errorf("tables = %+v, want %+v", got.Tables, wantTables)
	}
	if got.Snapshot != (Snapshot{Mode: SnapshotNever, ChunkSize: 1_000_000, Workers: 2}) {
		t.Errorf("snapshot = %+v", got.Snapshot)
	}
	// linger: 0s is zero, which means the default.
	wantKafka := Kafka{Brokers: []string{"k1:9092", "k2:9093"}, TopicPrefix: "shop.orders", Partitions: 12,
		ReplicationFactor: 3, TransactionalID: "orders-tx", BatchMaxEvents: 500, BatchMaxBytes: 4 * MiB, SplitTransactionRows: 100000,
		Linger: Duration(100 * time.Millisecond), Compression: "zstd", SASL: &SASL{Mechanism: SASLScramSHA512, User: "u", Password: "p"},
		TLS: TLS{Mode: TLSRequire}}
	if !reflect.DeepEqual(got.Kafka, wantKafka) {
		t.Errorf("kafka = %+v, want %+v", got.Kafka, wantKafka)
	}
	if got.Kafka.UsesEmbeddedBroker() {
		t.Error("UsesEmbeddedBroker() = true with brokers")
	}
	if got.Metrics.Listen != ":9464" || got.Log != (Log{Level: LogDebug, Format: LogJSON}) {
		t.Errorf("metrics, log = %+v, %+v", got.Metrics, got.Log)
	}
	if got.Log.Level.Level() != slog.LevelDebug {
		t.Errorf("slog level = %v", got.Log.Level.Level())
	}
}

// TestParseSourceKeepsScalarsAsWritten pins what yaml.NodeToValue gets
// wrong: string values keep their exact text, whatever YAML type they look like.
func TestParseSourceKeepsScalarsAsWritten(t *testing.T) {
	for _, v := range []string{"0123", "0x1F", "1_000", "1.50", "1e3", "true", "!!str 0777"} {
		s, err := parse(t, minimalMySQL+"  password: "+v+"\n")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		want := strings.TrimPrefix(v, "!!str ")
		if s.MySQL.Password.Reveal() != want {
			t.Errorf("password: %s decoded as %q", v, s.MySQL.Password.Reveal())
		}
	}
}

// sourceErrorTests pins, line for line, what an operator reads for a broken
// source config.
var sourceErrorTests = []struct {
	name string
	doc  string
	want []string // every line of the error, in order
}{{
	name: "unknown key with suggestion",
	doc:  "name: orders\ntype: mysql\nmysql:\n  host: 127.0.0.1\n  pasword: x\n",
	want: []string{`unknown key "pasword" at sources/a.yaml:5:3; did you mean "password"?`},
}, {
	name: "unknown top-level key lists the valid keys",
	doc:  "name: orders\ncolour: red\n",
	want: []string{`unknown key "colour" at sources/a.yaml:2:1; valid top-level keys are name, type, mysql, postgres, tables, snapshot, kafka, metrics, log, memory_limit`},
}, {
	name: "unknown nested key lists the block's keys",
	doc:  "log:\n  verbosity: 3\n",
	want: []string{`unknown key "verbosity" at sources/a.yaml:2:3; valid keys in log are level, format`},
}, {
	name: "string for a number",
	doc:  minimalMySQL + "  port: abc\n",
	want: []string{`mysql.port at sources/a.yaml:7:9: expected a whole number, got "abc"`},
}, {
	name: "quoted number",
	doc:  minimalMySQL + "  port: \"3306\"\n",
	want: []string{`mysql.port at sources/a.yaml:7:9: expected a whole number, got "3306"; remove the quotes`},
}, {
	name: "fraction for a number",
	doc:  "snapshot:\n  chunk_size: 3.5\n",
	want: []string{`snapshot.chunk_size at sources/a.yaml:2:15: expected a whole number, got 3.5`},
}, {
	name: "number out of range",
	doc:  "name: orders\ntype: mysql\nmysql:\n  server_id: 5000000000\nkafka:\n  replication_factor: 40000\n",
	want: []string{
		`mysql.server_id at sources/a.yaml:4:14: 5000000000 is out of range; use a number from 0 to 4294967295`,
		`kafka.replication_factor at sources/a.yaml:6:23: 40000 is out of range; use a number from -32768 to 32767`,
	},
}, {
	name: "list for a string",
	doc:  "name: [orders]\n",
	want: []string{`name at sources/a.yaml:1:7: expected a single value, got a list`},
}, {
	name: "string for a list",
	doc:  "tables:\n  include: shop.*\n",
	want: []string{`tables.include at sources/a.yaml:2:12: expected a list, got "shop.*"; write [a, b] or one "- item" per line`},
}, {
	name: "list for a block",
	doc:  "mysql: [a]\n",
	want: []string{`mysql at sources/a.yaml:1:8: expected a mapping of keys, got a list`},
}, {
	name: "bad duration and size",
	doc:  minimalMySQL + "  connect_timeout: 10\n  heartbeat_interval: soon\nkafka:\n  batch_max_bytes: 16 MeB\n",
	want: []string{
		`mysql.connect_timeout at sources/a.yaml:7:20: duration "10" has no unit; write 10s or 10ms`,
		`mysql.heartbeat_interval at sources/a.yaml:8:23: invalid duration "soon"; use a number with a unit such as 500ms, 10s, 1m30s or 2h`,
		`kafka.batch_max_bytes at sources/a.yaml:10:20: invalid size "16 MeB"; use a whole number of bytes, or a whole number with a unit such as 512KiB, 16MiB or 1GB`,
	},
}, {
	name: "duplicate keys",
	doc:  "name: orders\nname: billing\nmysql:\n  port: 1\n  port: 2\ntables:\n  keys:\n    a.b: [id]\n    a.b: [id2]\n",
	want: []string{
		`duplicate key "name" at sources/a.yaml:2:1; it is already set at line 1, keep one of the two`,
		`duplicate key "port" at sources/a.yaml:5:3; it is already set at line 4, keep one of the two`,
		`duplicate key "a.b" at sources/a.yaml:9:5; it is already set at line 8, keep one of the two`,
	},
}, {
	name: "missing name and block",
	doc:  "type: mysql\n",
	want: []string{
		`name in sources/a.yaml: required; set it to a short lowercase name for this database, such as orders (it becomes part of topic names, the checkpoint key and the Kafka transactional id)`,
		`mysql in sources/a.yaml: required when type is mysql; add a mysql block with host, user, password and server_id`,
	},
}, {
	name: "missing type",
	doc:  "name: orders\nmysql:\n  host: h\n  user: u\n  server_id: 1\n",
	want: []string{`type in sources/a.yaml: required; set it to mysql (also for MariaDB) or postgres`},
}, {
	name: "missing connection settings",
	doc:  "name: orders\ntype: mysql\nmysql:\n  port: 3306\n",
	want: []string{
		`mysql.host in sources/a.yaml: required; set it to the server's host name or IP address`,
		`mysql.user in sources/a.yaml: required; set it to the user the reader connects as`,
		`mysql.server_id in sources/a.yaml: must be between 1 and 4294967295 and unique among replicas of this server; set it to a number not used by any replica (SHOW REPLICA HOSTS lists them)`,
	},
}, {
	name: "missing postgres database, wrong block",
	doc:  "name: orders\ntype: postgres\npostgres:\n  host: h\n  user: u\nmysql:\n  host: h\n  user: u\n  server_id: 1\n",
	want: []string{
		`mysql at sources/a.yaml:6:1: set, but type is postgres; remove the mysql block or set type: mysql`,
		`postgres.database in sources/a.yaml: required; set it to the database to capture (a replication slot belongs to one database)`,
	},
}, {
	name: "bad enum values",
	doc: minimalMySQL + "  flavor: percona\n  tls:\n    mode: verify\ntables:\n  without_primary_key: ignore\n" +
		"snapshot:\n  mode: inital\nkafka:\n  sasl:\n    mechanism: SCRAM-SHA-512\n    user: u\n  compression: lz5\nlog:\n  level: verbose\n  format: JSON\n",
	want: []string{
		`mysql.flavor at sources/a.yaml:7:3: "percona" is not valid; use one of auto, mysql, mariadb`,
		`mysql.tls.mode at sources/a.yaml:9:5: "verify" is not valid; use one of disable, require, verify-ca, verify-full`,
		`tables.without_primary_key at sources/a.yaml:11:3: "ignore" is not valid; use one of fail, skip`,
		`snapshot.mode at sources/a.yaml:13:3: "inital" is not valid; use one of initial, never (did you mean "initial"?)`,
		`kafka.compression at sources/a.yaml:18:3: "lz5" is not valid; use one of snappy, lz4, zstd, gzip, none (did you mean "lz4"?)`,
		`kafka.sasl.mechanism at sources/a.yaml:16:5: "SCRAM-SHA-512" is not valid; use one of plain, scram-sha-256, scram-sha-512 (did you mean "scram-sha-512"?)`,
		`log.level at sources/a.yaml:20:3: "verbose" is not valid; use one of debug, info, warn, error`,
		`log.format at sources/a.yaml:21:3: "JSON" is not valid; use one of text, json (did you mean "json"?)`,
	},
}, {
	name: "bad type and name",
	doc:  "name: Orders DB\ntype: mysq\n",
	want: []string{
		`name at sources/a.yaml:1:1: "Orders DB" is not valid; use 1 to 48 lowercase letters, digits, "_" and "-", starting with a letter or digit`,
		`type at sources/a.yaml:2:1: "mysq" is not valid; use one of mysql, postgres (did you mean "mysql"?)`,
	},
}, {
	name: "numbers out of their ranges",
	doc: minimalMySQL + "  port: 70000\nsnapshot:\n  chunk_size: 2000000\nkafka:\n  partitions: -1\n  replication_factor: -2\n" +
		"  batch_max_events: -5\n  linger: -1s\n",
	want: []string{
		`mysql.port at sources/a.yaml:7:3: 70000 is not a TCP port; use 1 to 65535`,
		`snapshot.chunk_size at sources/a.yaml:9:3: 2000000 is out of range; use 1 to 1000000 rows (default 10000)`,
		`kafka.partitions at sources/a.yaml:11:3: -1 is not a partition count; use 1 or more (default 3)`,
		`kafka.replication_factor at sources/a.yaml:12:3: -2 is not valid; use -1 for the broker's default, or 1 or more`,
		`kafka.batch_max_events at sources/a.yaml:13:3: -5 is not valid; use 1 or more (default 10000)`,
		`kafka.linger at sources/a.yaml:14:3: -1s is negative; use a duration such as 100ms`,
	},
}, {
	name: "addresses",
	doc:  minimalMySQL + "kafka:\n  brokers: [kafka-1, \"k:99999\"]\nmetrics:\n  listen: localhost\n",
	want: []string{
		`kafka.brokers[0] at sources/a.yaml:8:13: "kafka-1" is not host:port; write it like kafka-1.internal:9092`,
		`kafka.brokers[1] at sources/a.yaml:8:22: "k:99999" has an invalid port "99999"; use 1 to 65535`,
		`metrics.listen at sources/a.yaml:10:3: "localhost" is not host:port; write it like 127.0.0.1:9464 (or :9464 for every interface)`,
	},
}, {
	name: "tls settings that would be ignored",
	doc:  minimalMySQL + "  tls:\n    ca_file: ca.pem\n    cert_file: c.pem\n",
	want: []string{
		`mysql.tls.ca_file at sources/a.yaml:8:5: set, but mysql.tls.mode is disable, so it would be ignored; set mode to require, verify-ca or verify-full, or remove it`,
		`mysql.tls.cert_file at sources/a.yaml:9:5: set, but mysql.tls.mode is disable, so it would be ignored; set mode to require, verify-ca or verify-full, or remove it`,
		`mysql.tls at sources/a.yaml:7:3: cert_file and key_file go together for a client certificate; set both or neither`,
	},
}, {
	name: "table patterns and keys",
	doc: minimalMySQL + "tables:\n  include: [shop, \"shop.[a\", \"shop.*\"]\n  exclude: [\"*\"]\n  keys:\n" +
		"    other.t: [id]\n    shop.*: [id]\n    audit: [id, id]\n    shop.log: []\n",
	want: []string{
		`tables.include[0] at sources/a.yaml:8:13: "shop" does not match database.table names; write "shop.*" for every table of database "shop", or "*.shop" for table "shop" in every database`,
		`tables.include[1] at sources/a.yaml:8:19: "shop.[a" is not a valid pattern (syntax error in pattern); use * for any run of characters, ? for one, [abc] for a set`,
		`tables.exclude[0] at sources/a.yaml:9:13: "*" does not match database.table names; write "*.*" for every table of database "*", or "*.*" for table "*" in every database`,
		`tables.keys["audit"] at sources/a.yaml:13:5: "audit" is not a table name; write it as database.table, for example shop.audit_log`,
		`tables.keys["audit"][1] at sources/a.yaml:13:17: column "id" is listed twice`,
		`tables.keys["other.t"] at sources/a.yaml:11:5: table other.t is not captured (check tables.include and tables.exclude); remove this entry or include the table`,
		`tables.keys["shop.*"] at sources/a.yaml:12:5: "shop.*" has wildcards; keys need one exact table name per entry`,
		// Every table is excluded by "*", which matches "shop.log" too.
		`tables.keys["shop.log"] at sources/a.yaml:14:5: table shop.log is not captured (check tables.include and tables.exclude); remove this entry or include the table`,
		`tables.keys["shop.log"] at sources/a.yaml:14:5: no key columns; list the columns that identify a row, for example [id, created_at]`,
	},
}, {
	name: "empty file",
	doc:  "# nothing yet\n",
	want: []string{`sources/a.yaml: the file is empty; see docs/config.md for the keys`},
}, {
	name: "two documents",
	doc:  minimalMySQL + "---\n" + minimalMySQL,
	want: []string{`sources/a.yaml: the file holds 2 YAML documents (separated by ---); put one configuration in each file`},
}, {
	name: "syntax error",
	doc:  "name: orders\ntables:\n  include: [shop.*\n",
	want: []string{`invalid YAML at sources/a.yaml:3:12: sequence end token ']' not found`},
}, {
	name: "merge keys and custom tags",
	doc:  "name: !env NAME\nlog:\n  <<: {level: info}\n",
	want: []string{
		`name at sources/a.yaml:1:7: tag !env is not supported; remove it`,
		`log at sources/a.yaml:3:3: merge keys (<<) are not supported; write the keys out`,
	},
}}

func TestParseSourceErrors(t *testing.T) {
	for _, tt := range sourceErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc)
			got := errLines(err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseSourceAliases(t *testing.T) {
	s, err := parse(t, minimalMySQL+"  tls: &tls {mode: verify-full, ca_file: ca.pem}\nkafka:\n  tls: *tls\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Kafka.TLS != s.MySQL.TLS || s.Kafka.TLS.CAFile != "ca.pem" {
		t.Errorf("kafka.tls = %+v, mysql.tls = %+v", s.Kafka.TLS, s.MySQL.TLS)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	s := &Source{Name: "orders", Type: SourceMySQL, MySQL: &MySQL{Host: "h", User: "u"}}
	s.ApplyDefaults()
	err := s.Validate()
	want := "mysql.server_id: must be between 1 and 4294967295 and unique among replicas of this server; set it to a number not used by any replica (SHOW REPLICA HOSTS lists them)"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
	s.MySQL.ServerID = 7
	if err := s.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	before := *s.MySQL
	s.ApplyDefaults()
	if *s.MySQL != before {
		t.Error("ApplyDefaults is not idempotent")
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("T_HOST", "db.internal")
	t.Setenv("T_EMPTY", "")
	unsetenv(t, "T_MISSING")
	tests := []struct {
		value, want, wantErr string
	}{
		{value: "${T_HOST}", want: "db.internal"},
		{value: "tcp-${T_HOST}-x", want: "tcp-db.internal-x"},
		{value: "${T_HOST}${T_HOST}", want: "db.internaldb.internal"},
		{value: "${T_MISSING:-localhost}", want: "localhost"},
		{value: "${T_EMPTY:-localhost}", want: "localhost"},
		{value: "${T_HOST:-localhost}", want: "db.internal"},
		{value: "${T_EMPTY}", want: ""},
		{value: "a$b$$c", want: "a$b$$c"},
		{value: "$${T_HOST}", want: "${T_HOST}"},
		{value: "${T_MISSING}", wantErr: "environment variable T_MISSING is not set; export it, or give a default with ${T_MISSING:-value}"},
		{value: "${T_HOST", wantErr: `"${" without a closing "}"; close the reference, or write "$${" for a literal "${"`},
		{value: "${9X}", wantErr: `a "${...}" reference holds no valid environment variable name`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			s, err := parse(t, "name: orders\ntype: mysql\nmysql:\n  host: '"+tt.value+"'\n  user: u\n  server_id: 1\n")
			if tt.wantErr != "" {
				want := "mysql.host at sources/a.yaml:4:9: " + tt.wantErr
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error = %v, want prefix %s", err, want)
				}
				return
			}
			if err != nil && tt.want != "" {
				t.Fatal(err)
			}
			if tt.want == "" {
				// An empty host fails validation; the expansion itself worked.
				if err == nil || !strings.Contains(err.Error(), "mysql.host at sources/a.yaml:4:3: required") {
					t.Errorf("error = %v", err)
				}
				return
			}
			if s.MySQL.Host != tt.want {
				t.Errorf("host = %q, want %q", s.MySQL.Host, tt.want)
			}
		})
	}
}

func TestEnvExpansionInListsAndSecrets(t *testing.T) {
	t.Setenv("T_BROKER", "k1:9092")
	t.Setenv("T_PASSWORD", "s3cret")
	s, err := parse(t, minimalMySQL+"  password: pre-${T_PASSWORD}\nkafka:\n  brokers: [\"${T_BROKER}\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.MySQL.Password.Reveal() != "pre-s3cret" || s.Kafka.Brokers[0] != "k1:9092" {
		t.Errorf("password, broker = %q, %q", s.MySQL.Password.Reveal(), s.Kafka.Brokers[0])
	}
}

func TestFileSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "db-password")
	if err := os.WriteFile(secret, []byte("s3cret\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("T_SECRETS", dir)

	s, err := parse(t, minimalMySQL+"  password: file:"+secret+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.MySQL.Password.Reveal() != "s3cret" {
		t.Errorf("password = %q", s.MySQL.Password.Reveal())
	}
	s, err = parse(t, minimalMySQL+"  password: file:${T_SECRETS}/db-password\n")
	if err != nil || s.MySQL.Password.Reveal() != "s3cret" {
		t.Errorf("file: with ${T_SECRETS}: %v", err)
	}
	// file: is only for secrets; elsewhere it is taken literally.
	s, err = parse(t, minimalMySQL+"  tls: {mode: verify-ca, ca_file: file:/x}\n")
	if err != nil || s.MySQL.TLS.CAFile != "file:/x" {
		t.Errorf("ca_file = %q, %v", s.MySQL.TLS.CAFile, err)
	}

	missing := filepath.Join(dir, "nope")
	_, err = parse(t, minimalMySQL+"  password: file:"+missing+"\n")
	want := "mysql.password at sources/a.yaml:7:13: cannot read secret file " + missing + ": no such file or directory; create it or fix the path after file:"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
	_, err = parse(t, minimalMySQL+"  password: \"file:\"\n")
	if err == nil || !strings.Contains(err.Error(), `mysql.password at sources/a.yaml:7:13: "file:" needs a path`) {
		t.Errorf("error = %v", err)
	}
	// An endless file is refused after 64 KiB, not read into memory.
	_, err = parse(t, minimalMySQL+"  password: file:/dev/zero\n")
	if err == nil || !strings.Contains(err.Error(), "secret file /dev/zero holds more than the 65536 bytes a secret may have") {
		t.Errorf("error = %v", err)
	}
}

func TestMatch(t *testing.T) {
	shop := Tables{Include: []string{"shop.*", "crm.customer?"}, Exclude: []string{"shop.tmp_*"}}
	all := Tables{Exclude: []string{"*.bak_*"}}
	tests := []struct {
		tables      Tables
		typ         SourceType
		db, table   string
		match, full bool // Tables.Match, Source.MatchTable
	}{
		{shop, SourceMySQL, "shop", "orders", true, true},
		{shop, SourceMySQL, "shop", "tmp_orders", false, false},
		{shop, SourceMySQL, "Shop", "orders", false, false}, // case-sensitive
		{shop, SourceMySQL, "crm", "customers", true, true},
		{shop, SourceMySQL, "crm", "customer", false, false},
		{shop, SourceMySQL, "other", "orders", false, false},
		{all, SourceMySQL, "shop", "orders", true, true},
		{all, SourceMySQL, "shop", "bak_orders", false, false},
		{all, SourceMySQL, "mysql", "user", true, false},
		{all, SourceMySQL, "information_schema", "tables", true, false},
		{all, SourceMySQL, "performance_schema", "threads", true, false},
		{all, SourceMySQL, "sys", "x", true, false},
		{all, SourcePostgres, "pg_catalog", "pg_class", true, false},
		{all, SourcePostgres, "information_schema", "tables", true, false},
		{all, SourcePostgres, "mysql", "user", true, true}, // only a system schema for MySQL
		{all, SourcePostgres, "public", "t", true, true},
		{Tables{Include: []string{"*.*"}}, SourceMySQL, "mysql", "user", true, false},
		{Tables{Include: []string{"mysql.user"}}, SourceMySQL, "mysql", "user", true, true}, // named literally
	}
	for _, tt := range tests {
		if got := tt.tables.Match(tt.db, tt.table); got != tt.match {
			t.Errorf("%+v.Match(%s, %s) = %v", tt.tables, tt.db, tt.table, got)
		}
		s := Source{Type: tt.typ, Tables: tt.tables}
		if got := s.MatchTable(tt.db, tt.table); got != tt.full {
			t.Errorf("%s %+v.MatchTable(%s, %s) = %v", tt.typ, tt.tables, tt.db, tt.table, got)
		}
	}
	keys := Tables{Keys: map[string][]string{"shop.log": {"id", "at"}}}
	if got := keys.KeyColumns("shop", "log"); !reflect.DeepEqual(got, []string{"id", "at"}) {
		t.Errorf("KeyColumns = %v", got)
	}
}

func TestLoadSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.yaml")
	if err := os.WriteFile(path, []byte(minimalMySQL+"  pasword: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSource(path)
	want := fmt.Sprintf(`unknown key "pasword" at %s:7:3; did you mean "password"?`, path)
	if err == nil || err.Error() != want {
		t.Errorf("LoadSource = %v, want %s", err, want)
	}
	_, err = LoadSource(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: no such file or directory") {
		t.Errorf("LoadSource(missing) = %v", err)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"host", "port", "user", "password", "server_id", "heartbeat_interval"}
	for in, want := range map[string]string{
		"pasword": "password", "Host": "host", "serverid": "server_id", "heartbeat": "", "xyz": "", "usr": "user",
		"uesr": "user", "hsot": "host", "passwrod": "password", "kafak": "",
	} {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	// A swap of two adjacent letters is one typo.
	if got := suggest("kafak", []string{"name", "type", "kafka", "tables"}); got != "kafka" {
		t.Errorf(`suggest("kafak") = %q, want "kafka"`, got)
	}
}
