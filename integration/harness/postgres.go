package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL accounts and the database StartPostgres creates.
const (
	pgSuperUser      = "postgres"
	pgSuperPassword  = "postgres"
	pgReaderUser     = "tributary"
	pgReaderPassword = "tributary"
	pgDatabase       = "test"
)

// postgresHint tells the reader of a start error how to get PostgreSQL.
const postgresHint = "is PostgreSQL installed? run scripts/install-deps.sh or apt-get install -y postgresql"

// PostgresOptions configures StartPostgres. The zero value starts a server
// with wal_level=logical and durability traded for speed (fsync=off).
type PostgresOptions struct {
	// Dir is the parent of the server's new directory; empty means the
	// system temp dir. Close removes the server's directory, not Dir. When
	// the harness runs as root, the server runs as user postgres, and
	// StartPostgres adds the search (x) permission for others to Dir and
	// its ancestors where it is missing, so that postgres can reach it.
	Dir string
	// Port is the TCP port to listen on; 0 picks a free one.
	Port int
	// BinDir holds initdb and postgres; empty means the newest
	// /usr/lib/postgresql/*/bin, else PATH.
	BinDir string
	// TLS turns TLS on: GenerateCerts writes a throwaway CA, a server
	// certificate for 127.0.0.1/localhost and a client certificate for the
	// reader role into the server's directory (Postgres.Certs); the server
	// runs with ssl=on, and pg_hba.conf lets the reader role in only over
	// TLS with a client certificate the CA signed whose common name is the
	// role (method cert), for query and replication connections alike. The
	// superuser keeps connecting without TLS.
	TLS bool
	// ExtraArgs are appended to the postgres command line, for example
	// "-c", "max_connections=200"; a later setting overrides an earlier one.
	ExtraArgs []string
	// Logger receives the harness's own messages; nil discards them.
	Logger *slog.Logger
}

// Postgres is a running (or stopped) PostgreSQL server started by
// StartPostgres. Its methods are safe for concurrent use.
type Postgres struct {
	// Host is the address the server listens on, always 127.0.0.1.
	Host string
	// Port is the server's TCP port; it stays the same across Start.
	Port int
	// User and Password are the reader role "tributary": LOGIN
	// REPLICATION, member of pg_read_all_data, with CREATE on database
	// test and on its schema public. It is not a superuser, so it cannot
	// create a publication FOR ALL TABLES or for tables it does not own.
	User     string
	Password string
	// SuperUser and SuperPassword are the superuser for setup, "postgres".
	SuperUser     string
	SuperPassword string
	// Database is the database that exists for tests to use, "test".
	Database string
	// SocketDir is the directory of the server's Unix socket, or empty
	// when the instance path is too long for one and the server has none.
	SocketDir string
	// Dir is the server's own directory; Close removes it.
	Dir string
	// DataDir is the server's data directory, inside Dir. The server's log
	// is Dir/postgres.log.
	DataDir string
	// Certs are the TLS files when PostgresOptions.TLS is set, else nil.
	Certs *Certs

	binDir string
	args   []string
	cred   *syscall.Credential
	log    *slog.Logger

	mu     sync.Mutex
	proc   *process
	closed bool
}

// StartPostgres creates a cluster with initdb (as user postgres when running
// as root), starts postgres on a loopback port with wal_level=logical, waits
// until it accepts connections, and creates the test database and the reader
// role. On error nothing is left running and the directory is removed.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	binDir, err := postgresBinDir(opts.BinDir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w (%s)", err, postgresHint)
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	log := discardLogger(opts.Logger).With("server", "postgres")
	if cred != nil && opts.Dir != "" {
		if err := makeSearchable(opts.Dir, log); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
	dir, err := makeInstanceDir(opts.Dir, "tributary-pg-", log)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{
		Host:          "127.0.0.1",
		Port:          opts.Port,
		User:          pgReaderUser,
		Password:      pgReaderPassword,
		SuperUser:     pgSuperUser,
		SuperPassword: pgSuperPassword,
		Database:      pgDatabase,
		Dir:           dir,
		DataDir:       filepath.Join(dir, "data"),
		binDir:        binDir,
		cred:          cred,
		log:           log,
	}
	if len(filepath.Join(dir, ".s.PGSQL.65535")) <= maxSocketPath {
		p.SocketDir = dir
	}
	if err := p.start(ctx, opts); err != nil {
		p.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	return p, nil
}

// start runs initdb and starts the server for the first time, moving to
// another port if the chosen one turns out to be taken.
func (p *Postgres) start(ctx context.Context, opts PostgresOptions) error {
	begin := time.Now()
	if p.cred != nil {
		if err := os.Chown(p.Dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", p.Dir, err)
		}
	}
	if err := p.initdb(ctx); err != nil {
		return err
	}
	if opts.TLS {
		if err := p.setupTLS(); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if opts.Port == 0 {
			port, err := FreePort()
			if err != nil {
				return err
			}
			p.Port = port
		}
		p.args = p.serverArgs(opts)
		err := p.Start(ctx)
		if err == nil {
			break
		}
		if opts.Port != 0 || attempt >= 3 || !isAddrInUse(logTail(p.ServerLog(), 30)) {
			return err
		}
		p.log.Info("port taken, retrying on another", "port", p.Port)
	}
	if err := p.setup(ctx); err != nil {
		return err
	}
	p.log.Info("postgres started", "addr", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), "dir", p.Dir,
		"took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// initdb creates the cluster: trust over the Unix socket, scram-sha-256
// over TCP, so that passwords are checked as in production.
func (p *Postgres) initdb(ctx context.Context) error {
	pwfile := filepath.Join(p.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.SuperPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("write pwfile: %w", err)
	}
	defer os.Remove(pwfile)
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("chown pwfile: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.binDir, "initdb"),
		"-D", p.DataDir, "-U", p.SuperUser, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions")
	cmd.Dir = p.Dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s\n(%s)", err, tailLines(string(out), 20), postgresHint)
	}
	return nil
}

// serverArgs is the postgres command line. fsync and full_page_writes are
// off; synchronous_commit stays on, because with fsync off a commit costs one
// write, and with it off a Kill would lose the last commits and logical
// decoding would see them only after the WAL writer's next round.
func (p *Postgres) serverArgs(opts PostgresOptions) []string {
	args := []string{
		"-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + p.SocketDir,
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=10",
		"-c", "max_wal_senders=10",
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=128MB",
		"-c", "logging_collector=off",
	}
	if c := p.Certs; c != nil {
		args = append(args, "-c", "ssl=on", "-c", "ssl_ca_file="+c.CAFile,
			"-c", "ssl_cert_file="+c.ServerCertFile, "-c", "ssl_key_file="+c.ServerKeyFile)
	}
	return append(args, opts.ExtraArgs...)
}

// pgHBATLS goes before initdb's lines in pg_hba.conf on a TLS server: the
// reader role may connect over TCP only with TLS and a client certificate
// (method cert: the certificate's common name is the role). Logical
// replication connections match a database line; "replication" lines match
// physical replication only, and are here for completeness.
const pgHBATLS = `# tributary harness: the reader role only over TLS with a client certificate
hostnossl all         %[1]s 127.0.0.1/32 reject
hostnossl replication %[1]s 127.0.0.1/32 reject
hostssl   all         %[1]s 127.0.0.1/32 cert
hostssl   replication %[1]s 127.0.0.1/32 cert

`

// setupTLS writes the certificates (owned by the server's user, which
// PostgreSQL requires of its key file) and the reader role's pg_hba.conf
// lines.
func (p *Postgres) setupTLS() error {
	c, err := GenerateCerts(filepath.Join(p.Dir, "tls"), p.User)
	if err != nil {
		return err
	}
	if p.cred != nil {
		if err := c.chown(int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return err
		}
	}
	hba := filepath.Join(p.DataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.WriteFile(hba, append([]byte(fmt.Sprintf(pgHBATLS, p.User)), old...), 0o600); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	p.Certs = c
	return nil
}

// setup creates the test database and the reader role.
func (p *Postgres) setup(ctx context.Context) error {
	quotedPassword := "'" + p.Password + "'"
	steps := []struct{ db, sql string }{
		{"postgres", "CREATE DATABASE " + p.Database},
		{"postgres", "CREATE ROLE " + p.User + " LOGIN REPLICATION PASSWORD " + quotedPassword},
		{"postgres", "GRANT CONNECT, CREATE ON DATABASE " + p.Database + " TO " + p.User},
		{"postgres", "GRANT pg_read_all_data TO " + p.User},
		{p.Database, "GRANT CREATE ON SCHEMA public TO " + p.User},
	}
	for _, s := range steps {
		if err := p.execIn(ctx, s.db, s.sql); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

// ConnString returns a URL for the reader role on the test database over
// TCP: postgres://tributary:tributary@127.0.0.1:port/test?sslmode=disable,
// or on a TLS server sslmode=verify-full with the CA and client files.
func (p *Postgres) ConnString() string {
	s := p.url(p.User, p.Password, p.Database)
	if c := p.Certs; c != nil {
		q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {c.CAFile}, "sslcert": {c.ClientCertFile}, "sslkey": {c.ClientKeyFile}}
		s = strings.Replace(s, "sslmode=disable", q.Encode(), 1)
	}
	return s
}

// ReplicationConnString returns ConnString with replication=database, the
// form a logical replication connection (pglogrepl) needs.
func (p *Postgres) ReplicationConnString() string {
	return p.ConnString() + "&replication=database"
}

// SuperConnString returns a URL for the superuser on the test database.
func (p *Postgres) SuperConnString() string {
	return p.url(p.SuperUser, p.SuperPassword, p.Database)
}

// ServerLog returns the path of the file that gets the server's output.
func (p *Postgres) ServerLog() string {
	return filepath.Join(p.Dir, "postgres.log")
}

func (p *Postgres) url(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Conn opens a new connection as the superuser to the test database. The
// caller closes it.
func (p *Postgres) Conn(ctx context.Context) (*pgx.Conn, error) {
	return p.connect(ctx, p.Database)
}

func (p *Postgres) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, p.url(p.SuperUser, p.SuperPassword, db))
	if err != nil {
		return nil, fmt.Errorf("connect %s:%d as %s: %w", p.Host, p.Port, p.SuperUser, err)
	}
	return conn, nil
}

// Exec runs SQL as the superuser on the test database on a new connection.
// Without args, sql may hold several statements.
func (p *Postgres) Exec(ctx context.Context, sql string, args ...any) error {
	return p.execIn(ctx, p.Database, sql, args...)
}

func (p *Postgres) execIn(ctx context.Context, db, sql string, args ...any) error {
	conn, err := p.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("exec %q: %w", sql, err)
	}
	return nil
}

// Start starts the server again, on the same port and data directory, after
// Stop or Kill, and waits until it accepts connections. It fails when the
// server is running or closed.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("postgres is closed")
	}
	if p.proc != nil && !p.proc.exited() {
		return errors.New("postgres is already running")
	}
	proc, err := startProcess(filepath.Join(p.binDir, "postgres"), p.args, p.Dir, p.ServerLog(), p.cred)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, postgresHint)
	}
	p.proc = proc
	if err := p.waitReady(ctx, proc); err != nil {
		_ = proc.kill()
		return err
	}
	return nil
}

// waitReady polls until the superuser can connect over TCP, the process
// exits, or the start timeout passes.
func (p *Postgres) waitReady(ctx context.Context, proc *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := p.connect(attemptCtx, "postgres")
		cancelAttempt()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-proc.done:
			return fmt.Errorf("postgres exited during start (%v); tail of %s:\n%s\n(%s)",
				proc.err, p.ServerLog(), logTail(p.ServerLog(), 20), postgresHint)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready on port %d: %w (last error: %v); tail of %s:\n%s",
				p.Port, ctx.Err(), err, p.ServerLog(), logTail(p.ServerLog(), 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down with a fast shutdown (SIGINT: clients are
// disconnected, the server checkpoints) and waits until it has exited; after
// a minute it kills it. Stopping a stopped server is a no-op.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	if err := p.proc.stop(syscall.SIGINT, stopTimeout); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

// Kill kills the server and all its backends with SIGKILL, as a crash
// would, and waits until they have exited. The next Start runs crash
// recovery. Killing a stopped server is a no-op.
func (p *Postgres) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	if err := p.proc.kill(); err != nil {
		return fmt.Errorf("kill postgres: %w", err)
	}
	return nil
}

// Close kills the server and removes its directory. It is idempotent; the
// server cannot be started again.
func (p *Postgres) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.proc != nil {
		if err := p.proc.kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close postgres: %w", err)
	}
	return nil
}

// postgresBinDir returns dir if set, else the newest
// /usr/lib/postgresql/*/bin that has postgres, else the directory of
// postgres on PATH.
func postgresBinDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "initdb")); err == nil {
			return filepath.Dir(m), nil
		}
	}
	if bin, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(bin), nil
	}
	return "", errors.New("postgres not found in /usr/lib/postgresql/*/bin or on PATH")
}

// pgMajor returns the major version in a /usr/lib/postgresql/N/bin path.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// postgresCredential returns the credential to run initdb and postgres
// with: user postgres when running as root (both refuse to run as root),
// nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run the server as: %w (%s)", err, postgresHint)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// makeSearchable adds the search permission for others to dir and each of
// its ancestors that lacks it, so that user postgres can reach a directory
// made by root (t.TempDir makes 0700 directories).
func makeSearchable(dir string, log *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", abs, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("let postgres reach %s: %w", d, err)
			}
			log.Info("added search permission for others so postgres can reach the data dir", "dir", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
