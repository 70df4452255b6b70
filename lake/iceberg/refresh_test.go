package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/lake"
)

// indexView is a key index as key hash -> (data file path, row position).
func indexView(ix *keyIndex) map[keyHash]string {
	out := make(map[keyHash]string, ix.keys.Len())
	for k, l := range ix.keys.All() {
		f, pos := splitLoc(l)
		out[k] = fmt.Sprintf("%s#%d", ix.files[f].path, pos)
	}
	return out
}

// checkIndex compares a table's key index with one built from scratch.
func checkIndex(t *testing.T, w *Table) {
	t.Helper()
	kr, err := newKeyReader(w.tbl.Schema(), w.source)
	if err != nil {
		t.Fatal(err)
	}
	full, err := buildIndex(context.Background(), w.tbl, kr)
	if err != nil {
		t.Fatal(err)
	}
	got, want := indexView(w.index), indexView(full)
	if !maps.Equal(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("key %x: refreshed index %q, full rebuild %q", k, got[k], want[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("key %x: refreshed index %q, not in the full rebuild", k, got[k])
			}
		}
	}
	if w.index.snapshot != w.tbl.CurrentSnapshot().SnapshotID {
		t.Errorf("index at snapshot %d, table at %d", w.index.snapshot, w.tbl.CurrentSnapshot().SnapshotID)
	}
}

// rounds applies n rounds of upserts that move rows across three days,
// and deletes, through tbl.
func (f *fixture) rounds(tbl lake.Table, from, n int64) {
	f.t.Helper()
	s := f.src
	for round := from; round < from+n; round++ {
		var changes []lake.Change
		for i := range int64(30) {
			id := (round*11 + i*7) % 120
			if i%8 == 0 {
				changes = append(changes, del(s, id))
			} else {
				changes = append(changes, upsert(s, row(id, fmt.Sprint("r", round), "1.00", (id+round)%3*day, nil)))
			}
		}
		f.apply(tbl, f.batch(dedupe(changes)...))
	}
}

// emptyCommit commits a snapshot of no rows and no checkpoint, as the
// chaos test's catalog-conflict fault does.
func (f *fixture) emptyCommit() {
	f.t.Helper()
	ctx := context.Background()
	cat, err := f.lake.catalog(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{f.cfg.Namespace, f.cfg.Name})
	if err != nil {
		f.t.Fatal(err)
	}
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		f.t.Fatal(err)
	}
	rdr, err := array.NewRecordReader(sc, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rdr.Release()
	txn := tbl.NewTransaction()
	if err := txn.Append(ctx, rdr, iceberg.Properties{"test.foreign": "true"}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		f.t.Fatal(err)
	}
}

// TestRefreshIndex refreshes a writer's key index after another writer's
// appends, deletes, an empty snapshot and a maintenance rewrite, and
// checks it equals a full rebuild, is the same index (not rebuilt), and
// that the writer goes on applying batches correctly.
func TestRefreshIndex(t *testing.T) {
	f := newFixture(t, "created")
	f.conf.Maintain = MaintainConfig{DeletedShare: 0.05}
	f.lake = New(f.conf)
	ctx := context.Background()
	a := f.open()
	f.rounds(a, 0, 5)
	wa := a.(*Table)
	ix := wa.index

	b := f.open()
	f.rounds(b, 5, 3)
	st, err := b.(lake.Maintainer).Maintain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.RewrittenFiles == 0 {
		t.Fatalf("maintenance rewrote nothing: %+v", st)
	}
	f.emptyCommit()
	f.rounds(b, 8, 2)
	b.Close()
	f.check()

	if err := a.(lake.Refresher).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := a.Checkpoint(); cp.Offsets[0] != f.next {
		t.Errorf("checkpoint after refresh %+v, want offset %d", cp, f.next)
	}
	if err := wa.syncIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if wa.index != ix {
		t.Error("the key index was built again, not refreshed")
	}
	checkIndex(t, wa)
	f.rounds(a, 10, 3)
	checkIndex(t, wa)
	f.check()
}

// TestRefreshIndexNotAncestor falls back to a full rebuild when the
// index's snapshot is gone from the table's history.
func TestRefreshIndexNotAncestor(t *testing.T) {
	f := newFixture(t, "created")
	ctx := context.Background()
	a := f.open()
	f.rounds(a, 0, 3)
	wa := a.(*Table)
	wa.index.snapshot = 12345 // no such snapshot
	if err := wa.syncIndex(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, wa)
	f.rounds(a, 3, 2)
	f.check()
}

// TestApplyRetriesConflictKeepingCheckpoint applies a batch whose commit
// conflicts with snapshots that did not move the checkpoint (an empty
// commit, another writer's maintenance): Apply plans it again and commits.
func TestApplyRetriesConflictKeepingCheckpoint(t *testing.T) {
	f := newFixture(t, "created")
	f.conf.Maintain = MaintainConfig{DeletedShare: 0.05}
	f.lake = New(f.conf)
	ctx := context.Background()
	a := f.open()
	f.rounds(a, 0, 4)

	b := f.open()
	if err := b.(*Table).prepare(ctx, f.src); err != nil {
		t.Fatal(err)
	}
	if _, err := b.(lake.Maintainer).Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	f.emptyCommit()
	f.rounds(a, 4, 2) // conflicts, then commits on top
	checkIndex(t, a.(*Table))
	f.check()

	// A writer that moved the checkpoint is a conflict for the caller.
	c := f.open()
	f.rounds(c, 6, 1)
	_, err := a.Apply(ctx, f.batch(upsert(f.src, row(1, "late", nil, 0, nil))))
	if !errors.Is(err, lake.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	f.next-- // not applied
	if err := a.(lake.Refresher).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f.rounds(a, 7, 2)
	checkIndex(t, a.(*Table))
	f.check()
}
