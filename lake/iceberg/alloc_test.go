package iceberg

import (
	"testing"
	"unsafe"
)

// TestPoolAllocator checks that buffers come back zeroed and aligned,
// whatever was written into them before they were freed, and that
// Reallocate keeps the bytes.
func TestPoolAllocator(t *testing.T) {
	p := &poolAllocator{}
	for _, size := range []int{1, 100, 4095, 4096, 4097, 100_000, 1 << 20} {
		for round := range 3 {
			b := p.Allocate(size)
			if len(b) != size {
				t.Fatalf("size %d: got %d bytes", size, len(b))
			}
			if uintptr(unsafe.Pointer(&b[0]))%64 != 0 {
				t.Fatalf("size %d round %d: buffer not 64-byte aligned", size, round)
			}
			for i, c := range b[:cap(b)] {
				if c != 0 {
					t.Fatalf("size %d round %d: byte %d of a new buffer is %d", size, round, i, c)
				}
			}
			for i := range b[:cap(b)] {
				b[:cap(b)][i] = 0xAB // dirty all of it, beyond len too
			}
			b = p.Reallocate(size*3, b)
			if len(b) != size*3 || b[0] != 0xAB || b[size-1] != 0xAB {
				t.Fatalf("size %d round %d: reallocated buffer lost its bytes", size, round)
			}
			p.Free(b)
		}
	}
	if c := poolClass(4096); c != 0 {
		t.Fatalf("class of 4096 is %d", c)
	}
	if c := poolClass(4097); c != 1 {
		t.Fatalf("class of 4097 is %d", c)
	}
	if c := poolClass(1<<maxPoolClass + 1); c != -1 {
		t.Fatalf("class beyond the largest is %d", c)
	}
}
