package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
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
		x, err := DecodeValue(t.Columns[i].Type.Kind, v)
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
		return t.UnixMicro(), err
	}
	return nil, fmt.Errorf("unknown kind %q", k)
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
