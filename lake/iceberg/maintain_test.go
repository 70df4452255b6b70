package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/lake"
)

// summaryInt reads a total from the current snapshot's summary.
func summaryInt(t *testing.T, tbl lake.Table, key string) int {
	t.Helper()
	s := tbl.(*Table).tbl.CurrentSnapshot()
	n, _ := strconv.Atoi(s.Summary.Properties[key])
	return n
}

// TestMaintain commits many small batches of inserts, updates (some moving
// rows to another day) and deletes, then maintains the table: delete files
// and small files must go, the table must still equal the model, and
// ingestion must go on from the new files, also after a reopen.
func TestMaintain(t *testing.T) {
	f := newFixture(t, "created")
	f.conf.Maintain = MaintainConfig{SnapshotAge: time.Nanosecond, RetainSnapshots: 3}
	f.lake = New(f.conf)
	s := f.src
	tbl := f.open()
	for round := range int64(12) {
		var changes []lake.Change
		for i := range int64(40) {
			id := (round*13 + i*7) % 200
			switch {
			case i%9 == 0:
				changes = append(changes, del(s, id))
			default:
				changes = append(changes, upsert(s, row(id, fmt.Sprint("r", round), "1.00", (id+round%2)%3*day, nil)))
			}
		}
		f.apply(tbl, f.batch(dedupe(changes)...))
	}
	f.check()
	deletes, files := summaryInt(t, tbl, "total-delete-files"), summaryInt(t, tbl, "total-data-files")
	if deletes == 0 {
		t.Fatal("the workload wrote no delete files")
	}
	st, err := tbl.(lake.Maintainer).Maintain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: %d data files, %d delete files; maintain: %+v", files, deletes, st)
	if got := summaryInt(t, tbl, "total-delete-files"); got != 0 {
		t.Errorf("%d delete files after maintenance, want 0", got)
	}
	if got := summaryInt(t, tbl, "total-data-files"); got > 3 {
		t.Errorf("%d data files after maintenance, want one per day (3)", got)
	}
	if st.ExpiredSnapshots == 0 {
		t.Error("no snapshot expired")
	}
	f.check()
	if cp := tbl.Checkpoint(); cp.Offsets[0] != f.next {
		t.Errorf("checkpoint %+v after maintenance", cp)
	}
	f.apply(tbl, f.batch(upsert(s, row(1, "after", nil, 0, nil)), del(s, 2), upsert(s, row(500, "new", nil, day, nil))))
	f.check()
	tbl.Close()
	tbl = f.open()
	if cp := tbl.Checkpoint(); cp.Offsets[0] != f.next {
		t.Errorf("checkpoint %+v after reopen", cp)
	}
	f.apply(tbl, f.batch(upsert(s, row(3, "reopened", nil, 0, nil))))
	f.check()
}

// dedupe keeps the last change per key, as the compactor does.
func dedupe(changes []lake.Change) []lake.Change {
	last := map[string]int{}
	for i, c := range changes {
		last[c.Key] = i
	}
	var out []lake.Change
	for i, c := range changes {
		if last[c.Key] == i {
			out = append(out, c)
		}
	}
	return out
}

// TestRemoveOrphans leaves files no snapshot references in the table's
// data and metadata folders, some old and some new, and maintains the
// table: the old ones must go, the new ones (a commit may be in progress)
// and every referenced file must stay, and the table must still read the
// same, also after more commits.
func TestRemoveOrphans(t *testing.T) {
	f := newFixture(t, "created")
	f.conf.Maintain = MaintainConfig{OrphanAge: time.Hour}
	f.lake = New(f.conf)
	s := f.src
	tbl := f.open()
	for round := range int64(3) {
		f.apply(tbl, f.batch(upsert(s, row(round, "a", "1.00", round*day, nil)), upsert(s, row(round+10, "b", nil, 0, nil))))
	}
	f.apply(tbl, f.batch(upsert(s, row(0, "updated", nil, day, nil)), del(s, 11)))
	loc := strings.TrimPrefix(tbl.(*Table).tbl.Location(), "file://")
	old := time.Now().Add(-2 * time.Hour)
	write := func(rel string, mtime time.Time) string {
		t.Helper()
		p := filepath.Join(loc, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("orphan"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := []string{write("data/created_day=2023-11-14/old-orphan.parquet", old), write("metadata/old-orphan-m0.avro", old),
		write("metadata/99999-old-orphan.metadata.json", old)}
	kept := []string{write("data/created_day=2023-11-14/new-orphan.parquet", time.Now()), write("metadata/new-orphan-m0.avro", time.Now())}
	// Every file the table has so far is old too: the referenced ones must stay.
	var live []string
	err := filepath.WalkDir(loc, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "orphan") {
			return err
		}
		live = append(live, p)
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tbl.(lake.Maintainer).Maintain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.RemovedOrphans != len(gone) {
		t.Errorf("%d orphans removed, want %d", st.RemovedOrphans, len(gone))
	}
	for _, p := range gone {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("old orphan %s is still there (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("new orphan %s was removed: %v", p, err)
		}
	}
	// No snapshot expired (they are younger than SnapshotAge), so every
	// file that was live is still referenced.
	for _, p := range live {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("referenced file %s was removed: %v", p, err)
		}
	}
	f.check()
	f.apply(tbl, f.batch(upsert(s, row(1, "after", nil, 0, nil)), del(s, 2)))
	f.check()
	tbl.Close()
	tbl = f.open()
	f.apply(tbl, f.batch(upsert(s, row(3, "reopened", nil, 0, nil))))
	f.check()
}

// TestMaintainDanglingDeletes leaves delete files whose data files are all
// gone: written while the table was merge-on-read, their data files then
// replaced by copy-on-write commits. Maintenance must remove them, though
// no rewrite is due and no live data file is among their targets.
func TestMaintainDanglingDeletes(t *testing.T) {
	f := newFixture(t, "created")
	s := f.src
	tbl := f.open()
	var rows []lake.Change
	for i := range int64(30) {
		rows = append(rows, upsert(s, row(i, fmt.Sprint("r", i), "1.00", i%3*day, nil)))
	}
	f.apply(tbl, f.batch(rows...))
	f.apply(tbl, f.batch(upsert(s, row(1, "u", nil, 0, nil)), del(s, 2), upsert(s, row(4, "u", nil, 2*day, nil))))
	if n := summaryInt(t, tbl, "total-delete-files"); n == 0 {
		t.Fatal("the merge-on-read commit wrote no delete file")
	}
	tbl.Close()
	f.cfg.CopyOnWrite = true
	tbl = f.open()
	// Touch every key left of the first batch: copy-on-write replaces every
	// data file the delete files point into.
	var again []lake.Change
	for i := range int64(30) {
		if i != 2 {
			again = append(again, upsert(s, row(i, "again", nil, i%3*day, nil)))
		}
	}
	f.apply(tbl, f.batch(again...))
	f.check()
	dangling := summaryInt(t, tbl, "total-delete-files")
	if dangling == 0 {
		t.Fatal("copy-on-write removed the delete files itself; the test needs them left")
	}
	st, err := tbl.(lake.Maintainer).Maintain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := summaryInt(t, tbl, "total-delete-files"); got != 0 {
		t.Errorf("%d of %d dangling delete files left after maintenance (%+v)", got, dangling, st)
	}
	f.check()
	tbl.Close()
	tbl = f.open()
	f.apply(tbl, f.batch(upsert(s, row(3, "reopened", nil, 0, nil)), del(s, 5)))
	f.check()
}
