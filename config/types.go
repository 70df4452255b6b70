package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// redacted is what a non-empty Secret prints as.
const redacted = "[redacted]"

// Secret is a string that never prints: passwords, tokens and DSNs with
// credentials. In a config file a Secret may be a literal, may use ${VAR}
// expansion like any string, or may be "file:/path" to read the value from a
// file (trailing newlines trimmed). String, GoString, LogValue, MarshalJSON,
// MarshalText and MarshalYAML all give "[redacted]" (or "" when the secret is
// empty); only Reveal returns the value.
type Secret string

// Reveal returns the secret value. Call it only where the value is handed to
// a driver or client, never to build a log line or an error message.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the redacted form quoted, so that %#v does not leak the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue returns the redacted form, so that slog never records the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON returns the redacted form as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText returns the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML returns the redacted form, for YAML encoders (goccy/go-yaml,
// gopkg.in/yaml.v3) that print an effective config.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a time.Duration written in config files as a Go duration
// string: "500ms", "10s", "1m30s", "2h".
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText formats d like String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a Go duration string. A bare number is refused,
// because it would be unclear whether it means seconds or milliseconds.
func (d *Duration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	v, err := time.ParseDuration(s)
	if err == nil {
		*d = Duration(v)
		return nil
	}
	if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
		return fmt.Errorf("duration %q has no unit; write %ss or %sms", s, s, s)
	}
	return fmt.Errorf("invalid duration %q; use a number with a unit such as 500ms, 10s, 1m30s or 2h", s)
}

// ByteSize is a number of bytes. In a config file it is an integer (bytes)
// or a string with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB,
// GiB, TiB (powers of 1024), case-insensitive, optionally with a space
// before the unit: 16777216, "16MiB", "512 KiB", "1GB".
type ByteSize int64

// Common sizes.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

// byteUnits maps lower-case unit names to their multipliers.
var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// String formats b with the largest binary unit that divides it exactly
// ("16MiB"), then the largest decimal unit ("5MB"), else as bytes ("1500B").
func (b ByteSize) String() string {
	units := []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}}
	for _, u := range units {
		if b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalText formats b like String.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses a whole number of bytes with an optional unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	digits, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := byteUnits[unit]
	if digits == "" || !ok {
		if strings.HasPrefix(s, "-") {
			return fmt.Errorf("size %q is negative; sizes are zero or more bytes", s)
		}
		return fmt.Errorf("invalid size %q; use a whole number of bytes, or a whole number with a unit such as 512KiB, 16MiB or 1GB", s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return fmt.Errorf("size %q is too large", s)
	}
	*b = ByteSize(n * mult)
	return nil
}
