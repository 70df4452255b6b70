package mysql

// This file holds MySQL's text: the character sets stored text comes in,
// and the text forms in which both read paths give decimals, dates, times
// and JSON, with the parsers that turn them into neutral values.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// errUnknownCharset is returned for a column whose MySQL character set
// cannot be decoded here.
var errUnknownCharset = errors.New("unknown character set")

// textDecoder converts text stored in one MySQL character set to UTF-8. A
// textDecoder is immutable and safe for concurrent use.
type textDecoder struct {
	name  string
	table *[256]rune        // single-byte character sets
	enc   encoding.Encoding // multi-byte character sets
	fix   map[rune]rune     // runes enc gives where MySQL has others
}

// utf8Charsets are the character sets whose bytes are already UTF-8. ASCII
// is a subset of UTF-8.
var utf8Charsets = map[string]bool{"utf8": true, "utf8mb3": true, "utf8mb4": true, "ascii": true}

// byteCharset describes a single-byte MySQL character set as an x/text
// charmap and the places where MySQL's own table differs from it.
type byteCharset struct {
	base *charmap.Charmap
	// c1 maps 0x80-0x9F to the C1 controls U+0080-U+009F, as MySQL's
	// ISO-8859 tables do (x/text leaves them undefined).
	c1 bool
	// fix lists the bytes MySQL maps differently from base.
	fix map[byte]rune
	// undefined is what the bytes base leaves undefined (U+FFFD) and fix
	// does not list become: what MySQL's conversion to utf8mb4 returns for
	// them, '?' when zero.
	undefined rune
}

// byteCharsets lists the single-byte character sets. Each table was compared
// byte by byte with MariaDB 10.11's CONVERT(... USING utf8mb4); the
// integration test repeats that comparison.
var byteCharsets = map[string]byteCharset{
	// MySQL's latin1 is Windows-1252 with the five bytes Windows leaves
	// undefined mapped to the C1 controls of the same number.
	"latin1": {base: charmap.Windows1252, fix: map[byte]rune{
		0x81: 0x81, 0x8D: 0x8D, 0x8F: 0x8F, 0x90: 0x90, 0x9D: 0x9D}},
	"latin2": {base: charmap.ISO8859_2, c1: true},
	"latin5": {base: charmap.ISO8859_9, c1: true},
	"latin7": {base: charmap.ISO8859_13, c1: true},
	"greek": {base: charmap.ISO8859_7, c1: true, fix: map[byte]rune{
		0xA1: 0x02BD, 0xA2: 0x02BC, 0xA4: '?', 0xA5: '?', 0xAA: '?'}},
	"hebrew":   {base: charmap.ISO8859_8, c1: true, fix: map[byte]rune{0xAF: 0x203E}},
	"tis620":   {base: charmap.Windows874, c1: true, fix: map[byte]rune{0xA0: utf8.RuneError}, undefined: utf8.RuneError},
	"cp1250":   {base: charmap.Windows1250},
	"cp1251":   {base: charmap.Windows1251},
	"cp1257":   {base: charmap.Windows1257},
	"cp850":    {base: charmap.CodePage850},
	"cp852":    {base: charmap.CodePage852},
	"koi8r":    {base: charmap.KOI8R},
	"macroman": {base: charmap.Macintosh},
	"cp1256": {base: charmap.Windows1256, fix: map[byte]rune{
		0x8A: '?', 0x8F: '?', 0x98: '?', 0x9A: '?', 0x9F: '?', 0xAA: '?', 0xC0: '?', 0xFF: '?'}},
	"cp866": {base: charmap.CodePage866, fix: map[byte]rune{0xFC: 0x207F, 0xFD: 0x00B2}},
	"koi8u": {base: charmap.KOI8U, fix: map[byte]rune{0x95: 0x2022, 0xAE: 0x255D, 0xBE: 0x256C}},
}

// multiCharset is a multi-byte MySQL character set: an x/text encoding and
// the characters it decodes where MySQL's table has another one.
type multiCharset struct {
	enc encoding.Encoding
	fix map[rune]rune
}

// jisFix maps the characters where x/text (WHATWG) follows Microsoft's
// mapping of JIS X 0208 and MySQL's sjis and ujis follow JIS's: 0x815F is
// '\\' in MySQL, '＼' in x/text. Those two have no code for the Microsoft
// forms, so the fix cannot hit another character.
var jisFix = map[rune]rune{'＼': '\\', '～': '〜', '∥': '‖', '－': '−', '￠': '¢', '￡': '£', '￢': '¬'}

// multiCharsets lists the multi-byte character sets. The East Asian tables
// of x/text follow the WHATWG encodings, which differ from MySQL's tables
// in a few places docs/types-mysql.md lists; both read paths decode the
// stored bytes with the same table, so they agree.
var multiCharsets = map[string]multiCharset{
	"gbk":     {enc: simplifiedchinese.GBK},
	"gb2312":  {enc: simplifiedchinese.GBK, fix: map[rune]rune{'·': '・', '—': '―'}},
	"gb18030": {enc: simplifiedchinese.GB18030},
	"big5":    {enc: traditionalchinese.Big5},
	"sjis":    {enc: japanese.ShiftJIS, fix: jisFix},
	"cp932":   {enc: japanese.ShiftJIS},
	"ujis":    {enc: japanese.EUCJP, fix: jisFix},
	"eucjpms": {enc: japanese.EUCJP},
	"euckr":   {enc: korean.EUCKR},
	"ucs2":    {enc: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)},
	"utf16":   {enc: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)},
	"utf16le": {enc: unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)},
	"utf32":   {enc: utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)},
}

// charsetDecoder returns the decoder of a MySQL character set name, or nil
// when the text is already UTF-8 or the set is "binary". It fails for a
// character set it does not know, so that a table using one is reported
// when its schema is read, not when its first row arrives.
func charsetDecoder(name string) (*textDecoder, error) {
	name = strings.ToLower(name)
	if name == "" || utf8Charsets[name] || name == "binary" {
		return nil, nil
	}
	if bc, ok := byteCharsets[name]; ok {
		return &textDecoder{name: name, table: bc.table()}, nil
	}
	if mc, ok := multiCharsets[name]; ok {
		return &textDecoder{name: name, enc: mc.enc, fix: mc.fix}, nil
	}
	return nil, fmt.Errorf("character set %q: %w", name, errUnknownCharset)
}

// table builds the 256-entry byte-to-rune table of a single-byte charset.
func (bc byteCharset) table() *[256]rune {
	var t [256]rune
	for i := range t {
		b := byte(i)
		r, ok := bc.fix[b]
		switch {
		case ok:
		case bc.c1 && b >= 0x80 && b < 0xA0:
			r = rune(b)
		default:
			if r = bc.base.DecodeByte(b); r == utf8.RuneError {
				r = cmp.Or(bc.undefined, '?')
			}
		}
		t[i] = r
	}
	return &t
}

// decode converts b to UTF-8. Sequences that are invalid in a multi-byte
// charset become U+FFFD.
func (d *textDecoder) decode(b []byte) (string, error) {
	if d.table != nil {
		var sb strings.Builder
		sb.Grow(len(b))
		for _, c := range b {
			if c < utf8.RuneSelf {
				sb.WriteByte(c)
			} else {
				sb.WriteRune(d.table[c])
			}
		}
		return sb.String(), nil
	}
	out, err := d.enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", fmt.Errorf("decode %s text: %w", d.name, err)
	}
	if d.fix == nil {
		return string(out), nil
	}
	return strings.Map(func(r rune) rune { return cmp.Or(d.fix[r], r) }, string(out)), nil
}

// textDecimal returns a DECIMAL in MySQL's canonical text: no leading
// zeros but one before the point, exactly Scale fractional digits, and no
// sign on zero.
func textDecimal(c *column, b []byte) (any, error) {
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	ip, fp, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if !allDigits(ip) || !allDigits(fp) || ip == "" && fp == "" {
		return nil, fmt.Errorf("bad decimal %q", s)
	}
	scale := c.Type.Scale
	if len(fp) > scale {
		if strings.TrimRight(fp[scale:], "0") != "" {
			return nil, fmt.Errorf("decimal %q has more than %d fractional digits", s, scale)
		}
		fp = fp[:scale]
	}
	fp += strings.Repeat("0", scale-len(fp))
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	out := ip
	if scale > 0 {
		out += "." + fp
	}
	if neg && strings.Trim(ip+fp, "0") != "" {
		out = "-" + out
	}
	return out, nil
}

// allDigits reports whether s holds only ASCII digits.
func allDigits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// textDate reads "YYYY-MM-DD" as days since 1970-01-01. A zero date or a
// date with a zero month or day is nil.
func textDate(_ *column, b []byte) (any, error) {
	days, ok, err := parseDate(b)
	if !ok || err != nil {
		return nil, err
	}
	return int32(days), nil
}

// textDateTime reads "YYYY-MM-DD hh:mm:ss[.ffffff]" as microseconds since
// the epoch; for TIMESTAMP the text is UTC. Zero dates are nil.
func textDateTime(_ *column, b []byte) (any, error) {
	if len(b) < 19 || b[10] != ' ' {
		return nil, fmt.Errorf("bad datetime %q", b)
	}
	days, ok, err := parseDate(b[:10])
	if !ok || err != nil {
		return nil, err
	}
	us, err := parseClock(b[11:])
	if err != nil {
		return nil, fmt.Errorf("bad datetime %q: %w", b, err)
	}
	return days*86_400_000_000 + us, nil
}

// textTime reads "[-]h[hh]:mm:ss[.ffffff]" as microseconds.
func textTime(_ *column, b []byte) (any, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	us, err := parseClock(b)
	if err != nil {
		return nil, fmt.Errorf("bad time %q: %w", b, err)
	}
	if neg {
		us = -us
	}
	return us, nil
}

// parseDate reads "YYYY-MM-DD" as days since 1970-01-01; ok is false for a
// zero month or day. Days of invalid dates that ALLOW_INVALID_DATES lets
// in, such as February 31, run on into the next month.
func parseDate(b []byte) (days int64, ok bool, err error) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false, fmt.Errorf("bad date %q", b)
	}
	y, ok1 := parseDigits(b[:4])
	m, ok2 := parseDigits(b[5:7])
	d, ok3 := parseDigits(b[8:10])
	if !ok1 || !ok2 || !ok3 {
		return 0, false, fmt.Errorf("bad date %q", b)
	}
	if m == 0 || d == 0 {
		return 0, false, nil
	}
	return daysFromCivil(y, m, d), true, nil
}

// parseClock reads "h+:mm:ss[.f{1,6}]" as microseconds.
func parseClock(b []byte) (int64, error) {
	hms, frac, dot := strings.Cut(string(b), ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 || len(parts[1]) != 2 || len(parts[2]) != 2 || dot && (frac == "" || len(frac) > 6) {
		return 0, errors.New("want h:mm:ss[.ffffff]")
	}
	h, ok1 := parseDigits([]byte(parts[0]))
	m, ok2 := parseDigits([]byte(parts[1]))
	s, ok3 := parseDigits([]byte(parts[2]))
	f, ok4 := parseDigits([]byte(frac + "000000"[len(frac):]))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, errors.New("want digits")
	}
	return ((h*60+m)*60+s)*1_000_000 + f, nil
}

// parseDigits reads 1 to 18 ASCII digits.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// textString converts stored text to UTF-8. CHAR loses its trailing spaces
// on both paths, as MySQL returns it without PAD_CHAR_TO_FULL_LENGTH.
func textString(c *column, b []byte) (any, error) {
	var s string
	if c.dec != nil {
		var err error
		if s, err = c.dec.decode(b); err != nil {
			return nil, err
		}
	} else {
		s = string(b)
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	if c.sqlType == gomysql.MYSQL_TYPE_STRING {
		s = strings.TrimRight(s, " ")
	}
	return s, nil
}

// canonicalJSON rewrites a JSON document in one canonical form, so that the
// binlog's JSON (go-mysql renders MySQL's binary JSON through a Go map, or
// as MySQL text with RenderJSONAsMySQLText) and the protocol's JSON (MySQL
// text) agree: no insignificant space; object members in MySQL's order
// (shorter keys first, then by bytes); strings escaped only where JSON
// requires; numbers with their digits kept exactly but spelled one way
// (see appendNumber). An empty document, which the binlog gives for an
// empty value, is the JSON null literal, as MySQL reads it.
func canonicalJSON(b []byte) (string, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return "null", nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return "", errors.New("bad JSON: data after the document")
	}
	return string(appendJSON(nil, v)), nil
}

// appendJSON appends a decoded JSON value in canonical form.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case json.Number:
		return appendNumber(b, string(x))
	case string:
		return appendJSONString(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := slices.SortedFunc(maps.Keys(x), func(p, q string) int {
			return cmp.Or(cmp.Compare(len(p), len(q)), strings.Compare(p, q))
		})
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, k), ':')
			b = appendJSON(b, x[k])
		}
		return append(b, '}')
	}
	panic(fmt.Sprintf("appendJSON: unexpected %T", v)) // encoding/json yields only the types above
}

// jsonEscapes are the short escapes of JSON strings.
var jsonEscapes = map[byte]string{'"': `\"`, '\\': `\\`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}

// appendJSONString appends s as a JSON string, escaping only the quote, the
// backslash and control characters.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if e, ok := jsonEscapes[c]; ok {
			b = append(b, e...)
		} else if c < 0x20 {
			b = fmt.Appendf(b, `\u%04x`, c)
		} else {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendNumber appends a JSON number literal in one spelling for each
// value: "1.50", "1.5" and "15e-1" all become "1.5", "1e+300" and "1E300"
// become "1e+300". Digits are never rounded, so 64-bit integers and
// decimals stay exact. The literal is plain when 1e-6 <= |x| < 1e21 and in
// exponent form otherwise, as Go's encoding/json writes floats.
func appendNumber(b []byte, lit string) []byte {
	neg := strings.HasPrefix(lit, "-")
	mant, exp, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(lit, "-")), "e")
	e, err := strconv.Atoi(exp)
	if exp != "" && err != nil {
		return append(b, lit...) // an exponent beyond int: leave it alone
	}
	ip, fp, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(ip+fp, "0")
	point := len(ip) + e - (len(ip) + len(fp) - len(digits)) // digits are 0.<digits> * 10^point
	digits = strings.TrimRight(digits, "0")
	if neg {
		b = append(b, '-')
	}
	switch {
	case digits == "":
		return append(b, '0')
	case point > 21 || point < -5:
		b = append(b, digits[0])
		if len(digits) > 1 {
			b = append(append(b, '.'), digits[1:]...)
		}
		b = append(b, 'e')
		if point-1 >= 0 {
			b = append(b, '+')
		}
		return strconv.AppendInt(b, int64(point-1), 10)
	case point <= 0:
		b = append(b, "0."...)
		return append(append(b, strings.Repeat("0", -point)...), digits...)
	case point >= len(digits):
		return append(append(b, digits...), strings.Repeat("0", point-len(digits))...)
	}
	return append(append(append(b, digits[:point]...), '.'), digits[point:]...)
}
