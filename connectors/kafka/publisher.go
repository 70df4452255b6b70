package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

var (
	_ connectors.Sink           = (*Publisher)(nil)
	_ connectors.AsyncCommitter = (*Publisher)(nil)
)

// PublisherConfig configures a Publisher. The zero value of every field but
// Brokers, TopicPrefix and CheckpointKey has a working default.
type PublisherConfig struct {
	// Brokers are the seed brokers.
	Brokers []string
	// TopicPrefix starts every topic name: "<prefix>.<db>.<table>",
	// "<prefix>._schemas" and "<prefix>._checkpoints".
	TopicPrefix string
	// CheckpointKey is the key of this reader's checkpoint records.
	CheckpointKey string
	// TransactionalID fences older instances of the same reader.
	// Default "tributary-" + CheckpointKey.
	TransactionalID string
	// Partitions and ReplicationFactor apply to table topics the publisher
	// creates. Defaults 3 and -1 (the broker's default).
	Partitions        int32
	ReplicationFactor int16
	// TransactionTimeout bounds how long a dead reader's open transaction
	// blocks read_committed consumers. Default 60s.
	TransactionTimeout time.Duration
	// MaxBufferedBytes bounds the bytes of records waiting for the broker;
	// past it Add blocks. Default 16 MiB.
	MaxBufferedBytes int
	// Compression is the codec of produced record batches: "snappy"
	// (the default), "lz4", "zstd", "gzip" or "none". Consumers decompress
	// on their own; the broker keeps batches as they arrive, so snappy
	// also cuts what the broker copies and stores (bench-mysql: kfake
	// 1.8-6.0 -> 0.5-0.7 CPU-s), and costs the reader less than it saves
	// it in writes.
	Compression string
	// ClientOpts adds client options (TLS, SASL) chosen by the caller.
	ClientOpts []kgo.Opt
	Logger     *slog.Logger
	// Metrics records committed transactions; nil records none.
	Metrics *metrics.Publisher
}

// CheckpointTopic returns the compacted topic holding the checkpoints of
// every reader with this topic prefix.
func CheckpointTopic(prefix string) string { return prefix + "._checkpoints" }

// Publisher writes events, schemas and checkpoints in Kafka transactions.
//
// Use: Open, then repeatedly Add/AddSchema followed by Commit or
// CommitAsync. Add, AddSchema and CommitAsync hand their work to the
// publisher's own goroutines, which encode in parallel and produce and
// commit in call order, so the caller's next event overlaps the encoding
// of this one, and the next transaction's events are encoded and queued
// while the previous transaction commits; the event must not change after
// Add. Any error from Add, Commit or CommitAsync leaves the transaction
// state unknown: the caller must Close the publisher and start again from
// Open, whose checkpoint is then the truth. A Publisher is not safe for
// concurrent use.
type Publisher struct {
	cfg    PublisherConfig
	log    *slog.Logger
	cl     *kgo.Client
	adm    *kadm.Client
	topics map[string]int32 // partition counts of topics known to exist
	inTxn  bool
	events int       // events added since the last commit, for Metrics
	arenas sync.Pool // *arena, returned when their records are acked

	mu      sync.Mutex
	prodErr error

	jobs  chan job           // batches to the rendering goroutines
	order chan chan rendered // their results, in the order to produce them
	batch []item             // the batch being filled
	// batchBytes estimates the batch's size; budget bounds the bytes of
	// the batches between enqueue and the client's own buffer.
	batchBytes int64
	budget     *byteBudget
	stop       context.CancelFunc
	worker     sync.WaitGroup
	// hashed is the pipeline's context marked for records whose
	// Partition holds their key's hash (see broadcastPartitioner).
	hashed context.Context
}

// item is one unit of work for the encoding goroutine: an event, a schema,
// or a barrier that is answered once everything before it is produced.
type item struct {
	event   *schema.Event
	table   *schema.Table
	commit  *commitReq
	barrier chan error
}

// commitReq is a queued commit: the checkpoint that ends the transaction,
// and what the metrics record of it.
type commitReq struct {
	checkpoint []byte
	events     int
}

// NewPublisher returns a Publisher; it does no I/O.
func NewPublisher(cfg PublisherConfig) *Publisher {
	if cfg.TransactionalID == "" {
		cfg.TransactionalID = "tributary-" + cfg.CheckpointKey
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 3
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = -1
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = 16 << 20
	}
	if cfg.TransactionTimeout <= 0 {
		cfg.TransactionTimeout = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, log: log, topics: map[string]int32{}}
}

// Open connects, fences any older producer with the same transactional id
// (which aborts its open transaction), makes sure the schema and checkpoint
// topics exist, and returns the last committed checkpoint, or nil when this
// reader has none yet.
func (p *Publisher) Open(ctx context.Context) ([]byte, error) {
	codec, err := compressionCodec(p.cfg.Compression)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(p.cfg.Brokers...),
		kgo.TransactionalID(p.cfg.TransactionalID),
		kgo.TransactionTimeout(p.cfg.TransactionTimeout),
		kgo.ProducerLinger(5 * time.Millisecond),
		// The client's buffer only has to cover the broker's
		// acknowledgements (10,000 records per round trip is 500,000 a
		// second at 20ms); every record beyond is live heap the
		// collector scans again and again (50,000 cost the reader a
		// tenth of its CPU in bench-mysql).
		kgo.MaxBufferedRecords(maxBufferedRecords),
		kgo.MaxBufferedBytes(p.cfg.MaxBufferedBytes),
		kgo.RecordPartitioner(broadcastPartitioner{kgo.StickyKeyPartitioner(nil)}),
		kgo.ProducerBatchCompression(codec),
	}, p.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	p.cl, p.adm = cl, kadm.NewClient(cl)
	if _, _, err := cl.ProducerID(ctx); err != nil {
		if why := connectors.TLSProblem(err, "kafka.tls"); why != "" {
			return nil, fmt.Errorf("kafka init producer %q at %v: %s: %w", p.cfg.TransactionalID, p.cfg.Brokers, why, err)
		}
		return nil, fmt.Errorf("kafka init producer %q (is Kafka reachable at %v?): %w", p.cfg.TransactionalID, p.cfg.Brokers, err)
	}
	compacted := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, t := range []string{schema.SchemaTopic(p.cfg.TopicPrefix), CheckpointTopic(p.cfg.TopicPrefix)} {
		if _, err := p.ensureTopic(ctx, t, 1, compacted); err != nil {
			return nil, err
		}
	}
	var last []byte
	err = ReadTopic(ctx, p.cfg.Brokers, p.cfg.ClientOpts, CheckpointTopic(p.cfg.TopicPrefix), func(r *kgo.Record) error {
		if string(r.Key) == p.cfg.CheckpointKey {
			last = r.Value
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	p.startPipeline()
	return last, nil
}

func (p *Publisher) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prodErr
}

func (p *Publisher) fail(err error) {
	p.mu.Lock()
	if p.prodErr == nil {
		p.prodErr = err
	}
	p.mu.Unlock()
}

// codecs are the values of PublisherConfig.Compression.
var codecs = map[string]kgo.CompressionCodec{
	"":       kgo.SnappyCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
	"gzip":   kgo.GzipCompression(),
	"none":   kgo.NoCompression(),
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	c, ok := codecs[name]
	if !ok {
		return kgo.NoCompression(), fmt.Errorf("kafka compression %q: want snappy, lz4, zstd, gzip or none", name)
	}
	return c, nil
}

// maxBufferedRecords bounds the records the client holds unacknowledged.
const maxBufferedRecords = 10_000

// batchSize is how many items travel to the encoding goroutine together,
// and batchBytes the estimated size past which a batch goes early.
const (
	batchSize     = 256
	maxBatchBytes = 1 << 20
)

// eventSize estimates the memory an event holds: its string and byte
// values and a word for every other value.
func eventSize(e *schema.Event) int64 {
	n := int64(96)
	for _, img := range [2][]any{e.Before, e.After} {
		for _, v := range img {
			switch v := v.(type) {
			case string:
				n += int64(len(v)) + 16
			case []byte:
				n += int64(len(v)) + 24
			default:
				n += 16
			}
		}
	}
	return n
}

// enqueue adds an item to the batch being filled and hands the batch over
// when it is full or ends with a barrier.
func (p *Publisher) enqueue(ctx context.Context, it item) error {
	p.batch = append(p.batch, it)
	if it.event != nil {
		p.batchBytes += eventSize(it.event)
	}
	if len(p.batch) < batchSize && it.barrier == nil && it.commit == nil && p.batchBytes < maxBatchBytes {
		return nil
	}
	if err := p.err(); err != nil {
		return err
	}
	// Wide rows must not pile up between here and the client's buffer:
	// wait for room once the batches in flight hold the budget.
	if err := p.budget.acquire(ctx, p.batchBytes); err != nil {
		return err
	}
	j := job{items: p.batch, bytes: p.batchBytes, out: make(chan rendered, 1)}
	p.batch, p.batchBytes = make([]item, 0, batchSize), 0
	for _, send := range []func() bool{
		func() bool {
			select {
			case p.order <- j.out:
				return true
			case <-ctx.Done():
				return false
			}
		},
		func() bool {
			select {
			case p.jobs <- j:
				return true
			case <-ctx.Done():
				return false
			}
		},
	} {
		if !send() {
			return ctx.Err()
		}
	}
	return nil
}

// Add queues an event for the open transaction (starting one if needed):
// its envelope keyed by the primary key on the table's topic, and a
// tombstone after a delete. It may return the error of earlier work.
func (p *Publisher) Add(ctx context.Context, e *schema.Event) error {
	p.events++
	return p.enqueue(ctx, item{event: e})
}

// AddSchema queues one table schema version for the schema topic, in order
// with the events.
func (p *Publisher) AddSchema(ctx context.Context, t *schema.Table) error {
	return p.enqueue(ctx, item{table: t})
}

// drain waits until the encoding goroutine has produced everything queued
// before it, and returns the first error.
func (p *Publisher) drain(ctx context.Context) error {
	reply := make(chan error, 1)
	if err := p.enqueue(ctx, item{barrier: reply}); err != nil {
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Client returns the underlying client, for reading topics.
func (p *Publisher) Client() *kgo.Client { return p.cl }

// ensureTopic creates topic when missing and returns its partition count.
func (p *Publisher) ensureTopic(ctx context.Context, topic string, partitions int32, configs map[string]*string) (int32, error) {
	if n, ok := p.topics[topic]; ok {
		return n, nil
	}
	resp, err := p.adm.CreateTopic(ctx, partitions, p.cfg.ReplicationFactor, configs, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
	case errors.Is(err, kerr.TopicAlreadyExists):
		details, err := p.adm.ListTopics(ctx, topic)
		if err == nil {
			err = details.Error()
		}
		if err != nil {
			return 0, fmt.Errorf("describe topic %s: %w", topic, err)
		}
		partitions = int32(len(details[topic].Partitions))
	default:
		return 0, fmt.Errorf("create topic %s: %w", topic, err)
	}
	p.topics[topic] = partitions
	return partitions, nil
}

func (p *Publisher) begin() error {
	if p.inTxn {
		return nil
	}
	if err := p.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("kafka begin transaction: %w", err)
	}
	p.inTxn = true
	return nil
}

func (p *Publisher) done(r *kgo.Record, err error) {
	if err != nil {
		p.fail(fmt.Errorf("produce to %s: %w", r.Topic, err))
	}
}

// Schemas reads every committed schema version from the schema topic, in
// the order they were committed.
func (p *Publisher) Schemas(ctx context.Context) ([]*schema.Table, error) {
	var out []*schema.Table
	err := ReadTopic(ctx, p.cfg.Brokers, p.cfg.ClientOpts, schema.SchemaTopic(p.cfg.TopicPrefix), func(r *kgo.Record) error {
		if r.Value == nil {
			return nil
		}
		t := new(schema.Table)
		if err := json.Unmarshal(r.Value, t); err != nil {
			return fmt.Errorf("decode schema %s: %w", r.Key, err)
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read schemas: %w", err)
	}
	return out, nil
}

// Commit writes the checkpoint into the open transaction (starting one when
// there is none, so a checkpoint alone can move), flushes and commits, after
// every commit queued before it. When Commit returns nil, every record added
// since the last Commit and the checkpoint are durable and visible to
// read_committed consumers.
func (p *Publisher) Commit(ctx context.Context, checkpoint []byte) error {
	if err := p.CommitAsync(ctx, checkpoint); err != nil {
		return err
	}
	return p.drain(ctx)
}

// CommitAsync queues the commit Commit makes and returns at once; the
// records added after it go into the next transaction, which the client
// produces once this one has committed (one transactional producer has
// one transaction open). A failed commit is returned by a later Add,
// AddSchema, Commit or CommitAsync, and nothing queued after it is
// produced. See connectors.AsyncCommitter.
func (p *Publisher) CommitAsync(ctx context.Context, checkpoint []byte) error {
	if err := p.err(); err != nil {
		return err
	}
	c := &commitReq{checkpoint: checkpoint, events: p.events}
	p.events = 0
	return p.enqueue(ctx, item{commit: c})
}

// commitTxn ends the open transaction with the checkpoint record: it runs
// on the sequencing goroutine, after the transaction's records are
// produced and before the next transaction's.
func (p *Publisher) commitTxn(ctx context.Context, c *commitReq) error {
	start := time.Now()
	if err := p.begin(); err != nil {
		return err
	}
	p.cl.Produce(ctx, &kgo.Record{
		Topic: CheckpointTopic(p.cfg.TopicPrefix),
		Key:   []byte(p.cfg.CheckpointKey),
		Value: c.checkpoint,
	}, p.done)
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka flush: %w", err)
	}
	if err := p.err(); err != nil {
		return err
	}
	p.inTxn = false
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("kafka commit transaction: %w", err)
	}
	p.cfg.Metrics.Committed(c.events, time.Since(start))
	return nil
}

// Close aborts an open transaction and closes the client. It is idempotent.
func (p *Publisher) Close() {
	if p.stop != nil {
		p.stop()
		p.worker.Wait()
		p.stop, p.jobs, p.order, p.batch, p.batchBytes, p.hashed = nil, nil, nil, nil, 0, nil
	}
	if p.cl == nil {
		return
	}
	if p.inTxn {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.cl.AbortBufferedRecords(ctx)
		_ = p.cl.EndTransaction(ctx, kgo.TryAbort)
		cancel()
		p.inTxn = false
	}
	p.cl.Close()
	p.cl = nil
	p.prodErr = nil
	p.events = 0
	p.topics = map[string]int32{}
}
