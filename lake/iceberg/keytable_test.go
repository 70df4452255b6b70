package iceberg

import (
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestKeyTable runs random operations on a keyTable and a map side by
// side and compares them after each. Hashes are drawn from a few narrow
// ranges (one at the table's end, so probes wrap around) to make long
// probe runs, where backward-shift deletion can go wrong.
func TestKeyTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	hash := func() keyHash {
		var top uint64
		switch r.IntN(4) {
		case 0:
			top = ^uint64(0) - r.Uint64N(1<<58) // the last slots
		case 1:
			top = r.Uint64N(1 << 58) // the first slots
		case 2:
			top = 1<<63 + r.Uint64N(1<<56)
		default:
			top = r.Uint64()
		}
		return keyHash{top, r.Uint64N(64)<<1 | 1}
	}
	var tbl keyTable
	want := map[keyHash]uint64{}
	var known []keyHash
	pick := func() keyHash {
		if len(known) > 0 && r.IntN(3) > 0 {
			return known[r.IntN(len(known))]
		}
		h := hash()
		known = append(known, h)
		return h
	}
	check := func(step int, op string) {
		t.Helper()
		if tbl.Len() != len(want) {
			t.Fatalf("step %d (%s): %d keys, want %d", step, op, tbl.Len(), len(want))
		}
		for h, l := range want {
			if got, ok := tbl.Get(h); !ok || got != l {
				t.Fatalf("step %d (%s): key %x is %d, %v; want %d", step, op, h, got, ok, l)
			}
		}
		n := 0
		for h, l := range tbl.All() {
			if want[h] != l {
				t.Fatalf("step %d (%s): All yields %x=%d, want %d", step, op, h, l, want[h])
			}
			n++
		}
		if n != len(want) {
			t.Fatalf("step %d (%s): All yields %d keys, want %d", step, op, n, len(want))
		}
	}
	for step := range 3000 {
		var op string
		switch k := r.IntN(10); {
		case k < 4:
			op = "set"
			h, l := pick(), r.Uint64()
			tbl.Set(h, l)
			want[h] = l
		case k < 6:
			op = "delete"
			h := pick()
			_, had := want[h]
			if tbl.Delete(h) != had {
				t.Fatalf("step %d: delete %x reports %v", step, h, !had)
			}
			delete(want, h)
		case k == 6:
			op = "setAll"
			var slots []keySlot
			seen := map[keyHash]bool{}
			for range r.IntN(200) {
				h := pick()
				if seen[h] {
					continue // setAll takes each key once
				}
				seen[h] = true
				slots = append(slots, keySlot{h, r.Uint64()})
				want[h] = slots[len(slots)-1].loc
			}
			tbl.setAll(slots)
		case k == 7:
			op = "deleteAll"
			var hs []keyHash
			for range r.IntN(100) {
				h := pick()
				hs = append(hs, h)
				delete(want, h)
			}
			tbl.deleteAll(hs)
		case k == 8:
			op = "lookupAll"
			var hs []keyHash
			for range r.IntN(100) {
				hs = append(hs, pick())
			}
			found := map[int]uint64{}
			tbl.lookupAll(hs, func(i int, l uint64) { found[i] = l })
			for i, h := range hs {
				l, ok := want[h]
				if got, gotOK := found[i]; gotOK != ok || got != l {
					t.Fatalf("step %d: lookupAll of %x gave %d, %v; want %d, %v", step, h, got, gotOK, l, ok)
				}
			}
		default:
			op = "deleteFunc"
			odd := r.IntN(2) == 0
			tbl.DeleteFunc(func(_ keyHash, l uint64) bool { return (l%2 == 1) == odd })
			for h, l := range want {
				if (l%2 == 1) == odd {
					delete(want, h)
				}
			}
		}
		check(step, op)
		if step%1000 == 999 {
			tbl.Clear()
			clear(want)
			check(step, "clear")
		}
	}
}

// BenchmarkKeyTableBatch adds batches of 100,000 new keys to a table
// holding millions, looking each up first, as a commit does.
func BenchmarkKeyTableBatch(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const batch = 100_000
	var tbl keyTable
	for range 20 {
		slots := make([]keySlot, batch)
		for i := range slots {
			slots[i] = keySlot{keyHash{r.Uint64(), r.Uint64() | 1}, uint64(i)}
		}
		tbl.setAll(slots)
	}
	hs := make([]keyHash, batch)
	slots := make([]keySlot, batch)
	b.ResetTimer()
	for range b.N {
		for i := range hs {
			hs[i] = keyHash{r.Uint64(), r.Uint64() | 1}
			slots[i] = keySlot{hs[i], uint64(i)}
		}
		tbl.lookupAll(hs, func(int, uint64) { b.Fatal("found a new key") })
		tbl.setAll(slots)
		tbl.deleteAll(hs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/key")
}

// BenchmarkKeyMapBatch is BenchmarkKeyTableBatch with a Go map, as the
// index held its keys before keyTable.
func BenchmarkKeyMapBatch(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const batch = 100_000
	m := map[keyHash]uint64{}
	for range 20 * batch {
		m[keyHash{r.Uint64(), r.Uint64() | 1}] = 1
	}
	hs := make([]keyHash, batch)
	b.ResetTimer()
	for range b.N {
		for i := range hs {
			hs[i] = keyHash{r.Uint64(), r.Uint64() | 1}
		}
		for _, h := range hs {
			if _, ok := m[h]; ok {
				b.Fatal("found a new key")
			}
		}
		for i, h := range hs {
			m[h] = uint64(i)
		}
		for _, h := range hs {
			delete(m, h)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/key")
}

// TestKeyTableMapped grows a table past mapMinSlots, so that its slots
// are mapped outside the heap (on Linux), and checks its keys through
// growth, deletes and Clear, that growing unmaps the old slots, and that
// a table no longer reachable is unmapped.
func TestKeyTableMapped(t *testing.T) {
	defer func(n int) { mapMinSlots = n }(mapMinSlots)
	mapMinSlots = 1 << 17 // production's: the table starts on the heap
	settleMapped(t)
	mapped := runtime.GOOS == "linux"
	// No collection while the table grows: an old mapping left for its
	// cleanup, not unmapped by the growth, shows in mappedBytes.
	gc := debug.SetGCPercent(-1)
	before := mappedBytes.Load()
	r := rand.New(rand.NewPCG(5, 6))
	tbl := &keyTable{}
	var keys []keyHash
	for range 6 {
		slots := make([]keySlot, 50_000)
		for i := range slots {
			slots[i] = keySlot{keyHash{r.Uint64(), r.Uint64() | 1}, uint64(len(keys))}
			keys = append(keys, slots[i].h)
		}
		tbl.setAll(slots)
	}
	if tbl.Len() != len(keys) || len(tbl.slots) < mapMinSlots {
		t.Fatalf("%d keys in %d slots, want %d keys in at least %d", tbl.Len(), len(tbl.slots), len(keys), mapMinSlots)
	}
	if got := tbl.mem != nil; got != mapped {
		t.Fatalf("slots mapped %v, want %v", got, mapped)
	}
	if mapped && mappedBytes.Load()-before != int64(len(tbl.mem.b)) {
		t.Errorf("%d bytes mapped, want only the table's %d", mappedBytes.Load()-before, len(tbl.mem.b))
	}
	debug.SetGCPercent(gc)
	for i, h := range keys {
		if l, ok := tbl.Get(h); !ok || l != uint64(i) {
			t.Fatalf("key %d: %d, %v", i, l, ok)
		}
	}
	tbl.deleteAll(keys[:len(keys)/2])
	for i, h := range keys {
		if _, ok := tbl.Get(h); ok != (i >= len(keys)/2) {
			t.Fatalf("key %d present %v after deleting the first half", i, ok)
		}
	}
	tbl.Clear()
	if tbl.Len() != 0 {
		t.Fatalf("%d keys after Clear", tbl.Len())
	}
	for _, h := range keys {
		if _, ok := tbl.Get(h); ok {
			t.Fatal("a key survived Clear")
		}
	}
	tbl.Set(keys[0], 7)
	if l, ok := tbl.Get(keys[0]); !ok || l != 7 {
		t.Fatalf("key after Clear and Set: %d, %v", l, ok)
	}
	tbl = nil
	for range 100 {
		runtime.GC()
		if mappedBytes.Load() == before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d bytes still mapped once the table is unreachable", mappedBytes.Load()-before)
}

// settleMapped waits until the tables of the tests before are unmapped,
// so that mappedBytes counts this test's alone.
func settleMapped(t *testing.T) {
	last := int64(-1)
	for range 100 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		n := mappedBytes.Load()
		if n == last {
			return
		}
		last = n
	}
	t.Fatalf("mapped bytes still changing: %d", last)
}
