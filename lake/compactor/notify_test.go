package compactor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/lake/notify"
	"github.com/tributary-dev/tributary/schema"
)

// readCommits reads the notification topic.
func readCommits(t *testing.T, brokers []string, topic string) []notify.Commit {
	t.Helper()
	var out []notify.Commit
	err := kafka.ReadTopic(context.Background(), brokers, nil, topic, func(r *kgo.Record) error {
		var c notify.Commit
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return fmt.Errorf("notification %s: %w", r.Value, err)
		}
		if string(r.Key) != c.Table {
			return fmt.Errorf("notification key %q for table %q", r.Key, c.Table)
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitCommits waits until the topic holds notifications that satisfy ok.
func waitCommits(t *testing.T, brokers []string, topic string, ok func([]notify.Commit) bool) []notify.Commit {
	t.Helper()
	var got []notify.Commit
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = readCommits(t, brokers, topic); ok(got) {
			return got
		}
	}
	t.Fatalf("notifications never got there; have %+v", got)
	return nil
}

func startNotifyingCompactor(t *testing.T, brokers []string, l lake.Lake, n notify.Notifier) func() {
	c := New(Config{
		Brokers: brokers, Group: "g", Interval: 100 * time.Millisecond, MaxRows: 10_000, Lake: l, Logger: testLogger(),
		RetryMin: 20 * time.Millisecond, Notifier: n,
		Sources: []SourceConfig{{TopicPrefix: "src", Namespace: "lake_{db}"}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = c.Run(ctx) })
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
			if err != nil {
				t.Errorf("compactor: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestCompactorNotifiesCommits runs changes through a compactor with a
// Kafka notifier, reads the notification topic, and checks each field
// against the lake and the change topic; a restarted compactor replays the
// last commit.
func TestCompactorNotifiesCommits(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	l := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger()})
	t.Cleanup(func() { l.Close() })
	const topic = "lake._commits"
	kn := notify.NewKafka(notify.KafkaConfig{Brokers: brokers, Topic: topic, Logger: testLogger()})
	t.Cleanup(kn.Close)

	s := newSource(t, brokers, itemsTable("items", 1))
	base := time.UnixMilli(1_700_000_000_000).UTC()
	publish := func(op schema.Op, before, after []any) {
		s.gtid++
		e := &schema.Event{Table: s.tbl, Op: op, Before: before, After: after,
			Source: schema.Source{Connector: "mysql", Name: "src", GTID: fmt.Sprintf("0-1-%d", s.gtid), CommitTime: base.Add(time.Duration(s.gtid) * time.Millisecond)}}
		if err := s.pub.Add(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range int64(60) {
		publish(schema.OpCreate, nil, rowOf(i, "new"))
	}
	s.commit()
	stop := startNotifyingCompactor(t, brokers, l, kn)
	total := func(cs []notify.Commit, f func(notify.Commit) int) (n int) {
		for _, c := range cs {
			n += f(c)
		}
		return n
	}
	upserts := func(c notify.Commit) int { return c.Upserts }
	waitCommits(t, brokers, topic, func(cs []notify.Commit) bool { return total(cs, upserts) == 60 })

	for i := int64(0); i < 60; i += 3 {
		publish(schema.OpDelete, rowOf(i, "new"), nil)
	}
	for i := int64(1); i < 60; i += 3 {
		publish(schema.OpUpdate, rowOf(i, "new"), rowOf(i, "upd"))
	}
	s.commit()
	deletes := func(c notify.Commit) int { return c.Deletes }
	got := waitCommits(t, brokers, topic, func(cs []notify.Commit) bool { return total(cs, deletes) == 20 })
	stop()

	// The expected CompleteThrough: the oldest of the partitions' newest
	// source times, read from the change topic.
	newest := map[int32]int64{}
	err = kafka.ReadTopic(context.Background(), brokers, nil, "src.shop.items", func(r *kgo.Record) error {
		if r.Value != nil {
			var env struct {
				Source struct {
					TsMs int64 `json:"ts_ms"`
				} `json:"source"`
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				return err
			}
			newest[r.Partition] = max(newest[r.Partition], env.Source.TsMs)
		}
		return nil
	})
	if err != nil || len(newest) != 3 {
		t.Fatalf("change topic: %v, %d partitions with changes (want 3)", err, len(newest))
	}
	var through int64 = 1 << 62
	for _, ms := range newest {
		through = min(through, ms)
	}

	tbl, err := l.Open(context.Background(), s.tbl, lake.TableConfig{Namespace: "lake_shop", Name: "items"})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	lastLake, ok := tbl.(lake.LastCommitter).LastCommit()
	if !ok {
		t.Fatal("the lake table has no commit")
	}
	last := got[len(got)-1]
	if last.SnapshotID != lastLake.Stats.SnapshotID || last.Replay {
		t.Errorf("last notification is snapshot %d (replay %v), the lake's last commit %d", last.SnapshotID, last.Replay, lastLake.Stats.SnapshotID)
	}
	if last.Table != "lake_shop.items" || last.Namespace != "lake_shop" || last.Name != "items" || last.SourceTable != "shop.items" ||
		last.TopicPrefix != "src" || last.Topic != "src.shop.items" {
		t.Errorf("names in %+v", last)
	}
	if last.CompleteThrough == nil || !last.CompleteThrough.Equal(time.UnixMilli(through)) {
		t.Errorf("complete_through %v, want %v", last.CompleteThrough, time.UnixMilli(through).UTC())
	}
	if last.SourceTimeMax == nil || !last.SourceTimeMax.Equal(base.Add(time.Duration(s.gtid)*time.Millisecond)) {
		t.Errorf("source_time_max %v, want the last change's %v", last.SourceTimeMax, base.Add(time.Duration(s.gtid)*time.Millisecond))
	}
	// The offsets of consecutive notifications chain, and the last
	// reaches the lake's checkpoint.
	next := map[int32]int64{}
	for _, c := range got {
		for p, iv := range c.Offsets {
			if iv.From < next[p] || iv.To <= iv.From {
				t.Errorf("snapshot %d partition %d covers %+v after offset %d", c.SnapshotID, p, iv, next[p])
			}
			next[p] = iv.To
		}
		if c.RowsAdded < c.Upserts || c.DataFiles == 0 && c.Upserts > 0 {
			t.Errorf("snapshot %d: %d rows in %d files for %d upserts", c.SnapshotID, c.RowsAdded, c.DataFiles, c.Upserts)
		}
	}
	for p, o := range lastLake.Checkpoint.Offsets {
		if next[p] != o {
			t.Errorf("partition %d: notifications reach %d, the lake checkpoint %d", p, next[p], o)
		}
	}
	if total(got, func(c notify.Commit) int { return c.PositionDeletes }) < 40 {
		t.Errorf("position deletes %d, want at least 40 (20 deletes, 20 updates)", total(got, func(c notify.Commit) int { return c.PositionDeletes }))
	}

	// A restart replays the last commit, once the table is opened.
	publish(schema.OpCreate, nil, rowOf(1000, "after restart"))
	s.commit()
	startNotifyingCompactor(t, brokers, l, kn)
	after := waitCommits(t, brokers, topic, func(cs []notify.Commit) bool { return len(cs) >= len(got)+2 })[len(got):]
	if r := after[0]; !r.Replay || r.SnapshotID != last.SnapshotID || r.Offsets[0].To != lastLake.Checkpoint.Offsets[0] || r.RowsAdded != last.RowsAdded {
		t.Errorf("after a restart: %+v, want a replay of snapshot %d", r, last.SnapshotID)
	}
	if r := after[1]; r.Replay || r.Upserts != 1 || r.CompleteThrough != nil {
		t.Errorf("first commit after the restart: %+v; want 1 upsert and no complete_through (two partitions have not delivered yet)", r)
	}
	if kn.Failed() != 0 || kn.Sent() != uint64(len(got)+2) {
		t.Errorf("sent %d failed %d", kn.Sent(), kn.Failed())
	}
}
