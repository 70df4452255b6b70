package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// reads counts the committed snapshot reads of a table by key.
func reads(sink *memSink, table string) map[int64]int {
	out := map[int64]int{}
	for _, e := range sink.committed() {
		if e.Op == schema.OpRead && e.Table.ID.Name == table {
			out[e.After[0].(int64)]++
		}
	}
	return out
}

// TestSnapshotResumesPerChunk stops the reader in the middle of a
// snapshot, several times: each run goes on after the last committed
// chunk, so every row is read exactly once.
func TestSnapshotResumesPerChunk(t *testing.T) {
	p := harness.PostgresT(t, harness.PostgresOptions{})
	if err := p.Exec(context.Background(), `CREATE TABLE r (id bigint PRIMARY KEY, v text); ALTER TABLE r OWNER TO tributary;
		INSERT INTO r SELECT g, 'v' || g FROM generate_series(1, 3000) g`); err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	cfg := testConfig(p, "resume")
	cfg.ChunkSize, cfg.CommitInterval, cfg.MaxBatch = 100, 5*time.Millisecond, 100
	runs := 0
	for ; !sink.snapshotsDone(); runs++ {
		if runs == 200 {
			t.Fatal("the snapshot did not finish in 200 runs")
		}
		// Each run ends right after its second commit, in the middle of
		// the snapshot.
		src := NewSource(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		sink.afterCommit = func() {
			if n++; n == 2 {
				cancel()
			}
		}
		began := time.Now()
		err := src.Run(ctx, sink)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// An earlier run's watermarks must not hold a run up.
		if d := time.Since(began); d > 5*time.Second {
			t.Fatalf("run %d took %v to commit twice", runs, d)
		}
	}
	got := reads(sink, "r")
	for id := int64(1); id <= 3000; id++ {
		if got[id] != 1 {
			t.Fatalf("row %d read %d times", id, got[id])
		}
	}
	if runs < 3 {
		t.Errorf("only %d runs: the test did not interrupt the snapshot", runs)
	}
	t.Logf("%d runs, %d commits", runs, sink.commits)
}

// TestSnapshotLargeRows reads rows of a megabyte each: chunks shrink to
// stay within chunkBytes, and every row arrives.
func TestSnapshotLargeRows(t *testing.T) {
	p := harness.PostgresT(t, harness.PostgresOptions{})
	// 48 rows of 1 MiB of hex that does not compress: two chunks at least.
	if err := p.Exec(context.Background(), `CREATE TABLE fat (id bigint PRIMARY KEY, v text); ALTER TABLE fat OWNER TO tributary;
		INSERT INTO fat SELECT g, (SELECT string_agg(md5((g * 100000 + i)::text), '') FROM generate_series(1, 32768) i) FROM generate_series(1, 48) g`); err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	_, stop := runSource(t, testConfig(p, "fat"), sink)
	waitFor(t, 60*time.Second, "the snapshot", sink.snapshotsDone)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := reads(sink, "fat")
	if len(got) != 48 {
		t.Fatalf("%d rows read, want 48", len(got))
	}
	for _, e := range sink.committed() {
		if e.Op == schema.OpRead && len(e.After[1].(string)) != 1<<20 {
			t.Fatalf("row %v has %d bytes", e.After[0], len(e.After[1].(string)))
		}
	}
}
