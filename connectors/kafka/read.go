package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ReadTopic calls fn for every committed record of topic, partition by
// partition in offset order, from the start up to the last stable offset as
// of the call. It reads with read_committed isolation, so records of aborted
// or open transactions are never passed to fn. A missing topic reads as
// empty.
//
// It sends its own fetch requests rather than consuming, because it must
// know how far each fetch got: a partition's last offsets below the last
// stable offset may be records no read_committed consumer ever gets. Kafka
// always ends a transaction with a marker, which comes back to a consumer
// that keeps control records; but the embedded broker (kfake), starting
// again after a crash, counts the transactions that were open as aborted
// without writing their markers. Waiting to see the record before the last
// stable offset then waited for ever.
func ReadTopic(ctx context.Context, brokers []string, opts []kgo.Opt, topic string, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
	}
	if err != nil {
		if isUnknownTopic(err) {
			return nil
		}
		return fmt.Errorf("list offsets %s: %w", topic, err)
	}
	var parts []partitionRange
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > s.Offset {
			parts = append(parts, partitionRange{o.Partition, s.Offset, o.Offset})
		}
	})
	slices.SortFunc(parts, func(a, b partitionRange) int { return cmp.Compare(a.partition, b.partition) })
	r := topicReader{cl: cl, adm: adm, topic: topic, decompressor: kgo.DefaultDecompressor()}
	for _, p := range parts {
		if err := r.read(ctx, p, fn); err != nil {
			return fmt.Errorf("read %s/%d: %w", topic, p.partition, err)
		}
	}
	return nil
}

// partitionRange is the offsets [from, to) of one partition.
type partitionRange struct {
	partition int32
	from, to  int64
}

// topicReader fetches the records of one topic.
type topicReader struct {
	cl           *kgo.Client
	adm          *kadm.Client
	topic        string
	decompressor kgo.Decompressor
	// leaders and id are the partitions' leaders and the topic's id, as of
	// the last metadata request.
	leaders map[int32]int32
	id      [16]byte
}

// fetchBytes bounds the bytes one fetch asks for.
const fetchBytes = 8 << 20

// read calls fn for the committed records of p, fetching from p.from until
// the position of the fetches passes p.to.
func (r *topicReader) read(ctx context.Context, p partitionRange, fn func(*kgo.Record) error) error {
	offset := p.from
	retry := 0
	for offset < p.to {
		rp, err := r.fetch(ctx, p.partition, offset)
		if err == nil {
			err = kerr.ErrorForCode(rp.ErrorCode)
		}
		if errors.Is(err, kerr.OffsetOutOfRange) {
			// Retention or a DeleteRecords moved the start past offset.
			starts, lerr := r.adm.ListStartOffsets(ctx, r.topic)
			if lerr == nil {
				lerr = starts.Error()
			}
			s, ok := starts.Lookup(r.topic, p.partition)
			if lerr != nil || !ok || s.Offset <= offset {
				return cmp.Or(lerr, err)
			}
			offset = s.Offset
			continue
		}
		if err != nil {
			// Kafka's retriable errors, a partition without a leader and
			// connection errors are tried again for a few seconds.
			var ke *kerr.Error
			if errors.As(err, &ke) && !ke.Retriable || retry >= 50 || ctx.Err() != nil {
				return err
			}
			retry++
			r.leaders = nil // the leader may have moved
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		retry = 0
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			Offset: offset, IsolationLevel: kgo.ReadCommitted(), Topic: r.topic, Partition: p.partition,
		}, rp, r.decompressor, nil)
		if fp.Err != nil {
			return fp.Err
		}
		for _, rec := range fp.Records {
			if rec.Offset >= p.to {
				break
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		offset = max(offset, next)
	}
	return nil
}

// errNoLeader is a partition the metadata gives no leader.
var errNoLeader = errors.New("no leader")

// fetch sends one read_committed fetch of partition from offset to its
// leader and returns the partition's part of the response.
func (r *topicReader) fetch(ctx context.Context, partition int32, offset int64) (*kmsg.FetchResponseTopicPartition, error) {
	if r.leaders == nil {
		md, err := r.adm.Metadata(ctx, r.topic)
		if err != nil {
			return nil, err
		}
		td, ok := md.Topics[r.topic]
		if !ok {
			return nil, kerr.UnknownTopicOrPartition
		}
		if td.Err != nil {
			return nil, td.Err
		}
		r.leaders, r.id = map[int32]int32{}, td.ID
		for _, pd := range td.Partitions {
			if pd.Err == nil && pd.Leader >= 0 {
				r.leaders[pd.Partition] = pd.Leader
			}
		}
	}
	leader, ok := r.leaders[partition]
	if !ok {
		return nil, errNoLeader
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 200
	req.MinBytes = 1
	req.MaxBytes = fetchBytes
	req.IsolationLevel = 1 // read_committed
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = r.topic, r.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, fetchBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, r.cl.Broker(int(leader)))
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if pr := &resp.Topics[i].Partitions[j]; pr.Partition == partition {
				return pr, nil
			}
		}
	}
	return nil, fmt.Errorf("fetch response without partition %d", partition)
}

// LastCheckpoint returns a reader's newest committed checkpoint from
// "<prefix>._checkpoints", or nil when it has none.
func LastCheckpoint(ctx context.Context, brokers []string, opts []kgo.Opt, prefix, name string) ([]byte, error) {
	var last []byte
	err := ReadTopic(ctx, brokers, opts, CheckpointTopic(prefix), func(r *kgo.Record) error {
		if string(r.Key) == name {
			last = r.Value
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoint of %s: %w", name, err)
	}
	return last, nil
}
