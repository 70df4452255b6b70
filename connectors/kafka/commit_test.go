package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-dev/tributary/schema"
)

// The tests of the pipelined commit (CommitAsync): whatever happens
// between staging, queueing a commit and its completion, a reopened
// publisher's checkpoint covers exactly the records that are visible,
// and each record is visible once.

func newControlledCluster(t *testing.T) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// stageRange adds create events for ids [from, to).
func stageRange(t *testing.T, p *Publisher, tbl *schema.Table, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := p.Add(context.Background(), &schema.Event{Table: tbl, Op: schema.OpCreate, After: []any{int64(i), "v"}}); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
}

// checkpointOf is the checkpoint that says ids [0, upTo) are committed.
func checkpointOf(upTo int) []byte { return fmt.Appendf(nil, `{"upto":%d}`, upTo) }

func upToOf(t *testing.T, cp []byte) int {
	t.Helper()
	if cp == nil {
		return 0
	}
	var v struct{ UpTo int }
	if err := json.Unmarshal(cp, &v); err != nil {
		t.Fatalf("checkpoint %q: %v", cp, err)
	}
	return v.UpTo
}

// committedIDs returns the ids of the committed records of the table's
// topic, in order per partition, and fails on a duplicate.
func committedIDs(t *testing.T, brokers []string, tbl *schema.Table) map[int]bool {
	t.Helper()
	seen := map[int]bool{}
	for _, r := range readAll(t, brokers, schema.TopicName("p", tbl.ID)) {
		var k struct{ ID int }
		if err := json.Unmarshal(r.Key, &k); err != nil {
			t.Fatalf("key %s: %v", r.Key, err)
		}
		if seen[k.ID] {
			t.Errorf("id %d committed twice", k.ID)
		}
		seen[k.ID] = true
	}
	return seen
}

// checkExact fails unless the committed ids are exactly [0, upTo).
func checkExact(t *testing.T, brokers []string, tbl *schema.Table, upTo int) {
	t.Helper()
	seen := committedIDs(t, brokers, tbl)
	if len(seen) != upTo {
		t.Errorf("%d ids committed, the checkpoint covers %d", len(seen), upTo)
	}
	for i := range upTo {
		if !seen[i] {
			t.Errorf("id %d is covered by the checkpoint but not committed", i)
			break
		}
	}
}

// TestCommitAsyncPipelined queues commits while staging the next
// transactions, then stops without committing the last one (a crash
// between staging and commit): the reopened checkpoint is the last queued
// one, and exactly the records before it are visible, once each.
func TestCommitAsyncPipelined(t *testing.T) {
	ctx := context.Background()
	brokers := newCluster(t)
	cfg := PublisherConfig{Brokers: brokers, TopicPrefix: "p", CheckpointKey: "src", Partitions: 3}
	tbl := testTable()
	p := NewPublisher(cfg)
	if _, err := p.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.AddSchema(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	const txns, per = 20, 500
	for i := range txns {
		stageRange(t, p, tbl, i*per, (i+1)*per)
		if err := p.CommitAsync(ctx, checkpointOf((i+1)*per)); err != nil {
			t.Fatal(err)
		}
	}
	stageRange(t, p, tbl, txns*per, txns*per+300) // never committed
	// Commit waits for the queued commits; the staged records stay out.
	if err := p.drain(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	p2 := NewPublisher(cfg)
	defer p2.Close()
	cp, err := p2.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := upToOf(t, cp); got != txns*per {
		t.Fatalf("checkpoint covers %d, want %d", got, txns*per)
	}
	checkExact(t, brokers, tbl, txns*per)
}

// TestCommitAsyncCloseAnyTime closes the publisher at once after queueing
// a commit, with the next transaction staged behind it, again and again:
// each time the queued commit may or may not have happened, but the
// reopened checkpoint always covers exactly the visible records, and
// restaging from it never duplicates one.
func TestCommitAsyncCloseAnyTime(t *testing.T) {
	ctx := context.Background()
	brokers := newCluster(t)
	cfg := PublisherConfig{Brokers: brokers, TopicPrefix: "p", CheckpointKey: "src", Partitions: 3}
	tbl := testTable()
	for round := range 8 {
		p := NewPublisher(cfg)
		cp, err := p.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		from := upToOf(t, cp)
		checkExact(t, brokers, tbl, from)
		if round == 0 {
			if err := p.AddSchema(ctx, tbl); err != nil {
				t.Fatal(err)
			}
		}
		// Two queued commits, the second with the crash right behind it
		// at a different point each round.
		mid := from + 400
		stageRange(t, p, tbl, from, mid)
		if err := p.CommitAsync(ctx, checkpointOf(mid)); err != nil {
			t.Fatal(err)
		}
		end := mid + 100*(round+1)
		stageRange(t, p, tbl, mid, end)
		if err := p.CommitAsync(ctx, checkpointOf(end)); err != nil {
			t.Fatal(err)
		}
		stageRange(t, p, tbl, end, end+50)
		time.Sleep(time.Duration(round) * 3 * time.Millisecond)
		p.Close()
	}
	p := NewPublisher(cfg)
	defer p.Close()
	cp, err := p.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	upTo := upToOf(t, cp)
	if upTo == 0 {
		t.Fatal("no round committed anything")
	}
	checkExact(t, brokers, tbl, upTo)
}

// TestCommitAsyncFailure fails a queued commit at the broker while the
// next transaction is being staged: a later call returns the failure,
// nothing staged after the failed commit reaches the broker, the reopened
// checkpoint is the last one that committed, and restaging from it
// commits every record once.
func TestCommitAsyncFailure(t *testing.T) {
	ctx := context.Background()
	c, brokers := newControlledCluster(t)
	cfg := PublisherConfig{Brokers: brokers, TopicPrefix: "p", CheckpointKey: "src", Partitions: 3}
	tbl := testTable()
	p := NewPublisher(cfg)
	defer p.Close()
	if _, err := p.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.AddSchema(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	stageRange(t, p, tbl, 0, 100)
	if err := p.Commit(ctx, checkpointOf(100)); err != nil {
		t.Fatal(err)
	}
	topic := schema.TopicName("p", tbl.ID)
	before := endOffsets(t, brokers, topic)

	// The next EndTxn fails, once.
	failed := make(chan struct{})
	c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.InvalidTxnState.Code
		close(failed)
		return resp, nil, true
	})
	stageRange(t, p, tbl, 100, 200)
	if err := p.CommitAsync(ctx, checkpointOf(200)); err != nil {
		t.Fatal(err)
	}
	// The next transaction is staged while that commit fails.
	var err error
	for i := 200; i < 5000 && err == nil; i++ {
		err = p.Add(ctx, &schema.Event{Table: tbl, Op: schema.OpCreate, After: []any{int64(i), "v"}})
		if i == 300 {
			<-failed
		}
	}
	if err == nil {
		err = p.CommitAsync(ctx, checkpointOf(5000))
	}
	if err == nil {
		err = p.Commit(ctx, checkpointOf(5000))
	}
	if err == nil {
		t.Fatal("the failed commit was never reported")
	}
	// Only the failed transaction's 100 records reached the broker:
	// nothing queued after it was produced.
	after := endOffsets(t, brokers, topic)
	if produced := after - before; produced != 100 {
		t.Errorf("%d records produced after the last good commit, want the failed transaction's 100", produced)
	}
	p.Close()

	p2 := NewPublisher(cfg)
	defer p2.Close()
	cp, err := p2.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	upTo := upToOf(t, cp)
	if upTo != 100 {
		t.Fatalf("checkpoint covers %d after the failed commit, want 100", upTo)
	}
	checkExact(t, brokers, tbl, 100)
	stageRange(t, p2, tbl, upTo, 300)
	if err := p2.CommitAsync(ctx, checkpointOf(300)); err != nil {
		t.Fatal(err)
	}
	if err := p2.Commit(ctx, checkpointOf(300)); err != nil {
		t.Fatal(err)
	}
	checkExact(t, brokers, tbl, 300)
}

// endOffsets returns the sum of the topic's partitions' end offsets.
func endOffsets(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
