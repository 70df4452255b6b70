package schema

import (
	"fmt"
	"math"
	"slices"
	"strconv"
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
	KindDecimal     Kind = "decimal"     // string, canonical decimal text ("-12.340"); string (see below for Postgres numeric)
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

	// Kinds added for PostgreSQL.
	KindTimeTZ   Kind = "timetz"   // string "15:04:05.999999+07:00": time of day, then the UTC offset (with :SS when not whole minutes); string
	KindInterval Kind = "interval" // Interval; string, ISO 8601 as Postgres writes it with intervalstyle iso_8601 ("P1Y2M-3DT4H5M6.789S", "PT0S")
	KindInet     Kind = "inet"     // string, an IPv4 or IPv6 address with an optional /prefix, as Postgres writes inet and cidr; string
	KindMACAddr  Kind = "macaddr"  // string, 6 or 8 lowercase hex bytes joined by ':'; string
	KindVarBit   Kind = "varbit"   // string of '0' and '1', any length, leading zeros kept (Postgres varbit, bit(n) wider than 64); string
	KindArray    Kind = "array"    // []any of Type.Elem values, one nested []any per further dimension, nil for a NULL element; JSON array
	KindMap      Kind = "map"      // map[string]any of string or nil values (Postgres hstore); JSON object, keys sorted
)

// Postgres numeric maps onto KindDecimal. Its Precision and Scale are the
// declared ones; a numeric declared without them has Precision 0 (any
// digits, any scale per value). Besides decimal text, a numeric value can be
// one of the strings "NaN", "Infinity" and "-Infinity", which MySQL never
// produces.

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
	// Elem is the element type of an array.
	Elem *Type `json:"elem,omitempty"`
	// Native is the source's own spelling of the type ("bigint unsigned",
	// "varchar(40)"), for people. It is not part of Equal.
	Native string `json:"native,omitempty"`
}

// Equal reports whether two types have the same kind and parameters.
func (t Type) Equal(o Type) bool {
	if (t.Elem == nil) != (o.Elem == nil) || t.Elem != nil && !t.Elem.Equal(*o.Elem) {
		return false
	}
	return t.Kind == o.Kind && t.Precision == o.Precision && t.Scale == o.Scale && slices.Equal(t.Values, o.Values)
}

// String returns the kind with its parameters, such as "decimal(65,30)" or
// "array<int32>".
func (t Type) String() string {
	switch {
	case t.Elem != nil:
		return fmt.Sprintf("%s<%s>", t.Kind, t.Elem)
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
	// Aliases are the names the column had in earlier versions, newest
	// first: a reader that sees a column renamed says so, and a consumer
	// renames its copy of the column instead of dropping it and adding a
	// new one. Not part of SameShape.
	Aliases []string `json:"aliases,omitempty"`
	// SourceID is the column's identity in the source when the source has
	// one that survives renames (PostgreSQL's attnum); 0 when unknown.
	// Not part of SameShape.
	SourceID int `json:"source_id,omitempty"`
}

// Renamed gives the columns of t the aliases their history implies:
// renames maps a column's new name to its name in prev, the version before
// t. A column renamed gets its old name and the old column's aliases; a
// column kept keeps its aliases.
func (t *Table) Renamed(prev *Table, renames map[string]string) {
	if prev == nil {
		return
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		name := c.Name
		if old, ok := renames[name]; ok && old != name && t.Index(old) < 0 {
			if j := prev.Index(old); j >= 0 {
				c.Aliases = append([]string{old}, prev.Columns[j].Aliases...)
				continue
			}
		}
		if j := prev.Index(name); j >= 0 {
			c.Aliases = prev.Columns[j].Aliases
		}
	}
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
	// Redaction is set on a version published with columns left out or
	// hashed (connectors/redact); nil when the version is the source's.
	// It is not part of SameShape.
	Redaction *Redaction `json:"redaction,omitempty"`
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

// Interval is a Postgres interval, the Go form of KindInterval. Its three
// parts are independent, as in Postgres: a month is not a fixed number of
// days, nor a day of microseconds.
type Interval struct {
	Months int32
	Days   int32
	Micros int64
}

// String returns the interval in ISO 8601 form exactly as Postgres writes
// it with intervalstyle iso_8601: years and months from Months, days, then
// hours, minutes and seconds from Micros, each part with its own sign and
// zero parts left out ("P1Y2M-3DT4H5M6.789S"); the zero interval is "PT0S".
func (iv Interval) String() string {
	if iv == (Interval{}) {
		return "PT0S"
	}
	b := make([]byte, 0, 32)
	b = append(b, 'P')
	b = appendIntervalPart(b, int64(iv.Months/12), 'Y')
	b = appendIntervalPart(b, int64(iv.Months%12), 'M')
	b = appendIntervalPart(b, int64(iv.Days), 'D')
	if iv.Micros == 0 {
		return string(b)
	}
	us := iv.Micros
	hours := us / 3_600_000_000
	us -= hours * 3_600_000_000
	mins := us / 60_000_000
	us -= mins * 60_000_000
	b = append(b, 'T')
	b = appendIntervalPart(b, hours, 'H')
	b = appendIntervalPart(b, mins, 'M')
	if us != 0 {
		if us < 0 {
			b = append(b, '-')
			us = -us
		}
		b = strconv.AppendInt(b, us/1_000_000, 10)
		if frac := us % 1_000_000; frac != 0 {
			f := strconv.AppendInt(nil, 1_000_000+frac, 10)[1:]
			b = append(b, '.')
			b = append(b, strings.TrimRight(string(f), "0")...)
		}
		b = append(b, 'S')
	}
	return string(b)
}

func appendIntervalPart(b []byte, n int64, unit byte) []byte {
	if n == 0 {
		return b
	}
	return append(strconv.AppendInt(b, n, 10), unit)
}

// ParseInterval parses the ISO 8601 form String writes. Every part is an
// integer, except seconds, which take up to six fractional digits.
func ParseInterval(s string) (Interval, error) {
	bad := func(why string) (Interval, error) {
		return Interval{}, fmt.Errorf("interval %q: %s", s, why)
	}
	if len(s) < 3 || s[0] != 'P' {
		return bad("want ISO 8601 (P...)")
	}
	var (
		months, days, micros int64
		inTime               bool
		seen                 = map[string]bool{}
	)
	for i := 1; i < len(s); {
		if s[i] == 'T' {
			if inTime {
				return bad("second T")
			}
			inTime = true
			i++
			continue
		}
		j := i
		if j < len(s) && s[j] == '-' {
			j++
		}
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j == len(s) || j == i {
			return bad("number without unit")
		}
		num, unit := s[i:j], string(s[j])
		if inTime {
			unit = "T" + unit
		}
		if seen[unit] {
			return bad("repeated " + unit)
		}
		seen[unit] = true
		i = j + 1
		if unit == "TS" {
			us, err := parseSeconds(num)
			if err != nil {
				return bad(err.Error())
			}
			var ok bool
			if micros, ok = addMul(micros, us, 1); !ok {
				return bad("out of range")
			}
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return bad("bad " + unit + " part " + num)
		}
		var ok bool
		switch unit {
		case "Y":
			ok = n <= math.MaxInt32 && n >= math.MinInt32
			months += n * 12
		case "M":
			ok = n <= math.MaxInt32 && n >= math.MinInt32
			months += n
		case "D":
			ok, days = true, n
		case "TH":
			micros, ok = addMul(micros, n, 3_600_000_000)
		case "TM":
			micros, ok = addMul(micros, n, 60_000_000)
		default:
			return bad("unknown unit " + unit)
		}
		if !ok {
			return bad("out of range")
		}
	}
	if months > math.MaxInt32 || months < math.MinInt32 || days > math.MaxInt32 || days < math.MinInt32 {
		return bad("out of range")
	}
	return Interval{Months: int32(months), Days: int32(days), Micros: micros}, nil
}

// parseSeconds parses "[-]S[.ffffff]" into microseconds, exactly.
func parseSeconds(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 6 || strings.Contains(frac, ".") {
		return 0, fmt.Errorf("bad seconds %q", s)
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > math.MaxInt64/1_000_000-1 {
		return 0, fmt.Errorf("bad seconds %q", s)
	}
	us := n * 1_000_000
	if frac != "" {
		f, err := strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("bad seconds %q", s)
		}
		us += f
	}
	if neg {
		us = -us
	}
	return us, nil
}

// addMul returns a + n*m and whether it fits an int64.
func addMul(a, n, m int64) (int64, bool) {
	if n != 0 && (n > math.MaxInt64/m || n < math.MinInt64/m) {
		return 0, false
	}
	p := n * m
	if p > 0 && a > math.MaxInt64-p || p < 0 && a < math.MinInt64-p {
		return 0, false
	}
	return a + p, true
}
