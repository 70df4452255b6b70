package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
	"unsafe"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/internal/box"
	"github.com/tributary-dev/tributary/schema"
)

// This file decodes the row images of a binlog rows event straight from
// its bytes into neutral values. go-mysql's own decoding boxes every value
// as its Go type, formats decimals, dates and times as text and rebuilds
// the table's unsigned map for every image; fromBinlog then parses that
// text back and boxes each value again. Here each value is read once into
// the value fromBinlog would give: the same function of the same bytes,
// which TestTypesMariaDB checks for every type against go-mysql's path.
//
// The reader's BinlogSyncer decodes only the header of a rows event
// (headerOnly); the feed keeps the rows' bytes with the event. Tables with
// a column this file cannot read (MySQL's binary JSON, the temporal types
// of MySQL before 5.6.4), compressed and partial events, and images
// without every column, go through go-mysql's DecodeData and fromBinlog.

// headerOnly is the BinlogSyncer's RowsEventDecodeFunc: it decodes the
// header of a rows event and hands the undecoded rows to the feed, which
// queues them with the event.
func (f *feed) headerOnly(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	f.lastRows, f.lastBody = e, data[pos:]
	return nil
}

// binlogDecoder reads one value of a column from in.b at in.pos and moves
// in.pos past it. meta is the column's binlog metadata.
type binlogDecoder func(c *column, in *rowInput, meta uint16) (any, error)

// rowInput is the undecoded rows of one event.
type rowInput struct {
	b   []byte
	s   string // b as a string, set when the table has text columns
	pos int
	box *box.Boxer // boxes the hot kinds' values (strings, integers)
}

// need fails unless n more bytes follow the position.
func (in *rowInput) need(n int) error {
	if n < 0 || in.pos+n > len(in.b) {
		return fmt.Errorf("rows event ends %d bytes into a value of %d", len(in.b)-in.pos, n)
	}
	return nil
}

// rowDecoder reads the row images of one table map.
type rowDecoder struct {
	cols []column
	fns  []binlogDecoder
	meta []uint16
	text bool // some column is text read from in.s
	box  box.Boxer
	vals []any   // values to hand out to row images
	rows [][]any // the slice decode returns, reused
}

// binlogDecoders holds the decoder of each binlog column type this file
// reads; a STRING column's entry is chosen by its real type (ENUM, SET or
// STRING). The old DATETIME, TIMESTAMP and TIME, and JSON, have none.
var binlogDecoders = map[byte]binlogDecoder{
	gomysql.MYSQL_TYPE_TINY:       decodeBinlogInt(1),
	gomysql.MYSQL_TYPE_SHORT:      decodeBinlogInt(2),
	gomysql.MYSQL_TYPE_INT24:      decodeBinlogInt(3),
	gomysql.MYSQL_TYPE_LONG:       decodeBinlogInt(4),
	gomysql.MYSQL_TYPE_LONGLONG:   decodeBinlogInt(8),
	gomysql.MYSQL_TYPE_YEAR:       decodeBinlogYear,
	gomysql.MYSQL_TYPE_FLOAT:      decodeBinlogFloat,
	gomysql.MYSQL_TYPE_DOUBLE:     decodeBinlogDouble,
	gomysql.MYSQL_TYPE_NEWDECIMAL: decodeBinlogDecimal,
	gomysql.MYSQL_TYPE_BIT:        decodeBinlogBit,
	gomysql.MYSQL_TYPE_DATE:       decodeBinlogDate,
	gomysql.MYSQL_TYPE_DATETIME2:  decodeBinlogDatetime2,
	gomysql.MYSQL_TYPE_TIMESTAMP2: decodeBinlogTimestamp2,
	gomysql.MYSQL_TYPE_TIME2:      decodeBinlogTime2,
	gomysql.MYSQL_TYPE_ENUM:       decodeBinlogEnum,
	gomysql.MYSQL_TYPE_SET:        decodeBinlogSet,
	gomysql.MYSQL_TYPE_VARCHAR:    decodeBinlogVarchar,
	gomysql.MYSQL_TYPE_VAR_STRING: decodeBinlogVarchar,
	gomysql.MYSQL_TYPE_STRING:     decodeBinlogString,
	gomysql.MYSQL_TYPE_BLOB:       decodeBinlogBlob,
	gomysql.MYSQL_TYPE_GEOMETRY:   decodeBinlogBlob,
}

// newRowDecoder returns the decoder of a table map's rows with the columns
// the registry resolved for it, or nil when a column has a type this file
// does not read or disagrees with the table map.
func newRowDecoder(tme *replication.TableMapEvent, cols []column) *rowDecoder {
	if len(cols) != int(tme.ColumnCount) || len(tme.ColumnType) != len(cols) || len(tme.ColumnMeta) != len(cols) {
		return nil
	}
	d := &rowDecoder{cols: cols, fns: make([]binlogDecoder, len(cols)), meta: tme.ColumnMeta}
	for i := range cols {
		typ, meta := tme.ColumnType[i], tme.ColumnMeta[i]
		real, _ := binlogRealType(typ, meta)
		if real != cols[i].sqlType {
			return nil
		}
		if typ == gomysql.MYSQL_TYPE_STRING {
			typ = real // ENUM, SET or STRING
		}
		fn, ok := binlogDecoders[typ]
		if !ok {
			return nil
		}
		d.fns[i] = fn
		if cols[i].Type.Kind == schema.KindString && cols[i].dec == nil {
			d.text = true
		}
	}
	return d
}

// fastRows reports whether a rows event's images can be read by a
// rowDecoder: an uncompressed, non-partial event with every column in
// each image.
func fastRows(e *replication.RowsEvent, h *replication.EventHeader) bool {
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2:
	default:
		return false
	}
	n := int(e.ColumnCount)
	return allSet(e.ColumnBitmap1, n) && (e.Type() != replication.EnumRowsEventTypeUpdate || allSet(e.ColumnBitmap2, n))
}

// allSet reports whether the first n bits of a column bitmap are set.
func allSet(bitmap []byte, n int) bool {
	if len(bitmap) < (n+7)/8 {
		return false
	}
	for i := 0; i < n/8; i++ {
		if bitmap[i] != 0xFF {
			return false
		}
	}
	if r := n % 8; r != 0 && bitmap[n/8]&(1<<r-1) != 1<<r-1 {
		return false
	}
	return true
}

// decode reads every image of body: one per insert or delete, before and
// after images in turn for an update. The returned slice is valid until
// the next decode; the rows in it stay valid.
func (d *rowDecoder) decode(t schema.TableID, body []byte) ([][]any, error) {
	in := rowInput{b: body, box: &d.box}
	if d.text {
		// Text values are substrings of the event's own bytes, without a
		// copy: go-mysql reads each packet into a new buffer, which
		// nothing writes again.
		in.s = unsafe.String(unsafe.SliceData(body), len(body))
	}
	n := len(d.cols)
	nullBytes := (n + 7) / 8
	rows := d.rows[:0]
	for in.pos < len(in.b) {
		start := in.pos
		if len(d.vals) < n {
			// Room for the rest of the event, guessed from the size of
			// the first row, and for the next events.
			more := 1
			if len(rows) > 0 {
				more = (len(in.b)-in.pos)*len(rows)/in.pos + 1
			}
			d.vals = make([]any, max(n*more, valsChunk))
		}
		row := d.vals[:n:n]
		d.vals = d.vals[n:]
		if err := d.decodeImage(t, &in, row, nullBytes); err != nil {
			return nil, err
		}
		if rows == nil {
			rows = make([][]any, 0, len(in.b)/max(in.pos-start, 1))
		}
		rows = append(rows, row)
	}
	d.rows = rows
	return rows, nil
}

// valsChunk is the fewest values allocated together for row images.
const valsChunk = 256

// decodeImage reads one image into row.
func (d *rowDecoder) decodeImage(t schema.TableID, in *rowInput, row []any, nullBytes int) error {
	if err := in.need(nullBytes); err != nil {
		return fmt.Errorf("mysql decode rows of %s: %w", t, err)
	}
	nulls := in.b[in.pos : in.pos+nullBytes]
	in.pos += nullBytes
	for i := range d.cols {
		if nulls[i>>3]&(1<<(i&7)) != 0 {
			continue
		}
		c := &d.cols[i]
		v, err := d.fns[i](c, in, d.meta[i])
		if err != nil {
			return fmt.Errorf("mysql decode %s.%s: decode binlog value of %s %s: %w", t, c.Name, c.Name, c.Type.Native, err)
		}
		row[i] = v
	}
	return nil
}

// decodeBinlogInt reads a little-endian integer of size bytes, signed or
// unsigned as the column is, as its kind's Go type.
func decodeBinlogInt(size int) binlogDecoder {
	return func(c *column, in *rowInput, _ uint16) (any, error) {
		if err := in.need(size); err != nil {
			return nil, err
		}
		b := in.b[in.pos : in.pos+size]
		in.pos += size
		var u uint64
		for i := size - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if c.Type.Kind == schema.KindUint64 {
			return in.box.U64(u), nil
		}
		if !c.unsigned && size < 8 { // sign-extend
			shift := 64 - 8*size
			return in.box.I64(int64(u<<shift) >> shift), nil
		}
		return in.box.I64(int64(u)), nil
	}
}

// decodeBinlogYear reads YEAR's byte: 0, or the year less 1900.
func decodeBinlogYear(_ *column, in *rowInput, _ uint16) (any, error) {
	if err := in.need(1); err != nil {
		return nil, err
	}
	y := int64(in.b[in.pos])
	in.pos++
	if y != 0 {
		y += 1900
	}
	return y, nil
}

func decodeBinlogFloat(_ *column, in *rowInput, _ uint16) (any, error) {
	if err := in.need(4); err != nil {
		return nil, err
	}
	f := math.Float32frombits(binary.LittleEndian.Uint32(in.b[in.pos:]))
	in.pos += 4
	return f, nil
}

func decodeBinlogDouble(_ *column, in *rowInput, _ uint16) (any, error) {
	if err := in.need(8); err != nil {
		return nil, err
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(in.b[in.pos:]))
	in.pos += 8
	return f, nil
}

// bigEndian reads b as a big-endian unsigned integer.
func bigEndian(b []byte) uint64 {
	var u uint64
	for _, x := range b {
		u = u<<8 | uint64(x)
	}
	return u
}

// decodeBinlogBit reads a BIT value: (width+7)/8 big-endian bytes.
func decodeBinlogBit(_ *column, in *rowInput, meta uint16) (any, error) {
	n := (int(meta>>8)*8 + int(meta&0xFF) + 7) / 8
	if n < 1 || n > 8 {
		return nil, fmt.Errorf("invalid bit length %d", n)
	}
	if err := in.need(n); err != nil {
		return nil, err
	}
	u := bigEndian(in.b[in.pos : in.pos+n])
	in.pos += n
	return u, nil
}

// decodeBinlogEnum reads a 1- or 2-byte ENUM index.
func decodeBinlogEnum(c *column, in *rowInput, meta uint16) (any, error) {
	n := int(meta & 0xFF)
	if n != 1 && n != 2 {
		return nil, fmt.Errorf("unknown ENUM packlen=%d", n)
	}
	if err := in.need(n); err != nil {
		return nil, err
	}
	i := int64(in.b[in.pos])
	if n == 2 {
		i = int64(binary.LittleEndian.Uint16(in.b[in.pos:]))
	}
	in.pos += n
	return binlogEnum(c, i)
}

// decodeBinlogSet reads a SET bitmask of 1 to 8 little-endian bytes.
func decodeBinlogSet(c *column, in *rowInput, meta uint16) (any, error) {
	n := int(meta & 0xFF)
	if n < 1 || n > 8 {
		return nil, fmt.Errorf("invalid bit length %d", n)
	}
	if err := in.need(n); err != nil {
		return nil, err
	}
	var u uint64
	for i := n - 1; i >= 0; i-- {
		u = u<<8 | uint64(in.b[in.pos+i])
	}
	in.pos += n
	return binlogSet(c, int64(u))
}

// decodeBinlogVarchar reads a VARCHAR or VARBINARY: a length of one byte,
// two when the column can hold more than 255 bytes, then the bytes.
func decodeBinlogVarchar(c *column, in *rowInput, meta uint16) (any, error) {
	return in.lengthPrefixed(c, 1+btoi(meta > 255))
}

// decodeBinlogString reads a CHAR or BINARY: like a VARCHAR, with a length
// of two bytes when the column can hold more than 255 bytes.
func decodeBinlogString(c *column, in *rowInput, meta uint16) (any, error) {
	_, length := binlogRealType(gomysql.MYSQL_TYPE_STRING, meta)
	return in.lengthPrefixed(c, 1+btoi(length > 255))
}

// decodeBinlogBlob reads a TEXT, BLOB or GEOMETRY: a length of meta bytes,
// then the bytes.
func decodeBinlogBlob(c *column, in *rowInput, meta uint16) (any, error) {
	if meta < 1 || meta > 4 {
		return nil, fmt.Errorf("invalid blob packlen = %d", meta)
	}
	return in.lengthPrefixed(c, int(meta))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lengthPrefixed reads a little-endian length of size bytes and that many
// bytes, as the column's kind.
func (in *rowInput) lengthPrefixed(c *column, size int) (any, error) {
	if err := in.need(size); err != nil {
		return nil, err
	}
	var n uint64
	for i := size - 1; i >= 0; i-- {
		n = n<<8 | uint64(in.b[in.pos+i])
	}
	in.pos += size
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("value of %d bytes", n)
	}
	if err := in.need(int(n)); err != nil {
		return nil, err
	}
	a, b := in.pos, in.pos+int(n)
	in.pos = b
	switch c.Type.Kind {
	case schema.KindString:
		if c.dec != nil {
			return textString(c, in.b[a:b])
		}
		// A substring of the event's text: no copy.
		s := in.s[a:b]
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		if c.sqlType == gomysql.MYSQL_TYPE_STRING {
			s = strings.TrimRight(s, " ")
		}
		return in.box.Str(s), nil
	case schema.KindBytes:
		return textBytes(c, in.b[a:b])
	case schema.KindUUID:
		return storedUUID(c, in.b[a:b])
	case schema.KindInet:
		return storedInet6(c, in.b[a:b])
	case schema.KindGeometry:
		return textGeometry(c, in.b[a:b])
	}
	return nil, fmt.Errorf("kind %s from a string column", c.Type.Kind)
}

// decodeBinlogDate reads a DATE: 3 bytes holding day, month and year in 5,
// 4 and 15 bits, as days since 1970-01-01, or nil for a zero date or one
// with a zero month or day.
func decodeBinlogDate(_ *column, in *rowInput, _ uint16) (any, error) {
	if err := in.need(3); err != nil {
		return nil, err
	}
	x := int64(in.b[in.pos]) | int64(in.b[in.pos+1])<<8 | int64(in.b[in.pos+2])<<16
	in.pos += 3
	y, m, d := x/(16*32), x/32%16, x%32
	switch {
	case y > 9999:
		return nil, fmt.Errorf("bad date %04d-%02d-%02d", y, m, d)
	case m == 0 || d == 0:
		return nil, nil
	}
	return int32(daysFromCivil(y, m, d)), nil
}

// fracDigits reads the fractional seconds of a temporal value with fsp
// digits, stored in (fsp+1)/2 big-endian bytes, as microseconds.
func fracDigits(b []byte, fsp uint16) int64 {
	switch fsp {
	case 1, 2:
		return int64(b[0]) * 10000
	case 3, 4:
		return int64(binary.BigEndian.Uint16(b)) * 100
	case 5, 6:
		return int64(bigEndian(b[:3]))
	}
	return 0
}

// truncFrac keeps the first fsp of six fractional digits, as go-mysql's
// text does.
func truncFrac(us int64, fsp uint16) int64 {
	if fsp >= 6 {
		return us
	}
	p := pow10[6-fsp]
	return us - us%p
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000}

// decodeBinlogDatetime2 reads a DATETIME(fsp) of MySQL 5.6.4 and later as
// microseconds since the epoch; a zero date, or one with a zero month or
// day, is nil.
func decodeBinlogDatetime2(_ *column, in *rowInput, fsp uint16) (any, error) {
	if fsp > 6 {
		return nil, fmt.Errorf("datetime fsp %d", fsp)
	}
	n := 5 + int(fsp+1)/2
	if err := in.need(n); err != nil {
		return nil, err
	}
	b := in.b[in.pos : in.pos+n]
	in.pos += n
	intPart := int64(bigEndian(b[:5])) - 0x8000000000
	frac := fracDigits(b[5:], fsp)
	if intPart == 0 {
		return nil, nil
	}
	if frac > 999_999 {
		return nil, fmt.Errorf("datetime fraction %d out of range", frac)
	}
	tmp := intPart<<24 + frac
	if tmp < 0 {
		tmp = -tmp
	}
	ymdhms := tmp >> 24
	ymd, hms := ymdhms>>17, ymdhms%(1<<17)
	day, ym := ymd%(1<<5), ymd>>5
	month, year := ym%13, ym/13
	sec, min, hour := hms%(1<<6), (hms>>6)%(1<<6), hms>>12
	switch {
	case year > 9999:
		return nil, fmt.Errorf("bad datetime year %d", year)
	case month == 0 || day == 0:
		return nil, nil
	}
	return daysFromCivil(year, month, day)*86_400_000_000 + ((hour*60+min)*60+sec)*1_000_000 + truncFrac(frac, fsp), nil
}

// decodeBinlogTimestamp2 reads a TIMESTAMP(fsp): big-endian seconds since
// the epoch and the fraction, as microseconds; zero is nil.
func decodeBinlogTimestamp2(_ *column, in *rowInput, fsp uint16) (any, error) {
	if fsp > 6 {
		return nil, fmt.Errorf("timestamp fsp %d", fsp)
	}
	n := 4 + int(fsp+1)/2
	if err := in.need(n); err != nil {
		return nil, err
	}
	b := in.b[in.pos : in.pos+n]
	in.pos += n
	sec := int64(binary.BigEndian.Uint32(b))
	if sec == 0 {
		return nil, nil
	}
	return truncFrac(sec*1_000_000+fracDigits(b[4:], fsp), fsp), nil
}

// decodeBinlogTime2 reads a TIME(fsp) of MySQL 5.6.4 and later as signed
// microseconds.
func decodeBinlogTime2(c *column, in *rowInput, fsp uint16) (any, error) {
	if fsp > 6 {
		return nil, fmt.Errorf("time fsp %d", fsp)
	}
	n := 3 + int(fsp+1)/2
	if err := in.need(n); err != nil {
		return nil, err
	}
	b := in.b[in.pos : in.pos+n]
	in.pos += n
	var tmp int64
	switch fsp {
	case 1, 2, 3, 4:
		intPart := int64(bigEndian(b[:3])) - 0x800000
		frac, full, scale := int64(b[3]), int64(0x100), int64(10000)
		if fsp > 2 {
			frac, full, scale = int64(binary.BigEndian.Uint16(b[3:])), 0x10000, 100
		}
		if intPart < 0 && frac != 0 {
			// Negative values keep their fraction in reverse order.
			intPart++
			frac -= full
		}
		tmp = intPart<<24 + frac*scale
	case 5, 6:
		tmp = int64(bigEndian(b[:6])) - 0x800000000000
	default:
		tmp = (int64(bigEndian(b[:3])) - 0x800000) << 24
	}
	neg := tmp < 0
	if neg {
		tmp = -tmp
	}
	hms := tmp >> 24
	hour, min, sec := (hms>>12)%(1<<10), (hms>>6)%(1<<6), hms%(1<<6)
	frac := tmp % (1 << 24)
	if frac > 999_999 {
		return nil, fmt.Errorf("time fraction %d out of range", frac)
	}
	us := ((hour*60+min)*60+sec)*1_000_000 + truncFrac(frac, fsp)
	if neg {
		us = -us
	}
	return us, nil
}

// decimalBytes is the size of 0 to 9 digits of a binary DECIMAL.
var decimalBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decodeBinlogDecimal reads a binary DECIMAL(precision, scale) in the
// canonical text textDecimal gives: groups of nine digits in four bytes
// each, the leftover digits of each side in fewer, big-endian, the sign in
// the top bit and negative values with every bit inverted.
func decodeBinlogDecimal(c *column, in *rowInput, meta uint16) (any, error) {
	prec, scale := int(meta>>8), int(meta&0xFF)
	if scale > prec || prec > 65 || scale != c.Type.Scale {
		return nil, fmt.Errorf("decimal(%d,%d) in the binlog of a decimal with scale %d", prec, scale, c.Type.Scale)
	}
	intDigits := prec - scale
	intFull, intRest := intDigits/9, intDigits%9
	fracFull, fracRest := scale/9, scale%9
	size := intFull*4 + decimalBytes[intRest] + fracFull*4 + decimalBytes[fracRest]
	if err := in.need(size); err != nil {
		return nil, err
	}
	var raw [32]byte
	data := raw[:size]
	copy(data, in.b[in.pos:])
	in.pos += size
	if size == 0 {
		return nil, errors.New("decimal of no digits")
	}
	var mask byte
	neg := data[0]&0x80 == 0
	if neg {
		mask = 0xFF
	}
	data[0] ^= 0x80
	var text [80]byte
	out := text[:0]
	if neg {
		out = append(out, '-')
	}
	start := len(out)
	pos := 0
	group := func(n, digits int) (uint64, bool) {
		var v uint64
		for _, x := range data[pos : pos+n] {
			v = v<<8 | uint64(x^mask)
		}
		pos += n
		return v, v < uint64(pow10[min(digits, 6)])*uint64(pow10[max(digits-6, 0)])
	}
	var ok bool
	var v uint64
	if v, ok = group(decimalBytes[intRest], intRest); !ok {
		return nil, fmt.Errorf("bad decimal digits %d", v)
	}
	if v != 0 {
		out = appendUint(out, v, 0)
	}
	for range intFull {
		if v, ok = group(4, 9); !ok {
			return nil, fmt.Errorf("bad decimal digits %d", v)
		}
		if len(out) > start {
			out = appendUint(out, v, 9)
		} else if v != 0 {
			out = appendUint(out, v, 0)
		}
	}
	if len(out) == start {
		out = append(out, '0')
	}
	if scale > 0 {
		out = append(out, '.')
		for range fracFull {
			if v, ok = group(4, 9); !ok {
				return nil, fmt.Errorf("bad decimal digits %d", v)
			}
			out = appendUint(out, v, 9)
		}
		if fracRest > 0 {
			if v, ok = group(decimalBytes[fracRest], fracRest); !ok {
				return nil, fmt.Errorf("bad decimal digits %d", v)
			}
			out = appendUint(out, v, fracRest)
		}
	}
	if neg && allZeros(out[start:]) {
		out = out[start:] // no sign on zero
	}
	return string(out), nil
}

// allZeros reports whether decimal text has no digit but 0.
func allZeros(b []byte) bool {
	for _, c := range b {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// appendUint appends v in decimal, left-padded with zeros to width digits.
func appendUint(b []byte, v uint64, width int) []byte {
	var d [20]byte
	i := len(d)
	for v >= 10 {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	d[i] = byte('0' + v)
	for n := len(d) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, d[i:]...)
}
