package kafka

import (
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
// partition set on them.
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
	return t.base.Partition(r, n)
}
