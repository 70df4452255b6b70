package compactor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tributary-dev/tributary/internal/box"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// envelope is a Kafka value decoded in one pass: the images stay raw until
// the schema version is known.
type envelope struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Op     string          `json:"op"`
	Source sourceBlock     `json:"source"`
	// guess is the schema version the scanner decoded the images with,
	// in the same pass, before the source block named the envelope's
	// own (nil when it did not); before and after are those images.
	guess         *schema.Table `json:"-"`
	before, after []any
}

// sourceBlock is what the compactor reads of an envelope's source block.
type sourceBlock struct {
	TsMs      int64     `json:"ts_ms"`
	DB        string    `json:"db"`
	Table     string    `json:"table"`
	Version   int       `json:"schema_version"`
	GTID      rawText   `json:"gtid"`
	File      string    `json:"file"`
	Pos       rawNumber `json:"pos"`
	LSN       rawNumber `json:"lsn"`
	Row       rawNumber `json:"row"`
	Unchanged []string  `json:"unchanged"`
}

// rawText is the text of a JSON string. The scanner points it into the
// Kafka value when the string has no escapes; encoding/json gets a copy.
type rawText []byte

// UnmarshalJSON takes a string; null leaves t as it is.
func (t *rawText) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = append(rawText{}, s...)
	return nil
}

// rawNumber is the text of a JSON number. The scanner points it into the
// Kafka value, which outlives the envelope; encoding/json gets a copy.
type rawNumber []byte

// UnmarshalJSON takes a number, or a string holding one, as json.Number
// does; null leaves n as it is.
func (n *rawNumber) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	if !isNumber(b) {
		return fmt.Errorf("%s is not a number", b)
	}
	*n = append(rawNumber(nil), b...)
	return nil
}

// isNumber reports whether b is a JSON number literal.
func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// decodeEnvelope decodes what schema.PeekEnvelope does, in one
// json.Unmarshal; images are decoded later by images.
func decodeEnvelope(value []byte) (*envelope, error) {
	var e envelope
	if err := json.Unmarshal(value, &e); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	if len(e.Op) != 1 {
		return nil, fmt.Errorf("decode envelope: bad op %q", e.Op)
	}
	return &e, nil
}

func (e *envelope) op() schema.Op { return schema.Op(e.Op[0]) }

func (e *envelope) tableID() schema.TableID {
	return schema.TableID{Database: e.Source.DB, Name: e.Source.Table}
}

// images decodes the before and after images into out with the
// envelope's schema version t, as schema.DecodeEnvelope does; c is t's
// codec.
func (e *envelope) images(t *schema.Table, c *tableCodec, out *schema.Envelope) error {
	*out = schema.Envelope{Op: e.op(), Unchanged: e.Source.Unchanged, SchemaVersion: e.Source.Version, Database: e.Source.DB, Table: e.Source.Table}
	if e.guess == t {
		out.Before, out.After = e.before, e.after
		return nil
	}
	var err error
	if out.Before, err = scanImage(e.Before, t, c); err != nil {
		return fmt.Errorf("decode before: %w", err)
	}
	if out.After, err = scanImage(e.After, t, c); err != nil {
		return fmt.Errorf("decode after: %w", err)
	}
	return nil
}

// meta returns the metadata columns' values from the source block; the
// position's text goes to b's slabs.
func (e *envelope) meta(b *box.Boxer) lake.RowMeta {
	s := &e.Source
	m := lake.RowMeta{Op: e.op()}
	if s.TsMs != 0 {
		m.CommitTime = time.UnixMilli(s.TsMs).UTC()
	}
	pos := make([]byte, 0, 64)
	switch {
	case len(s.GTID) > 0:
		pos = append(pos, s.GTID...)
	case s.File != "":
		pos = append(append(append(pos, s.File...), ':'), s.Pos...)
	case len(s.LSN) > 0:
		if lsn, err := strconv.ParseUint(string(s.LSN), 10, 64); err == nil {
			pos = appendHex(append(appendHex(pos, lsn>>32), '/'), uint64(uint32(lsn)))
		}
	}
	if len(s.Row) > 0 {
		pos = append(append(pos, '#'), s.Row...)
	}
	m.Position = b.String(pos)
	return m
}

// appendHex appends n in upper-case hexadecimal, as Postgres writes LSNs.
func appendHex(b []byte, n uint64) []byte {
	start := len(b)
	b = strconv.AppendUint(b, n, 16)
	for i := start; i < len(b); i++ {
		if b[i] >= 'a' {
			b[i] -= 'a' - 'A'
		}
	}
	return b
}
