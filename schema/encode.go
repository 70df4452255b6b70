package schema

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the producer version written into each envelope's source block.
const Version = "tributary-0.1"

// TopicName returns the Kafka topic of a table: "<prefix>.<database>.<table>".
// Characters Kafka does not allow in topic names become '_'.
func TopicName(prefix string, id TableID) string {
	return sanitizeTopic(prefix) + "." + sanitizeTopic(id.Database) + "." + sanitizeTopic(id.Name)
}

// SchemaTopic returns the compacted topic holding every table schema version
// of a source.
func SchemaTopic(prefix string) string { return sanitizeTopic(prefix) + "._schemas" }

// SchemaKey returns the schema topic key of one table version.
func SchemaKey(id TableID, version int) string {
	return id.Database + "." + id.Name + "/" + strconv.Itoa(version)
}

func sanitizeTopic(s string) string {
	ok := func(r rune) bool {
		return r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return !ok(r) }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if ok(r) {
			return r
		}
		return '_'
	}, s)
}

// AppendKey appends the JSON key of an event: an object of the key columns,
// in key order, taken from the event's key image.
func AppendKey(b []byte, e *Event) ([]byte, error) {
	img := e.KeyImage()
	if img == nil {
		return b, fmt.Errorf("encode key %s: event %c has no image", e.Table.ID, e.Op)
	}
	return appendImage(b, e.Table, img, nil, e.Table.KeyIndex, nil)
}

// Encoder appends envelopes and keys like AppendEnvelope and AppendKey,
// reusing what repeats: the encoded source block across the events of one
// transaction and table (only the row number differs), and each table
// version's column names as JSON keys. The zero value is ready; it is not
// safe for concurrent use. Tables must not change once encoded.
type Encoder struct {
	src    Source
	table  *Table
	prefix []byte // the source block up to and including `"row":`
	txID   []byte // `,"transaction":{"id":...}` of src, empty without a TxID
	codes  map[*Table]*tableCode
}

// tableCode is what an Encoder keeps of one table version.
type tableCode struct {
	names [][]byte    // each column's name as a JSON key: `"name":`
	kinds []valueCode // how each column's values are written
}

// valueCode picks a column's writer: the common kinds skip AppendValue's
// dispatch.
type valueCode uint8

const (
	codeOther  valueCode = iota // AppendTypedValue
	codeInt                     // an int64 written as a number
	codeString                  // a string written as a JSON string
)

// maxCodes bounds the table versions an Encoder remembers.
const maxCodes = 1024

func (enc *Encoder) code(t *Table) *tableCode {
	if tc := enc.codes[t]; tc != nil {
		return tc
	}
	if enc.codes == nil || len(enc.codes) >= maxCodes {
		enc.codes = map[*Table]*tableCode{}
	}
	tc := &tableCode{names: make([][]byte, len(t.Columns)), kinds: make([]valueCode, len(t.Columns))}
	for i, c := range t.Columns {
		tc.names[i] = append(appendString(nil, c.Name), ':')
		switch c.Type.Kind {
		case KindInt8, KindInt16, KindInt32, KindInt64, KindTime, KindTimestamp:
			tc.kinds[i] = codeInt
		case KindDecimal, KindString, KindJSON, KindEnum, KindSet, KindUUID, KindTimeTZ, KindInet, KindMACAddr, KindVarBit:
			tc.kinds[i] = codeString
		}
	}
	enc.codes[t] = tc
	return tc
}

// AppendEnvelope is the package's AppendEnvelope with the cache.
func (enc *Encoder) AppendEnvelope(b []byte, e *Event, now time.Time) ([]byte, error) {
	return appendEnvelope(b, e, now, enc)
}

// AppendKey is the package's AppendKey with the cache.
func (enc *Encoder) AppendKey(b []byte, e *Event) ([]byte, error) {
	img := e.KeyImage()
	if img == nil {
		return b, fmt.Errorf("encode key %s: event %c has no image", e.Table.ID, e.Op)
	}
	return appendImage(b, e.Table, img, nil, e.Table.KeyIndex, enc.code(e.Table))
}

// AppendEnvelope appends the Debezium-compatible JSON value of an event:
//
//	{"before":{...},"after":{...},"source":{...},"op":"u","ts_ms":...}
//
// The source block adds "schema_version", "row" and, for Postgres TOAST,
// "unchanged" (the columns whose value was not sent) to Debezium's fields.
// now is the processing time written as ts_ms.
func AppendEnvelope(b []byte, e *Event, now time.Time) ([]byte, error) {
	return appendEnvelope(b, e, now, nil)
}

func appendEnvelope(b []byte, e *Event, now time.Time, enc *Encoder) ([]byte, error) {
	var err error
	var tc *tableCode
	if enc != nil {
		tc = enc.code(e.Table)
	}
	b = append(b, `{"before":`...)
	if b, err = appendImage(b, e.Table, e.Before, nil, nil, tc); err != nil {
		return b, err
	}
	b = append(b, `,"after":`...)
	if b, err = appendImage(b, e.Table, e.After, e.Unchanged, nil, tc); err != nil {
		return b, err
	}
	b = appendSource(b, e, enc)
	b = append(b, `,"op":"`...)
	b = append(b, byte(e.Op))
	b = append(b, `","ts_ms":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	switch {
	case enc != nil:
		b = append(b, enc.txID...) // set by appendSource
	case e.Source.TxID != "":
		b = appendTxID(b, e.Source.TxID)
	}
	return append(b, '}'), nil
}

func appendTxID(b []byte, id string) []byte {
	b = append(b, `,"transaction":{"id":`...)
	b = appendString(b, id)
	return append(b, '}')
}

func appendSource(b []byte, e *Event, enc *Encoder) []byte {
	if enc == nil {
		b = appendSourcePrefix(b, e)
	} else {
		key := e.Source
		key.Row = 0
		if enc.prefix == nil || enc.table != e.Table || enc.src != key {
			enc.src, enc.table = key, e.Table
			enc.prefix = appendSourcePrefix(enc.prefix[:0], e)
			enc.txID = enc.txID[:0]
			if key.TxID != "" {
				enc.txID = appendTxID(enc.txID, key.TxID)
			}
		}
		b = append(b, enc.prefix...)
	}
	b = strconv.AppendInt(b, int64(e.Source.Row), 10)
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, int64(e.Table.Version), 10)
	if e.Unchanged != nil {
		b = append(b, `,"unchanged":[`...)
		n := 0
		for i, u := range e.Unchanged {
			if u {
				if n > 0 {
					b = append(b, ',')
				}
				b = appendString(b, e.Table.Columns[i].Name)
				n++
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendSourcePrefix appends the source block up to the row number: the
// part shared by every row of a transaction.
func appendSourcePrefix(b []byte, e *Event) []byte {
	s := &e.Source
	b = append(b, `,"source":{"version":"`+Version+`","connector":`...)
	b = appendString(b, s.Connector)
	b = append(b, `,"name":`...)
	b = appendString(b, s.Name)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, s.CommitTime.UnixMilli(), 10)
	if s.Snapshot {
		b = append(b, `,"snapshot":"true"`...)
	} else {
		b = append(b, `,"snapshot":"false"`...)
	}
	b = append(b, `,"db":`...)
	b = appendString(b, e.Table.ID.Database)
	b = append(b, `,"table":`...)
	b = appendString(b, e.Table.ID.Name)
	if s.Connector == "mysql" {
		b = append(b, `,"server_id":`...)
		b = strconv.AppendUint(b, uint64(s.ServerID), 10)
		if s.GTID != "" {
			b = append(b, `,"gtid":`...)
			b = appendString(b, s.GTID)
		}
		b = append(b, `,"file":`...)
		b = appendString(b, s.File)
		b = append(b, `,"pos":`...)
		b = strconv.AppendUint(b, s.Pos, 10)
	} else {
		b = append(b, `,"lsn":`...)
		b = strconv.AppendUint(b, s.LSN, 10)
		if s.TxID != "" {
			b = append(b, `,"txId":`...)
			b = appendString(b, s.TxID)
		}
	}
	return append(b, `,"row":`...)
}

// appendImage appends an image as a JSON object, or null. When only is not
// nil it lists the column positions to write; unchanged columns are left out.
// tc, when not nil, holds the table's encoded names and value writers.
func appendImage(b []byte, t *Table, img []any, unchanged []bool, only []int, tc *tableCode) ([]byte, error) {
	if img == nil {
		return append(b, "null"...), nil
	}
	if len(img) != len(t.Columns) {
		return b, fmt.Errorf("encode %s v%d: image has %d values for %d columns", t.ID, t.Version, len(img), len(t.Columns))
	}
	b = append(b, '{')
	n := len(img)
	if only != nil {
		n = len(only)
	}
	first := true
	for j := range n {
		i := j
		if only != nil {
			i = only[j]
		}
		if unchanged != nil && unchanged[i] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		var err error
		if tc == nil {
			b = append(appendString(b, t.Columns[i].Name), ':')
			b, err = AppendTypedValue(b, t.Columns[i].Type, img[i])
		} else {
			b = append(b, tc.names[i]...)
			b, err = appendCoded(b, tc.kinds[i], t.Columns[i].Type, img[i])
		}
		if err != nil {
			return b, fmt.Errorf("encode %s.%s: %w", t.ID, t.Columns[i].Name, err)
		}
	}
	return append(b, '}'), nil
}

// appendCoded is AppendTypedValue with the common kinds first.
func appendCoded(b []byte, code valueCode, t Type, v any) ([]byte, error) {
	switch code {
	case codeInt:
		if x, ok := v.(int64); ok {
			return strconv.AppendInt(b, x, 10), nil
		}
	case codeString:
		if x, ok := v.(string); ok {
			return appendString(b, x), nil
		}
	}
	return AppendTypedValue(b, t, v)
}

// AppendValue appends the JSON form of one value of the given kind. A nil
// value is null. It fails when the Go type does not match the kind.
func AppendValue(b []byte, k Kind, v any) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	switch k {
	case KindBool:
		if x, ok := v.(bool); ok {
			return strconv.AppendBool(b, x), nil
		}
	case KindInt8, KindInt16, KindInt32, KindInt64, KindTime, KindTimestamp:
		if x, ok := v.(int64); ok {
			return strconv.AppendInt(b, x, 10), nil
		}
	case KindDate:
		if x, ok := v.(int32); ok {
			return strconv.AppendInt(b, int64(x), 10), nil
		}
	case KindUint64, KindBit:
		if x, ok := v.(uint64); ok {
			return strconv.AppendUint(b, x, 10), nil
		}
	case KindFloat32:
		if x, ok := v.(float32); ok {
			return appendFloat(b, float64(x), 32), nil
		}
	case KindFloat64:
		if x, ok := v.(float64); ok {
			return appendFloat(b, x, 64), nil
		}
	case KindDecimal, KindString, KindJSON, KindEnum, KindSet, KindUUID:
		if x, ok := v.(string); ok {
			return appendString(b, x), nil
		}
	case KindBytes, KindGeometry:
		if x, ok := v.([]byte); ok {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, x)
			return append(b, '"'), nil
		}
	case KindTimestampTZ:
		if x, ok := v.(int64); ok {
			b = append(b, '"')
			b = time.UnixMicro(x).UTC().AppendFormat(b, "2006-01-02T15:04:05.999999Z")
			return append(b, '"'), nil
		}
	case KindTimeTZ, KindInet, KindMACAddr, KindVarBit:
		if x, ok := v.(string); ok {
			return appendString(b, x), nil
		}
	case KindInterval:
		if x, ok := v.(Interval); ok {
			return appendString(b, x.String()), nil
		}
	case KindMap:
		if x, ok := v.(map[string]any); ok {
			return appendMap(b, x)
		}
	case KindArray:
		return b, fmt.Errorf("kind array needs its element type: use AppendTypedValue")
	default:
		return b, fmt.Errorf("unknown kind %q", k)
	}
	return b, fmt.Errorf("kind %s cannot hold %T", k, v)
}

// AppendTypedValue appends the JSON form of one value of type t: like
// AppendValue, and also for arrays, whose elements take the form of t.Elem.
// A []any inside an array value is a further dimension.
func AppendTypedValue(b []byte, t Type, v any) ([]byte, error) {
	if t.Kind != KindArray || v == nil {
		return AppendValue(b, t.Kind, v)
	}
	if t.Elem == nil || t.Elem.Kind == KindArray {
		return b, fmt.Errorf("array type %s: want a non-array element type", t)
	}
	return appendArray(b, *t.Elem, v)
}

func appendArray(b []byte, elem Type, v any) ([]byte, error) {
	items, ok := v.([]any)
	if !ok {
		return b, fmt.Errorf("kind array cannot hold %T", v)
	}
	b = append(b, '[')
	for i, x := range items {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if _, nested := x.([]any); nested {
			b, err = appendArray(b, elem, x)
		} else {
			b, err = AppendValue(b, elem.Kind, x)
		}
		if err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// appendMap appends a map of string or nil values as a JSON object with
// sorted keys.
func appendMap(b []byte, m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch x := m[k].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendString(b, x)
		default:
			return b, fmt.Errorf("kind map cannot hold a %T value", x)
		}
	}
	return append(b, '}'), nil
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load64 returns the first eight bytes of s, little-endian, in one load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainBits reports whether the eight bytes of w are all plain: ASCII, not
// a control character, not '"' or '\\'. It and load64 are small enough to
// inline into appendString's loop (a call per word, as one function, took
// half of appendString's time).
func plainBits(w uint64) bool {
	// A byte at or above 0x80, below 0x20, or equal to '"' or '\\' sets
	// its top bit in one of these (the classic "has less" and "has zero"
	// tricks; exact when no byte has its top bit set, checked by w itself).
	less := (w - 0x20*lsb) &^ w
	quote := hasZero(w ^ '"'*lsb)
	back := hasZero(w ^ '\\'*lsb)
	return (w|less|quote|back)&msb == 0
}

func hasZero(v uint64) uint64 { return (v - lsb) &^ v }

// plain marks the ASCII bytes a JSON string holds as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; readers convert source text to UTF-8 before this.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip eight plain ASCII bytes at a time.
		for i+8 <= len(s) && plainBits(load64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
