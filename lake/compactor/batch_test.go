package compactor

import (
	"fmt"
	"testing"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// TestAccumulator folds more keys than one chunk holds, with updates,
// deletes and key changes of keys in earlier chunks, over three batches
// (the second sized by the first, the third in the second's reused
// chunk), and compares each batch with a map of the last change per key.
func TestAccumulator(t *testing.T) {
	tbl := itemsTable("items", 1)
	var a accumulator
	for round := range 3 {
		want := map[string]lake.Change{}
		add := func(op schema.Op, before, after []any, pos string) {
			t.Helper()
			env := &schema.Envelope{Op: op, Before: before, After: after}
			if err := a.add(env, tbl, lake.RowMeta{Op: op, Position: pos}); err != nil {
				t.Fatal(err)
			}
			if before != nil {
				k, _ := lake.KeyOf(tbl, before)
				if op == schema.OpDelete || after == nil {
					want[k] = lake.Change{Key: k, Delete: true}
				} else if ak, _ := lake.KeyOf(tbl, after); ak != k {
					want[k] = lake.Change{Key: k, Delete: true}
				}
			}
			if after != nil {
				k, _ := lake.KeyOf(tbl, after)
				want[k] = lake.Change{Key: k, Row: after}
			}
		}
		n := int64(3*minChunk + 17)
		for i := range n {
			add(schema.OpCreate, nil, rowOf(i, fmt.Sprint("r", round)), fmt.Sprint(i))
		}
		for i := int64(0); i < n; i += 7 {
			add(schema.OpUpdate, rowOf(i, ""), rowOf(i, "updated"), "u")
		}
		for i := int64(3); i < n; i += 11 {
			add(schema.OpDelete, rowOf(i, ""), nil, "d")
		}
		for i := int64(5); i < n; i += 13 {
			add(schema.OpUpdate, rowOf(i, ""), rowOf(i+n, "moved"), "k") // a key change
		}
		b := a.batch(lake.Checkpoint{})
		if len(b.Changes) != len(want) {
			t.Fatalf("round %d: %d changes, want %d", round, len(b.Changes), len(want))
		}
		seen := map[string]bool{}
		for _, ch := range b.Changes {
			w, ok := want[ch.Key]
			if !ok || seen[ch.Key] || w.Delete != ch.Delete || (!ch.Delete && ch.Row[1] != w.Row[1]) {
				t.Fatalf("round %d: change %+v, want %+v (seen %v)", round, ch, w, seen[ch.Key])
			}
			if ch.Hash != lake.HashKey(ch.Key) {
				t.Fatalf("round %d: change of key %s has hash %x", round, ch.Key, ch.Hash)
			}
			seen[ch.Key] = true
		}
		a.reset()
	}
}
