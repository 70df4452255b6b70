package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig configures an embedded broker.
type EmbeddedConfig struct {
	// Dir is where the broker keeps its log (topics, records, transaction
	// markers, producer ids), so that a restart finds everything a reader
	// committed. Required.
	Dir string
	// Addr is the host:port to listen on; empty means 127.0.0.1 on a
	// free port.
	Addr string
	// NoSync skips the fsync after each written batch: a killed process
	// still loses nothing (the page cache survives it), a power loss may.
	NoSync bool
	// Logger receives the broker's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Embedded is an in-process, one-broker Kafka cluster (franz-go's kfake)
// that persists to a directory. It serves `tributary run` and `tributary
// demo` when no brokers are configured: the readers and the compactor talk
// to it over loopback like to any Kafka cluster, with transactions,
// read_committed fetches and consumer groups.
type Embedded struct {
	cluster *kfake.Cluster
	addr    string
}

// StartEmbedded starts the broker and reloads what Dir holds.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("embedded kafka: no data directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// kfake asks for 127.0.0.1:port; listen where the config says instead.
	listen := func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(cfg.Dir), kfake.ListenFn(listen)}
	if !cfg.NoSync {
		opts = append(opts, kfake.SyncWrites())
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{cfg.Logger.With("component", "embedded-kafka")}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka on %s (data %s): %w", addr, cfg.Dir, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, fmt.Errorf("embedded kafka: want one listener, have %v", addrs)
	}
	return &Embedded{cluster: c, addr: addrs[0]}, nil
}

// Addr returns the broker's host:port.
func (e *Embedded) Addr() string { return e.addr }

// Close saves the broker's state to its directory and stops it. It is
// idempotent.
func (e *Embedded) Close() { e.cluster.Close() }

// kfakeLogger passes kfake's log lines to a slog.Logger: its errors as
// errors, its warnings (mostly "EndTxn slow" when fsync takes a few
// milliseconds) as debug lines.
type kfakeLogger struct{ l *slog.Logger }

// Logf implements kfake.Logger.
func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	lvl := slog.LevelDebug
	if level == kfake.LogLevelError {
		lvl = slog.LevelError
	}
	if k.l.Enabled(context.Background(), lvl) {
		k.l.Log(context.Background(), lvl, fmt.Sprintf(format, args...))
	}
}
