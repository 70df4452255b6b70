package compactor

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchPool gives the Kafka client back the memory of fetched batches once
// the worker is done with every record of a batch (kgo.Record.Recycle): the
// buffer a batch is decompressed into and the slice of its records. Without
// it every fetched batch was garbage: a third of what the compactor
// allocated, and the collector's work with it.
//
// A recycled record's Key and Value bytes are overwritten by a later batch,
// so nothing the compactor keeps may point into them. Nothing does: the
// scanner copies what it keeps (texts into box slabs, positions and keys
// into new strings, encoding/json's results are copies), and a record held
// behind a barrier is recycled only once it has been folded in.
// TestCompactorRecyclesFetches checks the lake still equals the source with
// the buffers reused.
type fetchPool struct {
	bufs, recs sync.Pool
	// reused counts the buffers handed out again (for the test).
	reused atomic.Int64
}

var (
	_ kgo.PoolDecompressBytes = (*fetchPool)(nil)
	_ kgo.PoolRecords         = (*fetchPool)(nil)
)

// GetDecompressBytes returns a buffer to decompress a batch into; only its
// capacity counts, and the codec allocates a larger one when it is short.
func (p *fetchPool) GetDecompressBytes([]byte, kgo.CompressionCodecType) []byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		p.reused.Add(1)
		return (*b)[:0]
	}
	return nil
}

// PutDecompressBytes takes back a batch's buffer, zeroed by the client.
func (p *fetchPool) PutDecompressBytes(b []byte) { p.bufs.Put(&b) }

// GetRecords returns a slice for the n records of a batch.
func (p *fetchPool) GetRecords(n int) []kgo.Record {
	if r, ok := p.recs.Get().(*[]kgo.Record); ok && cap(*r) >= n {
		return (*r)[:0]
	}
	return make([]kgo.Record, 0, n)
}

// PutRecords takes back the slice of a batch's records, zeroed by their
// Recycle.
func (p *fetchPool) PutRecords(r []kgo.Record) { p.recs.Put(&r) }

// recycle gives r's memory back unless it is held behind a barrier (the
// last held record of its partition), to be folded in later.
func (w *worker) recycle(r *kgo.Record) {
	if held := w.held[r.Partition]; len(held) > 0 && held[len(held)-1] == r {
		return
	}
	r.Recycle()
}
