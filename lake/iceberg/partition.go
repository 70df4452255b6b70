package iceberg

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/iceberg-go"

	"github.com/tributary-dev/tributary/schema"
)

// partitionFunc returns the partition path and values of a row.
type partitionFunc func(row []any) (path string, values map[int]any, err error)

const (
	microsPerHour = int64(time.Hour / time.Microsecond)
	microsPerDay  = 24 * microsPerHour
)

// partitioner returns the partition function of the table's current spec
// for rows of source schema src. Only a single time transform (day, hour,
// month) of a date or timestamp column is supported, as the compactor
// creates them.
func (w *Table) partitioner(src *schema.Table) (partitionFunc, error) {
	spec := w.tbl.Spec()
	if spec.NumFields() == 0 {
		return func([]any) (string, map[int]any, error) { return "", nil, nil }, nil
	}
	if spec.NumFields() != 1 {
		return nil, fmt.Errorf("table %s: partition spec %s has %d fields; tributary writes one time transform", w.name(), spec, spec.NumFields())
	}
	pf := spec.Field(0)
	field, ok := w.tbl.Schema().FindFieldByID(pf.SourceID())
	if !ok {
		return nil, fmt.Errorf("table %s: partition source field %d is not in the schema", w.name(), pf.SourceID())
	}
	ci := src.Index(field.Name)
	if ci < 0 {
		return nil, fmt.Errorf("table %s: partition column %s is no longer in the source table", w.name(), field.Name)
	}
	kind := src.Columns[ci].Type.Kind
	tr := pf.Transform
	// Rows of the same hour share a partition under every time transform,
	// so the path and values are worked out once per hour seen.
	type partition struct {
		path   string
		values map[int]any
	}
	byHour := map[int64]partition{}
	return func(row []any) (string, map[int]any, error) {
		hour, hasHour := hourOf(row[ci])
		if p, ok := byHour[hour]; ok && hasHour {
			return p.path, p.values, nil
		}
		v, err := transformTime(tr, kind, row[ci])
		if err != nil {
			return "", nil, fmt.Errorf("partition column %s: %w", field.Name, err)
		}
		p := partition{pf.Name + "=" + humanPartition(tr, v), map[int]any{pf.FieldID: v}}
		if hasHour {
			if len(byHour) >= 1<<12 {
				clear(byHour)
			}
			byHour[hour] = p
		}
		return p.path, p.values, nil
	}, nil
}

// hourOf returns the hour since the epoch of a source date (int32 days) or
// timestamp (int64 microseconds); ok is false for anything else.
func hourOf(v any) (hour int64, ok bool) {
	switch x := v.(type) {
	case int32:
		return int64(x) * 24, true
	case int64:
		return floorDiv(x, microsPerHour), true
	}
	return 0, false
}

// transformTime applies a time transform to a source date (int32 days) or
// timestamp (int64 microseconds) value. Day yields an iceberg.Date, hour and
// month an int32, as iceberg-go's own writer does; nil stays nil.
func transformTime(tr iceberg.Transform, kind schema.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var micros int64
	switch x := v.(type) {
	case int32:
		micros = int64(x) * microsPerDay
	case int64:
		micros = x
	default:
		return nil, fmt.Errorf("%s value %T is not a date or timestamp", kind, v)
	}
	switch tr.(type) {
	case iceberg.DayTransform:
		return iceberg.Date(floorDiv(micros, microsPerDay)), nil
	case iceberg.HourTransform:
		return int32(floorDiv(micros, microsPerHour)), nil
	case iceberg.MonthTransform:
		t := time.UnixMicro(micros).UTC()
		return int32((t.Year()-1970)*12 + int(t.Month()) - 1), nil
	}
	return nil, fmt.Errorf("unsupported partition transform %s", tr)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// humanPartition formats a partition value for file paths, as Iceberg's
// Java writer does ("2024-01-05", "2024-01-05-13", "2024-01").
func humanPartition(tr iceberg.Transform, v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case iceberg.Date:
		return time.Unix(int64(x)*86400, 0).UTC().Format("2006-01-02")
	case int32:
		if _, ok := tr.(iceberg.HourTransform); ok {
			return time.Unix(int64(x)*3600, 0).UTC().Format("2006-01-02-15")
		}
		return time.Date(1970, time.Month(1+x), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
	}
	return fmt.Sprint(v)
}

// partitionPath returns the path segment of a data file's partition.
func partitionPath(spec iceberg.PartitionSpec, values map[int]any) string {
	var parts []string
	for _, f := range spec.Fields() {
		v := values[f.FieldID]
		if d, ok := v.(int32); ok {
			if _, day := f.Transform.(iceberg.DayTransform); day {
				v = iceberg.Date(d)
			}
		}
		parts = append(parts, f.Name+"="+humanPartition(f.Transform, v))
	}
	return strings.Join(parts, "/")
}
