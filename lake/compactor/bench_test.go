package compactor

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/internal/benchbroker"
	"github.com/tributary-dev/tributary/internal/gctune"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// usage is what this process has used so far: CPU time, minor page
// faults (pages the kernel handed it for the first time) and allocated
// heap bytes.
type usage struct {
	user, sys      time.Duration
	faults         int64
	gcs            uint32
	alloc, heapSys uint64
}

func usageNow() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano()),
		faults: ru.Minflt, gcs: ms.NumGC, alloc: ms.TotalAlloc, heapSys: ms.HeapSys}
}

func (u usage) cpu() time.Duration { return u.user + u.sys }

// benchRows is how many change events one benchmark run applies:
// $BENCH_LAKE_ROWS, default 1,000,000 (enough that opening the table and
// joining the group weigh little against the steady rate).
var benchRows = func() int64 {
	if n, err := strconv.ParseInt(os.Getenv("BENCH_LAKE_ROWS"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}()

// benchCompactor publishes benchRows events to a Kafka broker, then
// measures the compactor applying them: fetching, decoding, coalescing,
// writing and committing. With updates, the second half of the events
// updates the rows the first half created.
//
// The broker (kfake) runs in a child process, as a production compactor's
// brokers run elsewhere. It reports three figures:
//   - rows/cpu-s: rows per CPU-second of this process, which does all of
//     the compactor's own work (fetch requests and responses, decoding,
//     Parquet writing, catalog commits) and nothing of the broker's;
//   - rows/cpu-s+broker: rows per CPU-second of this process and the
//     broker's together (what the benchmark reported when the broker ran
//     inside this process);
//   - rows/s: rows per second of wall time.
func benchCompactor(b *testing.B, updates bool) {
	b.Logf("GC percent %d (the tributary binary's default; GOGC overrides)", gctune.Apply())
	for range b.N {
		broker := benchbroker.Start(b, "")
		brokers := broker.Addrs
		l := iceberg.New(iceberg.Config{Warehouse: b.TempDir()})
		t := &testing.T{}
		s := newSource(t, brokers, itemsTable("items", 1))
		s.want = nil // the benchmark never compares: keep this process to the compactor
		creates := benchRows
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

		runtime.GC() // the publishing's garbage is not the compactor's
		stopProfile := startProfile(b)
		bcpu0 := broker.CPU(b)
		u0, wall0 := usageNow(), time.Now()
		c := New(Config{Brokers: brokers, Group: "bench", Interval: time.Second, MaxRows: 100_000, Lake: l,
			Sources: []SourceConfig{{TopicPrefix: "src", Tables: map[string]TableOptions{"shop.items": {PartitionColumn: "day"}}}}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for !caughtUp(c, "src.shop.items", end) {
			time.Sleep(20 * time.Millisecond)
		}
		u1, wall := usageNow(), time.Since(wall0)
		cpu := u1.cpu() - u0.cpu()
		bcpu := broker.CPU(b) - bcpu0
		stopProfile()
		cancel()
		<-done
		b.Logf("%d rows: this process (the compactor: fetch, decode, coalesce, write, commit) %v CPU; the broker process %v CPU; %v wall",
			benchRows, cpu.Round(time.Millisecond), bcpu.Round(time.Millisecond), wall.Round(time.Millisecond))
		b.Logf("this process: user %v, system %v; %d page faults; %d MB allocated, %d GCs, heap %d -> %d MB",
			(u1.user - u0.user).Round(time.Millisecond), (u1.sys - u0.sys).Round(time.Millisecond), u1.faults-u0.faults,
			(u1.alloc-u0.alloc)>>20, u1.gcs-u0.gcs, u0.heapSys>>20, u1.heapSys>>20)
		b.ReportMetric(float64(benchRows)/cpu.Seconds(), "rows/cpu-s")
		b.ReportMetric(float64(benchRows)/(cpu+bcpu).Seconds(), "rows/cpu-s+broker")
		b.ReportMetric(float64(benchRows)/wall.Seconds(), "rows/s")
		l.Close()
		s.pub.Close()
		broker.Close()
	}
}

// startProfile writes a CPU profile of the measured part of a benchmark
// to $BENCH_CPUPROFILE, when set (go test -cpuprofile would include the
// setup), and heap profiles at its start and end to $BENCH_MEMPROFILE.base
// and $BENCH_MEMPROFILE (compare them with go tool pprof -diff_base); the
// returned function stops it.
func startProfile(b *testing.B) func() {
	stops := []func(){}
	if path := os.Getenv("BENCH_MEMPROFILE"); path != "" {
		writeHeap(b, path+".base")
		stops = append(stops, func() { writeHeap(b, path) })
	}
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func writeHeap(b *testing.B, path string) {
	runtime.GC() // the allocation profile is as of the last collection
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
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
