package compactor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/schema"
)

// The envelope is the compactor's hot path: encoding/json spends most of
// its time on reflection and on validating the images twice. scanEnvelope
// walks the value once and hands each column value to schema's own
// decoders; anything it does not expect falls back to encoding/json, whose
// errors are the ones reported.

var errScan = errors.New("unexpected JSON")

// jsonScanner walks one JSON value.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns its raw content (between the quotes) and
// whether it holds escapes.
func (s *jsonScanner) str() (raw []byte, escaped bool, err error) {
	if !s.consume('"') {
		return nil, false, errScan
	}
	start := s.i
	if n := bytes.IndexByte(s.b[start:], '"'); n >= 0 && bytes.IndexByte(s.b[start:start+n], '\\') < 0 {
		s.i = start + n + 1
		return s.b[start : start+n], false, nil
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, nil
		case '\\':
			escaped = true
			s.i += 2
			continue
		}
		s.i++
	}
	return nil, false, errScan
}

// text reads a string value as Go text.
func (s *jsonScanner) text() (string, error) {
	start := s.i
	raw, esc, err := s.str()
	if err != nil {
		return "", err
	}
	if !esc && utf8.Valid(raw) {
		return string(raw), nil
	}
	var out string
	err = json.Unmarshal(s.b[start:s.i], &out)
	return out, err
}

// skip moves past one value and returns its bytes.
func (s *jsonScanner) skip() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil, errScan
	}
	switch s.b[s.i] {
	case '"':
		if _, _, err := s.str(); err != nil {
			return nil, err
		}
		return s.b[start:s.i], nil
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, err := s.str(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i], nil
				}
			}
			s.i++
		}
		return nil, errScan
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.b[start:s.i], nil
		}
		s.i++
	}
	return s.b[start:s.i], nil
}

// object calls fn for each key of an object; fn must read the value.
func (s *jsonScanner) object(fn func(key []byte) error) error {
	if !s.consume('{') {
		return errScan
	}
	if s.consume('}') {
		return nil
	}
	for {
		key, esc, err := s.str()
		if err != nil || esc || !s.consume(':') {
			return errScan
		}
		s.ws()
		if err := fn(key); err != nil {
			return err
		}
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return errScan
		}
	}
}

// scanEnvelope decodes an envelope like decodeEnvelope, faster.
func scanEnvelope(value []byte) (*envelope, error) {
	return new(envelopeScanner).scan(value)
}

// envelopeScanner decodes one envelope after another and reuses its
// memory: the envelope scan returns is valid until the next call. Source
// fields that repeat the previous envelope's (database, table, GTID, binlog
// file) share its strings.
type envelopeScanner struct {
	env                   envelope
	s                     jsonScanner
	db, table, gtid, file string
}

func (es *envelopeScanner) scan(value []byte) (*envelope, error) {
	es.env = envelope{}
	e := &es.env
	es.s = jsonScanner{b: value}
	s := &es.s
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "before":
			e.Before, err = s.skip()
		case "after":
			e.After, err = s.skip()
		case "op":
			e.Op, err = s.text()
		case "source":
			err = es.source(e)
		default:
			_, err = s.skip()
		}
		return err
	})
	if err != nil || len(e.Op) != 1 {
		return decodeEnvelope(value)
	}
	return e, nil
}

func (es *envelopeScanner) source(e *envelope) error {
	src := &e.Source
	s := &es.s
	return s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "ts_ms":
			src.TsMs, err = s.int()
		case "schema_version":
			var v int64
			v, err = s.int()
			src.Version = int(v)
		case "db":
			src.DB, err = s.textLike(&es.db)
		case "table":
			src.Table, err = s.textLike(&es.table)
		case "gtid":
			src.GTID, err = s.textLike(&es.gtid)
		case "file":
			src.File, err = s.textLike(&es.file)
		case "pos":
			src.Pos, err = s.number()
		case "lsn":
			src.LSN, err = s.number()
		case "row":
			src.Row, err = s.number()
		case "unchanged":
			var raw []byte
			if raw, err = s.skip(); err == nil {
				err = json.Unmarshal(raw, &src.Unchanged)
			}
		default:
			_, err = s.skip()
		}
		return err
	})
}

// textLike reads a string value like text, and returns *last instead of a
// new string when the value equals it; otherwise it sets *last.
func (s *jsonScanner) textLike(last *string) (string, error) {
	start := s.i
	raw, esc, err := s.str()
	if err != nil {
		return "", err
	}
	if !esc && string(raw) == *last {
		return *last, nil
	}
	s.i = start
	if *last, err = s.text(); err != nil {
		return "", err
	}
	return *last, nil
}

// number reads a number literal; null reads as nil.
func (s *jsonScanner) number() (rawNumber, error) {
	raw, err := s.skip()
	if err != nil {
		return nil, err
	}
	if string(raw) == "null" {
		return nil, nil
	}
	if !isNumber(raw) {
		return nil, errScan
	}
	return rawNumber(raw), nil
}

func (s *jsonScanner) int() (int64, error) {
	n, err := s.number()
	if err != nil || n == nil {
		return 0, err
	}
	return parseInt(n)
}

// parseInt parses a decimal integer like strconv.ParseInt(string(b), 10,
// 64), without the copy.
func parseInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// tableCodec is what scanImage needs of one schema version: the
// positions of its column names, and how each column's values decode.
type tableCodec struct {
	names map[string]int
	kinds []valueKind
}

// valueKind says how scanImage decodes a column's values.
type valueKind uint8

const (
	valueOther  valueKind = iota // schema.DecodeTypedValue
	valueString                  // JSON text, taken as is when it has no escapes
	valueInt64                   // a number, as int64
	valueDate                    // a number, as int32
)

// valueKinds gives the kinds scanImage decodes itself.
var valueKinds = map[schema.Kind]valueKind{
	schema.KindString: valueString, schema.KindDecimal: valueString, schema.KindJSON: valueString, schema.KindEnum: valueString,
	schema.KindSet: valueString, schema.KindUUID: valueString, schema.KindTimeTZ: valueString, schema.KindInet: valueString,
	schema.KindMACAddr: valueString, schema.KindVarBit: valueString,
	schema.KindInt8: valueInt64, schema.KindInt16: valueInt64, schema.KindInt32: valueInt64, schema.KindInt64: valueInt64,
	schema.KindTime: valueInt64, schema.KindTimestamp: valueInt64, schema.KindDate: valueDate,
}

// columnIndex holds the codec of each schema version.
type columnIndex map[*schema.Table]*tableCodec

func (ci columnIndex) of(t *schema.Table) *tableCodec {
	c := ci[t]
	if c == nil {
		c = &tableCodec{names: make(map[string]int, len(t.Columns)), kinds: make([]valueKind, len(t.Columns))}
		for i, col := range t.Columns {
			c.names[col.Name] = i
			c.kinds[i] = valueKinds[col.Type.Kind]
		}
		ci[t] = c
	}
	return c
}

// column returns the position of the column named key; images list
// columns in table order, so the one after prev is tried first.
func (c *tableCodec) column(t *schema.Table, key []byte, prev int) (int, bool) {
	if next := prev + 1; next < len(t.Columns) && t.Columns[next].Name == string(key) {
		return next, true
	}
	i, ok := c.names[string(key)]
	return i, ok
}

// scanImage decodes an image like schema.DecodeImage.
func scanImage(data []byte, t *schema.Table, c *tableCodec) ([]any, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	out := make([]any, len(t.Columns))
	s := &jsonScanner{b: data}
	prev := -1
	err := s.object(func(key []byte) error {
		i, ok := c.column(t, key, prev)
		if !ok {
			return fmt.Errorf("%s v%d has no column %q", t.ID, t.Version, key)
		}
		prev = i
		switch c.kinds[i] {
		case valueString:
			if s.i < len(s.b) && s.b[s.i] == '"' {
				v, err := s.text()
				out[i] = v
				return err
			}
		case valueInt64, valueDate:
			raw, err := s.skip()
			if err != nil {
				return err
			}
			if string(raw) == "null" {
				return nil
			}
			n, err := parseInt(raw)
			switch {
			case err != nil:
				// schema's decoder gives the error.
			case c.kinds[i] == valueInt64:
				out[i] = n
				return nil
			case n == int64(int32(n)):
				out[i] = int32(n)
				return nil
			}
			_, err = schema.DecodeTypedValue(t.Columns[i].Type, raw)
			if err == nil {
				err = errScan
			}
			return fmt.Errorf("column %s: %w", key, err)
		}
		raw, err := s.skip()
		if err != nil {
			return err
		}
		if out[i], err = schema.DecodeTypedValue(t.Columns[i].Type, raw); err != nil {
			return fmt.Errorf("column %s: %w", key, err)
		}
		return nil
	})
	if errors.Is(err, errScan) {
		return schema.DecodeImage(data, t)
	}
	return out, err
}
