// Package mysql reads MySQL and MariaDB databases: a chunked, lock-free
// initial snapshot and binlog streaming, published through a
// connectors.Sink exactly once.
package mysql

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// Config configures a Source. Only Name, Addr, User and ServerID are
// required; every other zero value has a working default.
type Config struct {
	// Name is the logical source name, written into every event.
	Name     string
	Addr     string // host:port
	User     string
	Password string
	TLS      *tls.Config
	// ServerID is the replica id the reader registers with; it must differ
	// from every other replica of the server.
	ServerID uint32
	// Include reports whether a table is captured. Nil captures every
	// non-system table.
	Include func(database, table string) bool
	// Keys gives key columns for tables without a primary key.
	Keys map[schema.TableID][]string
	// SkipWithoutKey skips tables that have no key instead of failing.
	SkipWithoutKey bool
	// NoSnapshot streams only, without an initial snapshot.
	NoSnapshot bool
	// ChunkSize is the number of rows per snapshot chunk. Default 10000.
	ChunkSize int
	// Resnapshot lists tables to snapshot again on start, while streaming.
	Resnapshot []schema.TableID
	// ResetPosition discards the checkpoint's position: the reader
	// publishes a truncate of every table it captured, starts at the
	// server's current position and snapshots every table again. It is
	// the recovery from a purged position.
	ResetPosition bool
	// HeartbeatInterval is the binlog heartbeat period, and how often an
	// idle reader commits its checkpoint. Default 10s.
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
	// ConnectTimeout bounds each connection attempt. Default 10s.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Metrics records the reader's metrics; nil records none.
	Metrics *metrics.Reader
	// LagPollInterval is how often the reader reads the server's binlog
	// position to measure its lag in bytes. Default 10s.
	LagPollInterval time.Duration
}

// Source is the MySQL/MariaDB reader.
type Source struct {
	cfg    Config
	log    *slog.Logger
	resnap chan schema.TableID
}

var _ connectors.Source = (*Source)(nil)

// NewSource returns a Source; it does no I/O.
func NewSource(cfg Config) *Source {
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 10_000
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
	if cfg.LagPollInterval <= 0 {
		cfg.LagPollInterval = 10 * time.Second
	}
	if cfg.Include == nil {
		cfg.Include = func(db, _ string) bool { return !systemDatabases[db] }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log.With("source", cfg.Name), resnap: make(chan schema.TableID, 16)}
}

var systemDatabases = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

// FatalError is connectors.FatalError, an error that retrying cannot fix;
// Run returns it at once.
type FatalError = connectors.FatalError

func fatal(err error) error { return connectors.Fatal(err) }

// ErrPositionPurged is returned when the checkpoint's binlog position is no
// longer on the server.
var ErrPositionPurged = errors.New("binlog position purged")

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

// connect opens a query connection with utf8mb4 and a UTC session.
func (s *Source) connect(ctx context.Context) (*client.Conn, error) {
	opts := []client.Option{func(c *client.Conn) error {
		if s.cfg.TLS != nil {
			c.SetTLSConfig(s.cfg.TLS)
		}
		// go-mysql's default handshake collation (utf8mb4_0900_ai_ci) is
		// unknown to MariaDB; this one is known to both.
		return c.SetCollation("utf8mb4_general_ci")
	}}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	conn, err := client.ConnectWithContext(ctx, s.cfg.Addr, s.cfg.User, s.cfg.Password, "", s.cfg.ConnectTimeout, opts...)
	if err != nil {
		return nil, classifyConnectError(s.cfg, err)
	}
	if err := conn.SetCharset("utf8mb4"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mysql set charset: %w", err)
	}
	if _, err := conn.Execute("SET time_zone = '+00:00'"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mysql set time_zone: %w", err)
	}
	return conn, nil
}
