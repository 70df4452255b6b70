package verify

import (
	"testing"

	"github.com/tributary-dev/tributary/schema"
)

func TestCompareLakeRows(t *testing.T) {
	tbl := &schema.Table{Columns: []schema.Column{{Name: "id", Type: schema.Type{Kind: schema.KindString}}, {Name: "v", Type: schema.Type{Kind: schema.KindString}}}}
	src := map[string]map[string]any{"1": {"id": "1", "v": "a"}, "2": {"id": "2", "v": "b"}, "3": {"id": "3", "v": "c"}}
	cols, key := []string{"id", "v"}, []string{"id"}
	same := []map[string]any{{"id": "1", "v": "a"}, {"id": "2", "v": "b"}, {"id": "3", "v": "c"}}
	for _, tr := range []textRules{mysqlText, postgresText} {
		if res := compareLakeRows(schema.TableID{}, tbl, same, src, cols, key, tr); !res.Equal() {
			t.Errorf("equal tables compare as %s %v", res, res.Details)
		}
		bad := []map[string]any{{"id": "1", "v": "a"}, {"id": "1", "v": "a"}, {"id": "2", "v": "x"}, {"id": "4", "v": "d"}}
		res := compareLakeRows(schema.TableID{}, tbl, bad, src, cols, key, tr)
		if res.Equal() || res.Duplicates != 1 || res.Differing != 1 || res.Missing != 1 || res.Extra != 1 || res.SourceSum == res.LakeSum {
			t.Errorf("got %s (sums %x, %x), want 1 duplicated, 1 differing, 1 missing, 1 extra", res, res.SourceSum, res.LakeSum)
		}
	}
}
