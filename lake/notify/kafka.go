package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaConfig configures a Kafka notifier.
type KafkaConfig struct {
	// Brokers are the seed brokers, and ClientOpts the caller's client
	// options (TLS, SASL).
	Brokers    []string
	ClientOpts []kgo.Opt
	// Topic receives one record per commit: key the lake table
	// ("namespace.name"), value the Commit as JSON. It is created when
	// missing, with Partitions partitions (default 1) and
	// ReplicationFactor (default -1, the broker's default).
	Topic             string
	Partitions        int32
	ReplicationFactor int16
	// Timeout bounds the wait for the broker's acknowledgement of one
	// notification; default 10s. Past it the notification is counted as
	// failed and the commit goes on.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Kafka produces notifications to a topic and waits for each to be
// acknowledged (bounded by Timeout), so that a notification Notify
// returned nil for is durable. It is safe for concurrent use.
type Kafka struct {
	cfg KafkaConfig
	log *slog.Logger

	mu      sync.Mutex
	cl      *kgo.Client
	created bool
	closed  bool

	sent, failed atomic.Uint64
}

var _ Notifier = (*Kafka)(nil)

// NewKafka returns a Kafka notifier; it connects on the first Notify.
func NewKafka(cfg KafkaConfig) *Kafka {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = -1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Kafka{cfg: cfg, log: cfg.Logger.With("notify", "kafka", "topic", cfg.Topic)}
}

// client returns the producer, creating it and the topic on first use.
func (k *Kafka) client(ctx context.Context) (*kgo.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errors.New("notifier closed")
	}
	if k.cl == nil {
		opts := append([]kgo.Opt{kgo.SeedBrokers(k.cfg.Brokers...), kgo.ProducerLinger(0)}, k.cfg.ClientOpts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka client: %w", err)
		}
		k.cl = cl
	}
	if !k.created {
		res, err := kadm.NewClient(k.cl).CreateTopic(ctx, k.cfg.Partitions, k.cfg.ReplicationFactor, nil, k.cfg.Topic)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("create topic %s: %w", k.cfg.Topic, err)
		}
		k.created = true
	}
	return k.cl, nil
}

// Notify produces one notification and waits for its acknowledgement.
func (k *Kafka) Notify(ctx context.Context, c *Commit) error {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	err := k.produce(ctx, c)
	if err != nil {
		k.failed.Add(1)
		k.log.Warn("commit notification lost", "table", c.Table, "snapshot", c.SnapshotID, "err", err)
		return fmt.Errorf("notify %s snapshot %d to topic %s: %w", c.Table, c.SnapshotID, k.cfg.Topic, err)
	}
	k.sent.Add(1)
	return nil
}

func (k *Kafka) produce(ctx context.Context, c *Commit) error {
	value, err := json.Marshal(c)
	if err != nil {
		return err
	}
	cl, err := k.client(ctx)
	if err != nil {
		return err
	}
	return cl.ProduceSync(ctx, &kgo.Record{Topic: k.cfg.Topic, Key: []byte(c.Table), Value: value}).FirstErr()
}

// Sent and Failed count the notifications acknowledged and lost.
func (k *Kafka) Sent() uint64   { return k.sent.Load() }
func (k *Kafka) Failed() uint64 { return k.failed.Load() }

// Close closes the producer. It is idempotent.
func (k *Kafka) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.cl != nil {
		k.cl.Close()
		k.cl = nil
	}
}
