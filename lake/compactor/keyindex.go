package compactor

import (
	"math/bits"

	"github.com/tributary-dev/tributary/lake"
)

// keyIndex maps the key hashes of a batch to their change numbers. It is
// an open-addressing table with linear probing whose slots hold the hash
// itself: a key hash is already uniform, so a slot's home is its top
// bits, with no hashing again, and a probe compares two words. A batch
// only adds keys, and is emptied whole, so there is no deletion. It
// replaced a Go map, whose probes were 7% of the compactor's CPU.
type keyIndex struct {
	slots []keyIndexSlot
	shift uint // 64 - log2(len(slots))
	n     int
}

// keyIndexSlot is one slot; a zero hash marks it empty (lake.HashKey never
// returns zero).
type keyIndexSlot struct {
	h lake.KeyHash
	i int
}

// minKeyIndexSlots is the smallest table.
const minKeyIndexSlots = 1 << 10

// get returns the change number of h.
func (x *keyIndex) get(h lake.KeyHash) (int, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	m := len(x.slots) - 1
	for i := int(h[0] >> x.shift); ; i = (i + 1) & m {
		s := &x.slots[i]
		if s.h == h {
			return s.i, true
		}
		if s.h == (lake.KeyHash{}) {
			return 0, false
		}
	}
}

// put adds h, which must not be there yet, with change number i; size is
// how many keys to make room for when the table is first made.
func (x *keyIndex) put(h lake.KeyHash, i, size int) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow(max(size, 2*x.n))
	}
	m := len(x.slots) - 1
	j := int(h[0] >> x.shift)
	for x.slots[j].h != (lake.KeyHash{}) {
		j = (j + 1) & m
	}
	x.slots[j] = keyIndexSlot{h: h, i: i}
	x.n++
}

// grow makes room for n keys at most 3/4 full.
func (x *keyIndex) grow(n int) {
	size := max(minKeyIndexSlots, 1<<bits.Len(uint(n*4/3)))
	old := x.slots
	x.slots, x.shift, x.n = make([]keyIndexSlot, size), uint(64-bits.TrailingZeros(uint(size))), 0
	for _, s := range old {
		if s.h != (lake.KeyHash{}) {
			x.put(s.h, s.i, 0)
		}
	}
}

// reset empties the table. It keeps its slots for the next batch when
// they are at most keep and an eighth of them were used (clearing a large
// table for a small batch would cost more than making one).
func (x *keyIndex) reset(keep int) {
	if len(x.slots) > keep || (len(x.slots) > minKeyIndexSlots && x.n*8 < len(x.slots)) {
		*x = keyIndex{}
		return
	}
	clear(x.slots)
	x.n = 0
}
