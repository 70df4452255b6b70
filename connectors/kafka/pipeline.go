package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/schema"
)

// The publisher's pipeline: the caller fills batches of items; rendering
// goroutines turn batches into records in parallel; one sequencing
// goroutine produces the records batch by batch in the caller's order and
// answers barriers once everything before them is produced.

// job is one batch to render, with the channel its result goes to.
type job struct {
	items []item
	out   chan rendered
}

// rendered is a batch turned into records. A record with Partition -1 and
// the broadcast header is a truncate to send to every partition.
type rendered struct {
	recs    []*kgo.Record
	barrier chan error
	err     error
}

func (p *Publisher) startPipeline() {
	ctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	p.jobs = make(chan job, 4)
	p.order = make(chan chan rendered, 16)
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
}

// nowEvery is how many events share one reading of the clock.
const nowEvery = 256

func (r *renderer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.p.jobs:
			j.out <- r.render(j.items)
		}
	}
}

func (r *renderer) render(items []item) rendered {
	var out rendered
	out.recs = make([]*kgo.Record, 0, len(items)+8)
	for _, it := range items {
		var err error
		switch {
		case it.barrier != nil:
			out.barrier = it.barrier
		case it.event != nil:
			out.recs, err = r.event(out.recs, it.event)
		default:
			out.recs, err = r.schema(out.recs, it.table)
		}
		if err != nil {
			out.err = err
			return out
		}
	}
	return out
}

// event appends the records of one event: the envelope keyed by the
// primary key, a tombstone after a delete, or one truncate to broadcast.
func (r *renderer) event(recs []*kgo.Record, e *schema.Event) ([]*kgo.Record, error) {
	topic, ok := r.topics[e.Table]
	if !ok {
		topic = schema.TopicName(r.p.cfg.TopicPrefix, e.Table.ID)
		r.topics[e.Table] = topic
	}
	if r.nowAge--; r.nowAge <= 0 {
		r.now, r.nowAge = time.Now(), nowEvery
	}
	// Records keep their slices until acked; done returns them to bufs.
	val, err := r.enc.AppendEnvelope(r.p.buffer(), e, r.now)
	if err != nil {
		return recs, err
	}
	if e.Op == schema.OpTruncate {
		return append(recs, &kgo.Record{Topic: topic, Key: []byte(truncateKey), Value: val, Partition: -1, Headers: broadcastHeader}), nil
	}
	key, err := schema.AppendKey(make([]byte, 0, 32), e)
	if err != nil {
		return recs, err
	}
	recs = append(recs, &kgo.Record{Topic: topic, Key: key, Value: val})
	if e.Op == schema.OpDelete {
		recs = append(recs, &kgo.Record{Topic: topic, Key: key})
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
			if err := p.produceAll(ctx, res.recs); err != nil {
				p.fail(err)
			}
		}
		if res.barrier != nil {
			res.barrier <- p.err()
		}
	}
}

// produceAll produces records in order, creating topics first and sending
// each truncate to every partition.
func (p *Publisher) produceAll(ctx context.Context, recs []*kgo.Record) error {
	for _, r := range recs {
		parts, err := p.ensureTopic(ctx, r.Topic, p.cfg.Partitions, nil)
		if err != nil {
			return err
		}
		if r.Partition != -1 {
			if err := p.produce(ctx, r); err != nil {
				return err
			}
			continue
		}
		// A truncate goes to every partition, so that each partition's
		// consumer sees it in order with that partition's keys.
		for i := range parts {
			c := *r
			c.Partition = i
			if err := p.produce(ctx, &c); err != nil {
				return err
			}
		}
	}
	return nil
}
