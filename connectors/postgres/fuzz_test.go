package postgres

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/schema"
)

// fuzzPGType is a column type the value fuzzer decodes with.
type fuzzPGType struct {
	typ schema.Type
	dec decoder
}

// fuzzPGTypes holds every built-in type (at a few modifiers), arrays of a
// few, an enum, and hstore.
var fuzzPGTypes = func() []fuzzPGType {
	catalog := map[uint32]*pgType{
		90001: {OID: 90001, Name: "_int4", Category: 'A', Elem: 23, Delim: ','},
		90002: {OID: 90002, Name: "_text", Category: 'A', Elem: 25, Delim: ','},
		90003: {OID: 90003, Name: "_numeric", Category: 'A', Elem: 1700, Delim: ','},
		90004: {OID: 90004, Name: "_timestamptz", Category: 'A', Elem: 1184, Delim: ','},
		90005: {OID: 90005, Name: "mood", Type: 'e', Labels: []string{"sad", "ok", "happy"}},
		90006: {OID: 90006, Name: "hstore", Type: 'b'},
		90007: {OID: 90007, Name: "_box", Category: 'A', Elem: 603, Delim: ';'},
	}
	lookup := func(oid uint32) (*pgType, error) {
		if t := catalog[oid]; t != nil {
			return t, nil
		}
		return nil, fmt.Errorf("no type %d", oid)
	}
	var out []fuzzPGType
	add := func(oid uint32, typmod int32) {
		typ, dec, err := mapType(oid, typmod, lookup)
		if err != nil {
			panic(err)
		}
		out = append(out, fuzzPGType{typ, dec})
	}
	for _, oid := range slices.Sorted(func(yield func(uint32) bool) {
		for oid := range builtin {
			if !yield(oid) {
				return
			}
		}
	}) {
		add(oid, -1)
	}
	add(1700, (10<<16|2)+4)   // numeric(10,2)
	add(1700, (5<<16|1030)+4) // numeric(5,-2)
	add(1560, 8)              // bit(8)
	add(1560, 100)            // bit(100)
	add(1083, 3)              // time(3)
	for oid := range uint32(7) {
		add(90001+oid, -1)
	}
	return out
}()

// FuzzPGValue decodes arbitrary pgoutput text values as every type: a
// value or an error, never a panic, and a decoded value encodes for Kafka
// and round-trips.
func FuzzPGValue(f *testing.F) {
	for _, s := range []string{"", "0", "-1", "t", "f", "12.50", "NaN", "Infinity", "-Infinity", "1e400", "$1,234.50", "-$0.01",
		`\x00ff`, "1010", "2024-01-02", "infinity", "-infinity", "0001-01-01 BC", "294276-12-31", "24:00:00", "13:14:15.123456+05:30",
		"2024-01-02 03:04:05.5+00", "1 year 2 mons -3 days 04:05:06.789", "P1Y", "10.0.0.1/8", "08:00:2b:01:02:03", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		`{"a":1}`, `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","c\"d",NULL,""}`, `[1:2]={1,2}`, `"a"=>"b", "c"=>NULL`, "happy", "(1,2),(3,4)",
		"0101000020E6100000000000000000F03F0000000000000040", `{(1,2),(3,4);(5,6),(7,8)}`, "\xff"} {
		for i := range fuzzPGTypes {
			f.Add(uint16(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint16, data []byte) {
		ft := fuzzPGTypes[int(which)%len(fuzzPGTypes)]
		v, err := ft.dec(data)
		if err != nil || v == nil {
			return
		}
		enc, err := schema.AppendTypedValue(nil, ft.typ, v)
		if err != nil {
			t.Fatalf("%s: %q decodes to %#v, which does not encode: %v", ft.typ, data, v, err)
		}
		back, err := schema.DecodeTypedValue(ft.typ, enc)
		if err != nil {
			t.Fatalf("%s: %q encodes to %s, which does not decode: %v", ft.typ, data, enc, err)
		}
		again, err := schema.AppendTypedValue(nil, ft.typ, back)
		if err != nil || !bytes.Equal(enc, again) {
			t.Fatalf("%s: %q: Kafka encoding %s changes to %s in a round trip (%v)", ft.typ, data, enc, again, err)
		}
	})
}

// tuple builds pgoutput TupleData.
func tuple(cols ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
	for _, c := range cols {
		switch c {
		case "n", "u":
			b = append(b, c[0])
		default:
			b = append(b, 't')
			b = binary.BigEndian.AppendUint32(b, uint32(len(c)))
			b = append(b, c...)
		}
	}
	return b
}

// FuzzParseChange parses arbitrary pgoutput row messages: a change or an
// error, never a panic, and every column of a parsed change lies within
// the message.
func FuzzParseChange(f *testing.F) {
	rel := []byte{0, 0, 0x40, 0x01}
	msg := func(op byte, parts ...[]byte) []byte {
		b := append([]byte{op}, rel...)
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(msg('I', []byte{'N'}, tuple("1", "a", "n")), false)
	f.Add(msg('U', []byte{'K'}, tuple("1", "n"), []byte{'N'}, tuple("2", "u")), false)
	f.Add(msg('U', []byte{'O'}, tuple("1", "x"), []byte{'N'}, tuple("1", "y")), false)
	f.Add(msg('D', []byte{'K'}, tuple("1")), false)
	f.Add(append([]byte{'I', 0, 0, 0, 9}, msg('I', []byte{'N'}, tuple("1"))[1:]...), true)
	f.Add([]byte{'I'}, false)
	f.Add([]byte{}, true)
	f.Add(msg('I', []byte{'N'}, []byte{0xff, 0xff, 't', 0xff, 0xff, 0xff, 0xff}), false)
	f.Fuzz(func(t *testing.T, b []byte, streamed bool) {
		var c change
		if err := parseChange(b, streamed, &c); err != nil {
			return
		}
		for _, col := range append(c.old, c.new...) {
			if len(col.data) > len(b) {
				t.Fatalf("a column of %d bytes in a message of %d", len(col.data), len(b))
			}
		}
	})
}
