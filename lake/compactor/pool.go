package compactor

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
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
// TestCompactorRecyclesFetches checks the lake still equals the source with
// the buffers reused.
type fetchPool struct {
	// bufs and recs hold free buffers and record slices by size class:
	// class k holds capacities from 1<<k up to (not including) 1<<(k+1).
	bufs, recs [maxPoolClass + 1]sync.Pool
	// reused counts the buffers handed out again (for the test).
	reused atomic.Int64
}

// maxPoolClass is the largest size class pooled: buffers of 1 GiB and up
// are left to the collector.
const maxPoolClass = 30

// classOf returns the class whose every slice has room for n, or -1
// when n is too large to pool.
func classOf(n int) int {
	k := bits.Len(uint(max(n, 1) - 1))
	if k > maxPoolClass {
		return -1
	}
	return k
}

// classOfCap returns the class of a slice of capacity c, or -1.
func classOfCap(c int) int {
	if c <= 0 {
		return -1
	}
	k := bits.Len(uint(c)) - 1
	if k > maxPoolClass {
		return -1
	}
	return k
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
	k := classOf(n)
	if k < 0 {
		return nil
	}
	if b, ok := p.bufs[k].Get().(*[]byte); ok {
		p.reused.Add(1)
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<k)
}

// PutDecompressBytes takes back a batch's buffer, zeroed by the client.
func (p *fetchPool) PutDecompressBytes(b []byte) {
	if k := classOfCap(cap(b)); k >= 0 {
		p.bufs[k].Put(&b)
	}
}

// GetRecords returns a slice for the n records of a batch.
func (p *fetchPool) GetRecords(n int) []kgo.Record {
	k := classOf(n)
	if k < 0 {
		return make([]kgo.Record, 0, n)
	}
	if r, ok := p.recs[k].Get().(*[]kgo.Record); ok {
		return (*r)[:0]
	}
	return make([]kgo.Record, 0, 1<<k)
}

// PutRecords takes back the slice of a batch's records, zeroed by their
// Recycle.
func (p *fetchPool) PutRecords(r []kgo.Record) {
	if k := classOfCap(cap(r)); k >= 0 {
		p.recs[k].Put(&r)
	}
}

// recycle gives r's memory back unless it is held behind a barrier (the
// last held record of its partition), to be folded in later.
func (w *worker) recycle(r *kgo.Record) {
	if held := w.held[r.Partition]; len(held) > 0 && held[len(held)-1] == r {
		return
	}
	r.Recycle()
}
