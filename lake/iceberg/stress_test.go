package iceberg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/lake"
)

// TestStressWriters interleaves, at random, what the chaos test's
// compactors do to one table: batches of key changes, partition moves and
// deletes through several writers (conflicts, refreshes, reopens),
// maintenance with snapshot expiry, and foreign empty commits. After every
// step the table must equal the changes its checkpoint covers.
func TestStressWriters(t *testing.T) {
	seeds := 1
	if s := os.Getenv("STRESS_SEEDS"); s != "" {
		seeds, _ = strconv.Atoi(s)
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { stressWriters(t, seed) })
	}
}

func stressWriters(t *testing.T, seed uint64) {
	f := newFixture(t, "created")
	f.conf.Maintain = MaintainConfig{SnapshotAge: time.Nanosecond, RetainSnapshots: 4, SmallFileRows: 20}
	f.lake = New(f.conf)
	rnd := rand.New(rand.NewPCG(seed, 1))
	s := f.src
	ctx := context.Background()

	// The log: one change per offset.
	var log []lake.Change
	next := int64(1000)
	live := map[int64]int64{} // id -> day
	for i := range int64(60) {
		live[i] = i % 5
		log = append(log, upsert(s, row(i, "init", nil, (i%5)*day, nil)))
	}
	gen := func() {
		ids := make([]int64, 0, len(live))
		for id := range live {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return
		}
		id := ids[rnd.IntN(len(ids))]
		switch rnd.IntN(5) {
		case 0: // key change
			d := live[id]
			delete(live, id)
			next++
			live[next] = d
			log = append(log, del(s, id), upsert(s, row(next, "key moved", nil, d*day, nil)))
		case 1: // partition move
			d := (live[id] + 1 + rnd.Int64N(3)) % 5
			live[id] = d
			log = append(log, upsert(s, row(id, "day moved", nil, d*day+id, nil)))
		case 2: // delete
			delete(live, id)
			log = append(log, del(s, id))
		case 3: // insert
			next++
			d := rnd.Int64N(5)
			live[next] = d
			log = append(log, upsert(s, row(next, "new", nil, d*day, nil)))
		default: // update in place
			log = append(log, upsert(s, row(id, fmt.Sprint("v", len(log)), nil, live[id]*day+id, nil)))
		}
	}
	modelAt := func(n int64) model {
		m := model{}
		for _, c := range log[:n] {
			if c.Delete {
				delete(m, c.Key)
			} else {
				m[c.Key] = c.Row
			}
		}
		return m
	}
	offset := func(tbl lake.Table) int64 { return tbl.Checkpoint().Offsets[0] }

	writers := []lake.Table{f.open(), f.open(), f.open()}
	for step := range 150 {
		for range 3 {
			gen()
		}
		i := rnd.IntN(len(writers))
		w := writers[i]
		var what string
		switch op := rnd.IntN(10); {
		case op < 6:
			from := offset(w)
			to := min(int64(len(log)), from+1+rnd.Int64N(12))
			b := &lake.Batch{Table: s, Changes: dedupe(log[from:to]), Checkpoint: lake.Checkpoint{Topic: "t", Offsets: map[int32]int64{0: to}}}
			_, err := w.Apply(ctx, b)
			what = fmt.Sprintf("writer %d applies %d..%d: %v", i, from, to, err)
			if err != nil {
				// As the compactor does: the session ends, and the next
				// one refreshes the table it kept.
				if err := w.(lake.Refresher).Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
		case op < 8:
			_, err := w.(lake.Maintainer).Maintain(ctx)
			what = fmt.Sprintf("writer %d maintains: %v", i, err)
			if err != nil {
				if err := w.(lake.Refresher).Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
		case op < 9:
			f.emptyCommit()
			what = "foreign commit"
		default:
			w.Close()
			writers[i] = f.open()
			what = fmt.Sprintf("writer %d reopened", i)
		}
		t.Logf("step %d: %s", step, what)
		probe := f.open()
		f.want = modelAt(offset(probe))
		probe.Close()
		f.check()
		if t.Failed() {
			t.Fatalf("step %d: the table differs from its checkpoint's changes after: %s", step, what)
		}
	}
}
