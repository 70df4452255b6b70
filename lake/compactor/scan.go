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
	var e envelope
	s := &jsonScanner{b: value}
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
			err = s.source(&e)
		default:
			_, err = s.skip()
		}
		return err
	})
	if err != nil || len(e.Op) != 1 {
		return decodeEnvelope(value)
	}
	return &e, nil
}

func (s *jsonScanner) source(e *envelope) error {
	src := &e.Source
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
			src.DB, err = s.text()
		case "table":
			src.Table, err = s.text()
		case "gtid":
			src.GTID, err = s.text()
		case "file":
			src.File, err = s.text()
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

func (s *jsonScanner) number() (json.Number, error) {
	raw, err := s.skip()
	if err != nil || len(raw) == 0 || raw[0] == '"' || raw[0] == '{' || raw[0] == '[' {
		return "", errScan
	}
	return json.Number(raw), nil
}

func (s *jsonScanner) int() (int64, error) {
	n, err := s.number()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(n), 10, 64)
}

// columnIndex maps column names to positions, per schema version.
type columnIndex map[*schema.Table]map[string]int

func (ci columnIndex) of(t *schema.Table) map[string]int {
	m := ci[t]
	if m == nil {
		m = make(map[string]int, len(t.Columns))
		for i, c := range t.Columns {
			m[c.Name] = i
		}
		ci[t] = m
	}
	return m
}

// stringKinds are decoded straight from the JSON text when it has no
// escapes.
var stringKinds = map[schema.Kind]bool{
	schema.KindString: true, schema.KindDecimal: true, schema.KindJSON: true, schema.KindEnum: true,
	schema.KindSet: true, schema.KindUUID: true, schema.KindTimeTZ: true, schema.KindInet: true,
	schema.KindMACAddr: true, schema.KindVarBit: true,
}

// scanImage decodes an image like schema.DecodeImage.
func scanImage(data []byte, t *schema.Table, names map[string]int) ([]any, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	out := make([]any, len(t.Columns))
	s := &jsonScanner{b: data}
	err := s.object(func(key []byte) error {
		i, ok := names[string(key)]
		if !ok {
			return fmt.Errorf("%s v%d has no column %q", t.ID, t.Version, key)
		}
		typ := t.Columns[i].Type
		if stringKinds[typ.Kind] && s.i < len(s.b) && s.b[s.i] == '"' {
			v, err := s.text()
			out[i] = v
			return err
		}
		raw, err := s.skip()
		if err != nil {
			return err
		}
		if out[i], err = schema.DecodeTypedValue(typ, raw); err != nil {
			return fmt.Errorf("column %s: %w", key, err)
		}
		return nil
	})
	if errors.Is(err, errScan) {
		return schema.DecodeImage(data, t)
	}
	return out, err
}
