package iceberg

import (
	"runtime"
	"sync/atomic"
)

// The key table of a large lake table lives outside Go's heap, in memory
// mapped for it alone (slotmem_linux.go). On the heap, its slots counted
// as live memory, and the collector lets the heap grow to several times
// the live memory before collecting (GOGC, 400 by default): every byte of
// key index let the heap grow by four more bytes of garbage before a
// collection, so a table of 50 million rows (about 2 GB of index) let a
// compactor's heap reach 10 GB. In BenchmarkCompactorInsert at 4 million
// rows the heap peaked at about 870 MB instead of 1.3 GB. Tables of fewer
// than mapMinSlots slots stay on the heap.

// mapMinSlots is the smallest key table mapped outside the heap (3 MiB of
// slots). This package's tests map every table (main_test.go); the
// compactor's and the integration tests' tables stay on the heap.
var mapMinSlots = 1 << 17

// slotMem is a mapping holding a key table's slots. When it becomes
// unreachable, it is unmapped (free unmaps it at once).
type slotMem struct {
	b       []byte // the whole mapping
	cleanup runtime.Cleanup
}

// newSlots returns n zeroed slots and the mapping holding them, nil when
// they are on the heap (small tables, or when the mapping failed).
func newSlots(n int) ([]keySlot, *slotMem) {
	if n >= mapMinSlots {
		if slots, b, ok := mapSlots(n); ok {
			m := &slotMem{b: b}
			m.cleanup = runtime.AddCleanup(m, releaseSlots, b)
			mappedBytes.Add(int64(len(b)))
			return slots, m
		}
	}
	return make([]keySlot, n), nil
}

// free unmaps the slots at once; they must not be used again.
func (m *slotMem) free() {
	if m == nil || m.b == nil {
		return
	}
	m.cleanup.Stop()
	releaseSlots(m.b)
	m.b = nil
}

// mappedBytes is the size of the key tables' mappings.
var mappedBytes atomic.Int64

func releaseSlots(b []byte) {
	unmapSlots(b)
	mappedBytes.Add(-int64(len(b)))
}
