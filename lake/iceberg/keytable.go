package iceberg

import (
	"iter"
	"math/bits"
)

// keyTable maps key hashes to row locations: the key index's table.
//
// It is an open-addressing table with linear probing whose slot for a
// hash is the hash's top bits (hashes are uniform already), so keys in
// hash order meet the slots in table order. A batch's keys are looked
// up, added and removed in that order (lookupAll, setAll, deleteAll):
// the table, far larger than the CPU's caches for a large lake table, is
// then walked once from start to end instead of touched at random, one
// cache miss per key. The zero hash marks an empty slot (lake.HashKey
// never returns it).
//
// Slots are 24 bytes, 3/8 to 3/4 of them used; a large table's slots are
// outside Go's heap (slotmem.go). Growing doubles the slots at once, so
// memory peaks at 1.5 times the new size meanwhile, as Go's maps before
// 1.24 did. (256 shards growing on their own would not peak,
// but ran 20-30% slower in BenchmarkKeyTableBatch, probably from TLB
// misses over 256 separate allocations; not measured further.)
type keyTable struct {
	slots []keySlot
	mem   *slotMem // the mapping holding slots, nil when they are on the heap (slotmem.go)
	shift uint     // 64 - log2(len(slots))
	n     int
}

type keySlot struct {
	h   keyHash
	loc uint64
}

const minKeySlots = 8

// home is the slot a hash belongs in.
func (t *keyTable) home(h keyHash) int { return int(h[0] >> t.shift) }

func (t *keyTable) mask() int { return len(t.slots) - 1 }

// Len returns the number of keys.
func (t *keyTable) Len() int { return t.n }

// find returns the slot of h, or of the empty slot where h would go, and
// whether h is there.
func (t *keyTable) find(h keyHash) (int, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	m := t.mask()
	for i := t.home(h); ; i = (i + 1) & m {
		switch t.slots[i].h {
		case h:
			return i, true
		case keyHash{}:
			return i, false
		}
	}
}

// Get returns the location of h.
func (t *keyTable) Get(h keyHash) (uint64, bool) {
	i, ok := t.find(h)
	if !ok {
		return 0, false
	}
	return t.slots[i].loc, true
}

// Set sets the location of h.
func (t *keyTable) Set(h keyHash, l uint64) {
	if h == (keyHash{}) {
		panic("keyTable: zero hash")
	}
	t.reserve(1)
	i, ok := t.find(h)
	if !ok {
		t.slots[i].h = h
		t.n++
	}
	t.slots[i].loc = l
}

// reserve grows the table so that n more keys keep it at most 3/4 full.
func (t *keyTable) reserve(n int) {
	want := t.n + n
	if want*4 <= len(t.slots)*3 {
		return
	}
	size := max(minKeySlots, 1<<bits.Len(uint(want*4/3)))
	old, oldMem := t.slots, t.mem
	t.slots, t.mem = newSlots(size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	// The old slots are in about hash order: the new table is filled
	// from start to end.
	m := t.mask()
	for _, s := range old {
		if s.h == (keyHash{}) {
			continue
		}
		i := t.home(s.h)
		for t.slots[i].h != (keyHash{}) {
			i = (i + 1) & m
		}
		t.slots[i] = s
	}
	oldMem.free()
}

// Delete removes h, and reports whether it was there.
func (t *keyTable) Delete(h keyHash) bool {
	i, ok := t.find(h)
	if !ok {
		return false
	}
	t.removeAt(i)
	return true
}

// removeAt empties slot i and moves back the keys after it that probing
// would no longer find (backward-shift deletion: no tombstones).
func (t *keyTable) removeAt(i int) {
	m := t.mask()
	t.n--
	for {
		t.slots[i] = keySlot{}
		j := i
		for {
			j = (j + 1) & m
			if t.slots[j].h == (keyHash{}) {
				return
			}
			// The key at j may move to i unless its home lies cyclically
			// in (i, j].
			k := t.home(t.slots[j].h)
			if (i < j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
				t.slots[i] = t.slots[j]
				i = j
				break
			}
		}
	}
}

// Clear removes every key.
func (t *keyTable) Clear() {
	clear(t.slots)
	t.n = 0
}

// All yields every key and its location. The table must not change
// meanwhile.
func (t *keyTable) All() iter.Seq2[keyHash, uint64] {
	return func(yield func(keyHash, uint64) bool) {
		for _, s := range t.slots {
			if s.h != (keyHash{}) && !yield(s.h, s.loc) {
				return
			}
		}
	}
}

// DeleteFunc removes the keys del returns true for.
func (t *keyTable) DeleteFunc(del func(keyHash, uint64) bool) {
	var gone []keyHash
	for h, l := range t.All() {
		if del(h, l) {
			gone = append(gone, h)
		}
	}
	t.deleteAll(gone)
}

// order returns the indexes of hs in about the order of their slots: by
// their top 12 bits, so that each run of them falls in a 4096th of the
// table.
func (t *keyTable) order(n int, h func(i int) keyHash) []int32 {
	const orderBits = 12
	var counts [1<<orderBits + 1]int32
	for i := range n {
		counts[h(i)[0]>>(64-orderBits)+1]++
	}
	for b := 1; b < len(counts); b++ {
		counts[b] += counts[b-1]
	}
	out := make([]int32, n)
	for i := range n {
		b := h(i)[0] >> (64 - orderBits)
		out[counts[b]] = int32(i)
		counts[b]++
	}
	return out
}

// lookupAll calls fn with the index and location of each of hs in the
// table, in table order.
func (t *keyTable) lookupAll(hs []keyHash, fn func(i int, l uint64)) {
	if t.n == 0 {
		return
	}
	for _, i := range t.order(len(hs), func(i int) keyHash { return hs[i] }) {
		if l, ok := t.Get(hs[i]); ok {
			fn(int(i), l)
		}
	}
}

// setAll sets the location of each key of slots, in table order.
func (t *keyTable) setAll(slots []keySlot) {
	t.reserve(len(slots))
	for _, i := range t.order(len(slots), func(i int) keyHash { return slots[i].h }) {
		t.Set(slots[i].h, slots[i].loc)
	}
}

// deleteAll removes each of hs, in table order.
func (t *keyTable) deleteAll(hs []keyHash) {
	if t.n == 0 {
		return
	}
	for _, i := range t.order(len(hs), func(i int) keyHash { return hs[i] }) {
		t.Delete(hs[i])
	}
}
