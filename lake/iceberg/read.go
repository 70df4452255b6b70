package iceberg

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/schema"
)

// ReadTable reads every live row of a lake table with iceberg-go's scan,
// which applies the position deletes. Each row maps a column name to its
// value: source columns as Go values of their type in src (see
// schema.Kind), metadata columns as strings (op, position) or int64
// microseconds (times). Lake columns src does not have are left out. It is
// meant for tests and `tributary demo`, not for large tables.
func (l *Lake) ReadTable(ctx context.Context, namespace, name string, src *schema.Table) ([]map[string]any, error) {
	cat, err := l.catalog(ctx)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{namespace, name})
	if err != nil {
		return nil, fmt.Errorf("load %s.%s: %w", namespace, name, err)
	}
	_, records, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan %s.%s: %w", namespace, name, err)
	}
	var rows []map[string]any
	for rec, err := range records {
		if err != nil {
			return nil, fmt.Errorf("scan %s.%s: %w", namespace, name, err)
		}
		for r := range int(rec.NumRows()) {
			row := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				t, ok := columnType(src, f.Name)
				if !ok {
					continue
				}
				v, err := valueAt(rec.Column(c), t, r)
				if err != nil {
					rec.Release()
					return nil, fmt.Errorf("%s.%s column %s: %w", namespace, name, f.Name, err)
				}
				row[f.Name] = v
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
	return rows, nil
}

// columnType returns the source type of a lake column: the source
// column's, or the type a metadata column reads as.
func columnType(src *schema.Table, name string) (schema.Type, bool) {
	switch name {
	case ColCommittedAt, ColIngestedAt:
		return schema.Type{Kind: schema.KindTimestampTZ}, true
	case ColPosition, ColOp:
		return schema.Type{Kind: schema.KindString}, true
	}
	if i := src.Index(name); i >= 0 {
		return src.Columns[i].Type, true
	}
	return schema.Type{}, false
}

// MetadataLocation returns the location of a lake table's current metadata
// file, for readers that take a table by its metadata (icebird, DuckDB).
func (l *Lake) MetadataLocation(ctx context.Context, namespace, name string) (string, error) {
	cat, err := l.catalog(ctx)
	if err != nil {
		return "", err
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{namespace, name})
	if err != nil {
		return "", fmt.Errorf("load %s.%s: %w", namespace, name, err)
	}
	return tbl.MetadataLocation(), nil
}
