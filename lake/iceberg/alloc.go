package iceberg

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// poolAllocator is the Arrow allocator of the records and Parquet files
// the compactor writes: buffers Arrow frees (records released, Parquet
// pages written) are kept, by power-of-two size class, for the next
// record and file instead of left to the garbage collector, which would
// otherwise collect hundreds of megabytes per million rows written.
// Buffers under 4 KiB and over 64 MiB come from Go's allocator. Unused
// buffers go at the collector's second cycle (sync.Pool).
//
// Like memory.GoAllocator, it returns zeroed, 64-byte aligned memory: a
// buffer's whole capacity is zeroed when it is handed out again. Arrow
// frees a buffer only once nothing references it (cgo's Mallocator,
// which frees for real, relies on the same).
type poolAllocator struct {
	classes [maxPoolClass - minPoolClass + 1]sync.Pool // *[]byte
}

const (
	minPoolClass = 12 // 4 KiB
	maxPoolClass = 26 // 64 MiB
)

var arrowPool = &poolAllocator{}

var _ memory.Allocator = arrowPool

// class returns the size class a buffer of size bytes is taken from, -1
// for none.
func poolClass(size int) int {
	if size <= 0 || size > 1<<maxPoolClass {
		return -1
	}
	c := max(bits.Len(uint(size-1)), minPoolClass)
	return c - minPoolClass
}

// Allocate returns a zeroed buffer of size bytes.
func (p *poolAllocator) Allocate(size int) []byte {
	c := poolClass(size)
	if c < 0 {
		return memory.DefaultAllocator.Allocate(size)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		buf := (*b)[:cap(*b)]
		clear(buf)
		return buf[:size]
	}
	// A power of two of 4 KiB or more: Go aligns it to at least 4 KiB.
	return make([]byte, size, 1<<(c+minPoolClass))
}

// Reallocate returns a buffer of size bytes holding b's bytes: b itself
// when it has room.
func (p *poolAllocator) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	out := p.Allocate(size)
	copy(out, b)
	p.Free(b)
	return out
}

// Free keeps b for reuse when its capacity is one of the size classes.
func (p *poolAllocator) Free(b []byte) {
	n := cap(b)
	if n < 1<<minPoolClass || n > 1<<maxPoolClass || n&(n-1) != 0 {
		return
	}
	b = b[:0]
	p.classes[bits.Len(uint(n))-1-minPoolClass].Put(&b)
}
