package compactor

import (
	"encoding/base64"
	"math"
	"strconv"

	"github.com/tributary-dev/tributary/internal/box"
	"github.com/tributary-dev/tributary/schema"
)

// tableCodec is what scanImage needs of one schema version: the
// positions of its column names, how each column's values decode, and
// memory for the images.
type tableCodec struct {
	names map[string]int // the first column of each name, as t.Index
	kinds []valueKind
	// inOrder is set when no two columns share a name: the column after
	// the previous one is then tried before the map.
	inOrder bool
	// slab is where the next images' values go: one allocation for many
	// images. An image takes a slice of it that no other image shares.
	slab []any
	// box holds the values themselves, texts and numbers, a slab at a
	// time too.
	box box.Boxer
}

// slabValues is how many values one slab holds, at least one image.
const slabValues = 2048

// valueKind says how scanImage decodes a column's values.
type valueKind uint8

const (
	valueOther   valueKind = iota // schema.DecodeTypedValue
	valueString                   // a JSON string's text
	valueInt64                    // an integer, as int64
	valueDate                     // an integer, as int32
	valueUint64                   // an unsigned integer, as uint64
	valueBool                     // true or false
	valueFloat64                  // a number or "NaN", "Infinity", "-Infinity", as float64
	valueFloat32                  // the same, as float32
	valueBytes                    // base64 text, as []byte
)

// valueKinds gives the kinds scanImage decodes itself, each as
// schema.DecodeValue does.
var valueKinds = map[schema.Kind]valueKind{
	schema.KindString: valueString, schema.KindDecimal: valueString, schema.KindJSON: valueString, schema.KindEnum: valueString,
	schema.KindSet: valueString, schema.KindUUID: valueString, schema.KindTimeTZ: valueString, schema.KindInet: valueString,
	schema.KindMACAddr: valueString, schema.KindVarBit: valueString,
	schema.KindInt8: valueInt64, schema.KindInt16: valueInt64, schema.KindInt32: valueInt64, schema.KindInt64: valueInt64,
	schema.KindTime: valueInt64, schema.KindTimestamp: valueInt64, schema.KindDate: valueDate,
	schema.KindUint64: valueUint64, schema.KindBit: valueUint64, schema.KindBool: valueBool,
	schema.KindFloat64: valueFloat64, schema.KindFloat32: valueFloat32,
	schema.KindBytes: valueBytes, schema.KindGeometry: valueBytes,
}

// columnIndex holds the codec of each schema version.
type columnIndex map[*schema.Table]*tableCodec

func (ci columnIndex) of(t *schema.Table) *tableCodec {
	c := ci[t]
	if c == nil {
		c = newTableCodec(t)
		ci[t] = c
	}
	return c
}

func newTableCodec(t *schema.Table) *tableCodec {
	c := &tableCodec{names: make(map[string]int, len(t.Columns)), kinds: make([]valueKind, len(t.Columns)), inOrder: true}
	for i, col := range t.Columns {
		if _, dup := c.names[col.Name]; dup {
			c.inOrder = false
			continue
		}
		c.names[col.Name] = i
		c.kinds[i] = valueKinds[col.Type.Kind]
	}
	return c
}

// column returns the position of the column named key; images list
// columns in table order, so the one after prev is tried first.
func (c *tableCodec) column(t *schema.Table, key []byte, prev int) (int, bool) {
	if next := prev + 1; c.inOrder && next < len(t.Columns) && t.Columns[next].Name == string(key) {
		return next, true
	}
	i, ok := c.names[string(key)]
	return i, ok
}

// image returns room for the n values of one image.
func (c *tableCodec) image(n int) []any {
	if len(c.slab) < n {
		c.slab = make([]any, max(n, slabValues/max(n, 1)*n))
	}
	out := c.slab[:n:n]
	c.slab = c.slab[n:]
	return out
}

// scanImage decodes an image like schema.DecodeImage, whose result and
// error it returns for anything it does not decode itself.
func scanImage(data []byte, t *schema.Table, c *tableCodec) ([]any, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	if out, ok := c.scanImage(data, t); ok {
		return out, nil
	}
	return schema.DecodeImage(data, t)
}

func (c *tableCodec) scanImage(data []byte, t *schema.Table) ([]any, bool) {
	s := jsonScanner{b: data}
	out, ok := c.scanImageAt(&s, t)
	return out, ok && s.end()
}

// image reads an image: its bytes, and its values when the scanner has a
// guess that decodes them. An image the guess does not decode leaves
// env.guess nil, and the images to envelope.images.
func (es *envelopeScanner) image() ([]byte, []any, error) {
	s := &es.s
	s.ws()
	start := s.i
	if es.env.guess != nil {
		if s.null() {
			return s.b[start:s.i], nil, nil
		}
		if img, ok := es.codec.scanImageAt(s, es.guess); ok {
			return s.b[start:s.i], img, nil
		}
		s.i, es.env.guess = start, nil
	}
	b, err := s.skip()
	return b, nil, err
}

// scanImageAt reads an image's object from s; ok is false where it
// leaves the image to schema.DecodeImage, with s anywhere.
func (c *tableCodec) scanImageAt(s *jsonScanner, t *schema.Table) ([]any, bool) {
	if !s.consume('{') {
		return nil, false
	}
	out := c.image(len(t.Columns))
	if s.consume('}') {
		return out, true
	}
	prev := -1
	for {
		key, flags, err := s.str()
		if err != nil || flags != 0 || !s.consume(':') {
			return nil, false
		}
		i, ok := c.column(t, key, prev)
		if !ok {
			return nil, false
		}
		prev = i
		if out[i], ok = c.value(s, t, i); !ok {
			return nil, false
		}
		if s.consume('}') {
			return out, true
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

// value decodes the value of column i, as schema.DecodeTypedValue does;
// ok is false where the scanner leaves it to schema.
func (c *tableCodec) value(s *jsonScanner, t *schema.Table, i int) (v any, ok bool) {
	if s.null() {
		return nil, true
	}
	switch c.kinds[i] {
	case valueString:
		if s.peek() == '"' {
			raw, flags, err := s.str()
			if err != nil {
				return nil, false
			}
			return c.box.Text(textBytes(raw, flags)), true
		}
	case valueInt64:
		if b, err := s.number(); err == nil {
			x, ok := parseInt(b)
			return c.box.I64(x), ok
		}
	case valueDate:
		if b, err := s.number(); err == nil {
			x, ok := parseInt(b)
			return c.box.I32(int32(x)), ok && x == int64(int32(x))
		}
	case valueUint64:
		if b, err := s.number(); err == nil {
			x, ok := parseUint(b)
			return c.box.U64(x), ok
		}
	case valueBool:
		switch s.peek() {
		case 't':
			return true, s.literal("true") == nil
		case 'f':
			return false, s.literal("false") == nil
		}
	case valueFloat64:
		x, ok := s.float(64)
		return c.box.F64(x), ok
	case valueFloat32:
		x, ok := s.float(32)
		return c.box.F32(float32(x)), ok
	case valueBytes:
		raw, flags, err := s.str()
		if err != nil || flags != 0 {
			return nil, false
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
		n, err := base64.StdEncoding.Decode(b, raw)
		return b[:n], err == nil
	default:
		raw, err := s.skip()
		if err != nil {
			return nil, false
		}
		x, err := schema.DecodeTypedValue(t.Columns[i].Type, raw)
		return x, err == nil
	}
	return nil, false
}

// float reads a float value as schema's decodeFloat does: a number, or
// one of the strings "NaN", "Infinity" and "-Infinity".
func (s *jsonScanner) float(bitSize int) (float64, bool) {
	if s.peek() == '"' {
		raw, flags, err := s.str()
		if err != nil || flags != 0 {
			return 0, false
		}
		switch string(raw) {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
		return 0, false
	}
	b, err := s.number()
	if err != nil {
		return 0, false
	}
	x, err := strconv.ParseFloat(string(b), bitSize)
	return x, err == nil
}
