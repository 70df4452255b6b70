package iceberg

import (
	"context"
	"math"
	"reflect"
	"testing"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// TestTypesRoundTrip writes one value of every kind (and NULLs) and reads
// it back through iceberg-go: each must come back exactly.
func TestTypesRoundTrip(t *testing.T) {
	cols := []struct {
		typ schema.Type
		v   any
	}{
		{schema.Type{Kind: schema.KindBool}, true},
		{schema.Type{Kind: schema.KindInt8}, int64(-128)},
		{schema.Type{Kind: schema.KindInt16}, int64(32767)},
		{schema.Type{Kind: schema.KindInt32}, int64(math.MinInt32)},
		{schema.Type{Kind: schema.KindInt64}, int64(math.MaxInt64)},
		{schema.Type{Kind: schema.KindUint64}, uint64(math.MaxUint64)},
		{schema.Type{Kind: schema.KindFloat32}, float32(1.5)},
		{schema.Type{Kind: schema.KindFloat64}, math.Inf(-1)},
		{schema.Type{Kind: schema.KindDecimal, Precision: 12, Scale: 3}, "-123456789.120"},
		{schema.Type{Kind: schema.KindDecimal, Precision: 38, Scale: 10}, "1234567890123456789012345678.0123456789"},
		{schema.Type{Kind: schema.KindDecimal, Precision: 65, Scale: 30}, "12345678901234567890123456789012345.123456789012345678901234567890"},
		{schema.Type{Kind: schema.KindDecimal}, "NaN"},
		{schema.Type{Kind: schema.KindString}, "日本語 🚀 \x00 \n"},
		{schema.Type{Kind: schema.KindBytes}, []byte{0, 255, 1}},
		{schema.Type{Kind: schema.KindJSON}, `{"a": [1, 2]}`},
		{schema.Type{Kind: schema.KindEnum, Values: []string{"a", "b"}}, "b"},
		{schema.Type{Kind: schema.KindSet, Values: []string{"a", "b"}}, "a,b"},
		{schema.Type{Kind: schema.KindBit, Precision: 10}, uint64(1023)},
		{schema.Type{Kind: schema.KindBit, Precision: 64}, uint64(math.MaxUint64)},
		{schema.Type{Kind: schema.KindDate}, int32(-719162)},
		{schema.Type{Kind: schema.KindTime}, int64(-838*3600_000_000 - 1)},
		{schema.Type{Kind: schema.KindTimestamp}, int64(253402300799999999)},
		{schema.Type{Kind: schema.KindTimestampTZ}, int64(math.MinInt64)},
		{schema.Type{Kind: schema.KindUUID}, "0b9f1c1e-2d3a-4c5b-8e7f-0123456789ab"},
		{schema.Type{Kind: schema.KindGeometry}, []byte{1, 1, 0, 0, 0}},
		{schema.Type{Kind: schema.KindTimeTZ}, "15:04:05.999999+07:00"},
		{schema.Type{Kind: schema.KindInterval}, schema.Interval{Months: 14, Days: -3, Micros: 4_500_000}},
		{schema.Type{Kind: schema.KindInet}, "2001:db8::1/64"},
		{schema.Type{Kind: schema.KindMACAddr}, "08:00:2b:01:02:03"},
		{schema.Type{Kind: schema.KindVarBit}, "0000101"},
		{schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindString}}, []any{"x", nil, []any{"y"}}},
		{schema.Type{Kind: schema.KindMap}, map[string]any{"k": "v", "n": nil}},
	}
	src := &schema.Table{ID: schema.TableID{Database: "db", Name: "types"}, Version: 1, Key: []string{"id"},
		Columns: []schema.Column{{Name: "id", Type: schema.Type{Kind: schema.KindInt64}}}}
	full, nulls := []any{int64(1)}, []any{int64(2)}
	for i, c := range cols {
		src.Columns = append(src.Columns, schema.Column{Name: "c" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Type: c.typ, Nullable: true})
		full, nulls = append(full, c.v), append(nulls, nil)
	}
	if err := src.Prepare(); err != nil {
		t.Fatal(err)
	}
	l := New(Config{Warehouse: t.TempDir()})
	defer l.Close()
	tbl, err := l.Open(context.Background(), src, lake.TableConfig{Namespace: "db", Name: "types"})
	if err != nil {
		t.Fatal(err)
	}
	var changes []lake.Change
	for _, img := range [][]any{full, nulls} {
		k, _ := lake.KeyOf(src, img)
		changes = append(changes, lake.Change{Key: k, Row: img, Meta: lake.RowMeta{Op: schema.OpCreate}})
	}
	if _, err := tbl.Apply(context.Background(), &lake.Batch{Table: src, Changes: changes}); err != nil {
		t.Fatal(err)
	}
	rows, err := l.ReadTable(context.Background(), "db", "types", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		want := full
		if r["id"] == int64(2) {
			want = nulls
		}
		for i, c := range src.Columns {
			if !reflect.DeepEqual(r[c.Name], want[i]) {
				t.Errorf("%s (%s): read %#v, wrote %#v", c.Name, c.Type, r[c.Name], want[i])
			}
		}
	}
	if len(rows) != 2 {
		t.Errorf("read %d rows, want 2", len(rows))
	}
}
