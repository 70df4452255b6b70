package iceberg

import (
	"context"
	"fmt"
	"strconv"
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
