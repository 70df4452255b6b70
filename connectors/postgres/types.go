package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/schema"
)

// This file maps PostgreSQL column types onto the neutral types of package
// schema. Columns arrive as a type OID and a type modifier, from relation
// messages while streaming and from pg_attribute before a snapshot chunk;
// both go through mapType, so the same column always maps to the same type
// and decoder. Built-in types are known by OID; arrays, enums, domains and
// extension types are looked up in pg_type. docs/types-postgres.md has the
// table.

// pgType is what the reader knows of one Postgres type.
type pgType struct {
	OID       uint32
	Name      string // typname: "int4", "_int4", "mood", "hstore"
	Namespace string
	// Type is typtype: 'b' base, 'e' enum, 'd' domain, 'c' composite,
	// 'r' range, 'm' multirange, 'p' pseudo.
	Type byte
	// Category is typcategory; 'A' marks an array of Elem.
	Category byte
	Elem     uint32
	// Base and BaseMod are the base type and its modifier of a domain.
	Base    uint32
	BaseMod int32
	// Delim separates array elements: ',' for all but box (';').
	Delim byte
	// Labels are an enum's values in sort order.
	Labels []string
}

// kindRule is how one type maps: its kind and how it reads its modifier.
type kindRule struct {
	kind  schema.Kind
	param typeParam
	dec   decoder
}

// typeParam says what a type modifier means.
type typeParam uint8

const (
	paramNone    typeParam = iota
	paramNumeric           // (precision << 16 | scale) + 4, -1 when unconstrained
	paramFSP               // fractional-second digits, -1 meaning 6
	paramBits              // bit(n): n
	paramMoney             // decimal(19,2): money read with lc_monetary C
)

// builtin maps the OIDs of built-in types, fixed in every Postgres release,
// to their rule. The comment is the SQL name.
var builtin = map[uint32]kindRule{
	16:   {schema.KindBool, paramNone, decBool},              // boolean
	17:   {schema.KindBytes, paramNone, decBytea},            // bytea
	18:   {schema.KindString, paramNone, decText},            // "char"
	19:   {schema.KindString, paramNone, decText},            // name
	20:   {schema.KindInt64, paramNone, decInt},              // bigint
	21:   {schema.KindInt16, paramNone, decInt},              // smallint
	22:   {schema.KindString, paramNone, decText},            // int2vector
	23:   {schema.KindInt32, paramNone, decInt},              // integer
	24:   {schema.KindString, paramNone, decText},            // regproc
	25:   {schema.KindString, paramNone, decText},            // text
	26:   {schema.KindInt64, paramNone, decInt},              // oid
	27:   {schema.KindString, paramNone, decText},            // tid
	28:   {schema.KindInt64, paramNone, decInt},              // xid
	29:   {schema.KindInt64, paramNone, decInt},              // cid
	30:   {schema.KindString, paramNone, decText},            // oidvector
	114:  {schema.KindJSON, paramNone, decText},              // json
	142:  {schema.KindString, paramNone, decText},            // xml
	600:  {schema.KindString, paramNone, decText},            // point
	601:  {schema.KindString, paramNone, decText},            // lseg
	602:  {schema.KindString, paramNone, decText},            // path
	603:  {schema.KindString, paramNone, decText},            // box
	604:  {schema.KindString, paramNone, decText},            // polygon
	628:  {schema.KindString, paramNone, decText},            // line
	650:  {schema.KindInet, paramNone, decText},              // cidr
	700:  {schema.KindFloat32, paramNone, decFloat32},        // real
	701:  {schema.KindFloat64, paramNone, decFloat64},        // double precision
	718:  {schema.KindString, paramNone, decText},            // circle
	774:  {schema.KindMACAddr, paramNone, decText},           // macaddr8
	790:  {schema.KindDecimal, paramMoney, decMoney},         // money
	829:  {schema.KindMACAddr, paramNone, decText},           // macaddr
	869:  {schema.KindInet, paramNone, decText},              // inet
	1042: {schema.KindString, paramNone, decText},            // character(n)
	1043: {schema.KindString, paramNone, decText},            // character varying(n)
	1082: {schema.KindDate, paramNone, decDate},              // date
	1083: {schema.KindTime, paramFSP, decTime},               // time
	1114: {schema.KindTimestamp, paramFSP, decTimestamp},     // timestamp
	1184: {schema.KindTimestampTZ, paramFSP, decTimestampTZ}, // timestamptz
	1186: {schema.KindInterval, paramNone, decInterval},      // interval
	1266: {schema.KindTimeTZ, paramFSP, decTimeTZ},           // timetz
	1560: {schema.KindBit, paramBits, decBit},                // bit(n)
	1562: {schema.KindVarBit, paramNone, decText},            // bit varying
	1700: {schema.KindDecimal, paramNumeric, decNumeric},     // numeric
	2205: {schema.KindString, paramNone, decText},            // regclass
	2206: {schema.KindString, paramNone, decText},            // regtype
	2950: {schema.KindUUID, paramNone, decText},              // uuid
	2970: {schema.KindString, paramNone, decText},            // txid_snapshot
	3220: {schema.KindString, paramNone, decText},            // pg_lsn
	3614: {schema.KindString, paramNone, decText},            // tsvector
	3615: {schema.KindString, paramNone, decText},            // tsquery
	3802: {schema.KindJSON, paramNone, decText},              // jsonb
	4072: {schema.KindString, paramNone, decText},            // jsonpath
	5038: {schema.KindString, paramNone, decText},            // pg_snapshot
	5069: {schema.KindUint64, paramNone, decUint},            // xid8
	4089: {schema.KindString, paramNone, decText},            // regnamespace
	4096: {schema.KindString, paramNone, decText},            // regrole
	3734: {schema.KindString, paramNone, decText},            // regconfig
	1033: {schema.KindString, paramNone, decText},            // aclitem
	2202: {schema.KindString, paramNone, decText},            // regprocedure
	2203: {schema.KindString, paramNone, decText},            // regoper
	2204: {schema.KindString, paramNone, decText},            // regoperator
	3769: {schema.KindString, paramNone, decText},            // regdictionary
	4191: {schema.KindString, paramNone, decText},            // regcollation
	1790: {schema.KindString, paramNone, decText},            // refcursor
}

// extensionTypes maps types that extensions create, with OIDs that differ
// per database, by name.
var extensionTypes = map[string]kindRule{
	"hstore":    {schema.KindMap, paramNone, decHstore},
	"citext":    {schema.KindString, paramNone, decText},
	"geometry":  {schema.KindGeometry, paramNone, decEWKB}, // PostGIS: hex EWKB, SRID dropped
	"geography": {schema.KindGeometry, paramNone, decEWKB},
	"ltree":     {schema.KindString, paramNone, decText},
}

// maxDomainDepth bounds the chain of domains over domains.
const maxDomainDepth = 16

// lookupFunc returns the catalog entry of a type that is not built in.
type lookupFunc func(oid uint32) (*pgType, error)

// mapType maps a column type (OID and modifier) onto a neutral type and
// the decoder of its text values.
func mapType(oid uint32, typmod int32, lookup lookupFunc) (schema.Type, decoder, error) {
	return mapTypeDepth(oid, typmod, lookup, 0)
}

func mapTypeDepth(oid uint32, typmod int32, lookup lookupFunc, depth int) (schema.Type, decoder, error) {
	if r, ok := builtin[oid]; ok {
		return applyParam(r, typmod)
	}
	if depth > maxDomainDepth {
		return schema.Type{}, nil, fmt.Errorf("type %d: domains nested too deep", oid)
	}
	t, err := lookup(oid)
	if err != nil {
		return schema.Type{}, nil, err
	}
	switch {
	case t.Category == 'A' && t.Elem != 0:
		elem, dec, err := mapTypeDepth(t.Elem, typmod, lookup, depth+1)
		if err != nil {
			return schema.Type{}, nil, err
		}
		if elem.Kind == schema.KindArray {
			// A domain over an array, used as an element: keep its text.
			elem, dec = schema.Type{Kind: schema.KindString, Native: elem.Native}, decText
		}
		delim := t.Delim
		if delim == 0 {
			delim = ','
		}
		e := elem
		return schema.Type{Kind: schema.KindArray, Elem: &e, Native: t.Name}, arrayDecoder(dec, delim), nil
	case t.Type == 'e':
		return schema.Type{Kind: schema.KindEnum, Values: t.Labels, Native: t.Name}, enumDecoder(t.Labels), nil
	case t.Type == 'd':
		mod := typmod
		if t.BaseMod >= 0 {
			mod = t.BaseMod
		}
		typ, dec, err := mapTypeDepth(t.Base, mod, lookup, depth+1)
		if err != nil {
			return schema.Type{}, nil, err
		}
		typ.Native = t.Name
		return typ, dec, nil
	}
	if r, ok := extensionTypes[t.Name]; ok {
		typ, dec, err := applyParam(r, typmod)
		typ.Native = t.Name
		return typ, dec, err
	}
	// Composite, range and multirange types, and base types of unknown
	// extensions: their text form, exactly as Postgres writes it.
	return schema.Type{Kind: schema.KindString, Native: t.Name}, decText, nil
}

// applyParam reads a type modifier into the neutral type's parameters.
func applyParam(r kindRule, typmod int32) (schema.Type, decoder, error) {
	t := schema.Type{Kind: r.kind}
	dec := r.dec
	switch r.param {
	case paramNumeric:
		if typmod >= 4 {
			p := int((typmod - 4) >> 16 & 0xffff)
			// Postgres 15 allows a negative scale and a scale above the
			// precision; both fit a decimal with scale >= 0 and
			// precision >= scale.
			s := int(((typmod-4)&0x7ff)^1024) - 1024
			if s < 0 {
				p, s = p-s, 0
			}
			t.Precision, t.Scale = max(p, s), s
		}
	case paramFSP:
		t.Precision = 6
		if typmod >= 0 && typmod <= 6 {
			t.Precision = int(typmod)
		}
	case paramBits:
		n := int(typmod)
		if n <= 0 {
			n = 1
		}
		if n > 64 {
			return schema.Type{Kind: schema.KindVarBit}, decText, nil
		}
		t.Precision = n
	case paramMoney:
		t.Precision, t.Scale = 19, 2
	}
	return t, dec, nil
}

// typeCache holds catalog entries by OID. It is safe for concurrent use.
type typeCache struct {
	mu    sync.Mutex
	types map[uint32]*pgType
}

func newTypeCache() *typeCache { return &typeCache{types: map[uint32]*pgType{}} }

// clear drops every entry, so that lookups read the catalog again (an enum
// that gained a value).
func (c *typeCache) clear() {
	c.mu.Lock()
	clear(c.types)
	c.mu.Unlock()
}

// querier is the part of a pgx connection the catalog lookups use.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const typeQuery = `SELECT t.oid, t.typname, n.nspname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typtypmod, t.typdelim,
	COALESCE((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '{}')
	FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1`

// lookupFunc returns a lookup that reads the catalog through q.
func (c *typeCache) lookupFunc(ctx context.Context, q querier) lookupFunc {
	return func(oid uint32) (*pgType, error) {
		c.mu.Lock()
		t := c.types[oid]
		c.mu.Unlock()
		if t != nil {
			return t, nil
		}
		t = &pgType{}
		var typ, cat, delim string
		err := q.QueryRow(ctx, typeQuery, oid).Scan(&t.OID, &t.Name, &t.Namespace, &typ, &cat, &t.Elem, &t.Base, &t.BaseMod, &delim, &t.Labels)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("type %d is not in pg_type (dropped while in use?)", oid)
		}
		if err != nil {
			return nil, fmt.Errorf("read type %d: %w", oid, err)
		}
		t.Type, t.Category = typ[0], cat[0]
		if delim != "" {
			t.Delim = delim[0]
		}
		c.mu.Lock()
		c.types[oid] = t
		c.mu.Unlock()
		return t, nil
	}
}
