package iceberg

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/internal/gctune"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchBatch = 100_000

func benchChanges(t *schema.Table, from, n int64, note string) []lake.Change {
	out := make([]lake.Change, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, upsert(t, row(i, fmt.Sprint("customer-", i%1000), fmt.Sprintf("%d.%02d", i, i%100), (i%30)*day+i, note)))
	}
	return out
}

// benchApply commits b.N batches of benchBatch changes; update is the
// share of each batch that replaces existing rows.
func benchApply(b *testing.B, update float64) {
	b.Logf("GC percent %d (the tributary binary's default; GOGC overrides)", gctune.Apply())
	f := newFixture(&testing.T{}, "created")
	f.dir = b.TempDir()
	f.lake = New(Config{Warehouse: f.dir})
	defer f.lake.Close()
	tbl, err := f.lake.Open(context.Background(), f.src, f.cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The rows that updates replace.
	if _, err := tbl.Apply(ctx, f.batch(benchChanges(f.src, 0, benchBatch, "seed")...)); err != nil {
		b.Fatal(err)
	}
	next := int64(benchBatch)
	nUpd := int64(float64(benchBatch) * update)
	b.ResetTimer()
	var cpu, wall time.Duration
	for range b.N {
		changes := benchChanges(f.src, next, benchBatch-nUpd, "new")
		changes = append(changes, benchChanges(f.src, next-benchBatch, nUpd, "updated")...)
		next += benchBatch - nUpd
		batch := f.batch(changes...)
		cpu0, wall0 := cpuTime(), time.Now()
		if _, err := tbl.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
		cpu, wall = cpu+cpuTime()-cpu0, wall+time.Since(wall0)
	}
	rows := float64(b.N * benchBatch)
	b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(rows/wall.Seconds(), "rows/s")
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/commit")
}

// BenchmarkApplyInsert measures Table.Apply for inserts only.
func BenchmarkApplyInsert(b *testing.B) { benchApply(b, 0) }

// BenchmarkApplyHalfUpdates measures Table.Apply when half of each batch
// replaces existing rows (position deletes).
func BenchmarkApplyHalfUpdates(b *testing.B) { benchApply(b, 0.5) }

// BenchmarkBareAppend measures iceberg-go's own Table.Append of the same
// rows, already in Arrow form, for comparison.
func BenchmarkBareAppend(b *testing.B) {
	b.Logf("GC percent %d (the tributary binary's default; GOGC overrides)", gctune.Apply())
	f := newFixture(&testing.T{}, "created")
	f.dir = b.TempDir()
	f.lake = New(Config{Warehouse: f.dir})
	defer f.lake.Close()
	ctx := context.Background()
	lt, err := f.lake.Open(ctx, f.src, f.cfg)
	if err != nil {
		b.Fatal(err)
	}
	tbl := lt.(*Table).tbl
	asc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		b.Fatal(err)
	}
	next := int64(0)
	b.ResetTimer()
	var cpu, wall time.Duration
	for range b.N {
		changes := benchChanges(f.src, next, benchBatch, "new")
		next += benchBatch
		ptrs := make([]*lake.Change, len(changes))
		for i := range changes {
			ptrs[i] = &changes[i]
		}
		cpu0, wall0 := cpuTime(), time.Now()
		rec, err := buildRecord(tbl.Schema(), asc, f.src, ptrs, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		rdr, err := array.NewRecordReader(asc, []arrow.RecordBatch{rec})
		if err != nil {
			b.Fatal(err)
		}
		if tbl, err = tbl.Append(ctx, rdr, iceberg.Properties{}); err != nil {
			b.Fatal(err)
		}
		rec.Release()
		cpu, wall = cpu+cpuTime()-cpu0, wall+time.Since(wall0)
	}
	rows := float64(b.N * benchBatch)
	b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(rows/wall.Seconds(), "rows/s")
}
