package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/schema"
)

// Table-level events (truncate, resync markers) have no primary key; these
// are the keys of their records, which are sent to every partition.
const (
	truncateKey    = `{"__truncate":true}`
	resyncBeginKey = `{"__resync":"begin"}`
	resyncEndKey   = `{"__resync":"end"}`
)

// tableLevelKey returns the record key of a table-level op.
func tableLevelKey(op schema.Op) []byte {
	switch op {
	case schema.OpResyncBegin:
		return []byte(resyncBeginKey)
	case schema.OpResyncEnd:
		return []byte(resyncEndKey)
	}
	return []byte(truncateKey)
}

// broadcastHeader marks a record whose Partition field was chosen by the
// publisher.
var broadcastHeader = []kgo.RecordHeader{{Key: "tributary.broadcast", Value: []byte("1")}}

// broadcastPartitioner places records by key hash like Kafka's default
// partitioner, except records marked with broadcastHeader, which keep the
// partition set on them, and records whose Context carries hashedKey,
// whose Partition holds keyHash(Key) (the renderer hashes the key while it
// is in its CPU's cache; the client's partitioner, on the sequencing
// goroutine, missed the cache on every key: 4% of the reader's CPU).
type broadcastPartitioner struct{ base kgo.Partitioner }

func (p broadcastPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return broadcastTopic{p.base.ForTopic(topic)}
}

type broadcastTopic struct{ base kgo.TopicPartitioner }

func (t broadcastTopic) RequiresConsistency(r *kgo.Record) bool { return true }

func (t broadcastTopic) Partition(r *kgo.Record, n int) int {
	if len(r.Headers) == 1 && r.Headers[0].Key == broadcastHeader[0].Key {
		return int(r.Partition)
	}
	if r.Context != nil && r.Context.Value(hashedKey{}) != nil {
		return int(r.Partition) % n
	}
	return t.base.Partition(r, n)
}

// hashedKey is the context key that marks a record whose Partition holds
// keyHash(Key) until the client partitions it.
type hashedKey struct{}

// withHashedKeys returns ctx marked for records whose Partition holds
// keyHash(Key).
func withHashedKeys(ctx context.Context) context.Context {
	return context.WithValue(ctx, hashedKey{}, true)
}

// keyHash is the hash of a record key that Kafka's default partitioner
// takes modulo the partition count: murmur2 with the high bit cleared, as
// kgo.StickyKeyPartitioner(nil) does (the Java client's Utils.murmur2 and
// toPositive).
func keyHash(b []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h & 0x7fffffff)
}
