package compactor

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

// FuzzScanEnvelope feeds arbitrary Kafka values to the compactor's
// envelope scanner: a poison record must give an error, never a panic.
// Where encoding/json decodes the value, the scanner must agree with it,
// and its images must agree with schema.DecodeImage.
func FuzzScanEnvelope(f *testing.F) {
	tbl := itemsTable("items", 1)
	e := &schema.Event{Table: tbl, Op: schema.OpUpdate, Before: rowOf(1, "a"), After: rowOf(1, "b \"quoted\" é"),
		Source: schema.Source{Connector: "mysql", Name: "src", File: "bin.000001", Pos: 77, Row: 1, CommitTime: time.UnixMilli(1700000000000)}}
	good, err := schema.AppendEnvelope(nil, e, time.UnixMilli(1700000000001))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(good), `{}`, `{"op":"c"}`, `not json`, `{"op":"c","after":{"id":1,]}`, `{"op":"c","after":{"id":"\`,
		`{"op":"c","source":{"ts_ms":1e3,"lsn":"1","unchanged":[1]}}`, `{"op":"u","after":{"id":1,"v":"x","day":19000},"source":{"lsn":123,"row":2}}`,
		`{"op":"c","after":{"id":1}}trailing`, `{"op":"c","after":{"v":"\ud800"}}`, `{"op":"\u0063","after":{"nope":1}}`, string(good[:len(good)-3])} {
		f.Add([]byte(s))
	}
	names := columnIndex{}.of(tbl)
	f.Fuzz(func(t *testing.T, value []byte) {
		got, err := scanEnvelope(value)
		want, werr := decodeEnvelope(value)
		if werr == nil && err != nil {
			t.Fatalf("encoding/json decodes %s, the scanner fails: %v", value, err)
		}
		if err != nil {
			return
		}
		// encoding/json also matches keys that differ in case ("sourCe",
		// and Unicode folds such as "ſource"); the scanner, rightly, only
		// the keys the encoder writes. Compare where the two cannot differ.
		if werr == nil && !hasFoldableKeys(value) && (got.Op != want.Op || !reflect.DeepEqual(got.Source, want.Source)) {
			t.Fatalf("%s:\nscanned %+v\nwant    %+v", value, got, want)
		}
		for _, img := range []json.RawMessage{got.Before, got.After} {
			scanned, serr := scanImage(img, tbl, names)
			decoded, derr := schema.DecodeImage(img, tbl)
			if derr == nil && serr != nil {
				t.Fatalf("image %s: DecodeImage decodes it, scanImage fails: %v", img, serr)
			}
			if derr == nil && !reflect.DeepEqual(scanned, decoded) {
				t.Fatalf("image %s: scanned %#v, decoded %#v", img, scanned, decoded)
			}
		}
		if got.Op != "" {
			_ = got.meta()
		}
	})
}

// hasFoldableKeys reports whether value holds an upper-case ASCII letter
// or a non-ASCII byte, either of which encoding/json may fold in a key.
func hasFoldableKeys(value []byte) bool {
	for _, c := range value {
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}
