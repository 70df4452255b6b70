package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// fieldError is one problem with one key. Validate returns them joined;
// locate adds the file position when the key is in the file.
type fieldError struct {
	path string // key path: "mysql.tls.mode", "tables.include[2]"
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

// locate rewrites the fieldErrors in err (a Validate result) to name the
// file, and the line and column of the key when it is in the file.
func locate(file string, err error, pos map[string]position) error {
	var all []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	} else {
		all = []error{err}
	}
	out := make([]error, len(all))
	for i, e := range all {
		var fe *fieldError
		switch {
		case !errors.As(e, &fe):
			out[i] = fmt.Errorf("%s: %w", file, e)
		case pos[fe.path] != position{}:
			p := pos[fe.path]
			out[i] = fmt.Errorf("%s at %s:%d:%d: %s", fe.path, file, p.line, p.col, fe.msg)
		default:
			out[i] = fmt.Errorf("%s in %s: %s", fe.path, file, fe.msg)
		}
	}
	return errors.Join(out...)
}

// problems collects fieldErrors.
type problems struct{ errs []error }

func (p *problems) add(path, format string, args ...any) {
	p.errs = append(p.errs, &fieldError{path: path, msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// join, index and mapKey build key paths: "a.b", "a[3]", `a["x.y"]`.
func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func mapKey(parent, key string) string { return parent + "[" + strconv.Quote(key) + "]" }

var (
	sourceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,47}$`)
	pgIdentRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	topicRE      = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,200}$`)
)

// Validate reports every problem with s, joined with errors.Join; each one
// names the key path, what is wrong and how to fix it. Call ApplyDefaults
// first: Validate checks the effective values. It does no I/O.
func (s *Source) Validate() error {
	var p problems
	nameOK := sourceNameRE.MatchString(s.Name)
	switch {
	case s.Name == "":
		p.add("name", "required; set it to a short lowercase name for this database, such as orders (it becomes part of topic names, the checkpoint key and the Kafka transactional id)")
	case !nameOK:
		p.add("name", "%q is not valid; use 1 to 48 lowercase letters, digits, \"_\" and \"-\", starting with a letter or digit", s.Name)
	}
	switch s.Type {
	case "":
		p.add("type", "required; set it to mysql (also for MariaDB) or postgres")
	case SourceMySQL, SourcePostgres:
	default:
		checkEnum(&p, "type", s.Type, SourceMySQL, SourcePostgres)
	}
	s.validateBlocks(&p, nameOK)
	s.validateTables(&p)
	checkEnum(&p, "snapshot.mode", s.Snapshot.Mode, SnapshotInitial, SnapshotNever)
	if c := s.Snapshot.ChunkSize; c < 1 || c > 1_000_000 {
		p.add("snapshot.chunk_size", "%d is out of range; use 1 to 1000000 rows (default 10000)", c)
	}
	if m := s.MemoryLimit; m < 64*MiB {
		p.add("memory_limit", "%s is too small for a reader; use 64MiB or more (default 160MiB)", m)
	}
	if w := s.Snapshot.Workers; w < 1 || w > 64 {
		p.add("snapshot.workers", "%d is out of range; use 1 to 64 (default 2)", w)
	}
	if n := s.Kafka.SplitTransactionRows; n < 100 {
		p.add("kafka.split_transaction_rows", "%d is too small; use 100 or more (default 100000)", n)
	}
	s.Kafka.validate(&p, s.Name, nameOK)
	s.Metrics.validate(&p)
	s.Log.validate(&p)
	return p.err()
}

// validateBlocks checks that the block matching the type is present, that
// the other one is absent, and the present one's settings.
func (s *Source) validateBlocks(p *problems, nameOK bool) {
	if s.Type == SourceMySQL && s.MySQL == nil {
		p.add("mysql", "required when type is mysql; add a mysql block with host, user, password and server_id")
	}
	if s.Type == SourcePostgres && s.Postgres == nil {
		p.add("postgres", "required when type is postgres; add a postgres block with host, user, password and database")
	}
	if s.Type == SourcePostgres && s.MySQL != nil {
		p.add("mysql", "set, but type is postgres; remove the mysql block or set type: mysql")
	}
	if s.Type == SourceMySQL && s.Postgres != nil {
		p.add("postgres", "set, but type is mysql; remove the postgres block or set type: postgres")
	}
	if m := s.MySQL; m != nil {
		checkServer(p, "mysql", m.Host, m.Port, m.User)
		if m.ServerID == 0 {
			p.add("mysql.server_id", "must be between 1 and 4294967295 and unique among replicas of this server; set it to a number not used by any replica (SHOW REPLICA HOSTS lists them)")
		}
		checkEnum(p, "mysql.flavor", m.Flavor, FlavorAuto, FlavorMySQL, FlavorMariaDB)
		checkPositive(p, "mysql.connect_timeout", m.ConnectTimeout)
		checkPositive(p, "mysql.heartbeat_interval", m.HeartbeatInterval)
		m.TLS.validate(p, "mysql.tls")
	}
	if pg := s.Postgres; pg != nil {
		checkServer(p, "postgres", pg.Host, pg.Port, pg.User)
		if pg.Database == "" {
			p.add("postgres.database", "required; set it to the database to capture (a replication slot belongs to one database)")
		}
		// A slot or publication derived from a missing or invalid name is
		// already reported as the name's problem.
		derived := "tributary_" + strings.ReplaceAll(s.Name, "-", "_")
		for _, f := range [][2]string{{"postgres.slot", pg.Slot}, {"postgres.publication", pg.Publication}} {
			if nameOK || f[1] != "" && f[1] != derived {
				checkIdent(p, f[0], f[1])
			}
		}
		checkPositive(p, "postgres.connect_timeout", pg.ConnectTimeout)
		checkPositive(p, "postgres.heartbeat_interval", pg.HeartbeatInterval)
		pg.TLS.validate(p, "postgres.tls")
	}
}

func checkServer(p *problems, block, host string, port int, user string) {
	if host == "" {
		p.add(block+".host", "required; set it to the server's host name or IP address")
	}
	checkPort(p, block+".port", port)
	if user == "" {
		p.add(block+".user", "required; set it to the user the reader connects as")
	}
}

func checkPort(p *problems, key string, port int) {
	if port < 1 || port > 65535 {
		p.add(key, "%d is not a TCP port; use 1 to 65535", port)
	}
}

func checkIdent(p *problems, key, v string) {
	if !pgIdentRE.MatchString(v) {
		p.add(key, "%q is not valid; use 1 to 63 lowercase letters, digits and \"_\", not starting with a digit", v)
	}
}

func checkPositive(p *problems, key string, d Duration) {
	if d <= 0 {
		p.add(key, "%s is not positive; use a duration such as 10s", d)
	}
}

// checkEnum reports v if it is not one of allowed, suggesting the closest.
func checkEnum[T ~string](p *problems, key string, v T, allowed ...T) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if v == a {
			return
		}
		names[i] = string(a)
	}
	msg := fmt.Sprintf("%q is not valid; use one of %s", v, strings.Join(names, ", "))
	if s := suggest(string(v), names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	p.add(key, "%s", msg)
}

func checkHostPort(p *problems, key, addr, example string) {
	_, port, err := net.SplitHostPort(addr) // an empty host means every interface
	if err != nil {
		p.add(key, "%q is not host:port; write it like %s", addr, example)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		p.add(key, "%q has an invalid port %q; use 1 to 65535", addr, port)
	}
}

func (t *TLS) validate(p *problems, key string) {
	checkEnum(p, key+".mode", t.Mode, TLSDisable, TLSRequire, TLSVerifyCA, TLSVerifyFull)
	if t.Mode == TLSDisable {
		for _, f := range []struct{ name, v string }{
			{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName},
		} {
			if f.v != "" {
				p.add(key+"."+f.name, "set, but %s.mode is disable, so it would be ignored; set mode to require, verify-ca or verify-full, or remove it", key)
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add(key, "cert_file and key_file go together for a client certificate; set both or neither")
	}
	if t.ServerName != "" && t.Mode != TLSVerifyFull && t.Mode != TLSDisable {
		p.add(key+".server_name", "only used with mode verify-full; set mode: verify-full or remove it")
	}
}

func (k *Kafka) validate(p *problems, name string, nameOK bool) {
	checkBrokers(p, "kafka.brokers", k.Brokers)
	if nameOK || k.TopicPrefix != "" && k.TopicPrefix != name {
		if !topicRE.MatchString(k.TopicPrefix) {
			p.add("kafka.topic_prefix", "%q is not valid in a Kafka topic name; use 1 to 200 letters, digits, \".\", \"_\" and \"-\"", k.TopicPrefix)
		}
	}
	if nameOK && k.TransactionalID == "" {
		p.add("kafka.transactional_id", "must not be empty; remove it to use tributary-reader-<name>")
	}
	if k.Partitions < 1 {
		p.add("kafka.partitions", "%d is not a partition count; use 1 or more (default 3)", k.Partitions)
	}
	if rf := k.ReplicationFactor; rf < -1 || rf == 0 {
		p.add("kafka.replication_factor", "%d is not valid; use -1 for the broker's default, or 1 or more", rf)
	}
	if k.BatchMaxEvents < 1 {
		p.add("kafka.batch_max_events", "%d is not valid; use 1 or more (default 10000)", k.BatchMaxEvents)
	}
	if k.BatchMaxBytes < 1 {
		p.add("kafka.batch_max_bytes", "%d is not valid; use a size such as 16MiB", int64(k.BatchMaxBytes))
	}
	if k.Linger < 0 {
		p.add("kafka.linger", "%s is negative; use a duration such as 100ms", k.Linger)
	}
	checkEnum(p, "kafka.compression", k.Compression, "snappy", "lz4", "zstd", "gzip", "none")
	checkSASL(p, "kafka.sasl", k.SASL)
	k.TLS.validate(p, "kafka.tls")
}

func checkBrokers(p *problems, key string, brokers []string) {
	for i, b := range brokers {
		checkHostPort(p, index(key, i), b, "kafka-1.internal:9092")
	}
}

func checkSASL(p *problems, key string, s *SASL) {
	if s == nil {
		return
	}
	if s.Mechanism == "" {
		p.add(key+".mechanism", "required when sasl is set; use plain, scram-sha-256 or scram-sha-512, or remove the sasl block")
	} else {
		checkEnum(p, key+".mechanism", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if s.User == "" {
		p.add(key+".user", "required when sasl is set")
	}
}

func (m *Metrics) validate(p *problems) {
	if m.Listen != "" {
		checkHostPort(p, "metrics.listen", m.Listen, "127.0.0.1:9464 (or :9464 for every interface)")
	}
}

func (l *Log) validate(p *problems) {
	checkEnum(p, "log.level", l.Level, LogDebug, LogInfo, LogWarn, LogError)
	checkEnum(p, "log.format", l.Format, LogText, LogJSON)
}
