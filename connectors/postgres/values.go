package postgres

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/schema"
)

// Decoders turn the text form of a value, as Postgres writes it in
// pgoutput and in query results with the session settings the reader sets
// (see sessionParams), into the Go value of the column's neutral kind.

// decoder decodes one non-NULL text value. It must not keep b.
type decoder func(b []byte) (any, error)

// sessionParams are the settings of every connection the reader opens, so
// that the walsender (which formats pgoutput values) and the snapshot
// queries write values identically, in the forms the decoders read.
var sessionParams = map[string]string{
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "iso_8601",
	"TimeZone":           "UTC",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"lc_monetary":        "C",
	"client_encoding":    "UTF8",
}

// decText takes text as it is. pgoutput sends text in the database's
// encoding, so a SQL_ASCII database can hold bytes that are not UTF-8;
// they are refused, since the Kafka encoding would replace them.
func decText(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("text %q is not valid UTF-8 (a SQL_ASCII database?); the reader captures UTF-8 text only", truncate(b, 40))
	}
	return string(b), nil
}

// truncate returns at most n bytes of b.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func decBool(b []byte) (any, error) {
	switch string(b) {
	case "t":
		return true, nil
	case "f":
		return false, nil
	}
	return nil, fmt.Errorf("bad boolean %q", b)
}

func decInt(b []byte) (any, error) {
	n, err := parseInt(b)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// parseInt parses a decimal integer without converting b to a string.
func parseInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 19 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var n uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad integer %q", b)
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, fmt.Errorf("integer %q out of range", b)
		}
		return -int64(n), nil
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("integer %q out of range", b)
	}
	return int64(n), nil
}

func decUint(b []byte) (any, error) { return strconv.ParseUint(string(b), 10, 64) }

func decFloat32(b []byte) (any, error) {
	f, err := strconv.ParseFloat(string(b), 32)
	return float32(f), err
}

func decFloat64(b []byte) (any, error) { return strconv.ParseFloat(string(b), 64) }

// decNumeric keeps Postgres's numeric text, which is already canonical:
// no exponent, the declared scale's trailing zeros, or NaN/Infinity.
func decNumeric(b []byte) (any, error) {
	switch string(b) {
	case "NaN", "Infinity", "-Infinity":
		return string(b), nil
	}
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' && i == 0) {
			return nil, fmt.Errorf("bad numeric %q", b)
		}
	}
	return string(b), nil
}

// decMoney reads money as lc_monetary C writes it ("-$1,234.56") into
// decimal text ("-1234.56").
func decMoney(b []byte) (any, error) {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c == '.', c == '-':
			out = append(out, c)
		case c == '$', c == ',':
		default:
			return nil, fmt.Errorf("bad money %q (is lc_monetary C?)", b)
		}
	}
	return string(out), nil
}

func decBytea(b []byte) (any, error) {
	if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
		return nil, fmt.Errorf("bad bytea: want hex output")
	}
	out := make([]byte, hex.DecodedLen(len(b)-2))
	if _, err := hex.Decode(out, b[2:]); err != nil {
		return nil, fmt.Errorf("bad bytea: %w", err)
	}
	return out, nil
}

// decBit reads bit(n), n <= 64, into a uint64, the first bit highest.
func decBit(b []byte) (any, error) {
	var v uint64
	if len(b) > 64 {
		return nil, fmt.Errorf("bit string of %d bits is wider than 64", len(b))
	}
	for _, c := range b {
		switch c {
		case '0':
			v <<= 1
		case '1':
			v = v<<1 | 1
		default:
			return nil, fmt.Errorf("bad bit string %q", b)
		}
	}
	return v, nil
}

func decInterval(b []byte) (any, error) { return schema.ParseInterval(string(b)) }

// The limits the infinities map to: the extremes of each kind's Go type.
const (
	dateInfinity      = math.MaxInt32
	dateMinusInfinity = math.MinInt32
	tsInfinity        = math.MaxInt64
	tsMinusInfinity   = math.MinInt64
)

// decDate reads "2024-01-31", "0044-03-15 BC" or ±infinity into days since
// 1970-01-01.
func decDate(b []byte) (any, error) {
	switch string(b) {
	case "infinity":
		return int32(dateInfinity), nil
	case "-infinity":
		return int32(dateMinusInfinity), nil
	}
	s, bc := strings.CutSuffix(string(b), " BC")
	y, m, d, rest, err := parseYMD(s)
	if err != nil || rest != "" {
		return nil, fmt.Errorf("bad date %q", b)
	}
	days := daysFromCivil(astronomical(y, bc), m, d)
	if days >= dateInfinity || days <= dateMinusInfinity {
		return nil, fmt.Errorf("date %q is beyond what 32-bit days since 1970 hold", b)
	}
	return int32(days), nil
}

func decTime(b []byte) (any, error) {
	us, rest, err := parseHMS(string(b))
	if err != nil || rest != "" {
		return nil, fmt.Errorf("bad time %q", b)
	}
	return us, nil
}

// decTimeTZ keeps the time of day as written and canonicalizes the offset
// to ±HH:MM, with :SS when it has seconds.
func decTimeTZ(b []byte) (any, error) {
	s := string(b)
	_, rest, err := parseHMS(s)
	if err != nil {
		return nil, fmt.Errorf("bad timetz %q", b)
	}
	off, tail, err := parseOffset(rest)
	if err != nil || tail != "" {
		return nil, fmt.Errorf("bad timetz %q", b)
	}
	return s[:len(s)-len(rest)] + formatOffset(off), nil
}

func formatOffset(secs int) string {
	sign := byte('+')
	if secs < 0 {
		sign, secs = '-', -secs
	}
	out := fmt.Sprintf("%c%02d:%02d", sign, secs/3600, secs/60%60)
	if secs%60 != 0 {
		out += fmt.Sprintf(":%02d", secs%60)
	}
	return out
}

func decTimestamp(b []byte) (any, error) { return decodeTimestamp(b, false) }

func decTimestampTZ(b []byte) (any, error) { return decodeTimestamp(b, true) }

// decodeTimestamp reads "2024-01-31 12:00:00.5[+00][ BC]" or ±infinity into
// microseconds since the epoch (UTC for timestamptz).
func decodeTimestamp(b []byte, tz bool) (any, error) {
	switch string(b) {
	case "infinity":
		return int64(tsInfinity), nil
	case "-infinity":
		return int64(tsMinusInfinity), nil
	}
	s, bc := strings.CutSuffix(string(b), " BC")
	y, m, d, rest, err := parseYMD(s)
	if err != nil || !strings.HasPrefix(rest, " ") {
		return nil, fmt.Errorf("bad timestamp %q", b)
	}
	tod, rest, err := parseHMS(rest[1:])
	if err != nil {
		return nil, fmt.Errorf("bad timestamp %q", b)
	}
	off := 0
	if tz {
		if off, rest, err = parseOffset(rest); err != nil {
			return nil, fmt.Errorf("bad timestamptz %q", b)
		}
	}
	if rest != "" {
		return nil, fmt.Errorf("bad timestamp %q", b)
	}
	days := daysFromCivil(astronomical(y, bc), m, d)
	const maxDays = math.MaxInt64 / 86_400_000_000
	if days > maxDays || days < -maxDays {
		return nil, fmt.Errorf("timestamp %q is beyond what 64-bit microseconds since 1970 hold", b)
	}
	us := days*86_400_000_000 + tod - int64(off)*1_000_000
	if us >= tsInfinity || us < 0 && days > 0 {
		return nil, fmt.Errorf("timestamp %q is beyond what 64-bit microseconds since 1970 hold", b)
	}
	return us, nil
}

// astronomical turns a BC year into the astronomical year (1 BC is 0).
func astronomical(y int64, bc bool) int64 {
	if bc {
		return 1 - y
	}
	return y
}

// parseYMD reads "Y-MM-DD" where Y has four or more digits.
func parseYMD(s string) (y, m, d int64, rest string, err error) {
	i := strings.IndexByte(s, '-')
	if i < 4 || len(s) < i+6 || s[i+3] != '-' {
		return 0, 0, 0, "", errors.New("bad date")
	}
	if y, err = strconv.ParseInt(s[:i], 10, 64); err != nil {
		return 0, 0, 0, "", err
	}
	m, err1 := two(s[i+1:])
	d, err2 := two(s[i+4:])
	if err1 != nil || err2 != nil || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0, 0, "", errors.New("bad date")
	}
	return y, m, d, s[i+6:], nil
}

func two(s string) (int64, error) {
	if len(s) < 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, errors.New("want two digits")
	}
	return int64(s[0]-'0')*10 + int64(s[1]-'0'), nil
}

// parseHMS reads "HH:MM:SS[.ffffff]" into microseconds.
func parseHMS(s string) (int64, string, error) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, "", errors.New("bad time")
	}
	h, e1 := two(s)
	m, e2 := two(s[3:])
	sec, e3 := two(s[6:])
	if e1 != nil || e2 != nil || e3 != nil || h > 24 || m > 59 || sec > 60 {
		return 0, "", errors.New("bad time")
	}
	us := ((h*60+m)*60 + sec) * 1_000_000
	rest := s[8:]
	if strings.HasPrefix(rest, ".") {
		n := 1
		for n < len(rest) && n <= 6 && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return 0, "", errors.New("bad fraction")
		}
		frac, _ := strconv.ParseInt(rest[1:n]+strings.Repeat("0", 7-n), 10, 64)
		us += frac
		rest = rest[n:]
	}
	return us, rest, nil
}

// parseOffset reads "±HH[:MM[:SS]]" into seconds east of UTC.
func parseOffset(s string) (int, string, error) {
	if len(s) < 3 || s[0] != '+' && s[0] != '-' {
		return 0, "", errors.New("bad offset")
	}
	h, err := two(s[1:])
	if err != nil {
		return 0, "", err
	}
	secs, rest := int(h)*3600, s[3:]
	for _, unit := range []int{60, 1} {
		if len(rest) < 3 || rest[0] != ':' {
			break
		}
		n, err := two(rest[1:])
		if err != nil {
			return 0, "", err
		}
		secs += int(n) * unit
		rest = rest[3:]
	}
	if s[0] == '-' {
		secs = -secs
	}
	return secs, rest, nil
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm), for any year.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// errUnknownLabel is returned for an enum value the reader's type does not
// list: the type gained a value (ALTER TYPE ... ADD VALUE).
type errUnknownLabel struct{ label string }

func (e *errUnknownLabel) Error() string {
	return fmt.Sprintf("enum value %q is not in the type", e.label)
}

func enumDecoder(labels []string) decoder {
	set := make(map[string]struct{}, len(labels))
	for _, l := range labels {
		set[l] = struct{}{}
	}
	return func(b []byte) (any, error) {
		if _, ok := set[string(b)]; !ok {
			return nil, &errUnknownLabel{string(b)}
		}
		return string(b), nil
	}
}

// decEWKB reads PostGIS's hex EWKB into WKB without the SRID: the same
// bytes as OGC WKB for 2D geometries (Z and M keep the EWKB flags).
func decEWKB(b []byte) (any, error) {
	raw := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(raw, b); err != nil || len(raw) < 5 {
		return nil, fmt.Errorf("bad geometry: want hex EWKB")
	}
	var order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	if raw[0] == 0 {
		order = binary.BigEndian
	}
	typ := order.Uint32(raw[1:5])
	const sridFlag = 0x20000000
	if typ&sridFlag == 0 {
		return raw, nil
	}
	if len(raw) < 9 {
		return nil, fmt.Errorf("bad geometry: short EWKB")
	}
	out := make([]byte, 0, len(raw)-4)
	out = append(out, raw[0])
	out = order.AppendUint32(out, typ&^sridFlag)
	return append(out, raw[9:]...), nil
}
