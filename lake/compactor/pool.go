package compactor

import (
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/internal/sizepool"
)

// fetchPool gives the Kafka client back the memory of fetched batches once
// the worker is done with every record of a batch (kgo.Record.Recycle): the
// buffer a batch is decompressed into and the slice of its records. Without
// it every fetched batch was garbage: over a third of what the
// compactor allocated, and the collector's work with it.
//
// A recycled record's Key and Value bytes are overwritten by a later batch,
// so nothing the compactor keeps may point into them. Nothing does: the
// scanner copies what it keeps (texts into box slabs, positions and keys
// into new strings, encoding/json's results are copies), and a record held
// behind a barrier is recycled only once it has been folded in.
// The client zeroes a buffer before it comes back, so a value left pointing
// into one would read zeros at once, reused or not:
// TestCompactorRecyclesFetches checks the lake still equals the source
// with the buffers given back while their rows wait for the commit.
type fetchPool struct {
	bufs sizepool.Pool[byte]
	recs sizepool.Pool[kgo.Record]
	// returned counts the buffers given back (for the test).
	returned atomic.Int64
}

var (
	_ kgo.PoolDecompressBytes = (*fetchPool)(nil)
	_ kgo.PoolRecords         = (*fetchPool)(nil)
)

// GetDecompressBytes returns a buffer to decompress a batch into; only its
// capacity counts. Snappy, what the readers publish with, says how large
// a batch decompresses; for other codecs, and a buffer that is short, the
// codec allocates one.
func (p *fetchPool) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	if codec != kgo.CodecSnappy {
		return nil
	}
	n, err := s2.DecodedLen(compressed)
	if err != nil {
		return nil
	}
	b, _ := p.bufs.Get(n)
	return b
}

// PutDecompressBytes takes back a batch's buffer, zeroed by the client.
func (p *fetchPool) PutDecompressBytes(b []byte) {
	p.returned.Add(1)
	p.bufs.Put(b)
}

// GetRecords returns a slice for the n records of a batch.
func (p *fetchPool) GetRecords(n int) []kgo.Record {
	r, _ := p.recs.Get(n)
	return r
}

// PutRecords takes back the slice of a batch's records, zeroed by their
// Recycle.
func (p *fetchPool) PutRecords(r []kgo.Record) { p.recs.Put(r) }

// recycle gives r's memory back unless it is held behind a barrier (the
// last held record of its partition), to be folded in later.
func (w *worker) recycle(r *kgo.Record) {
	if held := w.held[r.Partition]; len(held) > 0 && held[len(held)-1] == r {
		return
	}
	r.Recycle()
}
