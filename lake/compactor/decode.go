package compactor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// envelope is a Kafka value decoded in one pass: the images stay raw until
// the schema version is known.
type envelope struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Op     string          `json:"op"`
	Source struct {
		TsMs      int64       `json:"ts_ms"`
		DB        string      `json:"db"`
		Table     string      `json:"table"`
		Version   int         `json:"schema_version"`
		GTID      string      `json:"gtid"`
		File      string      `json:"file"`
		Pos       json.Number `json:"pos"`
		LSN       json.Number `json:"lsn"`
		Row       json.Number `json:"row"`
		Unchanged []string    `json:"unchanged"`
	} `json:"source"`
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

// images decodes the before and after images with the envelope's schema
// version t, as schema.DecodeEnvelope does; names maps t's column names to
// positions.
func (e *envelope) images(t *schema.Table, names map[string]int) (*schema.Envelope, error) {
	out := &schema.Envelope{Op: e.op(), Unchanged: e.Source.Unchanged, SchemaVersion: e.Source.Version, Database: e.Source.DB, Table: e.Source.Table}
	var err error
	if out.Before, err = scanImage(e.Before, t, names); err != nil {
		return nil, fmt.Errorf("decode before: %w", err)
	}
	if out.After, err = scanImage(e.After, t, names); err != nil {
		return nil, fmt.Errorf("decode after: %w", err)
	}
	return out, nil
}

// meta returns the metadata columns' values from the source block.
func (e *envelope) meta() lake.RowMeta {
	s := &e.Source
	m := lake.RowMeta{Op: e.op()}
	if s.TsMs != 0 {
		m.CommitTime = time.UnixMilli(s.TsMs).UTC()
	}
	var pos string
	switch {
	case s.GTID != "":
		pos = s.GTID
	case s.File != "":
		pos = s.File + ":" + s.Pos.String()
	case s.LSN != "":
		if lsn, err := strconv.ParseUint(s.LSN.String(), 10, 64); err == nil {
			pos = fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn))
		}
	}
	if s.Row != "" {
		pos += "#" + s.Row.String()
	}
	m.Position = pos
	return m
}
