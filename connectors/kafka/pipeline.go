package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/schema"
)

// The publisher's pipeline: the caller fills batches of items; rendering
// goroutines turn batches into records in parallel; one sequencing
// goroutine produces the records batch by batch in the caller's order,
// commits the transaction where a batch ends with a commit, and answers
// barriers once everything before them is produced (and committed).

// job is one batch to render, with the channel its result goes to.
type job struct {
	items []item
	bytes int64 // the batch's share of the budget
	out   chan rendered
}

// rendered is a batch turned into records. A record with Partition -1 and
// the broadcast header is a table-level event (truncate, resync marker) to
// send to every partition.
type rendered struct {
	bytes   int64 // the batch's share of the budget, released once produced
	recs    []*kgo.Record
	arena   *arena // holds the records' keys and values
	commit  *commitReq
	barrier chan error
	err     error
}

// arena holds the keys and values of one rendered batch. It goes back to
// its pool once the broker has acknowledged every record produced from it
// (and the sequencer has let go of it).
type arena struct {
	buf  []byte
	refs atomic.Int64
	p    *Publisher
	done func(*kgo.Record, error) // a.ack, bound once
}

func (p *Publisher) newArena() *arena {
	if a, ok := p.arenas.Get().(*arena); ok {
		return a
	}
	a := &arena{p: p, buf: make([]byte, 0, 64<<10)}
	a.done = a.ack
	return a
}

// ack is the promise of every record of the arena.
func (a *arena) ack(r *kgo.Record, err error) {
	if err != nil {
		a.p.fail(fmt.Errorf("produce to %s: %w", r.Topic, err))
	}
	a.release()
}

func (a *arena) release() {
	if a.refs.Add(-1) == 0 && cap(a.buf) <= maxArena {
		a.buf = a.buf[:0]
		a.p.arenas.Put(a)
	}
}

// maxArena is the largest arena kept for reuse.
const maxArena = 4 << 20

// recordChunk is how many records share one allocation.
const recordChunk = 64

func (p *Publisher) startPipeline() {
	ctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	p.hashed = withHashedKeys(ctx)
	// Room for bursts: the caller is the source's single event loop, and
	// each time it blocks here it waits again for a CPU to run on.
	p.jobs = make(chan job, 16)
	p.order = make(chan chan rendered, 64)
	// Half the client's buffer: the batches waiting to render, being
	// rendered and waiting to produce (while a commit runs, say), sized by
	// their events' values. Events take more memory than their estimate
	// and all of it is scanned by the garbage collector: a larger budget
	// costs more in collections than it saves in waits.
	p.budget = newByteBudget(int64(p.cfg.MaxBufferedBytes) / 2)
	for range max(1, min(4, runtime.GOMAXPROCS(0))) {
		r := &renderer{p: p, topics: map[*schema.Table]string{}}
		p.worker.Go(func() { r.run(ctx) })
	}
	p.worker.Go(func() { p.sequence(ctx) })
}

// renderer encodes batches; each rendering goroutine has its own.
type renderer struct {
	p      *Publisher
	enc    schema.Encoder
	topics map[*schema.Table]string
	// now is the envelopes' ts_ms clock, read once per nowEvery events.
	now    time.Time
	nowAge int
	// recs are records to hand out; see record.
	recs []kgo.Record
	a    *arena // the arena of the batch being rendered
}

// record returns a new record, allocated with others. Records live until
// the broker acknowledges them.
func (r *renderer) record() *kgo.Record {
	if len(r.recs) == 0 {
		r.recs = make([]kgo.Record, recordChunk)
	}
	rec := &r.recs[0]
	r.recs = r.recs[1:]
	return rec
}

// nowEvery is how many events share one reading of the clock.
const nowEvery = 256

func (r *renderer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.p.jobs:
			res := r.render(j.items)
			res.bytes = j.bytes
			j.out <- res
		}
	}
}

func (r *renderer) render(items []item) rendered {
	var out rendered
	out.recs = make([]*kgo.Record, 0, len(items)+8)
	r.a = r.p.newArena()
	// The sequencer's reference: it lets go once it has produced the
	// batch's records.
	r.a.refs.Store(1)
	out.arena = r.a
	for _, it := range items {
		var err error
		switch {
		case it.barrier != nil:
			out.barrier = it.barrier
		case it.commit != nil:
			out.commit = it.commit
		case it.event != nil:
			out.recs, err = r.event(out.recs, it.event)
		default:
			out.recs, err = r.schema(out.recs, it.table)
		}
		if err != nil {
			out.err = err
			break
		}
	}
	r.a = nil
	return out
}

// event appends the records of one event: the envelope keyed by the
// primary key, a tombstone after a delete, or one table-level event
// (truncate, resync marker) to broadcast.
func (r *renderer) event(recs []*kgo.Record, e *schema.Event) ([]*kgo.Record, error) {
	topic, ok := r.topics[e.Table]
	if !ok {
		topic = schema.TopicName(r.p.cfg.TopicPrefix, e.Table.ID)
		r.topics[e.Table] = topic
	}
	if r.nowAge--; r.nowAge <= 0 {
		r.now, r.nowAge = time.Now(), nowEvery
	}
	// Keys and values are slices of the batch's arena, which stays until
	// every record is acked. When the arena grows, the slices already
	// taken keep the old array.
	a := r.a
	start := len(a.buf)
	var err error
	if a.buf, err = r.enc.AppendEnvelope(a.buf, e, r.now); err != nil {
		return recs, err
	}
	val := a.buf[start:len(a.buf):len(a.buf)]
	rec := r.record()
	// The record's timestamp is the envelope's clock: the client would
	// read the clock for every record otherwise.
	if e.Op.TableLevel() {
		*rec = kgo.Record{Topic: topic, Key: tableLevelKey(e.Op), Value: val, Partition: -1, Headers: broadcastHeader, Timestamp: r.now}
		return append(recs, rec), nil
	}
	start = len(a.buf)
	if a.buf, err = r.enc.AppendKey(a.buf, e); err != nil {
		return recs, err
	}
	key := a.buf[start:len(a.buf):len(a.buf)]
	// The key is hashed here, where it was just written: see
	// broadcastPartitioner.
	hash := keyHash(key)
	*rec = kgo.Record{Topic: topic, Key: key, Value: val, Timestamp: r.now, Partition: hash, Context: r.p.hashed}
	recs = append(recs, rec)
	if e.Op == schema.OpDelete {
		tomb := r.record()
		*tomb = kgo.Record{Topic: topic, Key: key, Timestamp: r.now, Partition: hash, Context: r.p.hashed}
		recs = append(recs, tomb)
	}
	return recs, nil
}

func (r *renderer) schema(recs []*kgo.Record, t *schema.Table) ([]*kgo.Record, error) {
	value, err := json.Marshal(t)
	if err != nil {
		return recs, fmt.Errorf("encode schema %s: %w", t.ID, err)
	}
	return append(recs, &kgo.Record{
		Topic: schema.SchemaTopic(r.p.cfg.TopicPrefix),
		Key:   []byte(schema.SchemaKey(t.ID, t.Version)),
		Value: value,
	}), nil
}

// sequence produces rendered batches in order. After an error it only
// answers barriers; the error is reported by the next call.
func (p *Publisher) sequence(ctx context.Context) {
	for {
		var out chan rendered
		select {
		case <-ctx.Done():
			return
		case out = <-p.order:
		}
		var res rendered
		select {
		case <-ctx.Done():
			return
		case res = <-out:
		}
		if res.err != nil {
			p.fail(res.err)
		}
		if p.err() == nil {
			if err := p.produceAll(ctx, res.recs, res.arena); err != nil {
				p.fail(err)
			}
		}
		res.arena.release()
		p.budget.release(res.bytes)
		// A commit ends its batch. While it commits, the next batches
		// render and wait in order; after a failure none is produced.
		if res.commit != nil && p.err() == nil {
			if err := p.commitTxn(ctx, res.commit); err != nil {
				p.fail(err)
			}
		}
		if res.barrier != nil {
			res.barrier <- p.err()
		}
	}
}

// produceAll produces records in order, creating topics first and sending
// each table-level event to every partition. Each record holds a reference to the
// arena until it is acked.
func (p *Publisher) produceAll(ctx context.Context, recs []*kgo.Record, a *arena) error {
	if len(recs) == 0 {
		return nil
	}
	if err := p.begin(); err != nil {
		return err
	}
	var (
		topic string
		parts int32
	)
	for _, r := range recs {
		if r.Topic != topic || parts == 0 {
			var err error
			if parts, err = p.ensureTopic(ctx, r.Topic, p.cfg.Partitions, nil); err != nil {
				return err
			}
			topic = r.Topic
		}
		if r.Partition != -1 {
			a.refs.Add(1)
			p.cl.Produce(ctx, r, a.done)
			continue
		}
		// A table-level event goes to every partition, so that each partition's
		// consumer sees it in order with that partition's keys.
		for i := range parts {
			c := *r
			c.Partition = i
			a.refs.Add(1)
			p.cl.Produce(ctx, &c, a.done)
		}
	}
	return nil
}

// byteBudget bounds the bytes of the batches in the pipeline. A batch
// larger than the whole budget goes through alone.
type byteBudget struct {
	mu    sync.Mutex
	used  int64
	limit int64
	freed chan struct{} // closed and replaced by every release
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{})}
}

// acquire waits until n bytes fit, or nothing else is in flight.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}
