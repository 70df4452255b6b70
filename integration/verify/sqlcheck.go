package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/tributary-dev/tributary/schema"
)

// CompareExact checks a table topic against its MySQL table value by
// value, letting the source itself judge each value: for every row the
// topic holds, it asks the source for a row with that key whose every
// column equals the topic's value exactly (binary string comparison,
// floats compared as the stored IEEE value, decimals at full precision,
// geometry as WKB). It also checks that the two row counts are equal, so
// that together the table and the topic hold the same rows.
func CompareExact(ctx context.Context, conn *client.Conn, brokers []string, prefix string, id schema.TableID) (*Result, error) {
	schemas, err := ReadSchemas(ctx, brokers, prefix)
	if err != nil {
		return nil, err
	}
	rows, latest, err := foldValues(ctx, brokers, prefix, id, schemas)
	if err != nil {
		return nil, err
	}
	res := &Result{Table: id, KafkaRows: len(rows)}
	n, err := conn.Execute("SELECT COUNT(*) FROM " + quoteTable(id))
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", id, err)
	}
	count, _ := n.GetInt(0, 0)
	res.SourceRows = int(count)
	for key, row := range rows {
		conds, args := conditions(latest, row, nil)
		if ok, err := matches(conn, id, conds, args); err != nil {
			return nil, fmt.Errorf("check %s row %s: %w", id, key, err)
		} else if ok {
			continue
		}
		res.Differing++
		// Find the columns that differ, one at a time with the key.
		for i, c := range latest.Columns {
			conds, args := conditions(latest, row, &i)
			if ok, err := matches(conn, id, conds, args); err == nil && !ok && len(res.Details) < 20 {
				res.Details = append(res.Details, fmt.Sprintf("row %s column %s: the source does not hold the topic's value %s", key, c.Name, short(row[i])))
			}
		}
	}
	if res.SourceRows != res.KafkaRows {
		res.Details = append(res.Details, fmt.Sprintf("source has %d rows, topic %d", res.SourceRows, res.KafkaRows))
		if res.SourceRows > res.KafkaRows {
			res.Missing = res.SourceRows - res.KafkaRows
		} else {
			res.Extra = res.KafkaRows - res.SourceRows
		}
	}
	return res, nil
}

// conditions builds the WHERE clause for a row: every column, or with only
// set, the key columns and that one column.
func conditions(t *schema.Table, row []any, only *int) ([]string, []any) {
	var conds []string
	var args []any
	for i, c := range t.Columns {
		if only != nil && i != *only && !slices.Contains(t.Key, c.Name) {
			continue
		}
		cond, arg := condition(c, row[i])
		conds = append(conds, cond)
		if arg != nil {
			args = append(args, arg)
		}
	}
	return conds, args
}

func matches(conn *client.Conn, id schema.TableID, conds []string, args []any) (bool, error) {
	q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", quoteTable(id), strings.Join(conds, " AND "))
	r, err := conn.Execute(q, args...)
	if err != nil {
		return false, err
	}
	n, _ := r.GetInt(0, 0)
	return n == 1, nil
}

func quoteTable(id schema.TableID) string {
	q := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	return q(id.Database) + "." + q(id.Name)
}

// short renders a value for a message, cut to 60 characters.
func short(v any) string {
	s := fmt.Sprintf("%v", v)
	if b, ok := v.([]byte); ok {
		s = fmt.Sprintf("%x", b)
	}
	if len(s) > 60 {
		s = s[:60] + fmt.Sprintf("... (%d chars)", len(s))
	}
	return s
}

// foldValues replays a topic into typed rows aligned with the latest
// schema version (columns a row's version lacks stay nil).
func foldValues(ctx context.Context, brokers []string, prefix string, id schema.TableID, schemas Schemas) (map[string][]any, *schema.Table, error) {
	latest, err := schemas.Newest(id)
	if err != nil {
		return nil, nil, err
	}
	topic, err := Fold(ctx, brokers, prefix, id, schemas)
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]any{}
	for key, m := range topic.Typed {
		row := make([]any, len(latest.Columns))
		for i, c := range latest.Columns {
			row[i] = m[c.Name]
		}
		out[key] = row
	}
	return out, latest, nil
}

// condition returns the SQL that holds when column c equals v exactly, and
// its argument (nil when it needs none).
func condition(c schema.Column, v any) (string, any) {
	col := "`" + strings.ReplaceAll(c.Name, "`", "``") + "`"
	if v == nil {
		switch c.Type.Kind {
		case schema.KindDate, schema.KindTimestamp, schema.KindTimestampTZ:
			// Zero dates are published as null (docs/types-mysql.md).
			return fmt.Sprintf("(%s IS NULL OR YEAR(%[1]s) = 0 OR MONTH(%[1]s) = 0 OR DAYOFMONTH(%[1]s) = 0)", col), nil
		}
		return col + " IS NULL", nil
	}
	switch c.Type.Kind {
	case schema.KindString, schema.KindJSON, schema.KindEnum, schema.KindSet:
		// Compare the UTF-8 bytes, whatever the column's character set.
		return "CAST(CONVERT(" + col + " USING utf8mb4) AS BINARY) = CAST(? AS BINARY)", v
	case schema.KindBytes:
		return "BINARY " + col + " = ?", v
	case schema.KindGeometry:
		return "ST_AsWKB(" + col + ") = ?", v
	case schema.KindDecimal:
		return fmt.Sprintf("%s = CAST(? AS DECIMAL(%d,%d))", col, c.Type.Precision, c.Type.Scale), v
	case schema.KindFloat32:
		return col + " = ?", float64(v.(float32))
	case schema.KindDate:
		return col + " = ?", time.Unix(int64(v.(int32))*86400, 0).UTC().Format("2006-01-02")
	case schema.KindTimestamp, schema.KindTimestampTZ:
		return col + " = ?", time.UnixMicro(v.(int64)).UTC().Format("2006-01-02 15:04:05.999999")
	case schema.KindTime:
		us := v.(int64)
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		s := us / 1e6
		return col + " = ?", fmt.Sprintf("%s%02d:%02d:%02d.%06d", sign, s/3600, s/60%60, s%60, us%1e6)
	}
	return col + " = ?", v
}
