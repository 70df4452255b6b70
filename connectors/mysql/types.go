package mysql

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/schema"
)

// This file maps MySQL and MariaDB column types onto the neutral types of
// package schema, from both places a reader learns them: information_schema
// (before the snapshot) and binlog table maps (while streaming). Both must
// give Equal types for the same table; docs/types-mysql.md has the table.

// errNoRowMetadata is returned for a binlog table map without column names:
// the server must run with binlog_row_metadata=FULL.
var errNoRowMetadata = errors.New("binlog table map has no column metadata: set binlog_row_metadata=FULL")

// errUnsupportedType is returned for a column whose type has no neutral
// mapping.
var errUnsupportedType = errors.New("unsupported column type")

// column describes one source column as the reader decodes it. The same
// table gives the same column from columnFromInfo and columnsFromTableMap,
// apart from Type.Native, so either can decode values from either path.
type column struct {
	schema.Column
	// sqlType is the go-mysql MYSQL_TYPE_* constant of the column, one of
	// the keys of typeRows: STRING stands for CHAR and BINARY, VARCHAR for
	// VARCHAR and VARBINARY, BLOB for every TEXT and BLOB type, and the
	// binlog's DATETIME2, TIMESTAMP2 and TIME2 become DATETIME, TIMESTAMP
	// and TIME.
	sqlType  byte
	unsigned bool
	// charset is the MySQL character set of a CHAR, VARCHAR, TEXT, ENUM or
	// SET column, "binary" for BINARY, VARBINARY and BLOB, "" otherwise.
	charset string
	// length is the declared length in bytes of a CHAR, BINARY, VARCHAR or
	// VARBINARY column, and the maximum length of a TEXT or BLOB column.
	length int
	// dec decodes the stored text of a CHAR, VARCHAR or TEXT column to
	// UTF-8; nil when it is UTF-8 already.
	dec *textDecoder
}

// infoColumn is one row of information_schema.COLUMNS, as the reader
// queries it.
type infoColumn struct {
	Name       string
	DataType   string // DATA_TYPE: "int", "varchar", "enum"
	ColumnType string // COLUMN_TYPE: "int(10) unsigned", "enum('a','b')"
	Charset    string // CHARACTER_SET_NAME, "" when NULL
	Nullable   bool
	// NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION and
	// CHARACTER_OCTET_LENGTH, -1 when NULL.
	NumericPrecision, NumericScale, DatetimePrecision, CharOctetLength int64
}

// typeParam says which parameters a neutral type carries.
type typeParam uint8

const (
	paramNone    typeParam = iota
	paramDecimal           // Precision and Scale are the decimal's digits
	paramWidth             // Precision is the BIT width
	paramFSP               // Precision is the fractional-second digits
	paramText              // string, or bytes for the binary charset
	paramMembers           // Values are the ENUM or SET members
)

// typeRow is the neutral mapping of one MySQL type.
type typeRow struct {
	signed, unsigned schema.Kind
	param            typeParam
	name             string // the SQL name, for Type.Native
}

// typeRows maps each supported sqlType to its neutral kind. Unsigned
// integers widen to the next signed kind; BIGINT UNSIGNED is uint64.
var typeRows = map[byte]typeRow{
	gomysql.MYSQL_TYPE_TINY:       {schema.KindInt8, schema.KindInt16, paramNone, "tinyint"},
	gomysql.MYSQL_TYPE_SHORT:      {schema.KindInt16, schema.KindInt32, paramNone, "smallint"},
	gomysql.MYSQL_TYPE_INT24:      {schema.KindInt32, schema.KindInt32, paramNone, "mediumint"},
	gomysql.MYSQL_TYPE_LONG:       {schema.KindInt32, schema.KindInt64, paramNone, "int"},
	gomysql.MYSQL_TYPE_LONGLONG:   {schema.KindInt64, schema.KindUint64, paramNone, "bigint"},
	gomysql.MYSQL_TYPE_YEAR:       {schema.KindInt16, schema.KindInt16, paramNone, "year"},
	gomysql.MYSQL_TYPE_NEWDECIMAL: {schema.KindDecimal, schema.KindDecimal, paramDecimal, "decimal"},
	gomysql.MYSQL_TYPE_FLOAT:      {schema.KindFloat32, schema.KindFloat32, paramNone, "float"},
	gomysql.MYSQL_TYPE_DOUBLE:     {schema.KindFloat64, schema.KindFloat64, paramNone, "double"},
	gomysql.MYSQL_TYPE_BIT:        {schema.KindBit, schema.KindBit, paramWidth, "bit"},
	gomysql.MYSQL_TYPE_DATE:       {schema.KindDate, schema.KindDate, paramNone, "date"},
	gomysql.MYSQL_TYPE_DATETIME:   {schema.KindTimestamp, schema.KindTimestamp, paramFSP, "datetime"},
	gomysql.MYSQL_TYPE_TIMESTAMP:  {schema.KindTimestampTZ, schema.KindTimestampTZ, paramFSP, "timestamp"},
	gomysql.MYSQL_TYPE_TIME:       {schema.KindTime, schema.KindTime, paramFSP, "time"},
	gomysql.MYSQL_TYPE_STRING:     {schema.KindString, schema.KindString, paramText, "char"},
	gomysql.MYSQL_TYPE_VARCHAR:    {schema.KindString, schema.KindString, paramText, "varchar"},
	gomysql.MYSQL_TYPE_BLOB:       {schema.KindString, schema.KindString, paramText, "text"},
	gomysql.MYSQL_TYPE_ENUM:       {schema.KindEnum, schema.KindEnum, paramMembers, "enum"},
	gomysql.MYSQL_TYPE_SET:        {schema.KindSet, schema.KindSet, paramMembers, "set"},
	gomysql.MYSQL_TYPE_JSON:       {schema.KindJSON, schema.KindJSON, paramNone, "json"},
	gomysql.MYSQL_TYPE_GEOMETRY:   {schema.KindGeometry, schema.KindGeometry, paramNone, "geometry"},
}

// dataTypes maps information_schema's DATA_TYPE to a sqlType.
var dataTypes = map[string]byte{
	"tinyint": gomysql.MYSQL_TYPE_TINY, "smallint": gomysql.MYSQL_TYPE_SHORT,
	"mediumint": gomysql.MYSQL_TYPE_INT24, "int": gomysql.MYSQL_TYPE_LONG,
	"integer": gomysql.MYSQL_TYPE_LONG, "bigint": gomysql.MYSQL_TYPE_LONGLONG,
	"year": gomysql.MYSQL_TYPE_YEAR, "decimal": gomysql.MYSQL_TYPE_NEWDECIMAL,
	"numeric": gomysql.MYSQL_TYPE_NEWDECIMAL, "float": gomysql.MYSQL_TYPE_FLOAT,
	"double": gomysql.MYSQL_TYPE_DOUBLE, "real": gomysql.MYSQL_TYPE_DOUBLE,
	"bit": gomysql.MYSQL_TYPE_BIT, "date": gomysql.MYSQL_TYPE_DATE,
	"datetime": gomysql.MYSQL_TYPE_DATETIME, "timestamp": gomysql.MYSQL_TYPE_TIMESTAMP,
	"time": gomysql.MYSQL_TYPE_TIME,
	"char": gomysql.MYSQL_TYPE_STRING, "binary": gomysql.MYSQL_TYPE_STRING,
	"varchar": gomysql.MYSQL_TYPE_VARCHAR, "varbinary": gomysql.MYSQL_TYPE_VARCHAR,
	"tinytext": gomysql.MYSQL_TYPE_BLOB, "text": gomysql.MYSQL_TYPE_BLOB,
	"mediumtext": gomysql.MYSQL_TYPE_BLOB, "longtext": gomysql.MYSQL_TYPE_BLOB,
	"tinyblob": gomysql.MYSQL_TYPE_BLOB, "blob": gomysql.MYSQL_TYPE_BLOB,
	"mediumblob": gomysql.MYSQL_TYPE_BLOB, "longblob": gomysql.MYSQL_TYPE_BLOB,
	"enum": gomysql.MYSQL_TYPE_ENUM, "set": gomysql.MYSQL_TYPE_SET,
	"json":     gomysql.MYSQL_TYPE_JSON,
	"geometry": gomysql.MYSQL_TYPE_GEOMETRY, "point": gomysql.MYSQL_TYPE_GEOMETRY,
	"linestring": gomysql.MYSQL_TYPE_GEOMETRY, "polygon": gomysql.MYSQL_TYPE_GEOMETRY,
	"multipoint": gomysql.MYSQL_TYPE_GEOMETRY, "multilinestring": gomysql.MYSQL_TYPE_GEOMETRY,
	"multipolygon": gomysql.MYSQL_TYPE_GEOMETRY, "geometrycollection": gomysql.MYSQL_TYPE_GEOMETRY,
	"geomcollection": gomysql.MYSQL_TYPE_GEOMETRY,
}

// binaryDataTypes are the DATA_TYPEs that hold bytes, not text.
var binaryDataTypes = map[string]bool{
	"binary": true, "varbinary": true, "tinyblob": true, "blob": true, "mediumblob": true, "longblob": true,
}

// binlogTypes maps the binlog's own temporal types to their sqlType.
var binlogTypes = map[byte]byte{
	gomysql.MYSQL_TYPE_DATETIME2:  gomysql.MYSQL_TYPE_DATETIME,
	gomysql.MYSQL_TYPE_TIMESTAMP2: gomysql.MYSQL_TYPE_TIMESTAMP,
	gomysql.MYSQL_TYPE_TIME2:      gomysql.MYSQL_TYPE_TIME,
	gomysql.MYSQL_TYPE_NEWDATE:    gomysql.MYSQL_TYPE_DATE,
	gomysql.MYSQL_TYPE_VAR_STRING: gomysql.MYSQL_TYPE_VARCHAR,
}

// binlogTypeNames names the binlog types without a mapping, for errors.
var binlogTypeNames = map[byte]string{
	gomysql.MYSQL_TYPE_VECTOR:  "vector",
	gomysql.MYSQL_TYPE_DECIMAL: "decimal of MySQL before 5.0",
	gomysql.MYSQL_TYPE_NULL:    "null",
}

// blobLengths gives the maximum length of a TEXT or BLOB from the size of
// its length prefix, the binlog's metadata for it.
var blobLengths = [5]int{0, 1<<8 - 1, 1<<16 - 1, 1<<24 - 1, 1<<32 - 1}

// blobNames and textNames name TEXT and BLOB types by length prefix size.
var (
	blobNames = [5]string{"", "tinyblob", "blob", "mediumblob", "longblob"}
	textNames = [5]string{"", "tinytext", "text", "mediumtext", "longtext"}
)

// colSpec is a column as either schema source describes it, before mapping.
type colSpec struct {
	name        string
	sqlType     byte
	unsigned    bool
	nullable    bool
	charset     string
	prec, scale int
	length      int
	values      []string
	native      string
}

// unsupportedType returns the error for a column whose type has no mapping.
func unsupportedType(col, typ string) error {
	return fmt.Errorf("column %s: type %s: %w (exclude the table with tables.exclude)", col, typ, errUnsupportedType)
}

// columnFromInfo maps one information_schema.COLUMNS row. It fails for a
// type without a neutral mapping and for an unknown character set.
func columnFromInfo(ic infoColumn) (column, error) {
	dt := strings.ToLower(ic.DataType)
	if stored, ok := storedTypes[dt]; ok {
		s := colSpec{name: ic.Name, sqlType: gomysql.MYSQL_TYPE_STRING, nullable: ic.Nullable, native: dt, charset: "binary", length: stored.size}
		c, err := s.column()
		c.Type.Kind = stored.kind
		return c, err
	}
	st, ok := dataTypes[dt]
	if !ok {
		return column{}, unsupportedType(ic.Name, ic.ColumnType)
	}
	s := colSpec{
		name:     ic.Name,
		sqlType:  st,
		unsigned: strings.Contains(strings.ToLower(ic.ColumnType), "unsigned"),
		nullable: ic.Nullable,
		native:   ic.ColumnType,
	}
	switch typeRows[st].param {
	case paramDecimal:
		s.prec, s.scale = int(ic.NumericPrecision), int(ic.NumericScale)
	case paramWidth:
		s.prec = int(ic.NumericPrecision)
	case paramFSP:
		s.prec = int(max(ic.DatetimePrecision, 0))
	case paramText:
		s.charset, s.length = ic.Charset, int(ic.CharOctetLength)
		if binaryDataTypes[dt] {
			s.charset = "binary"
		}
	case paramMembers:
		s.charset = ic.Charset
		var err error
		if s.values, err = parseMembers(ic.ColumnType); err != nil {
			return column{}, fmt.Errorf("column %s: %w", ic.Name, err)
		}
	}
	return s.column()
}

// column maps a colSpec onto its neutral type.
func (s colSpec) column() (column, error) {
	row := typeRows[s.sqlType]
	kind := row.signed
	if s.unsigned {
		kind = row.unsigned
	}
	if s.sqlType == gomysql.MYSQL_TYPE_YEAR {
		s.unsigned = false // only the binlog's signedness bits call YEAR unsigned
	}
	c := column{
		Column: schema.Column{
			Name:     s.name,
			Type:     schema.Type{Kind: kind, Native: s.native},
			Nullable: s.nullable,
		},
		sqlType:  s.sqlType,
		unsigned: s.unsigned,
	}
	switch row.param {
	case paramDecimal:
		c.Type.Precision, c.Type.Scale = s.prec, s.scale
	case paramWidth, paramFSP:
		c.Type.Precision = s.prec
	case paramMembers:
		c.Type.Values = s.values
		c.charset = strings.ToLower(s.charset)
	case paramText:
		c.charset, c.length = strings.ToLower(s.charset), s.length
		if c.charset == "binary" {
			c.Type.Kind = schema.KindBytes
		}
	}
	if row.param == paramText || row.param == paramMembers {
		dec, err := charsetDecoder(c.charset)
		if err != nil {
			return column{}, fmt.Errorf("column %s: %w (exclude the table with tables.exclude)", s.name, err)
		}
		c.dec = dec
	}
	return c, nil
}

// memberEscapes maps the character after a backslash in COLUMN_TYPE's
// quoted ENUM and SET members to the byte it stands for.
var memberEscapes = map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', '0': 0, 'Z': 0x1A, 'b': '\b'}

// parseMembers returns the members of an ENUM or SET from its COLUMN_TYPE,
// such as "enum('a','it”s','back\\slash')".
func parseMembers(columnType string) ([]string, error) {
	open, end := strings.IndexByte(columnType, '('), strings.LastIndexByte(columnType, ')')
	if open < 0 || end < open {
		return nil, fmt.Errorf("parse members of %q: no parenthesis", columnType)
	}
	var out []string
	for s := columnType[open+1 : end]; s != ""; s = strings.TrimPrefix(s, ",") {
		var m string
		var ok bool
		if m, s, ok = unquoteMember(s); !ok {
			return nil, fmt.Errorf("parse members of %q: bad quoting", columnType)
		}
		out = append(out, m)
	}
	return out, nil
}

// unquoteMember reads one quoted member from the start of s and returns it
// and the rest of s.
func unquoteMember(s string) (member, rest string, ok bool) {
	if s == "" || s[0] != '\'' {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case c == '\'':
			return b.String(), s[i+1:], true
		case c == '\\' && i+1 < len(s):
			i++
			c = s[i]
			if e, ok := memberEscapes[c]; ok {
				c = e
			}
		}
		b.WriteByte(c)
	}
	return "", s, false
}

// tableMeta holds the optional metadata of one binlog table map.
type tableMeta struct {
	t                     *replication.TableMapEvent
	names                 []string
	unsigned              map[int]bool
	collations, enumColls map[int]uint64
	enums, sets           map[int][]string
	charsetOf             func(collationID uint64) (string, bool)
}

// columnsFromTableMap maps the columns of a binlog table map. It needs
// binlog_row_metadata=FULL and fails with errNoRowMetadata without it.
// charsetOf names the character set of a collation id.
func columnsFromTableMap(t *replication.TableMapEvent, charsetOf func(collationID uint64) (string, bool)) ([]column, error) {
	table := string(t.Schema) + "." + string(t.Table)
	m := tableMeta{
		t:          t,
		names:      t.ColumnNameString(),
		unsigned:   t.UnsignedMap(),
		collations: t.CollationMap(),
		enumColls:  t.EnumSetCollationMap(),
		enums:      t.EnumStrValueMap(),
		sets:       t.SetStrValueMap(),
		charsetOf:  charsetOf,
	}
	if len(m.names) != int(t.ColumnCount) {
		return nil, fmt.Errorf("table %s: %w", table, errNoRowMetadata)
	}
	cols := make([]column, len(m.names))
	for i := range cols {
		s, err := m.colSpec(i)
		if err == nil {
			cols[i], err = s.column()
		}
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", table, err)
		}
	}
	return cols, nil
}

// binlogRealType returns the sqlType of a binlog column and, for CHAR, BINARY,
// VARCHAR and VARBINARY, its length in bytes. A STRING column's metadata
// holds its real type (ENUM, SET or STRING) and its length, with two
// length bits folded into the type byte for lengths above 255.
func binlogRealType(typ byte, meta uint16) (byte, int) {
	switch typ {
	case gomysql.MYSQL_TYPE_STRING:
		if meta < 256 {
			return typ, int(meta)
		}
		b0, b1 := byte(meta>>8), int(meta&0xFF)
		if b0&0x30 != 0x30 {
			return b0 | 0x30, b1 | int((b0&0x30)^0x30)<<4
		}
		return b0, b1
	case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
		return gomysql.MYSQL_TYPE_VARCHAR, int(meta)
	}
	if st, ok := binlogTypes[typ]; ok {
		return st, 0
	}
	return typ, 0
}

// colSpec describes column i of the table map.
func (m *tableMeta) colSpec(i int) (colSpec, error) {
	typ, meta := m.t.ColumnType[i], m.t.ColumnMeta[i]
	s := colSpec{name: m.names[i], unsigned: m.unsigned[i]}
	_, s.nullable = m.t.Nullable(i)
	s.sqlType, s.length = binlogRealType(typ, meta)
	row, ok := typeRows[s.sqlType]
	if !ok {
		return s, unsupportedType(s.name, cmp.Or(binlogTypeNames[typ], fmt.Sprintf("code %d", typ)))
	}
	var err error
	switch row.param {
	case paramDecimal:
		s.prec, s.scale = int(meta>>8), int(meta&0xFF)
	case paramWidth:
		s.prec = int(meta>>8)*8 + int(meta&0xFF)
	case paramFSP:
		if typ != s.sqlType { // DATETIME2, TIMESTAMP2, TIME2: meta is the fsp
			s.prec = int(meta)
		}
	case paramText:
		if s.sqlType == gomysql.MYSQL_TYPE_BLOB && meta < 5 {
			s.length = blobLengths[meta]
		}
		s.charset, err = m.charset(m.collations, i)
	case paramMembers:
		if s.charset, err = m.charset(m.enumColls, i); err == nil {
			s.values, err = m.members(s, i)
		}
	}
	if err != nil {
		return s, fmt.Errorf("column %s: %w", s.name, err)
	}
	s.native = binlogNative(s, row, meta)
	return s, nil
}

// charset returns the character set of column i from a collation map.
func (m *tableMeta) charset(collations map[int]uint64, i int) (string, error) {
	id, ok := collations[i]
	if !ok {
		return "", errNoRowMetadata
	}
	name, ok := m.charsetOf(id)
	if !ok {
		return "", fmt.Errorf("collation id %d: %w", id, errUnknownCharset)
	}
	return name, nil
}

// members returns the ENUM or SET members of column i, decoded to UTF-8.
func (m *tableMeta) members(s colSpec, i int) ([]string, error) {
	raw, ok := m.enums[i]
	if s.sqlType == gomysql.MYSQL_TYPE_SET {
		raw, ok = m.sets[i]
	}
	if !ok {
		return nil, errNoRowMetadata
	}
	dec, err := charsetDecoder(s.charset)
	if err != nil || dec == nil {
		return raw, err
	}
	out := make([]string, len(raw))
	for j, r := range raw {
		if out[j], err = dec.decode([]byte(r)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// binlogNative spells a binlog column's type the way COLUMN_TYPE would,
// without display widths and character lengths, which the binlog lacks.
func binlogNative(s colSpec, row typeRow, meta uint16) string {
	name, binary := row.name, s.charset == "binary"
	switch {
	case s.sqlType == gomysql.MYSQL_TYPE_BLOB && meta < 5 && binary:
		name = blobNames[meta]
	case s.sqlType == gomysql.MYSQL_TYPE_BLOB && meta < 5:
		name = textNames[meta]
	case s.sqlType == gomysql.MYSQL_TYPE_STRING && binary:
		name = "binary"
	case s.sqlType == gomysql.MYSQL_TYPE_VARCHAR && binary:
		name = "varbinary"
	}
	switch row.param {
	case paramDecimal:
		name += fmt.Sprintf("(%d,%d)", s.prec, s.scale)
	case paramWidth:
		name += fmt.Sprintf("(%d)", s.prec)
	case paramFSP:
		if s.prec > 0 {
			name += fmt.Sprintf("(%d)", s.prec)
		}
	case paramMembers:
		q := make([]string, len(s.values))
		for i, v := range s.values {
			q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		name += "(" + strings.Join(q, ",") + ")"
	}
	if s.unsigned && s.sqlType != gomysql.MYSQL_TYPE_YEAR {
		name += " unsigned"
	}
	return name
}

// quoteIdent quotes a MySQL identifier: a`b becomes `a“b`.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// selectExpr returns the snapshot SELECT expression of a column. Text in a
// character set other than UTF-8 is selected as its stored bytes
// (CAST(... AS BINARY)), so that the snapshot decodes it with the same
// table as the binlog, which carries stored bytes too. The expression has
// no alias: an alias named like the column would make ORDER BY sort by the
// bytes instead of the column's collation.
func selectExpr(c column) string {
	q := quoteIdent(c.Name)
	if c.rawText() {
		return "CAST(" + q + " AS BINARY)"
	}
	return q
}

// rawText reports whether both read paths give the column's stored bytes,
// which dec converts to UTF-8.
func (c *column) rawText() bool {
	return c.Type.Kind == schema.KindString && c.dec != nil
}

// valueCodec decodes the values of one neutral kind. text parses the form both
// read paths share: text such as "2024-01-02 03:04:05.5" or stored bytes.
// binlog and binary, when set, take the value a path gives in another form
// (go-mysql's ints, floats, enum indexes); when nil, the path's value goes
// to text.
type valueCodec struct {
	text   func(c *column, b []byte) (any, error)
	binlog func(c *column, v any) (any, error)
	binary func(c *column, v *gomysql.FieldValue) (any, error)
}

// valueCodecs holds the valueCodec of each neutral kind a MySQL column can have.
var valueCodecs = map[schema.Kind]valueCodec{
	schema.KindInt8:        {binlog: binlogInt, binary: binaryInt},
	schema.KindInt16:       {binlog: binlogInt, binary: binaryInt},
	schema.KindInt32:       {binlog: binlogInt, binary: binaryInt},
	schema.KindInt64:       {binlog: binlogInt, binary: binaryInt},
	schema.KindUint64:      {binlog: binlogAs[uint64], binary: binaryUint},
	schema.KindFloat32:     {binlog: binlogAs[float32], binary: binaryFloat32},
	schema.KindFloat64:     {binlog: binlogAs[float64], binary: binaryFloat64},
	schema.KindDecimal:     {text: textDecimal},
	schema.KindBit:         {text: textBit, binlog: binlogBit},
	schema.KindDate:        {text: textDate},
	schema.KindTimestamp:   {text: textDateTime},
	schema.KindTimestampTZ: {text: textDateTime},
	schema.KindTime:        {text: textTime},
	schema.KindString:      {text: textString},
	schema.KindBytes:       {text: textBytes},
	schema.KindUUID:        {text: storedUUID, binary: textUUID},
	schema.KindInet:        {text: storedInet6, binary: textInet6},
	schema.KindEnum:        {text: textMember, binlog: binlogEnum},
	schema.KindSet:         {text: textMember, binlog: binlogSet},
	schema.KindJSON:        {text: textJSON},
	schema.KindGeometry:    {text: textGeometry},
}

// fromBinlog converts a value of a replication.RowsEvent row to the Go
// value of the column's kind. The BinlogSyncer must run with UseDecimal and
// ParseTime off and TimestampStringLocation set to time.UTC, so that
// decimals and times arrive as text and TIMESTAMP text is in UTC.
func (c *column) fromBinlog(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	cd := valueCodecs[c.Type.Kind]
	var out any
	var err error
	if cd.binlog != nil {
		out, err = cd.binlog(c, v)
	} else {
		switch x := v.(type) {
		case string:
			out, err = cd.text(c, []byte(x))
		case []byte:
			out, err = cd.text(c, x)
		case *replication.JsonDiff:
			err = errors.New("partial JSON update: set binlog_row_value_options='' on the server")
		default:
			err = fmt.Errorf("unexpected %T", v)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("decode binlog value of %s %s: %w", c.Name, c.Type.Native, err)
	}
	return out, nil
}

// fromBinary converts a value of a binary-protocol row (a prepared
// statement's result, on a utf8mb4 connection with time_zone '+00:00')
// to the Go value of the column's kind. The row must come from a SELECT
// list built with selectExpr.
func (c *column) fromBinary(v gomysql.FieldValue) (any, error) {
	if v.Type == gomysql.FieldValueTypeNull {
		return nil, nil
	}
	cd := valueCodecs[c.Type.Kind]
	var out any
	var err error
	switch {
	case cd.binary != nil:
		out, err = cd.binary(c, &v)
	case v.Type == gomysql.FieldValueTypeString:
		out, err = cd.text(c, v.AsString())
	default:
		err = fmt.Errorf("unexpected value type %d", v.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("decode value of %s %s: %w", c.Name, c.Type.Native, err)
	}
	return out, nil
}

// binlogInt takes any of go-mysql's integer types (int8 to uint64; int for
// YEAR) as int64.
func binlogInt(_ *column, v any) (any, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// binlogAs takes a binlog value that already has the kind's Go type T.
func binlogAs[T uint64 | float32 | float64](_ *column, v any) (any, error) {
	if x, ok := v.(T); ok {
		return x, nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// binlogBit takes go-mysql's int64 of a BIT column; BIT(64) may be negative.
func binlogBit(_ *column, v any) (any, error) {
	if x, ok := v.(int64); ok {
		return uint64(x), nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// binlogEnum maps a 1-based ENUM index to its member. Index 0 is the
// empty string MySQL stores for an invalid value.
func binlogEnum(c *column, v any) (any, error) {
	i, ok := v.(int64)
	switch {
	case !ok:
		return nil, fmt.Errorf("unexpected %T", v)
	case i == 0:
		return "", nil
	case i < 0 || i > int64(len(c.Type.Values)):
		return nil, fmt.Errorf("enum index %d out of %d members", i, len(c.Type.Values))
	}
	return c.Type.Values[i-1], nil
}

// binlogSet maps a SET bitmask to its members, comma-separated in
// declaration order, as MySQL prints them.
func binlogSet(c *column, v any) (any, error) {
	x, ok := v.(int64)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", v)
	}
	mask := uint64(x)
	if n := len(c.Type.Values); n < 64 && mask>>n != 0 {
		return nil, fmt.Errorf("set bitmask %#x has bits beyond %d members", mask, n)
	}
	var b strings.Builder
	first := true
	for i, m := range c.Type.Values {
		if mask&(1<<i) == 0 {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(m)
	}
	return b.String(), nil
}

// binaryInt takes a protocol integer as int64; every unsigned type but
// BIGINT UNSIGNED fits.
func binaryInt(_ *column, v *gomysql.FieldValue) (any, error) {
	switch v.Type {
	case gomysql.FieldValueTypeSigned:
		return v.AsInt64(), nil
	case gomysql.FieldValueTypeUnsigned:
		if x := v.AsUint64(); x <= 1<<63-1 {
			return int64(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected value %s", v.String())
}

func binaryUint(_ *column, v *gomysql.FieldValue) (any, error) {
	if v.Type == gomysql.FieldValueTypeUnsigned {
		return v.AsUint64(), nil
	}
	return nil, fmt.Errorf("unexpected value %s", v.String())
}

// binaryFloat32 narrows go-mysql's float64 of a 4-byte FLOAT, which is
// exact.
func binaryFloat32(_ *column, v *gomysql.FieldValue) (any, error) {
	if v.Type == gomysql.FieldValueTypeFloat {
		return float32(v.AsFloat64()), nil
	}
	return nil, fmt.Errorf("unexpected value %s", v.String())
}

func binaryFloat64(_ *column, v *gomysql.FieldValue) (any, error) {
	if v.Type == gomysql.FieldValueTypeFloat {
		return v.AsFloat64(), nil
	}
	return nil, fmt.Errorf("unexpected value %s", v.String())
}

// textBit reads the protocol's big-endian bytes of a BIT value.
func textBit(_ *column, b []byte) (any, error) {
	if len(b) > 8 {
		return nil, fmt.Errorf("bit value of %d bytes", len(b))
	}
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x, nil
}

// textBytes copies binary data. The binlog strips the trailing zero bytes
// of a BINARY(n) value; they are put back, as the protocol returns them.
func textBytes(c *column, b []byte) (any, error) {
	n := len(b)
	if c.sqlType == gomysql.MYSQL_TYPE_STRING {
		n = max(n, c.length)
	}
	out := make([]byte, n)
	copy(out, b)
	return out, nil
}

// textMember copies the protocol's text of an ENUM or SET value, which the
// utf8mb4 connection gives as UTF-8; anything else is refused rather than
// published as a string the Kafka encoding would alter.
func textMember(_ *column, b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("member text %q is not UTF-8", b)
	}
	return string(b), nil
}

// textJSON puts a JSON document in canonical form (see canonicalJSON).
func textJSON(_ *column, b []byte) (any, error) {
	return canonicalJSON(b)
}

// textGeometry drops the 4-byte SRID that MySQL puts before the WKB.
func textGeometry(_ *column, b []byte) (any, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("geometry of %d bytes has no SRID", len(b))
	}
	return append([]byte(nil), b[4:]...), nil
}
