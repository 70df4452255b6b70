package verify

import (
	"maps"
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/schema"
)

// TestReplayResync replays a topic through a resync, as the PostgreSQL
// reader publishes one after a lost slot: markers and reads carry the LSN
// they were published after, and come once per partition. Rows changed or
// read between the markers stay; the others go at the end marker.
func TestReplayResync(t *testing.T) {
	tbl := &schema.Table{ID: schema.TableID{Database: "public", Name: "kv"}, Version: 1, Key: []string{"k"},
		Columns: []schema.Column{{Name: "k", Type: schema.Type{Kind: schema.KindString}}, {Name: "v", Type: schema.Type{Kind: schema.KindString}}}}
	if err := tbl.Prepare(); err != nil {
		t.Fatal(err)
	}
	var offset [2]int64
	ch := func(lsn uint64, row int, op schema.Op, key, v string, part int32) *pgChange {
		c := &pgChange{lsn: lsn, row: row, op: op, key: key, part: part, offset: offset[part], sch: tbl, env: &schema.Envelope{Op: op}}
		offset[part]++
		if op != schema.OpDelete && key != "" {
			c.env.After = []any{key, v}
		}
		return c
	}
	both := func(lsn uint64, op schema.Op) []*pgChange {
		return []*pgChange{ch(lsn, 0, op, "", "", 0), ch(lsn, 0, op, "", "", 1)}
	}
	var changes []*pgChange
	changes = append(changes, ch(10, 0, schema.OpCreate, "a", "1", 0), ch(10, 1, schema.OpCreate, "b", "1", 1),
		ch(20, 0, schema.OpCreate, "c", "1", 0), ch(30, 0, schema.OpCreate, "d", "1", 1))
	// The slot is lost after LSN 30; "c" is deleted and "d" changed
	// unseen. The reader starts again at 40 and snapshots.
	changes = append(changes, both(40, schema.OpResyncBegin)...)
	changes = append(changes, ch(40, 0, schema.OpRead, "a", "1", 0), ch(40, 1, schema.OpRead, "d", "2", 1))
	changes = append(changes, ch(50, 0, schema.OpCreate, "e", "1", 0)) // streamed during the snapshot
	changes = append(changes, ch(50, 0, schema.OpRead, "b", "2", 1))
	changes = append(changes, both(50, schema.OpResyncEnd)...)
	changes = append(changes, ch(60, 0, schema.OpCreate, "f", "1", 1))
	// Partitions are read one after the other.
	slices.SortStableFunc(changes, func(x, y *pgChange) int { return int(x.part - y.part) })
	orderChanges(changes)
	got := replay(changes)
	if len(got.Problems) > 0 {
		t.Errorf("problems: %v", got.Problems)
	}
	want := map[string]string{"a": "1", "b": "2", "d": "2", "e": "1", "f": "1"}
	if keys := slices.Sorted(maps.Keys(got.Rows)); !slices.Equal(keys, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("rows %v, want keys of %v", keys, want)
	}
	for k, v := range want {
		if got.Rows[k]["v"] != v {
			t.Errorf("row %s: v %v, want %s", k, got.Rows[k]["v"], v)
		}
	}
}
