package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// fuzzTypes are the column types the value fuzzers pick from.
var fuzzTypes = func() []Type {
	var ts []Type
	for _, k := range []Kind{KindBool, KindInt8, KindInt16, KindInt32, KindInt64, KindUint64, KindFloat32, KindFloat64,
		KindString, KindBytes, KindJSON, KindDate, KindTime, KindTimestamp, KindTimestampTZ, KindUUID, KindGeometry,
		KindTimeTZ, KindInterval, KindInet, KindMACAddr, KindVarBit, KindMap} {
		ts = append(ts, Type{Kind: k})
	}
	int64s := Type{Kind: KindInt64}
	texts := Type{Kind: KindArray, Elem: &Type{Kind: KindString}}
	return append(ts,
		Type{Kind: KindDecimal, Precision: 10, Scale: 2}, Type{Kind: KindDecimal},
		Type{Kind: KindEnum, Values: []string{"a", "b"}}, Type{Kind: KindSet, Values: []string{"a", "b"}},
		Type{Kind: KindBit, Precision: 1}, Type{Kind: KindBit, Precision: 64},
		Type{Kind: KindArray, Elem: &int64s}, Type{Kind: KindArray, Elem: &texts})
}()

// fuzzTable has one column of every fuzz type, named c0, c1, ...
var fuzzTable = func() *Table {
	t := &Table{ID: TableID{Database: "db", Name: "t"}, Version: 1, Key: []string{"c4"}}
	for i, ty := range fuzzTypes {
		t.Columns = append(t.Columns, Column{Name: fmt.Sprintf("c%d", i), Type: ty, Nullable: true})
	}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}()

// FuzzDecodeValue decodes arbitrary JSON as every column type: it must
// give a value or an error, never panic, and a decoded value must encode
// and decode back to the same encoding.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{`null`, `0`, `-1`, `1e400`, `"NaN"`, `"Infinity"`, `"-12.340"`, `"2024-01-02T03:04:05Z"`,
		`"P1Y2M-3DT4H5M6.789S"`, `"AAEC"`, `"a,b"`, `[1,[2,null]]`, `{"k":"v","n":null}`, `"\u0000"`, `"\ud800"`,
		`18446744073709551615`, `9223372036854775808`, `"1.5"`, `true`, `"0011"`, `"aa:bb:cc:dd:ee:ff"`, `"10.0.0.1/8"`} {
		for i := range fuzzTypes {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typ := fuzzTypes[int(which)%len(fuzzTypes)]
		v, err := DecodeTypedValue(typ, data)
		if err != nil || v == nil {
			return
		}
		enc, err := AppendTypedValue(nil, typ, v)
		if err != nil {
			t.Fatalf("%s: %s decodes to %#v, which does not encode: %v", typ, data, v, err)
		}
		v2, err := DecodeTypedValue(typ, enc)
		if err != nil {
			t.Fatalf("%s: %s encodes to %s, which does not decode: %v", typ, data, enc, err)
		}
		enc2, err := AppendTypedValue(nil, typ, v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("%s: %s round-trips as %s then %s (%v)", typ, data, enc, enc2, err)
		}
	})
}

// FuzzDecodeEnvelope decodes arbitrary Kafka values as envelopes of a
// table with every type: an error or an envelope, never a panic. An
// envelope that decodes encodes again and decodes to the same images.
func FuzzDecodeEnvelope(f *testing.F) {
	e := &Event{Table: fuzzTable, Op: OpUpdate, Before: make([]any, len(fuzzTable.Columns)), After: make([]any, len(fuzzTable.Columns)),
		Source: Source{Connector: "mysql", Name: "src", GTID: "0-1-5", Row: 2, CommitTime: time.UnixMilli(1700000000000)}}
	e.Before[4], e.After[4] = int64(1), int64(2)
	e.After[8] = "text"
	good, err := AppendEnvelope(nil, e, time.UnixMilli(1700000000001))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(good), `{}`, `{"op":"c"}`, `{"op":"c","source":{"schema_version":99}}`, `not json`,
		`{"op":"cc","source":{}}`, `{"op":"c","source":{"schema_version":1e3}}`, `{"op":"d","before":{"c4":1,"nope":2},"source":{}}`, string(good[:len(good)/2])} {
		f.Add([]byte(s))
	}
	lookup := func(id TableID, version int) (*Table, error) {
		if version != 1 {
			return nil, fmt.Errorf("unknown version %d", version)
		}
		return fuzzTable, nil
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		env, err := DecodeEnvelope(value, lookup)
		if err != nil {
			return
		}
		if _, err := PeekEnvelope(value); err != nil {
			t.Fatalf("DecodeEnvelope accepts what PeekEnvelope refuses: %v", err)
		}
		ev := &Event{Table: fuzzTable, Op: env.Op, Before: env.Before, After: env.After}
		if ev.KeyImage() == nil {
			return // the encoder needs a key
		}
		again, err := AppendEnvelope(nil, ev, time.Now())
		if err != nil {
			return // a decoded image may lack its key column
		}
		env2, err := DecodeEnvelope(again, lookup)
		if err != nil {
			t.Fatalf("re-encoded envelope %s does not decode: %v", again, err)
		}
		a, _ := json.Marshal([]any{env.Before, env.After})
		b, _ := json.Marshal([]any{env2.Before, env2.After})
		if !bytes.Equal(a, b) {
			t.Fatalf("images changed in a round trip:\n%s\n%s", a, b)
		}
	})
}
