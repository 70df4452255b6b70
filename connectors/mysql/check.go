package mysql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tributary-dev/tributary/connectors"
)

// server is what the reader learned about the source server.
type server struct {
	flavor  string // gomysql.MySQLFlavor or gomysql.MariaDBFlavor
	version string
	// gtid is true when positions use GTIDs (always on MariaDB; gtid_mode=ON
	// on MySQL).
	gtid bool
	// rowMetadata is true with binlog_row_metadata=FULL: the binlog then
	// carries column names, keys and enum values.
	rowMetadata bool
	// serverID is the server's @@server_id.
	serverID uint32
	// collations maps collation ids to charset names.
	collations map[uint64]string
}

// Problem is one unmet source prerequisite with the way to fix it.
type Problem struct {
	What string
	Fix  string
}

func (p Problem) String() string { return p.What + "; fix: " + p.Fix }

// ErrPrerequisites wraps the problems found by inspect.
var ErrPrerequisites = errors.New("source prerequisites not met")

// inspect reads the server's flavor and settings and checks every
// prerequisite. Unmet prerequisites come back together in one fatal error.
func inspect(conn *client.Conn, user string) (*server, error) {
	srv, probs, err := serverProblems(conn, user)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = "  - " + p.String()
		}
		return nil, fatal(fmt.Errorf("%w on %s:\n%s", ErrPrerequisites, srv.version, strings.Join(msgs, "\n")))
	}
	if srv.collations, err = loadCollations(conn); err != nil {
		return nil, err
	}
	return srv, nil
}

// serverProblems reads the server's flavor and settings and returns every
// unmet server-level prerequisite.
func serverProblems(conn *client.Conn, user string) (*server, []Problem, error) {
	v, err := variables(conn, "version", "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "gtid_mode", "server_id")
	if err != nil {
		return nil, nil, fmt.Errorf("mysql inspect: %w", err)
	}
	srv := &server{version: v["version"], flavor: gomysql.MySQLFlavor}
	if strings.Contains(strings.ToLower(srv.version), "mariadb") {
		srv.flavor, srv.gtid = gomysql.MariaDBFlavor, true
	} else {
		srv.gtid = strings.EqualFold(v["gtid_mode"], "ON")
	}
	srv.rowMetadata = strings.EqualFold(v["binlog_row_metadata"], "FULL")
	if id, err := strconv.ParseUint(v["server_id"], 10, 32); err == nil {
		srv.serverID = uint32(id)
	}
	var probs []Problem
	if !strings.EqualFold(v["log_bin"], "ON") && v["log_bin"] != "1" {
		probs = append(probs, Problem{"binary logging is off (log_bin=" + v["log_bin"] + ")",
			"start the server with log_bin (my.cnf [mysqld]: log_bin = mysql-bin, binlog_format = ROW) and restart it"})
	}
	if !strings.EqualFold(v["binlog_format"], "ROW") {
		probs = append(probs, Problem{"binlog_format is " + v["binlog_format"] + ", not ROW",
			"SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW in my.cnf (sessions opened before keep the old format until they reconnect)"})
	}
	if !strings.EqualFold(v["binlog_row_image"], "FULL") {
		probs = append(probs, Problem{"binlog_row_image is " + v["binlog_row_image"] + ", not FULL",
			"SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image = FULL in my.cnf"})
	}
	if _, err := conn.Execute("SHOW MASTER STATUS"); err != nil {
		if isAccessDenied(err) {
			probs = append(probs, Problem{"user " + user + " may not read binlog status (" + err.Error() + ")",
				"GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '" + user + "'@'%';" + mariadbBinlogMonitor(srv)})
		} else {
			return nil, nil, fmt.Errorf("mysql show master status: %w", err)
		}
	}
	return srv, probs, nil
}

// Check inspects the source without changing anything and returns every
// unmet prerequisite with its fix: the server's binlog settings, the
// user's privileges, and each captured table's key, column types and
// readability. No problems means the reader can start. Connection
// failures come back as the error, a *FatalError when the fix is the
// config's.
func (s *Source) Check(ctx context.Context) ([]Problem, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	srv, probs, err := serverProblems(conn, s.cfg.User)
	if err != nil {
		return nil, err
	}
	r := newRegistry(s, srv, conn)
	ids, err := r.listTables()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		probs = append(probs, Problem{"no table matches tables.include", "check tables.include and tables.exclude, and that the user may see the tables (GRANT SELECT ON db.* TO '" + s.cfg.User + "'@'%')"})
	}
	for _, id := range ids {
		cols, key, err := loadColumns(conn, id)
		if err != nil {
			var fe *FatalError
			if errors.As(err, &fe) {
				probs = append(probs, Problem{err.Error(), "exclude the table in tables.exclude, or change the column's type"})
				continue
			}
			return nil, err
		}
		if len(cols) == 0 {
			continue // dropped since the listing
		}
		switch _, err := r.build(id, cols, key); {
		case err == nil:
		case len(key) == 0 && len(s.cfg.Keys[id]) == 0:
			probs = append(probs, Problem{fmt.Sprintf("table %s has no primary key", id),
				fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (...); or name its key columns in tables.keys, exclude it in tables.exclude, or set tables.without_primary_key: skip", quoteID(id))})
		default:
			probs = append(probs, Problem{fmt.Sprintf("tables.keys of %s: %v", id, errors.Unwrap(err)), "name existing columns of the table in tables.keys"})
		}
		if _, err := conn.Execute("SELECT 1 FROM " + quoteID(id) + " LIMIT 0"); err != nil {
			if !isAccessDenied(err) {
				return nil, fmt.Errorf("mysql select from %s: %w", id, err)
			}
			probs = append(probs, Problem{fmt.Sprintf("user %s may not read %s (%v)", s.cfg.User, id, err),
				fmt.Sprintf("GRANT SELECT ON %s TO '%s'@'%%';", quoteID(id), s.cfg.User)})
		}
	}
	return probs, nil
}

func mariadbBinlogMonitor(srv *server) string {
	if srv.flavor == gomysql.MariaDBFlavor {
		return " (MariaDB 10.5+: GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO it)"
	}
	return ""
}

// variables reads global variables; missing ones are "".
func variables(conn *client.Conn, names ...string) (map[string]string, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	r, err := conn.Execute("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN (" + strings.ToUpper(strings.Join(quoted, ",")) + ")")
	if err != nil {
		// MySQL 5.7+ moved them to performance_schema.
		r, err = conn.Execute("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM performance_schema.global_variables WHERE VARIABLE_NAME IN (" + strings.Join(quoted, ",") + ")")
		if err != nil {
			return nil, err
		}
	}
	out := map[string]string{}
	for i := range r.RowNumber() {
		k, _ := r.GetString(i, 0)
		val, _ := r.GetString(i, 1)
		out[strings.ToLower(k)] = val
	}
	return out, nil
}

func loadCollations(conn *client.Conn) (map[uint64]string, error) {
	r, err := conn.Execute("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
	if err != nil {
		return nil, fmt.Errorf("mysql read collations: %w", err)
	}
	out := make(map[uint64]string, r.RowNumber())
	for i := range r.RowNumber() {
		id, _ := r.GetUint(i, 0)
		cs, _ := r.GetString(i, 1)
		out[id] = cs
	}
	return out, nil
}

func (s *server) charsetOf(id uint64) (string, bool) {
	cs, ok := s.collations[id]
	return cs, ok
}

// MySQL error codes the reader branches on.
const (
	erAccessDenied         = 1045
	erDBAccessDenied       = 1044
	erSpecificAccessDenied = 1227
	erTableAccessDenied    = 1142
	erMasterFatalReading   = 1236
)

func errCode(err error) uint16 {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		return me.Code
	}
	return 0
}

func isAccessDenied(err error) bool {
	switch errCode(err) {
	case erAccessDenied, erDBAccessDenied, erSpecificAccessDenied, erTableAccessDenied:
		return true
	}
	return false
}

func classifyConnectError(cfg Config, err error) error {
	if errCode(err) == erAccessDenied {
		hint := "an account created with REQUIRE SSL also needs mysql.tls.mode, and one with REQUIRE X509 also mysql.tls.cert_file and mysql.tls.key_file"
		if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetClientCertificate == nil {
			hint = "if the account requires a client certificate (REQUIRE X509, SUBJECT or ISSUER), set mysql.tls.cert_file and mysql.tls.key_file"
		}
		return fatal(fmt.Errorf("mysql connect %s as %q: access denied: check mysql.user and mysql.password in the source config; %s (%w)", cfg.Addr, cfg.User, hint, err))
	}
	if why := connectors.TLSProblem(err, "mysql.tls"); why != "" {
		return fatal(fmt.Errorf("mysql connect %s: %s (%w)", cfg.Addr, why, err))
	}
	return fmt.Errorf("mysql connect %s: %w (is the server running and reachable? check mysql.host and mysql.port)", cfg.Addr, err)
}
