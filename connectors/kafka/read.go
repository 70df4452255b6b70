package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadTopic calls fn for every committed record of topic, partition by
// partition in offset order, from the start up to the last stable offset as
// of the call. It reads with read_committed isolation, so records of aborted
// or open transactions are never passed to fn. A missing topic reads as
// empty.
func ReadTopic(ctx context.Context, brokers []string, opts []kgo.Opt, topic string, fn func(*kgo.Record) error) error {
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	adm := kadm.NewClient(admCl)
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
	admCl.Close()
	if err != nil {
		if isUnknownTopic(err) {
			return nil
		}
		return fmt.Errorf("list offsets %s: %w", topic, err)
	}
	want := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var cbErr error
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end || cbErr != nil {
				return
			}
			if r.Offset == end-1 {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			cbErr = fn(r)
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
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
