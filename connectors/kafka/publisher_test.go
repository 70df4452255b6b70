package kafka

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/schema"
)

func newCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func testTable() *schema.Table {
	t := &schema.Table{ID: schema.TableID{Database: "db", Name: "t"}, Version: 1, Key: []string{"id"},
		Columns: []schema.Column{{Name: "id", Type: schema.Type{Kind: schema.KindInt64}}, {Name: "v", Type: schema.Type{Kind: schema.KindString}, Nullable: true}}}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}

func readAll(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	if err := ReadTopic(context.Background(), brokers, nil, topic, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPublisherExactlyOnce checks the contract the readers rely on:
// records and the checkpoint commit together, an uncommitted transaction is
// invisible, and a new publisher fences the old one.
func TestPublisherExactlyOnce(t *testing.T) {
	ctx := context.Background()
	brokers := newCluster(t)
	cfg := PublisherConfig{Brokers: brokers, TopicPrefix: "p", CheckpointKey: "src", Partitions: 3}
	tbl := testTable()

	p1 := NewPublisher(cfg)
	cp, err := p1.Open(ctx)
	if err != nil || cp != nil {
		t.Fatalf("new publisher: checkpoint %q, err %v", cp, err)
	}
	if err := p1.AddSchema(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := p1.Add(ctx, &schema.Event{Table: tbl, Op: schema.OpCreate, After: []any{int64(i), "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p1.Add(ctx, &schema.Event{Table: tbl, Op: schema.OpDelete, Before: []any{int64(3), "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := p1.Commit(ctx, []byte("cp1")); err != nil {
		t.Fatal(err)
	}
	// An open transaction: staged but never committed.
	if err := p1.Add(ctx, &schema.Event{Table: tbl, Op: schema.OpCreate, After: []any{int64(100), "lost"}}); err != nil {
		t.Fatal(err)
	}
	if err := p1.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A second instance fences the first and sees only committed state.
	p2 := NewPublisher(cfg)
	defer p2.Close()
	cp, err = p2.Open(ctx)
	if err != nil || string(cp) != "cp1" {
		t.Fatalf("reopen: checkpoint %q, err %v", cp, err)
	}
	if err := p1.Commit(ctx, []byte("zombie")); err == nil {
		t.Error("the fenced publisher committed")
	}
	p1.Close()
	topic := schema.TopicName("p", tbl.ID)
	recs := readAll(t, brokers, topic)
	if len(recs) != 12 { // 10 creates, a delete and its tombstone
		t.Fatalf("topic has %d committed records, want 12", len(recs))
	}
	tombstones := 0
	sticky := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for _, r := range recs {
		if want := sticky.Partition(r, 3); int(r.Partition) != want {
			t.Errorf("key %s in partition %d, want %d (Kafka's default partitioner)", r.Key, r.Partition, want)
		}
		if r.Value == nil {
			tombstones++
			if string(r.Key) != `{"id":3}` {
				t.Errorf("tombstone key %s", r.Key)
			}
		}
	}
	if tombstones != 1 {
		t.Errorf("%d tombstones, want 1", tombstones)
	}
	schemas, err := p2.Schemas(ctx)
	if err != nil || len(schemas) != 1 || !schemas[0].SameShape(tbl) {
		t.Errorf("schemas %v, err %v", schemas, err)
	}

	// A truncate and resync markers reach every partition, in order.
	for _, op := range []schema.Op{schema.OpTruncate, schema.OpResyncBegin, schema.OpResyncEnd} {
		if err := p2.Add(ctx, &schema.Event{Table: tbl, Op: op}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p2.Commit(ctx, []byte("cp2")); err != nil {
		t.Fatal(err)
	}
	seq := map[int32]string{}
	for _, r := range readAll(t, brokers, topic) {
		switch k := string(r.Key); k {
		case truncateKey, resyncBeginKey, resyncEndKey:
			seq[r.Partition] += k
		}
	}
	want := truncateKey + resyncBeginKey + resyncEndKey
	if len(seq) != 3 {
		t.Errorf("table-level events reached partitions %v, want all 3", seq)
	}
	for p, got := range seq {
		if got != want {
			t.Errorf("partition %d: table-level events %s, want %s", p, got, want)
		}
	}
}

// TestReadTopicMissing reads a topic that does not exist as empty.
func TestReadTopicMissing(t *testing.T) {
	brokers := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ReadTopic(ctx, brokers, nil, "nope", func(*kgo.Record) error { t.Error("record"); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestPublisherCompression publishes the same events with every codec and
// reads back the same keys and images; an unknown codec fails Open.
func TestPublisherCompression(t *testing.T) {
	ctx := context.Background()
	brokers := newCluster(t)
	tbl := testTable()
	lookup := func(schema.TableID, int) (*schema.Table, error) { return tbl, nil }
	for _, codec := range []string{"", "snappy", "lz4", "zstd", "gzip", "none"} {
		prefix := "c" + codec
		var seen codecHook
		p := NewPublisher(PublisherConfig{Brokers: brokers, TopicPrefix: prefix, CheckpointKey: "src", Partitions: 1, Compression: codec,
			ClientOpts: []kgo.Opt{kgo.WithHooks(&seen)}})
		if _, err := p.Open(ctx); err != nil {
			t.Fatalf("codec %q: %v", codec, err)
		}
		const n = 300
		for i := range n {
			v := strings.Repeat(string(rune('a'+i%26)), 100+i)
			if err := p.Add(ctx, &schema.Event{Table: tbl, Op: schema.OpCreate, After: []any{int64(i), v}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Commit(ctx, []byte("cp")); err != nil {
			t.Fatalf("codec %q: %v", codec, err)
		}
		p.Close()
		if want := wantCodec[codec]; seen.codecs[schema.TopicName(prefix, tbl.ID)] != want {
			t.Errorf("codec %q: batches written with codec %d, want %d", codec, seen.codecs[schema.TopicName(prefix, tbl.ID)], want)
		}
		recs := readAll(t, brokers, schema.TopicName(prefix, tbl.ID))
		if len(recs) != n {
			t.Fatalf("codec %q: %d records, want %d", codec, len(recs), n)
		}
		for i, r := range recs {
			env, err := schema.DecodeEnvelope(r.Value, lookup)
			if err != nil {
				t.Fatalf("codec %q record %d: %v", codec, i, err)
			}
			want := []any{int64(i), strings.Repeat(string(rune('a'+i%26)), 100+i)}
			if string(r.Key) != fmt.Sprintf(`{"id":%d}`, i) || !reflect.DeepEqual(env.After, want) {
				t.Fatalf("codec %q record %d: key %s after %v, want %v", codec, i, r.Key, env.After, want)
			}
		}
	}
	p := NewPublisher(PublisherConfig{Brokers: brokers, TopicPrefix: "bad", CheckpointKey: "src", Compression: "brotli"})
	defer p.Close()
	if _, err := p.Open(ctx); err == nil || !strings.Contains(err.Error(), "brotli") {
		t.Errorf("codec brotli: Open error %v, want one naming the codec", err)
	}
}

// wantCodec is the compression type in the record batches of each
// PublisherConfig.Compression (Kafka's attribute bits).
var wantCodec = map[string]uint8{"": 2, "snappy": 2, "lz4": 3, "zstd": 4, "gzip": 1, "none": 0}

// codecHook records the compression of the batches written, by topic.
type codecHook struct {
	mu     sync.Mutex
	codecs map[string]uint8
}

func (h *codecHook) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.ProduceBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.codecs == nil {
		h.codecs = map[string]uint8{}
	}
	h.codecs[topic] = max(h.codecs[topic], m.CompressionType)
}

// TestKeyHash checks that keyHash modulo the partition count places keys
// where the client's default partitioner does, so that keys keep their
// partitions across versions of the reader.
func TestKeyHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sticky := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	keys := [][]byte{{}, []byte(`{"id":1}`), []byte(`{"id":-9223372036854775808}`), []byte(`{"a":"é","b":null}`)}
	for range 2000 {
		k := make([]byte, rng.IntN(64))
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		for n := 1; n <= 17; n++ {
			if got, want := int(keyHash(k))%n, sticky.Partition(&kgo.Record{Key: k}, n); got != want {
				t.Fatalf("key %q, %d partitions: partition %d, want %d", k, n, got, want)
			}
		}
	}
}
