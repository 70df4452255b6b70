package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaOptions configures StartKafka. The zero value starts one in-memory
// broker on a free port, with automatic topic creation off.
type KafkaOptions struct {
	// Port is the broker's port on 127.0.0.1; 0 lets the system choose.
	// Restart reuses the port either way.
	Port int
	// Dir, when set, makes the broker keep its state (topics, records,
	// group offsets, producer ids) in that directory, so that it survives
	// Restart and can be reopened by a later StartKafka with the same Dir.
	// Empty keeps everything in memory, lost on Restart. Close does not
	// remove Dir.
	Dir string
	// AutoCreateTopics lets metadata requests create missing topics, as
	// auto.create.topics.enable does.
	AutoCreateTopics bool
	// Partitions is the partition count of topics created without one
	// (auto-created, or CreateTopics with -1); 0 means kfake's default, 10.
	Partitions int
	// Topics are created at start, with Partitions partitions each, unless
	// they were restored from Dir.
	Topics []string
	// ExtraOpts are passed to kfake.NewCluster after the harness's own.
	ExtraOpts []kfake.Opt
	// Logger receives the broker's log lines at the levels its handler
	// enables; nil discards them.
	Logger *slog.Logger
}

// Kafka is an in-process Kafka broker (kfake) on a loopback port. It speaks
// the Kafka protocol, with transactions, read_committed fetches and consumer
// groups, to clients in this process and in child processes alike. Its
// methods are safe for concurrent use.
type Kafka struct {
	// Addrs holds the broker's "127.0.0.1:port" seed address.
	Addrs []string
	// Port is the broker's port; it stays the same across Restart.
	Port int

	opts KafkaOptions

	mu      sync.Mutex
	cluster *kfake.Cluster
	closed  bool
}

// StartKafka starts a one-broker kfake cluster listening on 127.0.0.1.
func StartKafka(opts KafkaOptions) (*Kafka, error) {
	k := &Kafka{opts: opts, Port: opts.Port}
	c, err := k.newCluster()
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	k.cluster = c
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, fmt.Errorf("start kafka: want one broker address, have %v", addrs)
	}
	_, portStr, err := net.SplitHostPort(addrs[0])
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("start kafka: broker address %q: %w", addrs[0], err)
	}
	k.Port, _ = strconv.Atoi(portStr)
	k.Addrs = addrs
	discardLogger(opts.Logger).Info("kafka started", "server", "kafka", "addr", addrs[0], "dir", opts.Dir)
	return k, nil
}

func (k *Kafka) newCluster() (*kfake.Cluster, error) {
	o := k.opts
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if k.Port != 0 {
		opts = append(opts, kfake.Ports(k.Port))
	}
	if o.Dir != "" {
		opts = append(opts, kfake.DataDir(o.Dir))
	}
	if o.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if o.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(o.Partitions))
	}
	if len(o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(o.Partitions), o.Topics...))
	}
	if o.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogKfake{o.Logger.With("server", "kafka")}))
	}
	opts = append(opts, o.ExtraOpts...)
	return kfake.NewCluster(opts...)
}

// Cluster returns the running kfake cluster, for fault injection with its
// Control methods; nil after Close.
func (k *Kafka) Cluster() *kfake.Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	return k.cluster
}

// Client returns a franz-go client seeded with the broker's address, with
// opts added after the seed. The caller closes it.
func (k *Kafka) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{kgo.SeedBrokers(k.Addrs...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// Restart closes the broker, which drops every connection, and starts a new
// one on the same port. With Dir set the new broker has the old one's
// state; without it, it starts empty. Clients reconnect on their own.
func (k *Kafka) Restart() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errors.New("restart kafka: closed")
	}
	k.cluster.Close()
	c, err := k.newCluster()
	if err != nil {
		return fmt.Errorf("restart kafka: %w", err)
	}
	k.cluster = c
	return nil
}

// Close shuts the broker down; with Dir set it saves its state there first.
// It is idempotent and always returns nil.
func (k *Kafka) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	k.cluster.Close()
	return nil
}

// slogKfake passes kfake's log lines to a slog.Logger.
type slogKfake struct{ l *slog.Logger }

// Logf implements kfake.Logger.
func (s slogKfake) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		lvl = slog.LevelInfo
	default:
		lvl = slog.LevelDebug
	}
	if !s.l.Enabled(context.Background(), lvl) {
		return
	}
	s.l.Log(context.Background(), lvl, fmt.Sprintf(format, args...))
}
