package compactor

import (
	"math/rand/v2"
	"testing"

	"github.com/tributary-dev/tributary/lake"
)

// TestKeyIndex checks keyIndex against a map: random hashes, hashes that
// share their home slot (long probe runs, wrapping at the end), growth,
// and reuse after reset.
func TestKeyIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x keyIndex
	for round, n := range []int{10, 5000, 200_000, 300, 70_000} {
		want := map[lake.KeyHash]int{}
		hashes := make([]lake.KeyHash, 0, n)
		for i := range n {
			h := lake.KeyHash{rng.Uint64(), rng.Uint64() | 1}
			switch i % 5 {
			case 1: // the same home slot as the previous hash
				h[0] = hashes[len(hashes)-1][0]
			case 2: // the last slot, whose run wraps to the first
				if i < 2000 {
					h[0] = ^uint64(0)
				}
			}
			if _, dup := want[h]; dup {
				continue
			}
			if _, ok := x.get(h); ok {
				t.Fatalf("round %d: %x found before it was put", round, h)
			}
			want[h] = i
			hashes = append(hashes, h)
			x.put(h, i, n/2)
		}
		if x.n != len(want) {
			t.Fatalf("round %d: %d keys, want %d", round, x.n, len(want))
		}
		for h, i := range want {
			if got, ok := x.get(h); !ok || got != i {
				t.Fatalf("round %d: %x -> %d, %v; want %d", round, h, got, ok, i)
			}
		}
		if _, ok := x.get(lake.KeyHash{rng.Uint64(), 1}); ok {
			t.Fatalf("round %d: a hash never put was found", round)
		}
		x.reset(2 * keepKeys)
		for h := range want {
			if _, ok := x.get(h); ok {
				t.Fatalf("round %d: %x found after reset", round, h)
			}
		}
	}
}
