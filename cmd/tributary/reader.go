package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/connectors/redact"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdReader(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "source config file (YAML)")
	var resnap listFlag
	fs.Var(&resnap, "resnapshot", "snapshot `db.table` again while streaming (repeatable)")
	reset := fs.Bool("reset-position", false, "discard the checkpoint's source position and snapshot every table again; consumers keep their rows meanwhile and drop those the source no longer holds at the end (recovery from purged binlogs or a lost replication slot)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *path == "" {
		fmt.Fprintln(stderr, "tributary reader: -c FILE is required")
		fs.Usage()
		return exitConfig
	}
	// Signals are caught from the start, so that a SIGTERM during start-up
	// also stops cleanly.
	ctx, stop := signalContext(slog.New(slog.NewTextHandler(stderr, nil)))
	defer stop()
	cfg, err := config.LoadSource(*path)
	if err != nil {
		fmt.Fprintf(stderr, "tributary reader: %v\n", err)
		return exitConfig
	}
	if cfg.Kafka.UsesEmbeddedBroker() {
		fmt.Fprintf(stderr, "tributary reader: %s: kafka.brokers is empty; the reader needs a Kafka cluster (set kafka.brokers: [\"host:9092\"])\n", *path)
		return exitConfig
	}
	log := newLogger(cfg.Log, stderr)
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit))
	}
	var tables []schema.TableID
	for _, s := range resnap {
		id, err := schema.ParseTableID(s)
		if err != nil {
			fmt.Fprintf(stderr, "tributary reader: --resnapshot: %v\n", err)
			return exitConfig
		}
		tables = append(tables, id)
	}
	reg := newRegistry(cfg.Metrics)
	src, err := newSource(cfg, log, tables, *reset, reg)
	if err != nil {
		fmt.Fprintf(stderr, "tributary reader: %s: %v\n", *path, err)
		return exitConfig
	}
	sink, err := newSink(cfg, cfg.Kafka.Brokers, log, reg)
	if err != nil {
		fmt.Fprintf(stderr, "tributary reader: %s: %v\n", *path, err)
		return exitConfig
	}
	p := &process{log: log, readers: []*readerUnit{newReaderUnit(cfg, src, sink, log)}}
	if err := serveAdmin(ctx, cfg.Metrics, p, reg, log); err != nil {
		fmt.Fprintf(stderr, "tributary reader: %s: %v\n", *path, err)
		return exitConfig
	}
	log.Info("reader starting", "source", cfg.Name, "type", cfg.Type, "version", Version)
	err = p.run(ctx)
	if err != nil {
		log.Error("reader stopped", "err", err)
		fmt.Fprintf(stderr, "tributary reader: %v\n", err)
	}
	return exitCode(err, isSourceFatal)
}

func isSourceFatal(err error) bool { return connectors.IsFatal(err) }

// newSink builds the sink of a source: a Kafka publisher to brokers,
// behind the column redaction of tables.columns when there is any.
func newSink(cfg *config.Source, brokers []string, log *slog.Logger, reg *metrics.Registry) (connectors.Sink, error) {
	kopts, err := kafkaOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	pub := kafka.NewPublisher(kafka.PublisherConfig{
		Brokers:           brokers,
		TopicPrefix:       cfg.Kafka.TopicPrefix,
		CheckpointKey:     cfg.Name,
		TransactionalID:   cfg.Kafka.TransactionalID,
		Partitions:        cfg.Kafka.Partitions,
		ReplicationFactor: cfg.Kafka.ReplicationFactor,
		MaxBufferedBytes:  int(cfg.Kafka.BatchMaxBytes),
		Compression:       cfg.Kafka.Compression,
		ClientOpts:        kopts,
		Metrics:           reg.Publisher(cfg.Name),
		Logger:            log,
	})
	if len(cfg.Tables.Columns) == 0 {
		return pub, nil
	}
	rules := map[schema.TableID]redact.Rules{}
	for name, r := range cfg.Tables.Columns {
		id, err := schema.ParseTableID(name)
		if err != nil {
			return nil, fmt.Errorf("tables.columns: %w", err)
		}
		rules[id] = redact.Rules{Exclude: r.Exclude, Hash: r.Hash}
	}
	return redact.New(pub, redact.Config{Tables: rules, Salt: []byte(cfg.Tables.HashSalt.Reveal()), Logger: log})
}

// newSource builds the reader of the configured source type.
func newSource(cfg *config.Source, log *slog.Logger, resnap []schema.TableID, reset bool, reg *metrics.Registry) (connectors.Source, error) {
	keys, err := tableKeys(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.Type {
	case config.SourceMySQL:
		m := cfg.MySQL
		tlsCfg, err := tlsConfig(m.TLS, m.Host)
		if err != nil {
			return nil, fmt.Errorf("mysql.tls: %w", err)
		}
		return mysql.NewSource(mysql.Config{
			Name:              cfg.Name,
			Addr:              m.Addr(),
			User:              m.User,
			Password:          m.Password.Reveal(),
			TLS:               tlsCfg,
			ServerID:          m.ServerID,
			Include:           cfg.MatchTable,
			Keys:              keys,
			SkipWithoutKey:    cfg.Tables.WithoutPrimaryKey == config.NoKeySkip,
			NoSnapshot:        cfg.Snapshot.Mode == config.SnapshotNever,
			ChunkSize:         cfg.Snapshot.ChunkSize,
			Resnapshot:        resnap,
			ResetPosition:     reset,
			HeartbeatInterval: m.HeartbeatInterval.Std(),
			ConnectTimeout:    m.ConnectTimeout.Std(),
			MaxBatch:          cfg.Kafka.BatchMaxEvents,
			MaxTxRows:         cfg.Kafka.SplitTransactionRows,
			CommitInterval:    cfg.Kafka.Linger.Std(),
			Metrics:           reg.Reader(cfg.Name),
			Logger:            log,
		}), nil
	case config.SourcePostgres:
		pg := cfg.Postgres
		tlsCfg, err := tlsConfig(pg.TLS, pg.Host)
		if err != nil {
			return nil, fmt.Errorf("postgres.tls: %w", err)
		}
		return postgres.NewSource(postgres.Config{
			Name:              cfg.Name,
			Addr:              pg.Addr(),
			User:              pg.User,
			Password:          pg.Password.Reveal(),
			Database:          pg.Database,
			TLS:               tlsCfg,
			Slot:              pg.Slot,
			Publication:       pg.Publication,
			Include:           cfg.MatchTable,
			Keys:              keys,
			SkipWithoutKey:    cfg.Tables.WithoutPrimaryKey == config.NoKeySkip,
			NoSnapshot:        cfg.Snapshot.Mode == config.SnapshotNever,
			ChunkSize:         cfg.Snapshot.ChunkSize,
			Resnapshot:        resnap,
			ResetPosition:     reset,
			HeartbeatInterval: pg.HeartbeatInterval.Std(),
			ConnectTimeout:    pg.ConnectTimeout.Std(),
			MaxBatch:          cfg.Kafka.BatchMaxEvents,
			MaxTxRows:         cfg.Kafka.SplitTransactionRows,
			SnapshotWorkers:   cfg.Snapshot.Workers,
			SpillDir:          pg.SpillDir,
			CommitInterval:    cfg.Kafka.Linger.Std(),
			Metrics:           reg.Reader(cfg.Name),
			Logger:            log,
		}), nil
	}
	return nil, fmt.Errorf("type %q: want mysql or postgres", cfg.Type)
}

// tableKeys parses tables.keys.
func tableKeys(cfg *config.Source) (map[schema.TableID][]string, error) {
	keys := map[schema.TableID][]string{}
	for name, cols := range cfg.Tables.Keys {
		id, err := schema.ParseTableID(name)
		if err != nil {
			return nil, fmt.Errorf("tables.keys: %w", err)
		}
		keys[id] = cols
	}
	return keys, nil
}
