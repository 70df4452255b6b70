package schema

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is a neutral column type. Each Kind has exactly one in-memory Go
// representation (see Value) and one JSON encoding (see Encoder).
type Kind string

// The neutral kinds. The comment gives the Go type a value of that kind has
// in an Event, and its JSON form on Kafka.
const (
	KindBool        Kind = "bool"        // bool; true/false
	KindInt8        Kind = "int8"        // int64; number
	KindInt16       Kind = "int16"       // int64; number
	KindInt32       Kind = "int32"       // int64; number
	KindInt64       Kind = "int64"       // int64; number
	KindUint64      Kind = "uint64"      // uint64; number (BIGINT UNSIGNED; smaller unsigned widths widen to a signed kind)
	KindFloat32     Kind = "float32"     // float32; number, or "NaN", "Infinity", "-Infinity"
	KindFloat64     Kind = "float64"     // float64; number, or "NaN", "Infinity", "-Infinity"
	KindDecimal     Kind = "decimal"     // string, canonical decimal text ("-12.340"); string
	KindString      Kind = "string"      // string (valid UTF-8); string
	KindBytes       Kind = "bytes"       // []byte; base64 string
	KindJSON        Kind = "json"        // string holding JSON text; string
	KindEnum        Kind = "enum"        // string, one of Type.Values; string
	KindSet         Kind = "set"         // string, comma-separated members of Type.Values; string
	KindBit         Kind = "bit"         // uint64, Type.Precision bits wide (1..64); number
	KindDate        Kind = "date"        // int32 days since 1970-01-01; number
	KindTime        Kind = "time"        // int64 microseconds (may be negative or above 24h for MySQL TIME); number
	KindTimestamp   Kind = "timestamp"   // int64 microseconds since the epoch, no time zone; number
	KindTimestampTZ Kind = "timestamptz" // int64 microseconds since the epoch, UTC; ISO-8601 string with Z
	KindUUID        Kind = "uuid"        // string, canonical lowercase form; string
	KindGeometry    Kind = "geometry"    // []byte, OGC WKB (MySQL's SRID prefix removed); base64 string
)

// Type is a neutral column type with its parameters.
type Type struct {
	Kind Kind `json:"kind"`
	// Precision is the total digits of a decimal, the fractional-second
	// digits of a time or timestamp, or the width of a bit column.
	Precision int `json:"precision,omitempty"`
	// Scale is the digits after the point of a decimal.
	Scale int `json:"scale,omitempty"`
	// Values lists the members of an enum or set, in declaration order.
	Values []string `json:"values,omitempty"`
	// Native is the source's own spelling of the type ("bigint unsigned",
	// "varchar(40)"), for people. It is not part of Equal.
	Native string `json:"native,omitempty"`
}

// Equal reports whether two types have the same kind and parameters.
func (t Type) Equal(o Type) bool {
	return t.Kind == o.Kind && t.Precision == o.Precision && t.Scale == o.Scale && slices.Equal(t.Values, o.Values)
}

// String returns the kind with its parameters, such as "decimal(65,30)".
func (t Type) String() string {
	switch {
	case len(t.Values) > 0:
		return fmt.Sprintf("%s(%s)", t.Kind, strings.Join(t.Values, ","))
	case t.Scale != 0:
		return fmt.Sprintf("%s(%d,%d)", t.Kind, t.Precision, t.Scale)
	case t.Precision != 0:
		return fmt.Sprintf("%s(%d)", t.Kind, t.Precision)
	}
	return string(t.Kind)
}

// Column is one column of a table.
type Column struct {
	Name     string `json:"name"`
	Type     Type   `json:"type"`
	Nullable bool   `json:"nullable"`
}

// TableID names a table in its source: the MySQL database or the Postgres
// schema, and the table name.
type TableID struct {
	Database string `json:"database"`
	Name     string `json:"table"`
}

// String returns "database.table".
func (id TableID) String() string { return id.Database + "." + id.Name }

// ParseTableID splits "database.table" at the first dot.
func ParseTableID(s string) (TableID, error) {
	db, name, ok := strings.Cut(s, ".")
	if !ok || db == "" || name == "" {
		return TableID{}, fmt.Errorf("table %q: want database.table", s)
	}
	return TableID{Database: db, Name: name}, nil
}

// Table is one version of a table's schema. Versions start at 1 and grow by
// one with every change a reader sees; events name the version they were
// decoded with.
type Table struct {
	ID      TableID  `json:"id"`
	Version int      `json:"version"`
	Columns []Column `json:"columns"`
	// Key lists the primary key columns (or the configured key), in key order.
	Key []string `json:"key"`
	// KeyIndex holds the positions in Columns of the Key columns.
	KeyIndex []int `json:"-"`
}

// SameShape reports whether two schemas have the same columns and key,
// ignoring versions. A reader bumps the version when the shape changes.
func (t *Table) SameShape(o *Table) bool {
	if t.ID != o.ID || len(t.Columns) != len(o.Columns) || !slices.Equal(t.Key, o.Key) {
		return false
	}
	for i, c := range t.Columns {
		oc := o.Columns[i]
		if c.Name != oc.Name || c.Nullable != oc.Nullable || !c.Type.Equal(oc.Type) {
			return false
		}
	}
	return true
}

// Index returns the position of the named column, or -1.
func (t *Table) Index(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Prepare checks the table and fills KeyIndex. It fails when a key column is
// missing or the table has no key.
func (t *Table) Prepare() error {
	if len(t.Key) == 0 {
		return fmt.Errorf("table %s has no primary key: %w", t.ID, ErrNoKey)
	}
	t.KeyIndex = t.KeyIndex[:0]
	for _, k := range t.Key {
		i := t.Index(k)
		if i < 0 {
			return fmt.Errorf("table %s: key column %q is not a column", t.ID, k)
		}
		t.KeyIndex = append(t.KeyIndex, i)
	}
	return nil
}

// ErrNoKey is returned for a table that has neither a primary key nor a
// configured key.
var ErrNoKey = fmt.Errorf("no primary key")
