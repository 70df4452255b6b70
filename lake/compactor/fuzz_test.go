package compactor

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/box"
	"github.com/tributary-dev/tributary/schema"
)

// FuzzScanEnvelope feeds arbitrary Kafka values to the compactor's
// envelope scanner: a poison record must give an error, never a panic.
// The scanner must agree with encoding/json (decodeEnvelope) on every
// value, errors included, and its images must agree with
// schema.DecodeImage, for a table with a column of every kind too.
func FuzzScanEnvelope(f *testing.F) {
	tbl := itemsTable("items", 1)
	e := &schema.Event{Table: tbl, Op: schema.OpUpdate, Before: rowOf(1, "a"), After: rowOf(1, "b \"quoted\" é"),
		Source: schema.Source{Connector: "mysql", Name: "src", File: "bin.000001", Pos: 77, Row: 1, CommitTime: time.UnixMilli(1700000000000)}}
	good, err := schema.AppendEnvelope(nil, e, time.UnixMilli(1700000000001))
	if err != nil {
		f.Fatal(err)
	}
	pg := &schema.Event{Table: tbl, Op: schema.OpCreate, After: rowOf(2, "x"), Unchanged: []bool{false, true, false},
		Source: schema.Source{Connector: "postgresql", Name: "src", LSN: 0x16B374D848, TxID: "77", Row: 3}}
	pgGood, err := schema.AppendEnvelope(nil, pg, time.UnixMilli(1700000000001))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(good), string(pgGood), `{}`, `{"op":"c"}`, `not json`, `{"op":"c","after":{"id":1,]}`, `{"op":"c","after":{"id":"\`,
		`{"op":"c","source":{"ts_ms":1e3,"lsn":"1","unchanged":[1]}}`, `{"op":"u","after":{"id":1,"v":"x","day":19000},"source":{"lsn":123,"row":2}}`,
		`{"op":"c","after":{"id":1}}trailing`, `{"op":"c","after":{"v":"\ud800"}}`, `{"op":"\u0063","after":{"nope":1}}`, string(good[:len(good)-3]),
		`{"OP":"c"}`, `{"op":"c","Source":{"db":"x"}}`, `{"op":"c","source":{"DB":"x","gtid":null,"pos":null}}`, `{"op":"c","op":"d"}`,
		`{"op":"c","source":{"db":"a"},"source":{"table":"b","db":null}}`, `{"op":"c","source":{"ts_ms":5,"ts_ms":null,"row":1,"row":null}}`,
		`{"op":"c","x":{"a" "b"}}`, `{"op":"c","transaction":{"id":"7"}} `, ` {"op" : "c" , "before" : null }`, `{"op":"c","source":null}`,
		`{"op":"c","source":{"gtid":"0-1-\u0032","file":"f\"1"}}`, `{"op":"c","after":{"c3":1e3,"c7":"NaN"}}`} {
		f.Add([]byte(s))
	}
	items := columnIndex{}.of(tbl)
	kinds := columnIndex{}.of(kindsTable)
	var es envelopeScanner // scans every value twice, after the good ones
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, before := range [][]byte{good, pgGood, value} {
			checkAfter(t, &es, before, value)
		}
		got, err := scanEnvelope(value)
		want, werr := decodeEnvelope(value)
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("%q: scanner error %v, encoding/json error %v", value, err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nscanned       %+v\nencoding/json %+v", value, got, want)
		}
		if m, wm := got.meta(new(box.Boxer)), want.meta(new(box.Boxer)); m != wm {
			t.Fatalf("%q: meta %+v, encoding/json %+v", value, m, wm)
		}
		for _, img := range [][]byte{got.Before, got.After} {
			checkImage(t, img, tbl, items)
			checkImage(t, img, kindsTable, kinds)
		}
		checkGuess(t, value, want, tbl, items)
		checkGuess(t, value, want, kindsTable, kinds)
	})
}

// checkGuess scans value with schema version g as the scanner's guess:
// the envelope and its images must be those of encoding/json (want).
func checkGuess(t *testing.T, value []byte, want *envelope, g *schema.Table, c *tableCodec) {
	t.Helper()
	es := envelopeScanner{guess: g, codec: c}
	got, err := es.scan(value)
	if err != nil {
		t.Fatalf("%q: scanner guessing %s error %v, encoding/json none", value, g.ID, err)
	}
	if string(got.Before) != string(want.Before) || string(got.After) != string(want.After) || got.Op != want.Op || !reflect.DeepEqual(got.Source, want.Source) {
		t.Fatalf("%q: scanner guessing %s:\nscanned       %+v\nencoding/json %+v", value, g.ID, got, want)
	}
	var gi, wi schema.Envelope
	gerr, werr := got.images(g, c, &gi), want.images(g, c, &wi)
	// (Only whether there is an error: schema.DecodeImage names one of
	// the unknown columns, whichever its map yields first.)
	if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(gi, wi) {
		t.Fatalf("%q: images guessing %s: %+v, %v; without: %+v, %v", value, g.ID, gi, gerr, wi, werr)
	}
}

// FuzzScanValue decodes arbitrary bytes as the value of every kind with
// scanImage and with schema.DecodeImage, and as a string with the scanner
// and with encoding/json: they must agree.
func FuzzScanValue(f *testing.F) {
	for _, v := range kindValues {
		f.Add(uint8(0), []byte(v))
	}
	c := columnIndex{}.of(kindsTable)
	f.Fuzz(func(t *testing.T, which uint8, value []byte) {
		col := kindsTable.Columns[int(which)%len(kindsTable.Columns)]
		checkImage(t, append(append([]byte(`{"`+col.Name+`":`), value...), '}'), kindsTable, c)
		checkImage(t, append(append([]byte(`{"id":1,"`+col.Name+`":`), value...), `,"c8":"x"}`...), kindsTable, c)
		checkString(t, value)
		checkIntegers(t, string(value))
	})
}

// checkAfter scans before, then value, with es: value's envelope must be
// what encoding/json decodes, whatever the scanner remembers of before.
func checkAfter(t *testing.T, es *envelopeScanner, before, value []byte) {
	t.Helper()
	es.scan(append([]byte(nil), before...)) // a copy: the scanner must not keep pointers into it
	got, err := es.scan(value)
	want, werr := decodeEnvelope(value)
	if fmt.Sprint(err) != fmt.Sprint(werr) {
		t.Fatalf("%q after %q: scanner error %v, encoding/json error %v", value, before, err, werr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q after %q:\nscanned       %+v\nencoding/json %+v", value, before, got, want)
	}
}
