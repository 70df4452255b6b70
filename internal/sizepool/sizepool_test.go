package sizepool

import "testing"

// TestPool checks that a slice handed out has room for what it was asked
// for, whatever capacity it was put back with, and that a slice put back
// is handed out again.
func TestPool(t *testing.T) {
	var p Pool[int64]
	for _, n := range []int{0, 1, 2, 3, 1000, 1024, 1025, 100_000, 3<<20 + 7} {
		s, _ := p.Get(n)
		if len(s) != 0 || cap(s) < n {
			t.Fatalf("Get(%d): length %d, capacity %d", n, len(s), cap(s))
		}
		p.Put(append(s, 42))
		if s, _ := p.Get(n); cap(s) < n || len(s) != 0 {
			t.Fatalf("Get(%d) again: length %d, capacity %d", n, len(s), cap(s))
		}
		p.Put(make([]int64, 0, n+n/3+1)) // an odd capacity, as append grows one
		if s, _ := p.Get(n); cap(s) < n {
			t.Fatalf("Get(%d) after an odd put: capacity %d", n, cap(s))
		}
	}
	// sync.Pool may drop what it holds at any time, so reuse is checked
	// over many tries: at least one must come back.
	reused := false
	for range 100 {
		s, _ := p.Get(5000)
		p.Put(s)
		if _, ok := p.Get(5000); ok {
			reused = true
			break
		}
	}
	if !reused {
		t.Error("a slice put back was never handed out again")
	}
	if k := Class(1<<MaxClass + 1); k != -1 {
		t.Errorf("Class past the largest: %d", k)
	}
}
