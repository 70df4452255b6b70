// Package config reads Tributary's YAML configuration: one file per source
// database (Source, for `tributary reader`) and one file for the lake (Lake,
// for `tributary compactor`).
//
// Parsing is strict: unknown keys, duplicate keys and values of the wrong
// type are errors that name the file, line and column. String values may use
// ${VAR} and ${VAR:-default}; Secret values may also be "file:/path". After
// parsing, defaults are applied and Validate reports every remaining problem
// at once, each with its key path and a way to fix it.
//
// The package imports no other Tributary package; components receive the
// structs defined here (or parts of them) from cmd.
package config

import (
	"net"
	"os"
	"strconv"
	"strings"
)

// Source is the configuration of one source database, read from one file and
// run by one `tributary reader` process.
type Source struct {
	// Name is the logical source name: lowercase letters, digits, "_" and
	// "-". It is part of topic names, the checkpoint key and the Kafka
	// transactional id, so it must not change once data flows.
	Name string `yaml:"name"`
	// Type says which database this is and which of MySQL and Postgres is set.
	Type SourceType `yaml:"type"`
	// MySQL is set when Type is SourceMySQL, nil otherwise.
	MySQL *MySQL `yaml:"mysql"`
	// Postgres is set when Type is SourcePostgres, nil otherwise.
	Postgres *Postgres `yaml:"postgres"`
	// Tables selects the captured tables and their key columns.
	Tables Tables `yaml:"tables"`
	// Snapshot controls the initial snapshot.
	Snapshot Snapshot `yaml:"snapshot"`
	// Kafka is where the change events go.
	Kafka Kafka `yaml:"kafka"`
	// Metrics configures the HTTP listener for /metrics, /healthz, /readyz.
	Metrics Metrics `yaml:"metrics"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// MemoryLimit is the reader's soft memory limit (the Go runtime's
	// GOMEMLIMIT, which takes precedence when set); default 160MiB.
	MemoryLimit ByteSize `yaml:"memory_limit"`
}

// SourceType is the kind of source database.
type SourceType string

// Source types.
const (
	SourceMySQL    SourceType = "mysql"    // MySQL or MariaDB, read from the binlog.
	SourcePostgres SourceType = "postgres" // PostgreSQL, read from a pgoutput replication slot.
)

// SystemSchemas returns the databases (MySQL) or schemas (PostgreSQL) that
// hold the server's own tables and are never captured unless an include
// pattern names them literally.
func (t SourceType) SystemSchemas() []string {
	switch t {
	case SourceMySQL:
		return []string{"mysql", "information_schema", "performance_schema", "sys"}
	case SourcePostgres:
		return []string{"pg_catalog", "information_schema"}
	}
	return nil
}

// MySQL is the connection to a MySQL or MariaDB server.
type MySQL struct {
	// Host is the server's host name or IP address.
	Host string `yaml:"host"`
	// Port is the server's TCP port; default 3306.
	Port int `yaml:"port"`
	// User is the replication user.
	User string `yaml:"user"`
	// Password is the user's password.
	Password Secret `yaml:"password"`
	// ServerID is the replica server id the reader registers with; it must
	// differ from every other replica of the same server.
	ServerID uint32 `yaml:"server_id"`
	// Flavor is the server flavor; default FlavorAuto (detected on connect).
	Flavor Flavor `yaml:"flavor"`
	// ConnectTimeout bounds each connection attempt; default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// HeartbeatInterval is the binlog heartbeat period the server is asked
	// for; default 10s.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// TLS configures the connection's TLS.
	TLS TLS `yaml:"tls"`
}

// Addr returns host:port.
func (m *MySQL) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// Flavor is a MySQL server flavor.
type Flavor string

// MySQL flavors.
const (
	FlavorAuto    Flavor = "auto" // detect from the server version
	FlavorMySQL   Flavor = "mysql"
	FlavorMariaDB Flavor = "mariadb"
)

// Postgres is the connection to a PostgreSQL server and its replication slot.
type Postgres struct {
	// Host is the server's host name or IP address.
	Host string `yaml:"host"`
	// Port is the server's TCP port; default 5432.
	Port int `yaml:"port"`
	// User is a user with the REPLICATION attribute.
	User string `yaml:"user"`
	// Password is the user's password.
	Password Secret `yaml:"password"`
	// Database is the database to capture (a slot belongs to one database).
	Database string `yaml:"database"`
	// Slot is the logical replication slot; default "tributary_<name>".
	Slot string `yaml:"slot"`
	// Publication is the publication the slot reads; default "tributary_<name>".
	Publication string `yaml:"publication"`
	// ConnectTimeout bounds each connection attempt; default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// HeartbeatInterval is how often the reader writes a heartbeat message
	// and reports its position; default 10s.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// SpillDir holds the temporary files of large transactions the server
	// streams before they commit; default the system temp dir.
	SpillDir string `yaml:"spill_dir"`
	// TLS configures the connection's TLS.
	TLS TLS `yaml:"tls"`
}

// Addr returns host:port.
func (p *Postgres) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// TLS configures TLS for a database or Kafka connection. File paths are
// relative to the working directory.
type TLS struct {
	// Mode is the TLS mode; default TLSDisable.
	Mode TLSMode `yaml:"mode"`
	// CAFile is a PEM file of CA certificates; empty means the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile is a PEM client certificate, for mutual TLS (with KeyFile).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the host name checked in verify-full mode.
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether TLS is used at all.
func (t TLS) Enabled() bool { return t.Mode != "" && t.Mode != TLSDisable }

// TLSMode says whether TLS is used and what is verified, with the meanings
// of libpq's sslmode.
type TLSMode string

// TLS modes.
const (
	TLSDisable    TLSMode = "disable"     // plain TCP
	TLSRequire    TLSMode = "require"     // encrypt, verify nothing
	TLSVerifyCA   TLSMode = "verify-ca"   // encrypt, verify the chain, not the host name
	TLSVerifyFull TLSMode = "verify-full" // encrypt, verify the chain and the host name
)

// Snapshot controls the initial snapshot.
type Snapshot struct {
	// Mode says whether to snapshot; default SnapshotInitial.
	Mode SnapshotMode `yaml:"mode"`
	// ChunkSize is the number of rows per snapshot chunk; default 10000.
	ChunkSize int `yaml:"chunk_size"`
	// Workers is how many tables a PostgreSQL reader snapshots at once,
	// each on its own connection; default 2.
	Workers int `yaml:"workers"`
}

// SnapshotMode says whether a reader snapshots existing rows.
type SnapshotMode string

// Snapshot modes.
const (
	SnapshotInitial SnapshotMode = "initial" // snapshot each table once, then stream
	SnapshotNever   SnapshotMode = "never"   // stream changes only
)

// Kafka is the Kafka cluster a reader publishes to and how it publishes.
type Kafka struct {
	// Brokers are the seed brokers as host:port. Empty means the embedded
	// broker of `tributary demo` and `tributary run`; `tributary reader`
	// needs them (see UsesEmbeddedBroker).
	Brokers []string `yaml:"brokers"`
	// TopicPrefix starts every topic name; default the source name.
	TopicPrefix string `yaml:"topic_prefix"`
	// Partitions is the partition count of topics the reader creates; default 3.
	Partitions int32 `yaml:"partitions"`
	// ReplicationFactor of topics the reader creates; default -1 (the broker's default).
	ReplicationFactor int16 `yaml:"replication_factor"`
	// TransactionalID is the producer's transactional id; default
	// "tributary-reader-<name>".
	TransactionalID string `yaml:"transactional_id"`
	// BatchMaxEvents caps the events in one Kafka transaction; default 10000.
	BatchMaxEvents int `yaml:"batch_max_events"`
	// BatchMaxBytes caps the bytes in one Kafka transaction; default 16MiB.
	BatchMaxBytes ByteSize `yaml:"batch_max_bytes"`
	// SplitTransactionRows is the number of row changes after which a
	// large source transaction is split across Kafka transactions (the
	// checkpoint counts the rows already published); default 100000.
	SplitTransactionRows int `yaml:"split_transaction_rows"`
	// Linger is how long a transaction waits for more events; default 100ms.
	Linger Duration `yaml:"linger"`
	// Compression is the codec of the record batches the reader writes:
	// snappy (the default), lz4, zstd, gzip or none.
	Compression string `yaml:"compression"`
	// SASL is the authentication; nil means none.
	SASL *SASL `yaml:"sasl"`
	// TLS configures the connection's TLS.
	TLS TLS `yaml:"tls"`
}

// UsesEmbeddedBroker reports whether no brokers are configured, which means
// the in-process broker of `tributary demo` and `tributary run`.
func (k Kafka) UsesEmbeddedBroker() bool { return len(k.Brokers) == 0 }

// SASL is Kafka SASL authentication.
type SASL struct {
	// Mechanism is the SASL mechanism.
	Mechanism SASLMechanism `yaml:"mechanism"`
	// User is the SASL user name.
	User string `yaml:"user"`
	// Password is the SASL password.
	Password Secret `yaml:"password"`
}

// SASLMechanism is a Kafka SASL mechanism.
type SASLMechanism string

// SASL mechanisms.
const (
	SASLPlain       SASLMechanism = "plain"
	SASLScramSHA256 SASLMechanism = "scram-sha-256"
	SASLScramSHA512 SASLMechanism = "scram-sha-512"
)

// Metrics configures the HTTP listener that serves /metrics, /healthz and /readyz.
type Metrics struct {
	// Listen is the host:port to listen on; empty means no listener.
	Listen string `yaml:"listen"`
	// AdminToken, when set, is the bearer token the /admin endpoints
	// (pause, resume, re-snapshot) require; unset, they answer loopback
	// clients only.
	AdminToken Secret `yaml:"admin_token"`
}

// LoadSource reads, parses and validates the source config file at path.
// Every error names the file, and the line and column where known.
func LoadSource(path string) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError: "open sources/a.yaml: no such file or directory"
	}
	return ParseSource(path, data)
}

// ParseSource parses and validates a source config. Name is the file name
// used in error messages. It expands ${VAR} from the environment and reads
// file: secrets, applies defaults, then calls Validate.
func ParseSource(name string, data []byte) (*Source, error) {
	var s Source
	pos, err := decodeFile(name, data, &s, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		return nil, locate(name, err, pos)
	}
	return &s, nil
}

// ApplyDefaults fills every unset (zero) field that has a default. It is
// idempotent; ParseSource calls it, and code that builds a Source by hand
// should call it before Validate.
func (s *Source) ApplyDefaults() {
	derived := strings.ReplaceAll(s.Name, "-", "_")
	if m := s.MySQL; m != nil {
		setDefault(&m.Port, 3306)
		setDefault(&m.Flavor, FlavorAuto)
		setDefault(&m.ConnectTimeout, defaultConnectTimeout)
		setDefault(&m.HeartbeatInterval, defaultHeartbeat)
		m.TLS.applyDefaults()
	}
	if p := s.Postgres; p != nil {
		setDefault(&p.Port, 5432)
		if s.Name != "" {
			setDefault(&p.Slot, "tributary_"+derived)
			setDefault(&p.Publication, "tributary_"+derived)
		}
		setDefault(&p.ConnectTimeout, defaultConnectTimeout)
		setDefault(&p.HeartbeatInterval, defaultHeartbeat)
		p.TLS.applyDefaults()
	}
	setDefault(&s.Tables.WithoutPrimaryKey, NoKeyFail)
	setDefault(&s.Snapshot.Mode, SnapshotInitial)
	setDefault(&s.MemoryLimit, 160*MiB)
	setDefault(&s.Snapshot.ChunkSize, 10000)
	setDefault(&s.Snapshot.Workers, 2)
	k := &s.Kafka
	setDefault(&k.TopicPrefix, s.Name)
	setDefault(&k.Partitions, 3)
	setDefault(&k.ReplicationFactor, -1)
	if s.Name != "" {
		setDefault(&k.TransactionalID, "tributary-reader-"+s.Name)
	}
	setDefault(&k.BatchMaxEvents, 10000)
	setDefault(&k.SplitTransactionRows, 100000)
	setDefault(&k.BatchMaxBytes, 16*MiB)
	setDefault(&k.Linger, defaultLinger)
	setDefault(&k.Compression, "snappy")
	k.TLS.applyDefaults()
	s.Log.applyDefaults()
}

// MatchTable reports whether the source captures database.table (for
// PostgreSQL: schema.table). System schemas (see SourceType.SystemSchemas)
// are skipped unless an include pattern names the schema without wildcards;
// everything else is decided by Tables.Match.
func (s *Source) MatchTable(database, table string) bool {
	for _, sys := range s.Type.SystemSchemas() {
		if database == sys && !s.Tables.namesSchema(database) {
			return false
		}
	}
	return s.Tables.Match(database, table)
}

// setDefault sets *v to def when *v is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (t *TLS) applyDefaults() { setDefault(&t.Mode, TLSDisable) }
