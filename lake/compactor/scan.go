package compactor

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/schema"
)

// The envelope is the compactor's hot path: encoding/json spends most of
// its time on reflection and on validating the images twice. The scanner
// here walks a value once, validating it as strictly as encoding/json does,
// and decodes the envelope and its images itself (image.go). Anything it
// does not expect falls back to encoding/json and schema's decoders, whose
// results and errors are the ones reported: the scanner either agrees with
// them or gives up.

var errScan = errors.New("unexpected JSON")

// jsonScanner walks one JSON value.
type jsonScanner struct {
	b []byte
	i int
}

// ws skips white space.
func (s *jsonScanner) ws() {
	for s.i < len(s.b) && s.b[s.i] <= ' ' {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// strFlags say what a string holds besides printable ASCII.
type strFlags uint8

const (
	strEscaped  strFlags = 1 << iota // a backslash escape
	strNonASCII                      // valid UTF-8 beyond ASCII
	strBadUTF8                       // bytes that are not UTF-8, which decoding replaces by U+FFFD
)

// stopBytes are the bytes the string scanner looks at: the quote, the
// backslash, control characters and the bytes of non-ASCII UTF-8.
var stopBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stopMask flags, in the high bit of each byte, the stop bytes among the
// eight of x; the lowest flag is exact (higher ones may be borrows).
func stopMask(x uint64) uint64 {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((q-ones)&^q | (bs-ones)&^bs | (x - ones*0x20) | x) & highs
}

// nextStop returns the position of the first stop byte in b at or after
// i, or len(b).
func nextStop(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := stopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if stopBytes[b[i]] {
			break
		}
	}
	return i
}

// str reads a string, which must be next, and returns its raw content
// (between the quotes) and what it holds. It rejects what encoding/json
// rejects: control characters and bad escapes.
func (s *jsonScanner) str() (raw []byte, flags strFlags, err error) {
	if !s.consume('"') {
		return nil, 0, errScan
	}
	b := s.b
	start := s.i
	i := start
	for {
		i = nextStop(b, i)
		if i >= len(b) {
			return nil, 0, errScan
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], flags, nil
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(b) {
				return nil, 0, errScan
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return nil, 0, errScan
				}
				i += 6
			default:
				return nil, 0, errScan
			}
		case c < 0x20:
			return nil, 0, errScan
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				flags |= strBadUTF8
			} else {
				flags |= strNonASCII
			}
			i += size
		}
	}
}

// hex4 returns the value of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquote appends to dst the text of a string's raw content, which str
// has checked, as encoding/json decodes it: escapes resolved, bad UTF-8
// and lone surrogates replaced by U+FFFD.
func unquote(dst, raw []byte) []byte {
	for r := 0; r < len(raw); {
		switch c := raw[r]; {
		case c == '\\':
			e := raw[r+1]
			switch e {
			case 'b':
				e = '\b'
			case 'f':
				e = '\f'
			case 'n':
				e = '\n'
			case 'r':
				e = '\r'
			case 't':
				e = '\t'
			case 'u':
				rr := hex4(raw[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					var rr1 rune = -1
					if r+1 < len(raw) && raw[r] == '\\' && raw[r+1] == 'u' {
						rr1 = hex4(raw[r+2:])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			}
			dst = append(dst, e)
			r += 2
		case c < utf8.RuneSelf:
			n := r + 1
			for n < len(raw) && raw[n] < utf8.RuneSelf && raw[n] != '\\' {
				n++
			}
			dst = append(dst, raw[r:n]...)
			r = n
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			if rr == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[r:r+size]...)
			}
			r += size
		}
	}
	return dst
}

// text reads a string value as Go text.
func (s *jsonScanner) text() (string, error) {
	raw, flags, err := s.str()
	if err != nil {
		return "", err
	}
	return textOf(raw, flags), nil
}

// textOf returns the text of a string's raw content.
func textOf(raw []byte, flags strFlags) string {
	if flags&(strEscaped|strBadUTF8) == 0 {
		return string(raw)
	}
	return string(unquote(make([]byte, 0, len(raw)+8), raw))
}

// textBytes returns the text of a string's raw content as bytes: raw
// itself when it needs no decoding.
func textBytes(raw []byte, flags strFlags) []byte {
	if flags&(strEscaped|strBadUTF8) == 0 {
		return raw
	}
	return unquote(make([]byte, 0, len(raw)+8), raw)
}

// maxDepth bounds the nesting skip accepts, as encoding/json does.
const maxDepth = 10000

// skip moves past one value, checking it is valid JSON, and returns its
// bytes.
func (s *jsonScanner) skip() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.value(0); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// value moves past one value, checking it.
func (s *jsonScanner) value(depth int) error {
	switch c := s.peek(); c {
	case '"':
		_, _, err := s.str()
		return err
	case '{':
		if depth >= maxDepth {
			return errScan
		}
		s.i++
		if s.consume('}') {
			return nil
		}
		for {
			if _, _, err := s.str(); err != nil {
				return err
			}
			if !s.consume(':') {
				return errScan
			}
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if s.consume('}') {
				return nil
			}
			if !s.consume(',') {
				return errScan
			}
		}
	case '[':
		if depth >= maxDepth {
			return errScan
		}
		s.i++
		if s.consume(']') {
			return nil
		}
		for {
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if s.consume(']') {
				return nil
			}
			if !s.consume(',') {
				return errScan
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, err := s.number()
		return err
	}
}

func (s *jsonScanner) literal(lit string) error {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return nil
	}
	return errScan
}

// null reports whether null is next, and reads it.
func (s *jsonScanner) null() bool {
	return s.peek() == 'n' && s.literal("null") == nil
}

// number reads a number literal.
func (s *jsonScanner) number() ([]byte, error) {
	s.ws()
	b := s.b
	start, i := s.i, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return nil, errScan
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return nil, errScan
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, errScan
		}
	}
	s.i = i
	return b[start:i], nil
}

// numberInto reads a number literal into *n, and where it is, less
// start, into m; null leaves *n alone, as encoding/json does, and makes m
// a markNull.
func (s *jsonScanner) numberInto(n *rawNumber, m *sourceMark, start int) error {
	if s.null() {
		m.field = markNull
		return nil
	}
	b, err := s.number()
	if err != nil {
		return err
	}
	*n, m.from, m.to = b, s.i-len(b)-start, s.i-start
	return nil
}

// intInto reads an integer that fits int64 into *n; null leaves *n
// alone.
func (s *jsonScanner) intInto(n *int64) error {
	if s.null() {
		return nil
	}
	b, err := s.number()
	if err != nil {
		return err
	}
	x, ok := parseInt(b)
	if !ok {
		return errScan
	}
	*n = x
	return nil
}

// parseInt parses an integer as strconv.ParseInt(string(b), 10, 64)
// does, without the copy; ok is false where that fails, and for a + sign,
// which JSON does not allow.
func parseInt(b []byte) (n int64, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	limit := uint64(math.MaxInt64)
	if neg {
		b = b[1:]
		limit++
	}
	u, ok := parseUintMax(b, limit)
	if !ok {
		return 0, false
	}
	if neg {
		return -int64(u), true // -(1<<63) wraps to itself
	}
	return int64(u), true
}

// parseUint parses an integer as strconv.ParseUint(string(b), 10, 64)
// does; ok is false where that fails.
func parseUint(b []byte) (uint64, bool) { return parseUintMax(b, math.MaxUint64) }

func parseUintMax(b []byte, limit uint64) (n uint64, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// scanEnvelope decodes an envelope like decodeEnvelope, faster.
func scanEnvelope(value []byte) (*envelope, error) {
	return new(envelopeScanner).scan(value)
}

// envelopeScanner decodes one envelope after another and reuses its
// memory: the envelope scan returns is valid until the next call, and
// points into the value. Source fields that repeat the previous
// envelope's (database, table, binlog file) share its strings.
type envelopeScanner struct {
	env             envelope
	s               jsonScanner
	db, table, file string
	// guess and codec, when set, are the schema version the images are
	// decoded with as they are scanned (see envelope.guess): the last
	// record's, which the next one nearly always shares.
	guess *schema.Table
	codec *tableCodec
	// sourceSeen is set once the envelope's source block is read; memo
	// is how the last first one was read.
	sourceSeen bool
	memo       sourceMemo
}

// scan decodes value; when the scanner meets anything it does not expect
// it falls back to encoding/json (decodeEnvelope).
func (es *envelopeScanner) scan(value []byte) (*envelope, error) {
	es.env, es.sourceSeen = envelope{guess: es.guess}, false
	es.s = jsonScanner{b: value}
	if err := es.top(); err != nil || len(es.env.Op) != 1 || !es.s.end() {
		return decodeEnvelope(value)
	}
	return &es.env, nil
}

// top reads the envelope's object.
func (es *envelopeScanner) top() error {
	s, e := &es.s, &es.env
	if !s.consume('{') {
		return errScan
	}
	if s.consume('}') {
		return nil
	}
	for {
		key, flags, err := s.str()
		if err != nil || flags != 0 || !s.consume(':') {
			return errScan
		}
		switch string(key) {
		case "before":
			e.Before, e.before, err = es.image()
		case "after":
			e.After, e.after, err = es.image()
		case "op":
			if s.peek() != '"' {
				return errScan
			}
			e.Op, err = s.text()
		case "source":
			err = es.source()
		case "ts_ms", "transaction":
			_, err = s.skip()
		default:
			err = skipUnknown(s, key)
		}
		if err != nil {
			return err
		}
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return errScan
		}
	}
}

// skipUnknown skips the value of a key the envelope does not have. A key
// with upper-case letters may be one encoding/json matches without regard
// to case, which the scanner leaves to it (keys beyond ASCII never reach
// here).
func skipUnknown(s *jsonScanner, key []byte) error {
	for _, c := range key {
		if c >= 'A' && c <= 'Z' {
			return errScan
		}
	}
	_, err := s.skip()
	return err
}

// source reads the source block. The first one of an envelope starts
// where the previous envelope's did (a memo, see sourceMemo) when their
// bytes agree.
func (es *envelopeScanner) source() error {
	s, src := &es.s, &es.env.Source
	if s.peek() != '{' {
		return errScan
	}
	start := s.i
	block := s.b[start:]
	memo := !es.sourceSeen
	es.sourceSeen = true
	m := &es.memo
	more := false // a pair was read: a comma or the end comes next
	if memo {
		if k := m.match(block); k >= 0 {
			for i := range k + 1 {
				m.marks[i].apply(src, block)
			}
			s.i = start + m.marks[k].end
			m.marks = m.marks[:k+1]
			more = true
		} else {
			m.marks = m.marks[:0]
		}
	}
	if !more {
		s.i++
	}
	marking := memo
	for {
		if s.consume('}') {
			break
		}
		if more && !s.consume(',') {
			m.reset()
			return errScan
		}
		more = true
		mark, err := es.sourcePair(src, start)
		if err != nil {
			m.reset()
			return err
		}
		if marking = marking && mark.field != markUnsafe; marking {
			mark.end = s.i - start
			m.marks = append(m.marks, mark)
		}
	}
	if memo && len(m.marks) > 0 {
		end := m.marks[len(m.marks)-1].end + 1 // and the byte after the value
		if len(m.prefix) < end || string(m.prefix[:end]) != string(block[:end]) {
			m.prefix = append(m.prefix[:0], block[:end]...)
		}
	}
	return nil
}

// sourcePair reads one key and its value into src; start is where the
// block starts in the value. It returns what the pair did, for the memo.
func (es *envelopeScanner) sourcePair(src *sourceBlock, start int) (mark sourceMark, err error) {
	s := &es.s
	key, flags, err := s.str()
	if err != nil || flags != 0 || !s.consume(':') {
		return mark, errScan
	}
	switch string(key) {
	case "ts_ms":
		err = s.intInto(&src.TsMs)
		mark.field, mark.n = markTsMs, src.TsMs
	case "schema_version":
		v := int64(src.Version)
		err = s.intInto(&v)
		src.Version = int(v)
		mark.field, mark.n = markVersion, v
	case "db":
		src.DB, err = s.textLike(&es.db)
		mark.field, mark.s = markDB, src.DB
	case "table":
		src.Table, err = s.textLike(&es.table)
		mark.field, mark.s = markTable, src.Table
	case "file":
		src.File, err = s.textLike(&es.file)
		mark.field, mark.s = markFile, src.File
	case "gtid":
		var escaped bool
		src.GTID, escaped, err = s.rawText()
		mark.field, mark.from, mark.to = markGTID, s.i-1-len(src.GTID)-start, s.i-1-start
		if escaped {
			mark.field = markUnsafe
		}
	case "pos":
		mark.field = markPos
		err = s.numberInto(&src.Pos, &mark, start)
	case "lsn":
		mark.field = markLSN
		err = s.numberInto(&src.LSN, &mark, start)
	case "row":
		mark.field = markRow
		err = s.numberInto(&src.Row, &mark, start)
	case "unchanged":
		mark.field = markUnsafe
		var raw []byte
		if raw, err = s.skip(); err == nil {
			err = json.Unmarshal(raw, &src.Unchanged)
		}
	case "version", "connector", "name", "snapshot", "server_id", "txId":
		_, err = s.skip()
	default:
		mark.field = markUnsafe
		err = skipUnknown(s, key)
	}
	return mark, err
}

// sourceMemo remembers how the scanner read the last source block: the
// block's first bytes, and what each pair did (marks). A block that starts
// with the same bytes, up to the end of a pair and the byte after it, gets
// the same fields from those pairs.
type sourceMemo struct {
	prefix []byte
	marks  []sourceMark
}

// sourceMark is what one pair of the block did: where it ends and the
// field it set, to a number (n), a string (s) or a part of the block
// (from, to).
type sourceMark struct {
	end      int
	field    markField
	n        int64
	s        string
	from, to int
}

// markField says which field a pair set.
type markField uint8

const (
	markNone   markField = iota // a key the compactor skips
	markUnsafe                  // one the memo cannot replay: the marks stop before it
	markTsMs
	markVersion
	markDB
	markTable
	markFile
	markGTID
	markPos
	markLSN
	markRow
	markNull // a null, which leaves the field alone
)

// apply does to src what the pair did, in block.
func (m *sourceMark) apply(src *sourceBlock, block []byte) {
	switch m.field {
	case markTsMs:
		src.TsMs = m.n
	case markVersion:
		src.Version = int(m.n)
	case markDB:
		src.DB = m.s
	case markTable:
		src.Table = m.s
	case markFile:
		src.File = m.s
	case markGTID:
		src.GTID = rawText(block[m.from:m.to])
	case markPos:
		src.Pos = rawNumber(block[m.from:m.to])
	case markLSN:
		src.LSN = rawNumber(block[m.from:m.to])
	case markRow:
		src.Row = rawNumber(block[m.from:m.to])
	}
}

func (m *sourceMemo) reset() { m.prefix, m.marks = m.prefix[:0], m.marks[:0] }

// match returns the last mark block shares with the memo's block, -1 for
// none.
func (m *sourceMemo) match(block []byte) int {
	n := commonPrefix(block, m.prefix)
	k := len(m.marks) - 1
	for k >= 0 && m.marks[k].end >= n {
		k--
	}
	return k
}

// commonPrefix returns how many bytes a and b start with in common.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)>>3
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// textLike reads a string value like text, and returns *last instead of a
// new string when the value equals it; otherwise it sets *last. null
// (which encoding/json skips for a string field) is left to encoding/json.
func (s *jsonScanner) textLike(last *string) (string, error) {
	raw, flags, err := s.str()
	if err != nil {
		return "", err
	}
	if t := textBytes(raw, flags); string(t) != *last {
		*last = string(t)
	}
	return *last, nil
}

// rawText reads a string value as its text's bytes, which point into the
// value unless the string has escapes.
func (s *jsonScanner) rawText() (t rawText, escaped bool, err error) {
	raw, flags, err := s.str()
	if err != nil {
		return nil, false, err
	}
	return rawText(textBytes(raw, flags)), flags&(strEscaped|strBadUTF8) != 0, nil
}
