package postgres

import (
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/schema"
)

// TestRenamesByAttnum: a column under a new name with the attnum of one
// gone is a rename (no snapshot needed); a new attnum, or an attnum whose
// old name is still there, is a new column (snapshot).
func TestRenamesByAttnum(t *testing.T) {
	str := schema.Type{Kind: schema.KindString}
	col := func(name string, attnum int) schema.Column {
		return schema.Column{Name: name, Type: str, Nullable: true, SourceID: attnum}
	}
	prev := &schema.Table{Columns: []schema.Column{col("k", 1), col("v", 2), col("w", 3)}}
	prev.Columns[1].Aliases = []string{"value"}
	cases := []struct {
		name     string
		next     []schema.Column
		aliases  map[string][]string
		rewrites bool
	}{
		{"rename", []schema.Column{col("k", 1), col("val", 2), col("w", 3)}, map[string][]string{"val": {"v", "value"}}, false},
		{"drop and add", []schema.Column{col("k", 1), col("w", 3), col("val", 4)}, map[string][]string{"val": nil}, true},
		{"unknown attnum", []schema.Column{col("k", 1), col("val", 0), col("w", 3)}, map[string][]string{"val": nil}, true},
		{"kept", []schema.Column{col("k", 1), col("v", 2), col("w", 3)}, map[string][]string{"v": {"value"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := &schema.Table{Columns: slices.Clone(c.next)}
			next.Renamed(prev, renamesByAttnum(prev, next))
			for _, col := range next.Columns {
				if want, ok := c.aliases[col.Name]; ok && !slices.Equal(col.Aliases, want) {
					t.Errorf("column %s: aliases %q, want %q", col.Name, col.Aliases, want)
				}
			}
			if got := rewrites(prev, next); got != c.rewrites {
				t.Errorf("rewrites %v, want %v", got, c.rewrites)
			}
		})
	}
}
