package compactor

import (
	"context"
	"os"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRows is how many change events one benchmark run applies.
const benchRows = 200_000

// benchCompactor publishes benchRows events to an in-process broker, then
// measures the compactor applying them: decoding, coalescing and commits.
// With updates, the second half of the events updates the rows the first
// half created. The CPU time includes the in-process broker serving the
// fetches.
func benchCompactor(b *testing.B, updates bool) {
	for range b.N {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		brokers := cluster.ListenAddrs()
		l := iceberg.New(iceberg.Config{Warehouse: b.TempDir()})
		t := &testing.T{}
		s := newSource(t, brokers, itemsTable("items", 1))
		creates := int64(benchRows)
		if updates {
			creates = benchRows / 2
		}
		for i := range creates {
			s.event(schema.OpCreate, nil, rowOf(i, "a reasonably long string value"))
			if i%10_000 == 9_999 {
				s.commit()
			}
		}
		s.commit()
		for i := range benchRows - creates {
			s.event(schema.OpUpdate, rowOf(i, "a reasonably long string value"), rowOf(i, "updated"))
			if i%10_000 == 9_999 {
				s.commit()
			}
		}
		s.commit()
		end := endOffsets(b, brokers, "src.shop.items")

		stopProfile := startProfile(b)
		cpu0, wall0 := cpuTime(), time.Now()
		c := New(Config{Brokers: brokers, Group: "bench", Interval: time.Second, MaxRows: 100_000, Lake: l,
			Sources: []SourceConfig{{TopicPrefix: "src", Tables: map[string]TableOptions{"shop.items": {PartitionColumn: "day"}}}}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for !caughtUp(c, "src.shop.items", end) {
			time.Sleep(20 * time.Millisecond)
		}
		cpu, wall := cpuTime()-cpu0, time.Since(wall0)
		stopProfile()
		cancel()
		<-done
		b.ReportMetric(benchRows/cpu.Seconds(), "rows/cpu-s")
		b.ReportMetric(benchRows/wall.Seconds(), "rows/s")
		l.Close()
		s.pub.Close()
		cluster.Close()
	}
}

// startProfile writes a CPU profile of the measured part of a benchmark
// to $BENCH_CPUPROFILE, when set (go test -cpuprofile would include the
// setup); the returned function stops it.
func startProfile(b *testing.B) func() {
	path := os.Getenv("BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func endOffsets(b *testing.B, brokers []string, topic string) map[int32]int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// caughtUp reports whether the table's checkpoint reached the end offsets
// (the last offset of a partition is a transaction marker).
func caughtUp(c *Compactor, topic string, end map[int32]int64) bool {
	t := c.table(topic)
	if t == nil {
		return false
	}
	cp := t.Checkpoint()
	for p, e := range end {
		if e > 0 && cp.Offsets[p] < e-1 {
			return false
		}
	}
	return true
}

// BenchmarkCompactorInsert applies inserts only.
func BenchmarkCompactorInsert(b *testing.B) { benchCompactor(b, false) }

// BenchmarkCompactorHalfUpdates applies half inserts, half updates.
func BenchmarkCompactorHalfUpdates(b *testing.B) { benchCompactor(b, true) }
