// Package postgres reads PostgreSQL databases: logical replication from a
// pgoutput slot, with a chunked, lock-free snapshot (DBLog watermarks
// written with pg_logical_emit_message), published through a
// connectors.Sink exactly once.
//
// The slot's confirmed position moves only after the Kafka transaction
// holding the changes before it has committed; the position and the
// commit LSN of the last published transaction travel in that transaction
// as the checkpoint. A restart starts the slot at the checkpoint and skips
// every transaction whose commit LSN the checkpoint covers, so nothing is
// lost or published twice.
package postgres

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// Config configures a Source. Only Name, Addr, User and Database are
// required; every other zero value has a working default.
type Config struct {
	// Name is the logical source name, written into every event.
	Name     string
	Addr     string // host:port
	User     string
	Password string
	// Database is the database to capture; a slot belongs to one.
	Database string
	TLS      *tls.Config
	// Slot and Publication name the logical replication slot and the
	// publication it reads. The reader creates them when missing and
	// checks them when present; it never drops them. Default
	// "tributary_<name>" for both, with '-' turned into '_'.
	Slot        string
	Publication string
	// Include reports whether schema.table is captured. Nil captures every
	// table outside pg_catalog and information_schema.
	Include func(schema, table string) bool
	// Keys gives key columns for tables without a primary key. Such a
	// table also needs REPLICA IDENTITY FULL (or an identity index over
	// the columns) for its updates and deletes to reach the reader.
	Keys map[schema.TableID][]string
	// SkipWithoutKey skips tables that have no key instead of failing.
	SkipWithoutKey bool
	// NoSnapshot streams only, without an initial snapshot.
	NoSnapshot bool
	// ChunkSize is the number of rows per snapshot chunk. Default 10000.
	ChunkSize int
	// SnapshotWorkers is how many tables are snapshotted at once, each on
	// its own connection. Default 2.
	SnapshotWorkers int
	// Resnapshot lists tables to snapshot again on start, while streaming.
	Resnapshot []schema.TableID
	// ResetPosition discards the checkpoint's position: the reader
	// publishes a truncate of every table it captured, starts at the
	// slot's position and snapshots every table again. It is the recovery
	// from a lost slot.
	ResetPosition bool
	// HeartbeatInterval is how often the reader writes a heartbeat message
	// into the WAL (pg_logical_emit_message), reports its position to the
	// server, and commits an idle checkpoint. Default 10s.
	HeartbeatInterval time.Duration
	// CommitInterval bounds how long changes wait before a Kafka commit.
	// Default 200ms.
	CommitInterval time.Duration
	// MaxBatch is the number of row changes after which a commit happens
	// at the next transaction boundary, and MaxTxRows the number after
	// which a large source transaction is split across Kafka transactions.
	// Defaults 20000 and 100000.
	MaxBatch  int
	MaxTxRows int
	// SpillDir holds the temporary files of large transactions that the
	// server streams before they commit. Default the system temp dir.
	SpillDir string
	// ConnectTimeout bounds each connection attempt. Default 10s.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Metrics records the reader's metrics; nil records none. Lag bytes
	// and the slot's retained WAL are read every HeartbeatInterval.
	Metrics *metrics.Reader
}

// Source is the PostgreSQL reader.
type Source struct {
	cfg    Config
	log    *slog.Logger
	resnap chan schema.TableID
	stats  stats
}

var _ connectors.Source = (*Source)(nil)

// NewSource returns a Source; it does no I/O.
func NewSource(cfg Config) *Source {
	derived := strings.ReplaceAll(cfg.Name, "-", "_")
	if cfg.Slot == "" {
		cfg.Slot = "tributary_" + derived
	}
	if cfg.Publication == "" {
		cfg.Publication = "tributary_" + derived
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 10_000
	}
	if cfg.SnapshotWorkers <= 0 {
		cfg.SnapshotWorkers = 2
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 200 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 20_000
	}
	if cfg.MaxTxRows <= 0 {
		cfg.MaxTxRows = 100_000
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Include == nil {
		cfg.Include = func(s, _ string) bool { return s != "pg_catalog" && s != "information_schema" }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log.With("source", cfg.Name), resnap: make(chan schema.TableID, 16)}
}

// FatalError is connectors.FatalError, an error that retrying cannot fix;
// Run returns it at once.
type FatalError = connectors.FatalError

func fatal(err error) error { return connectors.Fatal(err) }

// ErrPositionLost is returned when the slot no longer holds the changes
// after the checkpoint (the slot was dropped and created again, advanced
// by someone else, or invalidated by max_slot_wal_keep_size).
var ErrPositionLost = errors.New("replication position lost")

// Stats is a snapshot of a running reader's figures.
type Stats struct {
	// RetainedWALBytes is how much WAL the slot holds back on the server
	// (pg_current_wal_lsn() - restart_lsn), as of the last heartbeat.
	RetainedWALBytes int64
	// ConfirmedLSN is the position the reader last confirmed to the slot.
	ConfirmedLSN uint64
	// Events counts the change events published since the reader started.
	Events int64
	// SnapshotRows, SnapshotTotal are the rows snapshotted so far and the
	// estimate of the rows to snapshot, over the tables being snapshotted.
	SnapshotRows, SnapshotTotal int64
	// SnapshotSuperseded counts snapshot rows left out because the stream
	// changed them while their chunk was read (DBLog windows at work).
	SnapshotSuperseded int64
	// SpilledTransactions counts large transactions the server streamed
	// before they committed, kept in spill files until then.
	SpilledTransactions int64
}

type stats struct {
	retained, confirmed, events, snapRows, snapTotal, superseded, spilled atomic.Int64
}

// Stats returns the reader's current figures. It is safe to call from any
// goroutine.
func (s *Source) Stats() Stats {
	return Stats{
		RetainedWALBytes: s.stats.retained.Load(),
		ConfirmedLSN:     uint64(s.stats.confirmed.Load()),
		Events:           s.stats.events.Load(),
		SnapshotRows:     s.stats.snapRows.Load(),
		SnapshotTotal:    s.stats.snapTotal.Load(),

		SnapshotSuperseded:  s.stats.superseded.Load(),
		SpilledTransactions: s.stats.spilled.Load(),
	}
}

// Run reads the source into sink until ctx ends. Once the reader has
// started streaming, transient failures (lost connections, Kafka errors)
// restart it from the last committed checkpoint after a backoff. A failure
// before it ever streamed (an unreachable server or broker at start), and a
// *FatalError at any time, are returned at once.
func (s *Source) Run(ctx context.Context, sink connectors.Sink) error {
	return connectors.Restart(ctx, s.log, sink, s.cfg.Metrics, func(ctx context.Context, sink connectors.Sink, started *bool) error {
		return s.runOnce(ctx, sink, started)
	})
}

// pgConfig builds the connection settings shared by every connection: the
// configured server and user, and the session settings the decoders need.
// Settings from PG* environment variables are overridden.
func (s *Source) pgConfig(replication bool) (*pgconn.Config, error) {
	host, portStr, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return nil, fatal(fmt.Errorf("postgres address %q: %w (want host:port)", s.cfg.Addr, err))
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fatal(fmt.Errorf("postgres address %q: bad port", s.cfg.Addr))
	}
	cfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("postgres config: %w", err)
	}
	cfg.Host, cfg.Port = host, uint16(port)
	cfg.User, cfg.Password, cfg.Database = s.cfg.User, s.cfg.Password, s.cfg.Database
	cfg.TLSConfig, cfg.Fallbacks = s.cfg.TLS, nil
	cfg.ConnectTimeout = s.cfg.ConnectTimeout
	cfg.RuntimeParams = map[string]string{"application_name": "tributary-" + s.cfg.Name}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	if replication {
		cfg.RuntimeParams["replication"] = "database"
	}
	return cfg, nil
}

// connect opens a query connection.
func (s *Source) connect(ctx context.Context) (*pgx.Conn, error) {
	pc, err := s.pgConfig(false)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("postgres config: %w", err)
	}
	cfg.Config = *pc
	// The simple protocol keeps catalog queries free of prepared
	// statements, which a pooler in front of the server may not keep.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, s.classifyConnectError(err, false)
	}
	return conn, nil
}

// replReadBuffer is the read buffer of the replication connection. The
// protocol reader's own is 8 KiB: after a pause (a Kafka commit) the
// socket holds far more, and bigger reads take fewer system calls.
const replReadBuffer = 256 << 10

// replReader is the read side of a replication connection: a large
// buffer, and a hook that runs before each read that may wait for the
// network (the buffer is empty), where the receiver hands over the
// messages it holds.
type replReader struct {
	buf  *bufio.Reader
	idle func()
}

func (rr *replReader) Read(p []byte) (int, error) {
	if rr.idle != nil && rr.buf.Buffered() == 0 {
		rr.idle()
	}
	return rr.buf.Read(p)
}

// setIdle sets the hook; only the goroutine that reads may call it.
func (rr *replReader) setIdle(f func()) { rr.idle = f }

// connectReplication opens a logical replication connection, and returns
// the reader its messages come through.
func (s *Source) connectReplication(ctx context.Context) (*pgconn.PgConn, *replReader, error) {
	cfg, err := s.pgConfig(true)
	if err != nil {
		return nil, nil, err
	}
	in := &replReader{}
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		in.buf = bufio.NewReaderSize(r, replReadBuffer)
		return pgproto3.NewFrontend(in, w)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, s.classifyConnectError(err, true)
	}
	return conn, in, nil
}

// SQLSTATE codes the reader branches on.
const (
	codeInvalidPassword       = "28P01"
	codeInvalidAuthorization  = "28000"
	codeInsufficientPrivilege = "42501"
	codeInvalidCatalogName    = "3D000"
	codeConfigLimitExceeded   = "53400"
	codeObjectInUse           = "55006"
	codeDuplicateObject       = "42710"
	codeUndefinedObject       = "42704"
	codeObjectNotInState      = "55000"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func (s *Source) classifyConnectError(err error, replication bool) error {
	who := fmt.Sprintf("postgres connect %s as %q to database %q", s.cfg.Addr, s.cfg.User, s.cfg.Database)
	if why := connectors.TLSProblem(err, "postgres.tls"); why != "" {
		return fatal(fmt.Errorf("%s: %s (%w)", who, why, err))
	}
	switch pgCode(err) {
	case codeInvalidPassword:
		return fatal(fmt.Errorf("%s: password authentication failed: check postgres.user and postgres.password in the source config (%w)", who, err))
	case codeInvalidAuthorization:
		if strings.Contains(err.Error(), "certificate") {
			return fatal(fmt.Errorf("%s: the server wants a client certificate it accepts (%w); fix: set postgres.tls.cert_file and postgres.tls.key_file "+
				"to a certificate signed by the server's ssl_ca_file (with pg_hba method cert, its common name must be the user or map to it)", who, err))
		}
		if strings.Contains(err.Error(), "no encryption") && s.cfg.TLS == nil {
			return fatal(fmt.Errorf("%s: the server refused a connection without TLS (%w); fix: set postgres.tls.mode (verify-full with postgres.tls.ca_file), "+
				"or add a pg_hba.conf 'host' line for this user and reload", who, err))
		}
		return fatal(fmt.Errorf("%s: the server refused the connection (%w); fix: add a pg_hba.conf line such as 'host %s %s <reader address>/32 scram-sha-256' and reload (SELECT pg_reload_conf();)", who, err, s.cfg.Database, s.cfg.User))
	case codeInsufficientPrivilege:
		if replication {
			return fatal(fmt.Errorf("%s: the user may not start logical replication (%w); fix, as a superuser: ALTER ROLE %s WITH REPLICATION;", who, err, quoteIdent(s.cfg.User)))
		}
		return fatal(fmt.Errorf("%s: permission denied (%w); fix: GRANT CONNECT ON DATABASE %s TO %s;", who, err, quoteIdent(s.cfg.Database), quoteIdent(s.cfg.User)))
	case codeInvalidCatalogName:
		return fatal(fmt.Errorf("%s: the database does not exist: check postgres.database (%w)", who, err))
	}
	return fmt.Errorf("%s: %w (is the server running and reachable? check postgres.host and postgres.port)", who, err)
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteTable quotes schema.table.
func quoteTable(id schema.TableID) string { return quoteIdent(id.Database) + "." + quoteIdent(id.Name) }

// quoteLiteral quotes an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
