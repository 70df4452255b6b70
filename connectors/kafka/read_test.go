package kafka

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadTopicAfterCrash reads a topic whose log ends with the records of
// a transaction that was open when the broker crashed. The embedded broker
// (kfake with a data directory) counts such a transaction as aborted when
// it starts again, but writes no abort marker: the last offsets below the
// last stable offset are records a read_committed consumer never gets.
// ReadTopic must still end, with the committed records only.
func TestReadTopicAfterCrash(t *testing.T) {
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SyncWrites(), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("t"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	txn := func(commit bool, values ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: int32(i % 2)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	txn(true, "a", "b", "c")
	txn(false, "open-1", "open-2") // open at the crash
	// The crash: the broker starts again from its files as they are now.
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(crashed))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()

	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []string
	err = ReadTopic(rctx, c2.ListenAddrs(), nil, "t", func(r *kgo.Record) error {
		got = append(got, string(r.Value))
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v (read so far: %q)", err, got)
	}
	slices.Sort(got)
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}
