package iceberg

import (
	"fmt"
	"testing"

	"github.com/tributary-dev/tributary/lake"
)

// TestCopyOnWrite applies inserts, updates (one a partition move), a key
// change, deletes and a truncate to a copy-on-write table: every read shows
// one live row per key, and the table never has a delete file; it also
// switches an existing merge-on-read table to copy-on-write.
func TestCopyOnWrite(t *testing.T) {
	f := newFixture(t, "created")
	f.cfg.CopyOnWrite = true
	s := f.src
	tbl := f.open()
	if got := tbl.(*Table).tbl.Properties()["write.update.mode"]; got != "copy-on-write" {
		t.Errorf("write.update.mode %q, want copy-on-write", got)
	}
	var batch []lake.Change
	for i := range int64(60) {
		batch = append(batch, upsert(s, row(i, fmt.Sprint("c", i), "1.00", i%3*day+i, nil)))
	}
	f.apply(tbl, f.batch(batch...))
	noDeletes := func() {
		t.Helper()
		if n := summaryInt(t, tbl, "total-delete-files"); n != 0 {
			t.Errorf("%d delete files in a copy-on-write table", n)
		}
	}
	st := f.apply(tbl, f.batch(
		upsert(s, row(1, "c1", "9.99", 1, "updated")),
		upsert(s, row(2, "c2", nil, 10*day, "moved")),
		del(s, 3), del(s, 1000),
		del(s, 4), upsert(s, row(4000, "c4", "4.04", 4, "new key")),
	))
	if st.DeleteFiles != 0 || st.Deletes != 4 {
		t.Errorf("stats %+v: want 4 rows deleted and no delete file", st)
	}
	f.check()
	noDeletes()
	// Every row of one partition deleted: its file goes, none replaces it.
	var gone []lake.Change
	for i := int64(0); i < 60; i++ {
		if i%3 == 1 && i != 1 {
			gone = append(gone, del(s, i))
		}
	}
	f.apply(tbl, f.batch(gone...))
	f.check()
	noDeletes()
	tbl.Close()
	tbl = f.open() // the key index from the table
	f.apply(tbl, f.batch(upsert(s, row(5, "c5", "5.55", 5, "after reopen")), del(s, 6)))
	f.check()
	noDeletes()
	b := f.batch(upsert(s, row(7, "after truncate", nil, 0, nil)))
	b.Truncate = true
	f.apply(tbl, b)
	f.check()
	noDeletes()

	// A merge-on-read table switched to copy-on-write.
	g := newFixture(t, "")
	mor := g.open()
	g.apply(mor, g.batch(upsert(g.src, row(1, "a", nil, 0, nil)), upsert(g.src, row(2, "b", nil, 0, nil))))
	g.apply(mor, g.batch(del(g.src, 1)))
	mor.Close()
	g.cfg.CopyOnWrite = true
	cow := g.open()
	g.apply(cow, g.batch(upsert(g.src, row(2, "b2", nil, 0, nil)), upsert(g.src, row(3, "c", nil, 0, nil))))
	g.check()
	if got := cow.(*Table).tbl.Properties()["write.delete.mode"]; got != "copy-on-write" {
		t.Errorf("write.delete.mode %q after the switch, want copy-on-write", got)
	}
}
