package iceberg

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/lake"
)

// TestResync takes a table through a resync: rows written before the
// begin marker and rewritten, updated or deleted after it stay as the
// batches left them, new rows stay, and the old rows nothing touched
// (rows the source deleted while the reader could not see) are gone
// after the end marker. The state survives a reopen, and maintenance does
// not rewrite files in between.
func TestResync(t *testing.T) {
	f := newFixture(t, "created")
	f.conf.Maintain = MaintainConfig{SnapshotAge: time.Nanosecond, RetainSnapshots: 2}
	f.lake = New(f.conf)
	s := f.src
	tbl := f.open()
	for round := range int64(3) {
		var changes []lake.Change
		for i := round * 10; i < round*10+10; i++ {
			changes = append(changes, upsert(s, row(i, fmt.Sprint("c", i), "1.00", i%3*day, nil)))
		}
		f.apply(tbl, f.batch(changes...))
	}
	// Old deletes, so that maintenance would have something to fold.
	f.apply(tbl, f.batch(del(s, 28), upsert(s, row(27, "c27", "2.00", 0, "before"))))

	f.apply(tbl, f.marker(lake.ResyncBegin))
	if cp := tbl.Checkpoint(); !cp.Resyncing {
		t.Fatalf("checkpoint %+v after the begin marker, want resyncing", cp)
	}
	// The marker is committed on its own: a reopen finds it.
	tbl.Close()
	tbl = f.open()
	if cp := tbl.Checkpoint(); !cp.Resyncing || cp.Offsets[0] != f.next {
		t.Fatalf("checkpoint %+v after reopening at the begin marker, want resyncing at offset %d", cp, f.next)
	}
	// The re-snapshot: 0-9 read again unchanged, 10-14 changed meanwhile,
	// 15 deleted by the stream, 100-104 new; 16-27 and 29 not sent again.
	var again []lake.Change
	for i := range int64(10) {
		again = append(again, upsert(s, row(i, fmt.Sprint("c", i), "1.00", i%3*day, nil)))
	}
	f.apply(tbl, f.batch(again...))
	tbl.Close()
	f.lake.Close()
	f.lake = New(f.conf)
	tbl = f.open()
	if cp := tbl.Checkpoint(); !cp.Resyncing {
		t.Fatalf("checkpoint %+v after a reopen during the resync, want resyncing", cp)
	}
	var changes []lake.Change
	for i := int64(10); i < 15; i++ {
		changes = append(changes, upsert(s, row(i, "changed", "3.00", (i+1)%3*day, nil)))
	}
	changes = append(changes, del(s, 15))
	for i := int64(100); i < 105; i++ {
		changes = append(changes, upsert(s, row(i, "new", nil, day, nil)))
	}
	f.apply(tbl, f.batch(changes...))
	st, err := tbl.(lake.Maintainer).Maintain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.RewrittenFiles != 0 {
		t.Errorf("maintenance rewrote %d files during a resync", st.RewrittenFiles)
	}
	f.check() // nothing removed yet: the old rows stay readable

	end := f.marker(lake.ResyncEnd)
	stats := f.apply(tbl, end)
	for i := int64(16); i < 30; i++ {
		delete(f.want, del(s, i).Key)
	}
	f.check()
	if stats.Deletes != 13 { // 16-27 and 29
		t.Errorf("end marker deleted %d rows, want 13", stats.Deletes)
	}
	if cp := tbl.Checkpoint(); cp.Resyncing {
		t.Errorf("checkpoint %+v after the end marker, want no resync", cp)
	}
	tbl.Close()
	tbl = f.open()
	if cp := tbl.Checkpoint(); cp.Resyncing || cp.Offsets[0] != f.next {
		t.Errorf("checkpoint %+v after reopen, want offset %d and no resync", cp, f.next)
	}
	// A second end (a replay) removes nothing.
	if stats := f.apply(tbl, f.marker(lake.ResyncEnd)); stats.Deletes != 0 {
		t.Errorf("a second end marker deleted %d rows", stats.Deletes)
	}
	f.check()
}

// TestResyncBeginAgain: a second begin before the end makes every row
// then held old, including rows written since the first begin.
func TestResyncBeginAgain(t *testing.T) {
	f := newFixture(t, "")
	s := f.src
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(s, row(1, "a", nil, 0, nil)), upsert(s, row(2, "b", nil, 0, nil))))
	f.apply(tbl, f.marker(lake.ResyncBegin))
	f.apply(tbl, f.batch(upsert(s, row(3, "c", nil, 0, nil))))
	f.apply(tbl, f.marker(lake.ResyncBegin))
	f.apply(tbl, f.batch(upsert(s, row(2, "b", nil, 0, nil))))
	f.apply(tbl, f.marker(lake.ResyncEnd))
	delete(f.want, del(s, 1).Key)
	delete(f.want, del(s, 3).Key)
	f.check()

	// A truncate ends a resync: no old row is left.
	f.apply(tbl, f.marker(lake.ResyncBegin))
	b := f.batch(upsert(s, row(9, "z", nil, 0, nil)))
	b.Truncate = true
	f.apply(tbl, b)
	if cp := tbl.Checkpoint(); cp.Resyncing {
		t.Errorf("checkpoint %+v after a truncate, want no resync", cp)
	}
	f.check()
}

func (f *fixture) marker(r lake.Resync) *lake.Batch {
	f.next++
	return &lake.Batch{Table: f.src, Resync: r, Checkpoint: lake.Checkpoint{Topic: "t", Offsets: map[int32]int64{0: f.next}}}
}

// TestResyncEndNothingOld: every old row was sent again, so the end
// marker deletes nothing and commits no snapshot; a reopen still finds the
// resync over.
func TestResyncEndNothingOld(t *testing.T) {
	f := newFixture(t, "")
	s := f.src
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(s, row(1, "a", nil, 0, nil))))
	f.apply(tbl, f.marker(lake.ResyncBegin))
	f.apply(tbl, f.batch(upsert(s, row(1, "a", nil, 0, nil))))
	if st := f.apply(tbl, f.marker(lake.ResyncEnd)); st.Deletes != 0 {
		t.Errorf("end deleted %d rows", st.Deletes)
	}
	tbl.Close()
	tbl = f.open()
	if cp := tbl.Checkpoint(); cp.Resyncing || cp.Offsets[0] != f.next {
		t.Errorf("checkpoint %+v after reopen, want offset %d and no resync", cp, f.next)
	}
	f.check()
	st, err := f.lake.Status(context.Background())
	if err != nil || len(st) != 1 || st[0].Checkpoint.Resyncing || st[0].Checkpoint.Offsets[0] != f.next {
		t.Errorf("status %+v, %v: want the end's checkpoint", st, err)
	}
}
