// Package compactor reads the readers' change topics and applies them to
// lake tables, exactly once.
//
// Compactors are identical workers in one Kafka consumer group. A group
// balancer gives each member whole topics, so one worker writes each lake
// table. Each topic has its own goroutine, which folds records into a batch
// (the last change per key wins) and commits it as one lake snapshot on an
// interval or when it grows to MaxRows. The Kafka offsets a snapshot covers
// are stored in it; on assignment a worker resumes every partition from
// the table's checkpoint, not from the group's offsets, and skips records
// the checkpoint already covers. Group offsets are committed after each
// lake commit for monitoring only.
package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/lake/notify"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// Config configures a Compactor. The zero value of every field but
// Brokers, Sources and Lake has a working default.
type Config struct {
	// Brokers are the seed brokers.
	Brokers []string
	// ClientOpts adds client options (TLS, SASL) chosen by the caller.
	ClientOpts []kgo.Opt
	// Group is the consumer group; default "tributary-compactor".
	Group string
	// SessionTimeout is how long the group waits for a silent member
	// before moving its topics; default 10s.
	SessionTimeout time.Duration
	// Sources lists the readers whose topics are compacted.
	Sources []SourceConfig
	// Interval is the longest a change waits for its commit; default 30s.
	Interval time.Duration
	// MaxRows commits a table's batch early once it folds this many
	// records; default 100,000.
	MaxRows int
	// MaintainEvery is how often a worker maintains each of its tables
	// (rewrites files, expires snapshots), after a commit; default 10m.
	MaintainEvery time.Duration
	// MaintainFiles maintains a table before MaintainEvery has passed
	// once it has this many data files and twice as many as its last
	// maintenance left (a table whose commits touch many partitions);
	// default 500.
	MaintainFiles int64
	// FetchAhead bounds, per table, the bytes of records fetched that
	// the table's worker has not yet applied: past it, fetching the
	// table's topic pauses until the worker is down to half. Default
	// 32 MiB.
	FetchAhead int64
	// RetryMin is the first pause before a failed session starts again;
	// it doubles up to 30s. Default 1s.
	RetryMin time.Duration
	// Lake is where tables are written.
	Lake   lake.Lake
	Logger *slog.Logger
	// Metrics records the compactor's metrics and readiness; nil records
	// none.
	Metrics *metrics.Compactor
	// Notifier, when set, is told about each lake commit after it is
	// durable, and about a table's last commit again (Replay) when a
	// worker opens the table; see lake/notify. Its errors are logged.
	Notifier notify.Notifier
}

// DefaultFetchAhead is Config.FetchAhead's default.
const DefaultFetchAhead = 32 << 20

// SourceConfig says how one reader's topics map onto lake tables.
type SourceConfig struct {
	// TopicPrefix is the reader's topic prefix.
	TopicPrefix string
	// Namespace is the lake namespace of the source's tables; "{db}" is
	// replaced by the source database (MySQL) or schema (Postgres) and
	// "{prefix}" by TopicPrefix. Default "{db}".
	Namespace string
	// Tables gives per-table options by "database.table".
	Tables map[string]TableOptions
	// Properties are added to every table's properties (owner, team).
	Properties map[string]string
}

// TableOptions are the options of one lake table.
type TableOptions struct {
	// PartitionColumn is the date or timestamp column whose day (or
	// Granularity) partitions the table; empty means unpartitioned.
	PartitionColumn string
	// Granularity is "day" (default), "hour" or "month".
	Granularity string
	// CopyOnWrite rewrites touched data files instead of writing position
	// deletes (lake.TableConfig.CopyOnWrite).
	CopyOnWrite bool
}

// ErrUnknownSchema is the error of a record whose schema version is not on
// the schema topic.
var ErrUnknownSchema = errors.New("unknown schema version")

// Compactor consumes change topics into lake tables.
type Compactor struct {
	cfg     Config
	log     *slog.Logger
	sources []*source

	mu      sync.Mutex
	workers map[string]*worker // by topic, in the current session
	// retiring holds, by topic, the worker a revoke is stopping: it may
	// still be committing (for up to revokeFlushBudget) when the next
	// session, once the old one gave up leaving the group, assigns the
	// topic again, and the next worker must not use the table before it
	// is done.
	retiring map[string]*worker
	tables   map[string]lake.Table // open tables by topic, kept across sessions
	maint    map[string]maintained // last maintenance by topic, kept across sessions
	stopped  map[string]error      // tables stopped by bad input, by topic
	cl       *kgo.Client
	failErr  error
	cancel   context.CancelFunc
	pool     fetchPool // the fetched batches' memory, kept across sessions
}

// source is one reader's topics.
type source struct {
	cfg     SourceConfig
	schemas *schemas
	topics  *regexp.Regexp
}

// New returns a Compactor; it does no I/O.
func New(cfg Config) *Compactor {
	if cfg.Group == "" {
		cfg.Group = "tributary-compactor"
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 100_000
	}
	if cfg.MaintainEvery <= 0 {
		cfg.MaintainEvery = 10 * time.Minute
	}
	if cfg.MaintainFiles <= 0 {
		cfg.MaintainFiles = 500
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.FetchAhead <= 0 {
		cfg.FetchAhead = DefaultFetchAhead
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Compactor{cfg: cfg, log: log, workers: map[string]*worker{}, retiring: map[string]*worker{}, tables: map[string]lake.Table{}, maint: map[string]maintained{}, stopped: map[string]error{}}
	for _, s := range cfg.Sources {
		if s.Namespace == "" {
			s.Namespace = "{db}"
		}
		c.sources = append(c.sources, &source{
			cfg:     s,
			schemas: newSchemas(cfg.Brokers, cfg.ClientOpts, s.TopicPrefix),
			topics:  regexp.MustCompile(topicPattern(s.TopicPrefix)),
		})
	}
	return c
}

// topicPattern matches the table topics of a prefix,
// "<prefix>.<database>.<table>", and not "<prefix>._schemas" or
// "<prefix>._checkpoints".
func topicPattern(prefix string) string {
	return "^" + regexp.QuoteMeta(prefix) + `\.[^.]+\..+$`
}

func (c *Compactor) sourceOf(topic string) *source {
	for _, s := range c.sources {
		if s.topics.MatchString(topic) {
			return s
		}
	}
	return nil
}

// tableConfig returns the lake table of a source table.
func (s *source) tableConfig(id schema.TableID) lake.TableConfig {
	ns := strings.NewReplacer("{db}", id.Database, "{prefix}", s.cfg.TopicPrefix).Replace(s.cfg.Namespace)
	opts := s.cfg.Tables[id.String()]
	props := map[string]string{"tributary.source.topic-prefix": s.cfg.TopicPrefix}
	for k, v := range s.cfg.Properties {
		props[k] = v
	}
	return lake.TableConfig{Namespace: ns, Name: id.Name, PartitionColumn: opts.PartitionColumn, Granularity: opts.Granularity, Properties: props, CopyOnWrite: opts.CopyOnWrite}
}

// Stopped returns the tables stopped by bad input, by topic, with the
// reason. A stopped table keeps its last commit; nothing after the bad
// record is applied until the input is fixed and the compactor restarted.
func (c *Compactor) Stopped() map[string]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]error, len(c.stopped))
	for k, v := range c.stopped {
		out[k] = v
	}
	return out
}

// Run consumes until ctx is done, then commits what it holds and returns
// nil. A failed session (a table that cannot commit, Kafka trouble) is
// started again after a pause: every table then resumes from its last
// commit. Before the first session Run checks that Kafka answers and, when
// the lake is a lake.Checker, that the lake takes writes; a failure there
// is returned at once (a compactor that never worked is misconfigured more
// often than unlucky), and nothing has been written.
func (c *Compactor) Run(ctx context.Context) error {
	if len(c.sources) == 0 {
		return errors.New("compactor: no sources configured")
	}
	defer c.closeTables()
	c.cfg.Metrics.Running(true)
	defer c.cfg.Metrics.Running(false)
	if err := c.preflight(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	backoff := c.cfg.RetryMin
	for {
		started := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = c.cfg.RetryMin
		}
		c.log.Error("compactor session failed; starting again", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// pingTimeout bounds the first contact with Kafka.
const pingTimeout = 15 * time.Second

// preflight checks that Kafka and the lake answer before joining the group.
func (c *Compactor) preflight(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.cfg.Brokers...)}, c.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err = cl.Ping(pctx)
	cancel()
	cl.Close()
	if err != nil {
		return fmt.Errorf("kafka at %v does not answer (is Kafka reachable? check kafka.brokers): %w", c.cfg.Brokers, err)
	}
	if ch, ok := c.cfg.Lake.(lake.Checker); ok {
		if err := ch.Check(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Compactor) closeTables() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, t := range c.tables {
		t.Close()
		delete(c.tables, topic)
	}
}

// fail ends the current session with err.
func (c *Compactor) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failErr == nil {
		c.failErr = err
	}
	if c.cancel != nil {
		c.cancel()
	}
}

// stop marks a table stopped by bad input and stops fetching its topic.
func (c *Compactor) stop(topic string, err error) {
	c.mu.Lock()
	c.stopped[topic] = err
	c.mu.Unlock()
	c.pauseTopic(topic)
}

// pauseTopic stops fetching a topic: its worker is behind (fetchAhead) or
// its table is stopped.
func (c *Compactor) pauseTopic(topic string) {
	c.mu.Lock()
	cl := c.cl
	c.mu.Unlock()
	if cl != nil {
		cl.PauseFetchTopics(topic)
	}
}

// resumeTopic fetches a topic paused by pauseTopic again, unless bad
// input stopped its table meanwhile.
func (c *Compactor) resumeTopic(topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, stopped := c.stopped[topic]; !stopped && c.cl != nil {
		c.cl.ResumeFetchTopics(topic)
	}
}

// session runs one consumer group membership.
func (c *Compactor) session(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var patterns []string
	for _, s := range c.sources {
		patterns = append(patterns, s.topics.String())
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics(patterns...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.WithLogger(kgoLogger{c.log.With("component", "kafka")}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.WithPools(&c.pool),
		// Transaction markers reach the workers, which step over them,
		// so that a table at rest has no consume lag.
		kgo.KeepControlRecords(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			c.cfg.Metrics.Joined(true)
		}),
		kgo.Balancers(topicBalancer{}),
		// New tables show up as new topics; the regex subscription sees
		// them at the next metadata refresh.
		kgo.MetadataMinAge(time.Second),
		// A crashed compactor's topics move to the others after this.
		kgo.SessionTimeout(c.cfg.SessionTimeout),
		kgo.MetadataMaxAge(5 * time.Second),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.AdjustFetchOffsetsFn(func(actx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			return c.assigned(sctx, actx, offsets), nil
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
			c.revoked(revoked, true)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			c.revoked(lost, false)
		}),
	}, c.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	c.mu.Lock()
	c.cl, c.cancel, c.failErr = cl, cancel, nil
	c.mu.Unlock()
	defer c.closeSession(cl)
	for {
		fs := cl.PollFetches(sctx)
		if sctx.Err() != nil {
			c.mu.Lock()
			err := c.failErr
			c.mu.Unlock()
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			c.log.Warn("fetch error", "error", ferr)
			c.cfg.Metrics.Error(metrics.ErrorFetch)
		}
		fs.EachTopic(func(ft kgo.FetchTopic) {
			w := c.worker(ft.Topic)
			var f fetched
			data := 0
			for _, fp := range ft.Partitions {
				if w != nil {
					w.stable.set(fp.Partition, fp.LastStableOffset)
				}
				for _, r := range fp.Records {
					if !r.Attrs.IsControl() {
						data++
					}
					f.bytes += int64(len(r.Key) + len(r.Value))
				}
				f.recs = append(f.recs, fp.Records...)
			}
			if len(f.recs) == 0 || w == nil {
				return
			}
			w.m.Records(data)
			w.send(sctx, f)
		})
	}
}

// leaveTimeout bounds leaving the group on shutdown: a join in progress
// (the group waiting for a crashed member's session to time out) would
// otherwise hold Close.
const leaveTimeout = 10 * time.Second

// closeSession leaves the group, which revokes (and so commits) every
// table, stops the workers a forced leave did not revoke, and closes the
// client, each step bounded by leaveTimeout.
func (c *Compactor) closeSession(cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	err := cl.LeaveGroupContext(ctx)
	cancel()
	if err != nil {
		c.log.Warn("leaving the consumer group took too long; leaving without waiting", "error", err)
		done, force := context.WithCancel(context.Background())
		force()
		_ = cl.LeaveGroupContext(done)
	}
	c.stopWorkers(true)
	c.cfg.Metrics.Joined(false)
	c.mu.Lock()
	c.cl, c.cancel = nil, nil
	c.mu.Unlock()
	closed := make(chan struct{})
	go func() {
		cl.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(leaveTimeout):
		// Close waits for a join request the broker holds until the group
		// settles; the client goes away when it returns.
		c.log.Warn("kafka client still closing; going on without it")
	}
}

func (c *Compactor) worker(topic string) *worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workers[topic]
}

// assigned starts a worker per assigned topic and positions every
// partition at the table's checkpoint (the start of the partition for one
// the table has not seen).
func (c *Compactor) assigned(sctx, actx context.Context, offsets map[string]map[int32]kgo.Offset) map[string]map[int32]kgo.Offset {
	for topic, parts := range offsets {
		if sctx.Err() != nil {
			return offsets // the session is ending
		}
		src := c.sourceOf(topic)
		if src == nil {
			continue
		}
		c.mu.Lock()
		prev := c.retiring[topic]
		c.mu.Unlock()
		if prev != nil {
			// The last session's worker of the topic is still committing
			// what it held (its budget is revokeFlushBudget): the table is
			// one object for both, and a commit planned by one must not
			// meet a change by the other.
			c.log.Info("waiting for the previous session's worker of the topic to stop", "topic", topic)
			select {
			case <-prev.done:
			case <-sctx.Done():
				return offsets // the session is ending
			}
		}
		var ps []int32
		for p := range parts {
			ps = append(ps, p)
			parts[p] = kgo.NewOffset().AtStart()
		}
		w := newWorker(c, src, topic, ps)
		if err := w.open(actx); err != nil {
			// The worker opens the table when records come and skips what
			// the checkpoint covers; starting from the start loses nothing.
			c.log.Warn("cannot open lake table at assignment; reading the topic from its start", "topic", topic, "error", err)
		} else {
			for p, o := range w.next {
				if _, ok := parts[p]; ok {
					parts[p] = kgo.NewOffset().At(o)
				}
			}
		}
		c.mu.Lock()
		if _, stopped := c.stopped[topic]; stopped && c.cl != nil {
			c.cl.PauseFetchTopics(topic)
		} else if c.cl != nil {
			// The topic's last worker of this session may have left it
			// paused (fetchAhead).
			c.cl.ResumeFetchTopics(topic)
		}
		c.workers[topic] = w
		c.mu.Unlock()
		w.log.Info("topic assigned", "partitions", len(ps), "resume", w.next)
		w.start(sctx)
	}
	return offsets
}

// revokeFlushBudget bounds the commit a worker makes when its topic is
// revoked, well inside the group's 60 s rebalance timeout (a new owner
// in a fresh process may first need seconds to build its key index, and
// a budget shorter than a commit would drop the same batch again and
// again under churn). The worker is
// revoked: past it the worker drops what it holds (the next owner reads it
// again from the table's checkpoint) rather than hold up the rebalance
// until the group expels this member, which would then still be
// committing to a table another worker owns.
const revokeFlushBudget = 30 * time.Second

// revoked stops the workers of revoked topics, committing what they hold
// (within revokeFlushBudget) when flush is set. Lost topics are no longer
// this member's: their workers start no commit, abort the one in flight
// and drop what they hold.
func (c *Compactor) revoked(topics map[string][]int32, flush bool) {
	c.mu.Lock()
	var ws []*worker
	for t := range topics {
		if w := c.workers[t]; w != nil {
			ws = append(ws, w)
			delete(c.workers, t)
			c.retiring[t] = w
		}
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		for _, w := range ws {
			if c.retiring[w.topic] == w {
				delete(c.retiring, w.topic)
			}
		}
		c.mu.Unlock()
	}()
	for _, w := range ws {
		if !flush {
			w.disown(errLost)
			continue
		}
		t := time.AfterFunc(revokeFlushBudget, func() { w.disown(errRevokedSlow) })
		defer t.Stop()
	}
	for _, w := range ws {
		w.stop(flush)
	}
}

func (c *Compactor) stopWorkers(flush bool) {
	c.mu.Lock()
	ws := c.workers
	c.workers = map[string]*worker{}
	c.mu.Unlock()
	for _, w := range ws {
		w.stop(flush)
	}
}

// table returns the open lake table of a topic, if any.
func (c *Compactor) table(topic string) lake.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tables[topic]
}

func (c *Compactor) setTable(topic string, t lake.Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.tables[topic]; old != nil && old != t {
		old.Close()
	}
	if t == nil {
		delete(c.tables, topic)
	} else {
		c.tables[topic] = t
	}
}

// commitOffsets records a table's checkpoint as the group's offsets, for
// lag monitoring; failures are only logged.
func (c *Compactor) commitOffsets(cp lake.Checkpoint) {
	c.mu.Lock()
	cl := c.cl
	c.mu.Unlock()
	if cl == nil {
		return
	}
	offs := map[string]map[int32]kgo.EpochOffset{cp.Topic: {}}
	for p, o := range cp.Offsets {
		offs[cp.Topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	cl.CommitOffsets(context.Background(), offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			c.log.Debug("commit group offsets", "topic", cp.Topic, "error", err)
		}
	})
}

// lastMaintained returns a table's last maintenance; the first call for
// a table counts as one, so the first run comes MaintainEvery later.
func (c *Compactor) lastMaintained(topic string) maintained {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.maint[topic]
	if !ok {
		m = maintained{at: time.Now()}
		c.maint[topic] = m
	}
	return m
}

func (c *Compactor) setMaintained(topic string, files int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maint[topic] = maintained{at: time.Now(), files: files}
}
