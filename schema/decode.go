package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Envelope is a decoded Kafka value. Before and After are aligned with the
// columns of the schema version the envelope names.
type Envelope struct {
	Op            Op
	Before, After []any
	// Unchanged lists columns absent from After (Postgres TOAST).
	Unchanged []string
	Source    map[string]any
	// SchemaVersion is source.schema_version.
	SchemaVersion int
	// Database and Table are source.db and source.table.
	Database, Table string
}

type rawEnvelope struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Source json.RawMessage `json:"source"`
	Op     string          `json:"op"`
}

// PeekEnvelope decodes what an envelope says about itself (op, table, schema
// version, source block) without its images.
func PeekEnvelope(value []byte) (*Envelope, error) {
	var raw rawEnvelope
	if err := json.Unmarshal(value, &raw); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	return peek(&raw)
}

func peek(raw *rawEnvelope) (*Envelope, error) {
	if len(raw.Op) != 1 {
		return nil, fmt.Errorf("decode envelope: bad op %q", raw.Op)
	}
	env := &Envelope{Op: Op(raw.Op[0])}
	d := json.NewDecoder(bytes.NewReader(raw.Source))
	d.UseNumber()
	if err := d.Decode(&env.Source); err != nil {
		return nil, fmt.Errorf("decode envelope source: %w", err)
	}
	env.Database, _ = env.Source["db"].(string)
	env.Table, _ = env.Source["table"].(string)
	if n, ok := env.Source["schema_version"].(json.Number); ok {
		v, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("decode envelope: schema_version %s", n)
		}
		env.SchemaVersion = int(v)
	}
	if u, ok := env.Source["unchanged"].([]any); ok {
		for _, c := range u {
			s, _ := c.(string)
			env.Unchanged = append(env.Unchanged, s)
		}
	}
	return env, nil
}

// DecodeEnvelope decodes a Kafka value written by AppendEnvelope. lookup
// returns the schema version the envelope names; it fails for an unknown
// version.
func DecodeEnvelope(value []byte, lookup func(id TableID, version int) (*Table, error)) (*Envelope, error) {
	var raw rawEnvelope
	if err := json.Unmarshal(value, &raw); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	env, err := peek(&raw)
	if err != nil {
		return nil, err
	}
	t, err := lookup(TableID{Database: env.Database, Name: env.Table}, env.SchemaVersion)
	if err != nil {
		return nil, err
	}
	if env.Before, err = DecodeImage(raw.Before, t); err != nil {
		return nil, fmt.Errorf("decode before: %w", err)
	}
	if env.After, err = DecodeImage(raw.After, t); err != nil {
		return nil, fmt.Errorf("decode after: %w", err)
	}
	return env, nil
}

// DecodeImage decodes a JSON object of column values (an image or a key)
// into values aligned with t.Columns. Columns absent from the object are
// nil. null decodes to nil.
func DecodeImage(data json.RawMessage, t *Table) ([]any, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	out := make([]any, len(t.Columns))
	for name, v := range m {
		i := t.Index(name)
		if i < 0 {
			return nil, fmt.Errorf("%s v%d has no column %q", t.ID, t.Version, name)
		}
		x, err := DecodeTypedValue(t.Columns[i].Type, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", name, err)
		}
		out[i] = x
	}
	return out, nil
}

// DecodeValue decodes the JSON form of one value of kind k into its Go
// representation (see Kind).
func DecodeValue(k Kind, data json.RawMessage) (any, error) {
	if string(data) == "null" {
		return nil, nil
	}
	switch k {
	case KindBool:
		var b bool
		err := json.Unmarshal(data, &b)
		return b, err
	case KindInt8, KindInt16, KindInt32, KindInt64, KindTime, KindTimestamp:
		return strconv.ParseInt(string(data), 10, 64)
	case KindDate:
		n, err := strconv.ParseInt(string(data), 10, 32)
		return int32(n), err
	case KindUint64, KindBit:
		return strconv.ParseUint(string(data), 10, 64)
	case KindFloat32:
		f, err := decodeFloat(data, 32)
		return float32(f), err
	case KindFloat64:
		return decodeFloat(data, 64)
	case KindDecimal, KindString, KindJSON, KindEnum, KindSet, KindUUID:
		var s string
		err := json.Unmarshal(data, &s)
		return s, err
	case KindBytes, KindGeometry:
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(s)
	case KindTimestampTZ:
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			// Years outside 0000-9999 (Postgres timestamps, and the
			// infinities mapped to the int64 limits), which AppendValue
			// writes with more digits or a sign.
			if us, ok := parseWideYear(s); ok {
				return us, nil
			}
		}
		return t.UnixMicro(), err
	case KindTimeTZ, KindInet, KindMACAddr, KindVarBit:
		var s string
		err := json.Unmarshal(data, &s)
		return s, err
	case KindInterval:
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		return ParseInterval(s)
	case KindMap:
		var m map[string]*string
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			if v == nil {
				out[k] = nil
			} else {
				out[k] = *v
			}
		}
		return out, nil
	case KindArray:
		return nil, fmt.Errorf("kind array needs its element type: use DecodeTypedValue")
	}
	return nil, fmt.Errorf("unknown kind %q", k)
}

// DecodeTypedValue decodes the JSON form of one value of type t: like
// DecodeValue, and also for arrays (see AppendTypedValue).
func DecodeTypedValue(t Type, data json.RawMessage) (any, error) {
	if t.Kind != KindArray || string(data) == "null" {
		return DecodeValue(t.Kind, data)
	}
	if t.Elem == nil || t.Elem.Kind == KindArray {
		return nil, fmt.Errorf("array type %s: want a non-array element type", t)
	}
	return decodeArray(*t.Elem, data)
}

func decodeArray(elem Type, data json.RawMessage) (any, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	out := make([]any, len(raw))
	for i, r := range raw {
		var err error
		if r = bytes.TrimSpace(r); len(r) > 0 && r[0] == '[' {
			out[i], err = decodeArray(elem, r)
		} else {
			out[i], err = DecodeValue(elem.Kind, r)
		}
		if err != nil {
			return nil, fmt.Errorf("array element %d: %w", i, err)
		}
	}
	return out, nil
}

// parseWideYear parses "[-]YYYYY-MM-DDTHH:MM:SS[.f]Z", the form Go writes
// for years outside 0000-9999, into microseconds since the epoch.
func parseWideYear(s string) (int64, bool) {
	i := strings.IndexByte(s[min(1, len(s)):], '-') + min(1, len(s))
	if i <= 0 {
		return 0, false
	}
	year, err := strconv.Atoi(s[:i])
	if err != nil {
		return 0, false
	}
	rest, err := time.Parse(time.RFC3339Nano, "2000"+s[i:])
	if err != nil {
		return 0, false
	}
	t := time.Date(year, rest.Month(), rest.Day(), rest.Hour(), rest.Minute(), rest.Second(), rest.Nanosecond(), time.UTC)
	return t.UnixMicro(), true
}

func decodeFloat(data json.RawMessage, bits int) (float64, error) {
	if len(data) > 0 && data[0] == '"' {
		switch string(data) {
		case `"NaN"`:
			return math.NaN(), nil
		case `"Infinity"`:
			return math.Inf(1), nil
		case `"-Infinity"`:
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("bad float %s", data)
	}
	return strconv.ParseFloat(string(data), bits)
}
