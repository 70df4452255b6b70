package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tributary-dev/tributary/schema"
)

// countSink is a sink that only counts the events it gets.
type countSink struct {
	memSink
	n int
}

func (c *countSink) Add(context.Context, *schema.Event) error {
	c.n++
	return nil
}

// appendTuple appends pgoutput TupleData of text values.
func appendTuple(b []byte, vals ...string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(vals)))
	for _, v := range vals {
		b = append(b, colText)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// benchReader is a reader inside an open transaction with one resolved
// relation, 16384: bench(id bigint key, v text, n int).
func benchReader(b *testing.B) (*reader, *countSink) {
	s := NewSource(Config{Name: "bench", MaxTxRows: 1 << 40, MaxBatch: 1 << 40})
	sink := &countSink{}
	r := &reader{s: s, sink: sink, reg: newRegistry(s, newTypeCache()), cp: &checkpoint{Tables: map[string]*tableState{}},
		spills: newSpillSet(b.TempDir()), free: make(chan []wire, 8)}
	r.snap = newSnapshotter(r)
	sch := &schema.Table{ID: schema.TableID{Database: "public", Name: "bench"}, Version: 1, Key: []string{"id"}, Columns: []schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindInt64}},
		{Name: "v", Type: schema.Type{Kind: schema.KindString}},
		{Name: "n", Type: schema.Type{Kind: schema.KindInt32}},
	}}
	if err := sch.Prepare(); err != nil {
		b.Fatal(err)
	}
	t := r.reg.get(sch.ID)
	t.sch = sch
	r.reg.rels[16384] = &relation{oid: 16384, id: sch.ID, t: t, sch: sch, decs: []decoder{decInt, decText, decInt}, resolved: true,
		msg: &pglogrepl.RelationMessage{RelationID: 16384, Namespace: "public", RelationName: "bench"}}
	if err := r.beginTx(1234, 1<<20, time.Now()); err != nil {
		b.Fatal(err)
	}
	return r, sink
}

// BenchmarkRowChange measures the reader's work per row message, from
// the pgoutput bytes to the event handed to the sink: an insert and an
// update (the new row only, as under REPLICA IDENTITY DEFAULT).
func BenchmarkRowChange(b *testing.B) {
	for _, op := range []byte{'I', 'U'} {
		b.Run(string(op), func(b *testing.B) {
			r, sink := benchReader(b)
			ctx := context.Background()
			msgs := make([][]byte, 1024)
			for i := range msgs {
				m := binary.BigEndian.AppendUint32([]byte{op}, 16384)
				m = append(m, 'N')
				msgs[i] = appendTuple(m, fmt.Sprint(1_000_000+i), fmt.Sprintf("%032x%032x", i, i), "0")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := r.handle(ctx, &wire{data: msgs[i%len(msgs)]}); err != nil {
					b.Fatal(err)
				}
			}
			if sink.n != b.N {
				b.Fatalf("%d events for %d messages", sink.n, b.N)
			}
		})
	}
}
