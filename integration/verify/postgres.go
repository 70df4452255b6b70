package verify

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/schema"
)

// This file compares what the PostgreSQL reader published with the
// source. Kafka values are rendered back into the text Postgres itself
// writes (with the session settings below), and compared with the source
// table read as text: a check of the reader's decoding against the
// server's own output, independent of the reader's code.

// pgSession are the settings of the comparison's connection; they match
// the reader's, so both sides print values alike.
var pgSession = []string{
	"SET DateStyle = 'ISO, YMD'", "SET IntervalStyle = 'iso_8601'", "SET TimeZone = 'UTC'",
	"SET extra_float_digits = 3", "SET bytea_output = 'hex'", "SET lc_monetary = 'C'",
}

// pgChange is one change event of a topic, in source order.
type pgChange struct {
	lsn       uint64
	row       int
	op        schema.Op
	key       string
	part      int32
	offset    int64
	env       *schema.Envelope
	sch       *schema.Table
	unchanged []string
}

// FoldPostgres reads a table topic written by the PostgreSQL reader
// (read_committed) and replays it into rows, in source order: by commit
// LSN, then row within the transaction, then Kafka position. Each row maps
// column names to the value rendered as Postgres text (nil for NULL).
//
// An update's unchanged TOAST columns keep the row's value; a create's
// (a key change under REPLICA IDENTITY DEFAULT) take the value of the row
// its transaction deleted at the same row number. It reports a change
// that appears twice, a key whose changes go back in LSN, and a row left
// with an unchanged column whose value it never saw.
func FoldPostgres(ctx context.Context, brokers []string, prefix string, id schema.TableID, schemas Schemas) (*Topic, error) {
	var changes []*pgChange
	err := kafka.ReadTopic(ctx, brokers, nil, schema.TopicName(prefix, id), func(r *kgo.Record) error {
		if r.Value == nil {
			return nil // tombstone
		}
		env, err := schema.DecodeEnvelope(r.Value, schemas.Lookup)
		if err != nil {
			return fmt.Errorf("%s offset %d: %w", id, r.Offset, err)
		}
		sch, _ := schemas.Lookup(id, env.SchemaVersion)
		lsn, _ := strconv.ParseUint(fmt.Sprint(env.Source["lsn"]), 10, 64)
		row, _ := strconv.Atoi(fmt.Sprint(env.Source["row"]))
		changes = append(changes, &pgChange{lsn: lsn, row: row, op: env.Op, key: string(r.Key), part: r.Partition, offset: r.Offset, env: env, sch: sch, unchanged: env.Unchanged})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Snapshot reads and resync markers carry the LSN of the transaction
	// they were published after: they follow its changes, a resync's
	// reads between its begin and end markers.
	orderChanges(changes)
	return replay(changes), nil
}

// orderChanges sorts changes in source order.
func orderChanges(changes []*pgChange) {
	opRank := map[schema.Op]int{schema.OpTruncate: 0, schema.OpDelete: 1, schema.OpCreate: 2, schema.OpUpdate: 2, schema.OpRead: 3}
	slices.SortStableFunc(changes, func(a, b *pgChange) int {
		return cmp.Or(cmp.Compare(a.lsn, b.lsn), cmp.Compare(phase(a), phase(b)), cmp.Compare(a.row, b.row),
			cmp.Compare(opRank[a.op], opRank[b.op]), cmp.Compare(a.part, b.part), cmp.Compare(a.offset, b.offset))
	})
}

// phase orders what shares an LSN: the transaction's changes, then resync
// begin markers, snapshot reads, and resync end markers.
func phase(c *pgChange) int {
	switch c.op {
	case schema.OpResyncBegin:
		return 1
	case schema.OpRead:
		return 2
	case schema.OpResyncEnd:
		return 3
	}
	return 0
}

// replay applies changes in order; see FoldPostgres.
func replay(changes []*pgChange) *Topic {
	out := &Topic{Rows: map[string]map[string]any{}}
	seen := map[string]bool{}
	lastLSN := map[string]uint64{}
	deleted := map[string]map[string]any{} // "lsn/row" -> the row a delete removed
	truncated := map[string]bool{}
	// resync holds the keys changed since a resync's begin marker, nil
	// when none runs; markers is the markers already applied (each is
	// sent to every partition).
	var resync map[string]bool
	markers := map[string]bool{}
	for _, c := range changes {
		at := fmt.Sprintf("%d/%d", c.lsn, c.row)
		if c.op == schema.OpResyncBegin || c.op == schema.OpResyncEnd {
			if markers[at+string(c.op)] {
				continue
			}
			markers[at+string(c.op)] = true
		}
		switch c.op {
		case schema.OpTruncate:
			if !truncated[at] { // sent to every partition
				truncated[at] = true
				clear(out.Rows)
				resync = nil
			}
			continue
		case schema.OpResyncBegin:
			resync = map[string]bool{}
			continue
		case schema.OpResyncEnd:
			// Without a begin (a truncate ended the resync), nothing
			// old is left.
			for k := range out.Rows {
				if resync != nil && !resync[k] {
					delete(out.Rows, k)
				}
			}
			resync = nil
			continue
		}
		if resync != nil {
			resync[c.key] = true
		}
		switch c.op {
		case schema.OpRead:
			out.Reads++
		default:
			out.Changes++
			id := at + "/" + string(c.op) + "/" + c.key
			if seen[id] {
				out.Problems = append(out.Problems, "change appears twice: "+id)
			}
			seen[id] = true
			if c.lsn < lastLSN[c.key] {
				out.Problems = append(out.Problems, fmt.Sprintf("key %s: change at LSN %d after one at %d", c.key, c.lsn, lastLSN[c.key]))
			}
			lastLSN[c.key] = c.lsn
		}
		if c.op == schema.OpDelete {
			deleted[at] = out.Rows[c.key]
			delete(out.Rows, c.key)
			continue
		}
		row := make(map[string]any, len(c.sch.Columns))
		for i, col := range c.sch.Columns {
			row[col.Name] = PGText(col.Type, c.env.After[i])
		}
		prev := out.Rows[c.key]
		if c.op == schema.OpCreate {
			prev = deleted[at]
		}
		for _, name := range c.unchanged {
			row[name] = unknownValue{}
			if prev != nil {
				row[name] = prev[name]
			}
		}
		out.Rows[c.key] = row
	}
	// A change that comes before its row's snapshot read may keep a value
	// it never saw; the read brings it. One still missing at the end is
	// an error.
	for key, row := range out.Rows {
		for name, v := range row {
			if v == (unknownValue{}) {
				out.Problems = append(out.Problems, fmt.Sprintf("key %s: column %s was published as unchanged and no earlier value is known", key, name))
			}
		}
	}
	return out
}

// unknownValue stands for an unchanged TOAST value whose value the fold has
// not seen.
type unknownValue struct{}

func (unknownValue) String() string { return "<unchanged TOAST value never seen>" }

// PGText renders a decoded Kafka value as Postgres writes the value with
// the reader's session settings (floats in Go's shortest form, compared
// as numbers by ComparePostgres). nil stays nil.
func PGText(t schema.Type, v any) (text any) {
	if v == nil {
		return nil
	}
	// A value not of its kind's Go type (a lake column whose type has not
	// been replaced yet) is shown with its type, so that it differs.
	defer func() {
		if recover() != nil {
			text = fmt.Sprintf("%T %v", v, v)
		}
	}()
	switch t.Kind {
	case schema.KindBool:
		if v.(bool) {
			return "t"
		}
		return "f"
	case schema.KindFloat32:
		return pgFloat(float64(v.(float32)), 32)
	case schema.KindFloat64:
		return pgFloat(v.(float64), 64)
	case schema.KindBytes:
		return `\x` + hex.EncodeToString(v.([]byte))
	case schema.KindDate:
		return pgDate(v.(int32))
	case schema.KindTime:
		return pgClock(v.(int64))
	case schema.KindTimestamp, schema.KindTimestampTZ:
		return pgTimestamp(v.(int64), t.Kind == schema.KindTimestampTZ)
	case schema.KindBit:
		s := strconv.FormatUint(v.(uint64), 2)
		return strings.Repeat("0", max(0, t.Precision-len(s))) + s
	case schema.KindInterval:
		return v.(schema.Interval).String()
	case schema.KindArray:
		return pgArray(*t.Elem, v.([]any))
	case schema.KindMap:
		return pgHstore(v.(map[string]any))
	}
	return fmt.Sprint(v)
}

func pgDate(d int32) string {
	switch d {
	case 1<<31 - 1:
		return "infinity"
	case -1 << 31:
		return "-infinity"
	}
	return pgDay(time.Unix(int64(d)*86400, 0).UTC())
}

// pgDay writes a date with Postgres's BC convention.
func pgDay(t time.Time) string {
	y, bc := t.Year(), ""
	if y <= 0 {
		y, bc = 1-y, " BC"
	}
	return fmt.Sprintf("%04d-%02d-%02d%s", y, t.Month(), t.Day(), bc)
}

func pgClock(us int64) string {
	s := fmt.Sprintf("%02d:%02d:%02d", us/3_600_000_000, us/60_000_000%60, us/1_000_000%60)
	if f := us % 1_000_000; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%06d", f), "0")
	}
	return s
}

func pgTimestamp(us int64, tz bool) string {
	switch us {
	case 1<<63 - 1:
		return "infinity"
	case -1 << 63:
		return "-infinity"
	}
	t := time.UnixMicro(us).UTC()
	day := pgDay(t)
	date, bc := strings.CutSuffix(day, " BC")
	tod := int64(t.Hour())*3_600_000_000 + int64(t.Minute())*60_000_000 + int64(t.Second())*1_000_000 + int64(t.Nanosecond()/1000)
	s := date + " " + pgClock(tod)
	if tz {
		s += "+00"
	}
	if bc {
		s += " BC"
	}
	return s
}

// pgArray writes an array as array_out does: elements quoted when empty,
// NULL-like, or holding a delimiter, brace, quote, backslash or space.
// pgFloat writes a float in Go's shortest form, and its infinities as
// Postgres spells them (Go writes "+Inf").
func pgFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func pgArray(elem schema.Type, items []any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		switch x := x.(type) {
		case nil:
			b.WriteString("NULL")
		case []any:
			b.WriteString(pgArray(elem, x))
		default:
			b.WriteString(quoteArrayElem(fmt.Sprint(PGText(elem, x))))
		}
	}
	b.WriteByte('}')
	return b.String()
}

func quoteArrayElem(s string) string {
	if s != "" && !strings.EqualFold(s, "NULL") && !strings.ContainsAny(s, "{},\"\\ \t\n\r\v\f") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// pgHstore writes an hstore as hstore_out does: pairs ordered by key
// length, then key bytes.
func pgHstore(m map[string]any) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := "NULL"
		if s, ok := m[k].(string); ok {
			v = `"` + q.Replace(s) + `"`
		}
		parts[i] = `"` + q.Replace(k) + `"=>` + v
	}
	return strings.Join(parts, ", ")
}

// PGSource is a Postgres table read as text.
type PGSource struct {
	Rows    map[string]map[string]any // key text -> column -> text or nil
	Columns []string
	Key     []string
}

// ReadPostgres reads a whole table as text with the reader's session
// settings; money is read as numeric, the form the reader publishes, and
// generated columns, which the reader leaves out, are left out.
func ReadPostgres(ctx context.Context, conn *pgx.Conn, id schema.TableID) (*PGSource, error) {
	for _, s := range pgSession {
		if _, err := conn.Exec(ctx, s); err != nil {
			return nil, err
		}
	}
	src := &PGSource{Rows: map[string]map[string]any{}}
	table := pgx.Identifier{id.Database, id.Name}.Sanitize()
	rows, err := conn.Query(ctx, `SELECT a.attname, a.atttypid = 'money'::regtype FROM pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", id, err)
	}
	var exprs []string
	for rows.Next() {
		var name string
		var money bool
		if err := rows.Scan(&name, &money); err != nil {
			return nil, err
		}
		src.Columns = append(src.Columns, name)
		e := pgx.Identifier{name}.Sanitize()
		if money {
			e += "::numeric"
		}
		exprs = append(exprs, e)
	}
	rows.Close()
	rows, err = conn.Query(ctx, `SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(n, o)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.o`, table)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", id, err)
	}
	src.Key, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	rr := conn.PgConn().ExecParams(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+table, nil, nil, nil, nil)
	for rr.NextRow() {
		row := map[string]any{}
		for i, v := range rr.Values() {
			if v == nil {
				row[src.Columns[i]] = nil
			} else {
				row[src.Columns[i]] = string(v)
			}
		}
		src.Rows[pgRowKey(row, src.Key)] = row
	}
	if _, err := rr.Close(); err != nil {
		return nil, fmt.Errorf("select %s: %w", id, err)
	}
	return src, nil
}

func pgRowKey(m map[string]any, key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = fmt.Sprint(m[k])
	}
	return strings.Join(parts, "\x00")
}

// ComparePostgres reads a table and its topic and compares them row by
// row over the table's current columns, with the types of the topic's
// latest schema version.
func ComparePostgres(ctx context.Context, conn *pgx.Conn, brokers []string, prefix string, id schema.TableID) (*Result, error) {
	schemas, err := ReadSchemas(ctx, brokers, prefix)
	if err != nil {
		return nil, err
	}
	topic, err := FoldPostgres(ctx, brokers, prefix, id, schemas)
	if err != nil {
		return nil, err
	}
	src, err := ReadPostgres(ctx, conn, id)
	if err != nil {
		return nil, err
	}
	kinds := map[string]schema.Kind{}
	for v := 1; ; v++ {
		t, err := schemas.Lookup(id, v)
		if err != nil {
			break
		}
		for _, c := range t.Columns {
			kinds[c.Name] = c.Type.Kind
		}
	}
	res := &Result{Table: id, SourceRows: len(src.Rows), Changes: topic.Changes, Reads: topic.Reads, Details: topic.Problems}
	kafkaRows := map[string]map[string]any{}
	for _, row := range topic.Rows {
		kafkaRows[pgRowKey(row, src.Key)] = row
	}
	res.KafkaRows = len(kafkaRows)
	detail := func(format string, args ...any) {
		if len(res.Details) < 10 {
			res.Details = append(res.Details, fmt.Sprintf(format, args...))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(src.Rows)) {
		want := src.Rows[k]
		res.SourceSum += pgRowSum(want, src.Columns, kinds)
		got, ok := kafkaRows[k]
		if !ok {
			res.Missing++
			detail("row %q is in the source but not in Kafka", k)
			continue
		}
		for _, c := range src.Columns {
			g, has := got[c]
			if !has || !pgEqual(kinds[c], want[c], g) {
				res.Differing++
				detail("row %q column %s: source %v, kafka %v (present %v)", k, c, want[c], g, has)
				break
			}
		}
	}
	for k, row := range kafkaRows {
		res.KafkaSum += pgRowSum(row, src.Columns, kinds)
		if _, ok := src.Rows[k]; !ok {
			res.Extra++
			detail("row %q is in Kafka but not in the source", k)
		}
	}
	return res, nil
}

// pgEqual compares a source text with a rendered Kafka value: floats as
// numbers, timetz offsets in either spelling, arrays without their
// explicit bounds (which the reader does not keep).
func pgEqual(k schema.Kind, src, kafka any) bool {
	if src == nil || kafka == nil {
		return src == nil && kafka == nil
	}
	s, ok1 := src.(string)
	g, ok2 := kafka.(string)
	if !ok1 || !ok2 {
		return false
	}
	switch k {
	case schema.KindFloat32, schema.KindFloat64:
		a, err1 := strconv.ParseFloat(s, 64)
		b, err2 := strconv.ParseFloat(g, 64)
		return err1 == nil && err2 == nil && (a == b || a != a && b != b)
	case schema.KindTimeTZ:
		return trimOffset(s) == trimOffset(g)
	case schema.KindArray:
		if strings.HasPrefix(s, "[") {
			s = s[strings.IndexByte(s, '=')+1:]
		}
	}
	return s == g
}

// trimOffset drops the zero minutes and seconds of a timetz's offset:
// Postgres writes "+00", the reader "+00:00".
func trimOffset(s string) string {
	i := strings.LastIndexAny(s, "+-")
	if i < 0 {
		return s
	}
	off := s[i:]
	for strings.HasSuffix(off, ":00") {
		off = strings.TrimSuffix(off, ":00")
	}
	return s[:i] + off
}

// pgRowSum hashes a row's columns with floats in a canonical form; the
// table checksum is the sum over rows, independent of order.
func pgRowSum(row map[string]any, cols []string, kinds map[string]schema.Kind) uint64 {
	h := fnv.New64a()
	for _, c := range cols {
		v := row[c]
		if s, ok := v.(string); ok {
			switch kinds[c] {
			case schema.KindFloat32, schema.KindFloat64:
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					v = strconv.FormatFloat(f, 'g', -1, 64)
				}
			case schema.KindTimeTZ:
				v = trimOffset(s)
			case schema.KindArray:
				if strings.HasPrefix(s, "[") {
					v = s[strings.IndexByte(s, '=')+1:]
				}
			}
		}
		fmt.Fprintf(h, "%v\x00", v)
	}
	return h.Sum64()
}

// WaitCaughtUpPostgres waits until a PostgreSQL reader's committed
// checkpoint has passed the server's WAL position as of the call, with
// every snapshot done.
func WaitCaughtUpPostgres(ctx context.Context, conn *pgx.Conn, brokers []string, prefix, name string, timeout time.Duration) error {
	var target string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		return err
	}
	want, err := parseLSN(target)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	why := "no checkpoint yet"
	for time.Now().Before(deadline) {
		cp, err := Checkpoint(ctx, brokers, prefix, name)
		if err != nil {
			return err
		}
		if cp != nil {
			at, _ := parseLSN(fmt.Sprint(cp["lsn"]))
			why = fmt.Sprintf("checkpoint at %v, server was at %s", cp["lsn"], target)
			if at >= want {
				pending := pendingSnapshots(cp)
				if pending == "" {
					return nil
				}
				why = "snapshots pending: " + pending
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("reader did not catch up in %v: %s", timeout, why)
}

func pendingSnapshots(cp map[string]any) string {
	pending := ""
	tables, _ := cp["tables"].(map[string]any)
	for name, st := range tables {
		if s := st.(map[string]any)["snapshot"]; s != "done" {
			pending += name + "=" + fmt.Sprint(s) + " "
		}
	}
	return pending
}

func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	a, err1 := strconv.ParseUint(hi, 16, 32)
	b, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	return a<<32 | b, nil
}
