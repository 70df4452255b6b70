package iceberg

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tributary-dev/tributary/lake"
)

// TestMaintainRacingApply plans a maintenance rewrite, lets a batch commit
// through the same Table before the rewrite commits (what happens when two
// workers share one Table: a revoked worker still flushing and maintaining
// while the next session's worker applies), then commits the rewrite. The
// rewrite was planned on the rows live before the batch: committed on top
// of the batch, it would bring back every row the batch deleted or moved
// out of the files it packs, a second live copy of each key. It must fail
// as a conflict instead, and the table must equal the model row by row.
func TestMaintainRacingApply(t *testing.T) {
	f := newFixture(t, "created")
	s := f.src
	ctx := context.Background()
	tbl := f.open()
	w := tbl.(*Table)
	// Two small files on day 0: maintenance packs them.
	for part := range int64(2) {
		var changes []lake.Change
		for i := range int64(10) {
			id := part*10 + i
			changes = append(changes, upsert(s, row(id, fmt.Sprint("c", id), "1.00", 0, nil)))
		}
		f.apply(tbl, f.batch(changes...))
	}
	f.check()

	if err := w.syncIndex(ctx); err != nil {
		t.Fatal(err)
	}
	rw, err := w.planRewrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rw.files) != 2 {
		t.Fatalf("rewrite plans %d files, want the 2 of day 0", len(rw.files))
	}

	// The batch: rows moved to day 1, a key change, deletes, an update in
	// place, all out of the files the rewrite packs.
	f.apply(tbl, f.batch(
		upsert(s, row(0, "moved", "2.00", day, nil)),
		upsert(s, row(1, "moved", "2.00", day+1, nil)),
		del(s, 2), upsert(s, row(2000, "c2 new key", "1.00", 0, nil)),
		del(s, 3), del(s, 12),
		upsert(s, row(4, "updated", "4.00", 0, nil)),
		upsert(s, row(14, "updated", "4.00", 0, nil)),
	))
	f.check()

	var st lake.MaintainStats
	err = w.applyRewrite(ctx, rw, &st)
	if err == nil {
		t.Error("a rewrite planned before a commit was committed on top of it")
	} else if !errors.Is(err, lake.ErrConflict) {
		t.Errorf("rewrite: got %v, want ErrConflict", err)
	}
	f.check()

	// The table goes on: refreshed, maintained, applied to.
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	f.check()
	f.apply(tbl, f.batch(upsert(s, row(5, "after", nil, 0, nil)), del(s, 0)))
	checkIndex(t, w)
	f.check()
}
