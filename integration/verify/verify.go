// Package verify compares what a reader published to Kafka with its source
// database, row by row. The integration tests, the benchmarks and
// `tributary demo` use it. It reads Kafka through schema.DecodeEnvelope and
// the source over MySQL's text protocol, and compares the two as text.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/schema"
)

// Schemas holds every schema version of a source, from its schema topic.
type Schemas map[string]*schema.Table

// ReadSchemas reads a source's schema topic. A version published twice is
// an error.
func ReadSchemas(ctx context.Context, brokers []string, prefix string) (Schemas, error) {
	s := Schemas{}
	err := kafka.ReadTopic(ctx, brokers, nil, schema.SchemaTopic(prefix), func(r *kgo.Record) error {
		t := new(schema.Table)
		if err := json.Unmarshal(r.Value, t); err != nil {
			return err
		}
		if _, dup := s[string(r.Key)]; dup {
			return fmt.Errorf("schema %s published twice", r.Key)
		}
		s[string(r.Key)] = t
		return nil
	})
	return s, err
}

// Lookup returns one schema version.
func (s Schemas) Lookup(id schema.TableID, v int) (*schema.Table, error) {
	if t := s[schema.SchemaKey(id, v)]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("no schema %s v%d", id, v)
}

// Newest returns the highest schema version of a table.
func (s Schemas) Newest(id schema.TableID) (*schema.Table, error) {
	var newest *schema.Table
	for _, t := range s {
		if t.ID == id && (newest == nil || t.Version > newest.Version) {
			newest = t
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("no schema of %s on the schema topic", id)
	}
	return newest, nil
}

// Topic is one table topic replayed into rows.
type Topic struct {
	// Rows maps the Kafka key to the row: column name -> value as text.
	Rows map[string]map[string]any
	// Typed holds the same rows with the decoded values (see schema.Kind).
	Typed map[string]map[string]any
	// Changes and Reads count stream changes and snapshot reads.
	Changes, Reads int
	// Problems lists duplicated changes and changes out of source order.
	Problems []string
}

// Fold reads a table topic (read_committed) and replays it per partition:
// reads, creates and updates set a row, deletes remove it, a truncate
// clears the partition, and a resync end marker removes the partition's
// rows that nothing changed since its begin marker. It also checks that no source change appears twice
// and that each key's changes come in source (GTID) order.
func Fold(ctx context.Context, brokers []string, prefix string, id schema.TableID, schemas Schemas) (*Topic, error) {
	out := &Topic{Rows: map[string]map[string]any{}, Typed: map[string]map[string]any{}}
	seen := map[string]bool{}
	lastSeq := map[string]int64{}
	partKeys := map[int32][]string{}
	// resync holds, per partition in a resync, the keys changed since its
	// begin marker: at the end marker the other keys go.
	resync := map[int32]map[string]bool{}
	err := kafka.ReadTopic(ctx, brokers, nil, schema.TopicName(prefix, id), func(r *kgo.Record) error {
		if r.Value == nil {
			return nil // tombstone
		}
		env, err := schema.DecodeEnvelope(r.Value, schemas.Lookup)
		if err != nil {
			return fmt.Errorf("%s offset %d: %w", id, r.Offset, err)
		}
		switch env.Op {
		case schema.OpTruncate:
			for _, k := range partKeys[r.Partition] {
				delete(out.Rows, k)
				delete(out.Typed, k)
			}
			partKeys[r.Partition] = nil
			delete(resync, r.Partition)
			return nil
		case schema.OpResyncBegin:
			resync[r.Partition] = map[string]bool{}
			return nil
		case schema.OpResyncEnd:
			seen, ok := resync[r.Partition]
			if !ok {
				return nil // a truncate ended it: nothing old is left
			}
			for _, k := range partKeys[r.Partition] {
				if !seen[k] {
					delete(out.Rows, k)
					delete(out.Typed, k)
				}
			}
			delete(resync, r.Partition)
			return nil
		}
		key := string(r.Key)
		if seen := resync[r.Partition]; seen != nil {
			seen[key] = true
		}
		if env.Op == schema.OpRead {
			out.Reads++
		} else {
			out.Changes++
			gtid, _ := env.Source["gtid"].(string)
			change := fmt.Sprintf("%s/%v/%s/%s", gtid, env.Source["row"], env.Op, key)
			if seen[change] {
				out.Problems = append(out.Problems, "change appears twice: "+change)
			}
			seen[change] = true
			if seq := gtidSeq(gtid); seq > 0 {
				if seq < lastSeq[key] {
					out.Problems = append(out.Problems, fmt.Sprintf("key %s: change of gtid %s after one of sequence %d", key, gtid, lastSeq[key]))
				}
				lastSeq[key] = seq
			}
		}
		if env.Op == schema.OpDelete {
			delete(out.Rows, key)
			delete(out.Typed, key)
			return nil
		}
		sch, _ := schemas.Lookup(id, env.SchemaVersion)
		row := make(map[string]any, len(sch.Columns))
		typed := make(map[string]any, len(sch.Columns))
		for i, c := range sch.Columns {
			row[c.Name] = Text(c.Type.Kind, env.After[i])
			typed[c.Name] = env.After[i]
		}
		out.Typed[key] = typed
		if _, ok := out.Rows[key]; !ok {
			partKeys[r.Partition] = append(partKeys[r.Partition], key)
		}
		out.Rows[key] = row
		return nil
	})
	return out, err
}

func gtidSeq(g string) int64 {
	i := strings.LastIndexByte(g, '-')
	if i < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(g[i+1:], 10, 64)
	return n
}

// Text renders a decoded Kafka or lake value the way ReadSource shows it,
// so that both sides compare as text. Times lose trailing fractional zeros
// on both sides (see normalize).
func Text(k schema.Kind, v any) any {
	if v == nil {
		return nil
	}
	// A value not of its kind's Go type (a lake column of another type)
	// is shown with its type, so that it differs.
	switch x := v.(type) {
	case []byte:
		if k == schema.KindBytes || k == schema.KindGeometry {
			return string(x)
		}
	case int32:
		if k == schema.KindDate {
			return time.Unix(int64(x)*86400, 0).UTC().Format("2006-01-02")
		}
	case int64:
		if k == schema.KindTimestamp || k == schema.KindTimestampTZ {
			return time.UnixMicro(x).UTC().Format("2006-01-02 15:04:05.999999")
		}
	}
	switch k {
	case schema.KindBytes, schema.KindGeometry, schema.KindDate, schema.KindTimestamp, schema.KindTimestampTZ:
		return fmt.Sprintf("%T %v", v, v)
	}
	switch f := v.(type) {
	case float32:
		return strconv.FormatFloat(float64(f), 'g', -1, 64)
	case float64:
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// normalize drops trailing fractional zeros of a datetime text, which the
// text protocol pads to the column's precision.
func normalize(v any) any {
	s, ok := v.(string)
	if ok && len(s) >= 19 && s[4] == '-' && s[10] == ' ' && strings.Contains(s, ".") {
		return strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return v
}

// Source is a source table read as text.
type Source struct {
	Rows    map[string]map[string]any // key text -> column -> text or nil
	Columns []string
	Key     []string
}

// ReadSource reads a whole source table over the text protocol, each
// value in the form Text gives the same value read from Kafka or the lake:
// where the protocol's text is lossy or another format, the query converts
// it (FLOAT and DOUBLE as DOUBLE, whose text is exact; BIT and YEAR as
// numbers; TIME as microseconds; geometry as OGC WKB), and zero dates read
// as NULL, as the reader maps them (docs/types-mysql.md).
func ReadSource(conn *client.Conn, id schema.TableID) (*Source, error) {
	s := &Source{Rows: map[string]map[string]any{}}
	res, err := conn.Execute("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", id.Database, id.Name)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", id, err)
	}
	var types []string
	for i := range res.RowNumber() {
		c, _ := res.GetString(i, 0)
		dt, _ := res.GetString(i, 1)
		s.Columns = append(s.Columns, c)
		types = append(types, strings.ToLower(dt))
	}
	res, err = conn.Execute("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX", id.Database, id.Name)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", id, err)
	}
	for i := range res.RowNumber() {
		c, _ := res.GetString(i, 0)
		s.Key = append(s.Key, c)
	}
	exprs := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		exprs[i] = sourceExpr("`"+strings.ReplaceAll(c, "`", "``")+"`", types[i])
	}
	res, err = conn.Execute(fmt.Sprintf("SELECT %s FROM `%s`.`%s`", strings.Join(exprs, ","), id.Database, id.Name))
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", id, err)
	}
	for i := range res.RowNumber() {
		row := map[string]any{}
		for j, c := range s.Columns {
			if null, _ := res.IsNull(i, j); null {
				row[c] = nil
				continue
			}
			v, _ := res.GetString(i, j)
			row[c] = sourceText(v, types[j])
		}
		s.Rows[rowKey(row, s.Key)] = row
	}
	return s, nil
}

// sourceExpr returns the expression ReadSource selects for a column of a
// data type.
func sourceExpr(col, dataType string) string {
	switch dataType {
	case "float", "double":
		// DOUBLE too: a column with a display scale (DOUBLE(10,2)) shows
		// its values rounded to it.
		return "CAST(" + col + " AS DOUBLE)"
	case "bit", "year":
		return "CAST(" + col + " AS UNSIGNED)"
	case "time":
		return "CAST(TIME_TO_SEC(" + col + ")*1000000 AS SIGNED)"
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return "ST_AsBinary(" + col + ")"
	}
	return col
}

// sourceText returns the text of a value ReadSource read, or nil for a
// zero date.
func sourceText(v, dataType string) any {
	switch dataType {
	case "float", "double":
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	case "date", "datetime", "timestamp":
		// A zero date, or one with a zero month or day: yyyy-mm-dd...
		if len(v) >= 10 && (v[5:7] == "00" || v[8:10] == "00") {
			return nil
		}
	}
	return v
}

func rowKey(m map[string]any, key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = fmt.Sprint(normalize(m[k]))
	}
	return strings.Join(parts, "\x00")
}

// Result is the comparison of one table.
type Result struct {
	Table                     schema.TableID
	SourceRows, KafkaRows     int
	Missing, Extra, Differing int
	SourceSum, KafkaSum       uint64
	Changes, Reads            int
	// Details describes the first differences and every history problem.
	Details []string
}

// Equal reports whether the topic equals the table with a clean history.
func (r *Result) Equal() bool {
	return r.Missing+r.Extra+r.Differing == 0 && r.SourceSum == r.KafkaSum && len(r.Details) == 0
}

func (r *Result) String() string {
	return fmt.Sprintf("%s: source %d rows (sum %016x), kafka %d rows (sum %016x): %d missing, %d extra, %d differing; %d changes, %d snapshot reads",
		r.Table, r.SourceRows, r.SourceSum, r.KafkaRows, r.KafkaSum, r.Missing, r.Extra, r.Differing, r.Changes, r.Reads)
}

// Compare reads a table and its topic and compares them row by row over the
// source's current columns.
func Compare(ctx context.Context, conn *client.Conn, brokers []string, prefix string, id schema.TableID) (*Result, error) {
	schemas, err := ReadSchemas(ctx, brokers, prefix)
	if err != nil {
		return nil, err
	}
	topic, err := Fold(ctx, brokers, prefix, id, schemas)
	if err != nil {
		return nil, err
	}
	src, err := ReadSource(conn, id)
	if err != nil {
		return nil, err
	}
	res := &Result{Table: id, SourceRows: len(src.Rows), Changes: topic.Changes, Reads: topic.Reads, Details: topic.Problems}
	kafkaRows := map[string]map[string]any{}
	for _, row := range topic.Rows {
		kafkaRows[rowKey(row, src.Key)] = row
	}
	res.KafkaRows = len(kafkaRows)
	detail := func(format string, args ...any) {
		if len(res.Details) < 10 {
			res.Details = append(res.Details, fmt.Sprintf(format, args...))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(src.Rows)) {
		want := src.Rows[k]
		res.SourceSum += rowSum(want, src.Columns)
		got, ok := kafkaRows[k]
		if !ok {
			res.Missing++
			detail("row %q is in the source but not in Kafka", k)
			continue
		}
		for _, c := range src.Columns {
			g, has := got[c]
			if w := normalize(want[c]); !has || w != normalize(g) {
				res.Differing++
				detail("row %q column %s: source %v, kafka %v (present %v)", k, c, w, g, has)
				break
			}
		}
	}
	for k, row := range kafkaRows {
		res.KafkaSum += rowSum(row, src.Columns)
		if _, ok := src.Rows[k]; !ok {
			res.Extra++
			detail("row %q is in Kafka but not in the source", k)
		}
	}
	return res, nil
}

// rowSum hashes a row's columns; the table checksum is the sum over rows,
// independent of order.
func rowSum(row map[string]any, cols []string) uint64 {
	h := fnv.New64a()
	for _, c := range cols {
		fmt.Fprintf(h, "%v\x00", normalize(row[c]))
	}
	return h.Sum64()
}
