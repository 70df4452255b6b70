package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// MariaDB reader credentials and the database StartMariaDB creates.
const (
	mariaDBReaderUser     = "tributary"
	mariaDBReaderPassword = "tributary"
	mariaDBDatabase       = "test"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 60 * time.Second

// stopTimeout bounds a graceful shutdown before the harness kills the server.
const stopTimeout = 60 * time.Second

// mariaDBHint tells the reader of a start error how to get MariaDB.
const mariaDBHint = "is MariaDB installed? run scripts/install-deps.sh or apt-get install -y mariadb-server"

// MariaDBOptions configures StartMariaDB. The zero value starts a server with
// server id 1, the binlog on in ROW format with full row images and full
// row metadata, and GTID strict mode.
type MariaDBOptions struct {
	// Dir is the parent of the server's new directory; empty means the
	// system temp dir. Close removes the server's directory, not Dir.
	Dir string
	// Port is the TCP port to listen on; 0 picks a free one.
	Port int
	// ServerID is the server_id; 0 means 1.
	ServerID uint32
	// NoBinlog turns the binary log off.
	NoBinlog bool
	// MinimalRowMetadata sets binlog_row_metadata=MINIMAL instead of FULL,
	// so the binlog carries no column names, as on older servers.
	MinimalRowMetadata bool
	// TLS turns TLS on: GenerateCerts writes a throwaway CA, a server
	// certificate for 127.0.0.1/localhost and a client certificate into the
	// server's directory (MariaDB.Certs), mariadbd gets --ssl-ca,
	// --ssl-cert and --ssl-key, and the reader account gets REQUIRE X509:
	// it can only connect over TLS with a client certificate the CA signed.
	// Root keeps connecting without TLS.
	TLS bool
	// ExtraArgs are appended to the mariadbd command line; a later option
	// overrides an earlier one (for example "--binlog-format=MIXED").
	ExtraArgs []string
	// Logger receives the harness's own messages; nil discards them.
	Logger *slog.Logger
}

// MariaDB is a running (or stopped) MariaDB server started by StartMariaDB.
// Its methods are safe for concurrent use.
type MariaDB struct {
	// Host is the address the server listens on, always 127.0.0.1.
	Host string
	// Port is the server's TCP port; it stays the same across Start.
	Port int
	// User and Password are the reader account "tributary", which has
	// REPLICATION SLAVE, REPLICATION CLIENT, SELECT, RELOAD and SHOW
	// DATABASES on *.* and may connect from any host.
	User     string
	Password string
	// RootUser and RootPassword are the all-powerful account for setup,
	// "root" with an empty password, usable over TCP from 127.0.0.1.
	RootUser     string
	RootPassword string
	// Database is a database that exists for tests to use, "test".
	Database string
	// Socket is the path of the server's Unix socket.
	Socket string
	// Dir is the server's own directory; Close removes it.
	Dir string
	// DataDir is the server's data directory, inside Dir. It holds the
	// binlogs and the error log, error.log.
	DataDir string
	// ServerID is the server_id the server runs with.
	ServerID uint32
	// Certs are the TLS files when MariaDBOptions.TLS is set, else nil.
	Certs *Certs

	bin  string
	args []string
	log  *slog.Logger

	mu     sync.Mutex
	proc   *process
	closed bool
}

// StartMariaDB creates a data directory with mariadb-install-db, starts
// mariadbd on a loopback port, waits until it accepts connections, and
// creates the reader account and the test database. On error nothing is
// left running and the directory is removed.
func StartMariaDB(ctx context.Context, opts MariaDBOptions) (*MariaDB, error) {
	bin, err := lookBin("mariadbd", "/usr/sbin", "/usr/libexec")
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w (%s)", err, mariaDBHint)
	}
	installDB, err := lookBin("mariadb-install-db", "/usr/bin", "/usr/sbin")
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w (%s)", err, mariaDBHint)
	}
	log := discardLogger(opts.Logger).With("server", "mariadb")
	dir, err := makeInstanceDir(opts.Dir, "tributary-mariadb-", log)
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	m := &MariaDB{
		Host:     "127.0.0.1",
		Port:     opts.Port,
		User:     mariaDBReaderUser,
		Password: mariaDBReaderPassword,
		RootUser: "root",
		Database: mariaDBDatabase,
		Socket:   socketPath(dir, "mysql.sock"),
		Dir:      dir,
		DataDir:  filepath.Join(dir, "data"),
		ServerID: opts.ServerID,
		bin:      bin,
		log:      log,
	}
	if m.ServerID == 0 {
		m.ServerID = 1
	}
	if opts.TLS {
		if m.Certs, err = GenerateCerts(filepath.Join(dir, "tls"), m.User); err != nil {
			m.Close()
			return nil, fmt.Errorf("start mariadb: %w", err)
		}
	}
	if err := m.start(ctx, installDB, opts); err != nil {
		m.Close()
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	return m, nil
}

// start initialises the data directory and starts the server for the first
// time, moving to another port if the chosen one turns out to be taken.
func (m *MariaDB) start(ctx context.Context, installDB string, opts MariaDBOptions) error {
	begin := time.Now()
	installArgs := []string{"--no-defaults", "--datadir=" + m.DataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		installArgs = append(installArgs, "--user=root")
	}
	// mariadb-install-db has been seen to fail now and then on a loaded
	// machine; a second try on a clean data directory gets past it, and
	// the first failure is logged.
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, installDB, installArgs...)
		cmd.Dir = m.Dir
		cmd.Env = childEnv()
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		msg := fmt.Errorf("mariadb-install-db: %w\n%s%s\n(%s)", err, errorLines(string(out)), tailLines(string(out), 20), mariaDBHint)
		if attempt == 2 || ctx.Err() != nil {
			return msg
		}
		m.log.Warn("mariadb-install-db failed; trying once more", "err", msg)
		if err := os.RemoveAll(m.DataDir); err != nil {
			return msg
		}
	}
	for attempt := 0; ; attempt++ {
		if opts.Port == 0 {
			port, err := FreePort()
			if err != nil {
				return err
			}
			m.Port = port
		}
		m.args = m.serverArgs(opts)
		err := m.Start(ctx)
		if err == nil {
			break
		}
		if opts.Port != 0 || attempt >= 3 || !isAddrInUse(logTail(m.ErrorLog(), 30)) {
			return err
		}
		m.log.Info("port taken, retrying on another", "port", m.Port)
	}
	if err := m.setup(ctx); err != nil {
		return err
	}
	m.log.Info("mariadb started", "addr", m.Addr(), "dir", m.Dir, "took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// serverArgs is the mariadbd command line. --log-basename comes first
// because it sets the defaults of the other log options.
func (m *MariaDB) serverArgs(opts MariaDBOptions) []string {
	args := []string{
		"--no-defaults",
		"--log-basename=mariadb",
		"--datadir=" + m.DataDir,
		"--port=" + strconv.Itoa(m.Port),
		"--socket=" + m.Socket,
		"--bind-address=127.0.0.1",
		"--pid-file=" + filepath.Join(m.Dir, "mariadbd.pid"),
		"--log-error=" + m.ErrorLog(),
		"--server-id=" + strconv.FormatUint(uint64(m.ServerID), 10),
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=256M",
		"--innodb-flush-log-at-trx-commit=2",
		"--sync-binlog=0",
		"--gtid-strict-mode=ON",
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if !opts.NoBinlog {
		args = append(args, "--log-bin=mysql-bin")
	}
	if c := m.Certs; c != nil {
		args = append(args, "--ssl-ca="+c.CAFile, "--ssl-cert="+c.ServerCertFile, "--ssl-key="+c.ServerKeyFile)
	}
	if opts.MinimalRowMetadata {
		args = append(args, "--binlog-row-metadata=MINIMAL")
	} else {
		args = append(args, "--binlog-row-metadata=FULL")
	}
	return append(args, opts.ExtraArgs...)
}

// setup creates the reader account and the test database; with TLS the
// account requires a client certificate.
func (m *MariaDB) setup(ctx context.Context) error {
	stmts := []string{
		fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", m.User, m.Password),
		fmt.Sprintf("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT, RELOAD, SHOW DATABASES ON *.* TO '%s'@'%%'", m.User),
		"CREATE DATABASE IF NOT EXISTS " + m.Database,
	}
	if m.Certs != nil {
		stmts = append(stmts, fmt.Sprintf("ALTER USER '%s'@'%%' REQUIRE X509", m.User))
	}
	for _, s := range stmts {
		if err := m.Exec(ctx, s); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

// Addr returns the server's TCP address, "127.0.0.1:port".
func (m *MariaDB) Addr() string {
	return net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
}

// ErrorLog returns the path of the server's error log.
func (m *MariaDB) ErrorLog() string {
	return filepath.Join(m.DataDir, "error.log")
}

// Conn opens a new client connection as root over TCP, with no default
// database and the utf8mb4 character set. The caller closes it.
func (m *MariaDB) Conn(ctx context.Context) (*client.Conn, error) {
	return m.connect(ctx, m.RootUser, m.RootPassword, 10*time.Second)
}

// connect opens a utf8mb4 connection as user. It sends collation
// utf8mb4_general_ci in the handshake: go-mysql's default,
// utf8mb4_0900_ai_ci, is unknown to MariaDB.
func (m *MariaDB) connect(ctx context.Context, user, password string, timeout time.Duration) (*client.Conn, error) {
	conn, err := client.ConnectWithContext(ctx, m.Addr(), user, password, "", timeout,
		func(c *client.Conn) error { return c.SetCollation("utf8mb4_general_ci") })
	if err != nil {
		return nil, fmt.Errorf("connect %s as %s: %w", m.Addr(), user, err)
	}
	return conn, nil
}

// Exec runs one statement as root on a new connection, with args bound as
// prepared-statement parameters when there are any. Cancelling ctx closes
// the connection, which aborts the statement.
func (m *MariaDB) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := m.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := conn.Execute(sql, args...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("exec %q: %w", sql, ctx.Err())
		}
		return fmt.Errorf("exec %q: %w", sql, err)
	}
	return nil
}

// Start starts the server again, on the same port and data directory, after
// Stop or Kill, and waits until it accepts connections. It fails when the
// server is running or closed.
func (m *MariaDB) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("mariadb is closed")
	}
	if m.proc != nil && !m.proc.exited() {
		return errors.New("mariadb is already running")
	}
	proc, err := startProcess(m.bin, m.args, m.Dir, filepath.Join(m.Dir, "mariadbd.out"), nil)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, mariaDBHint)
	}
	m.proc = proc
	if err := m.waitReady(ctx, proc); err != nil {
		_ = proc.kill()
		return err
	}
	return nil
}

// waitReady polls until root can connect over TCP, the process exits, or the
// start timeout passes.
func (m *MariaDB) waitReady(ctx context.Context, proc *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		conn, err := m.connect(ctx, m.RootUser, m.RootPassword, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-proc.done:
			return fmt.Errorf("mariadbd exited during start (%v); tail of %s:\n%s\n(%s)",
				proc.err, m.ErrorLog(), logTail(m.ErrorLog(), 20), mariaDBHint)
		case <-ctx.Done():
			return fmt.Errorf("mariadbd not ready on %s: %w (last error: %v); tail of %s:\n%s",
				m.Addr(), ctx.Err(), err, m.ErrorLog(), logTail(m.ErrorLog(), 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down gracefully (SIGTERM) and waits until it has
// exited; after a minute it kills it. Stopping a stopped server is a no-op.
func (m *MariaDB) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil
	}
	if err := m.proc.stop(syscall.SIGTERM, stopTimeout); err != nil {
		return fmt.Errorf("stop mariadb: %w", err)
	}
	return nil
}

// Kill kills the server with SIGKILL, as a crash would, and waits until it
// has exited. Killing a stopped server is a no-op.
func (m *MariaDB) Kill() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil
	}
	if err := m.proc.kill(); err != nil {
		return fmt.Errorf("kill mariadb: %w", err)
	}
	return nil
}

// Close kills the server and removes its directory. It is idempotent; the
// server cannot be started again.
func (m *MariaDB) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.proc != nil {
		if err := m.proc.kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(m.Dir); err != nil {
		errs = append(errs, err)
	}
	if filepath.Dir(m.Socket) != m.Dir {
		_ = os.Remove(m.Socket)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close mariadb: %w", err)
	}
	return nil
}

// maxSocketPath is the longest Unix socket path we use; the kernel allows
// 107 bytes.
const maxSocketPath = 100

// socketPath returns dir/name, or a path directly in the system temp dir when
// that would be too long for a Unix socket.
func socketPath(dir, name string) string {
	p := filepath.Join(dir, name)
	if len(p) <= maxSocketPath {
		return p
	}
	return filepath.Join(os.TempDir(), filepath.Base(dir)+".sock")
}

// errorLines returns the lines of a tool's output that report an error,
// which its closing help text pushes out of the tail.
func errorLines(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "[ERROR]") || strings.Contains(l, "failed") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
