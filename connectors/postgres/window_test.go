package postgres

import (
	"reflect"
	"testing"

	"github.com/tributary-dev/tributary/schema"
)

// TestWindowReads plays stream changes into a snapshot window and checks
// which chunk rows go out, and with what values: the DBLog rule, and the
// rows the stream sent only in part (TOAST values left unchanged).
func TestWindowReads(t *testing.T) {
	sch := &schema.Table{ID: schema.TableID{Database: "public", Name: "docs"}, Key: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindInt32}},
		{Name: "body", Type: schema.Type{Kind: schema.KindString}},
		{Name: "n", Type: schema.Type{Kind: schema.KindInt32}},
	}}
	if err := sch.Prepare(); err != nil {
		t.Fatal(err)
	}
	row := func(id int64, body string, n int64) []any { return []any{id, body, n} }
	keep := []bool{false, true, false} // body unchanged
	// The chunk holds ids 1 to 7 as the select saw them.
	res := &chunkResult{sch: sch}
	for id := int64(1); id <= 7; id++ {
		res.rows = append(res.rows, row(id, "body"+string(rune('0'+id)), 0))
	}
	w := &window{keys: map[string]*keyState{}, result: res}
	touch := func(events ...*schema.Event) {
		moved := ""
		for _, e := range events {
			e.Table = sch
			moved = w.touch(e, moved)
		}
	}
	// 1: an update that leaves body unchanged.
	touch(&schema.Event{Op: schema.OpUpdate, After: row(1, "", 1), Unchanged: keep})
	// 2: deleted.
	touch(&schema.Event{Op: schema.OpDelete, Before: []any{int64(2), nil, nil}})
	// 3: updated in full.
	touch(&schema.Event{Op: schema.OpUpdate, After: row(3, "new3", 3)})
	// 4 moves to 40 with body unchanged (REPLICA IDENTITY DEFAULT).
	touch(&schema.Event{Op: schema.OpDelete, Before: []any{int64(4), nil, nil}},
		&schema.Event{Op: schema.OpCreate, After: row(40, "", 4), Unchanged: keep})
	// 5: a partial update, then a full one.
	touch(&schema.Event{Op: schema.OpUpdate, After: row(5, "", 5), Unchanged: keep})
	touch(&schema.Event{Op: schema.OpUpdate, After: row(5, "new5", 6)})
	// 6: two partial updates.
	touch(&schema.Event{Op: schema.OpUpdate, After: row(6, "", 6), Unchanged: keep})
	touch(&schema.Event{Op: schema.OpUpdate, After: row(6, "", 7), Unchanged: keep})
	// 8: inserted in the window (not in the chunk).
	touch(&schema.Event{Op: schema.OpCreate, After: row(8, "b8", 8)})
	want := [][]any{
		row(1, "body1", 1), // the chunk's body, the stream's n
		row(6, "body6", 7),
		row(7, "body7", 0),  // untouched
		row(40, "body4", 4), // the moved row, from its old row
	}
	if got := w.reads(); !reflect.DeepEqual(got, want) {
		t.Errorf("reads =\n%v\nwant\n%v", got, want)
	}
}
