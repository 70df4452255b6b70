// Package sizepool keeps slices for reuse by capacity: a slice put back
// is handed out again for any length up to its capacity class, so a
// program that needs slices of about the same sizes over and over
// (a batch's buffers, a file's columns) reuses them instead of leaving
// them to the garbage collector. Slices not asked for again go at the
// collector's second cycle (sync.Pool).
package sizepool

import (
	"math/bits"
	"sync"
)

// MaxClass is the largest class pooled: slices of more than 1<<MaxClass
// elements are left to the collector.
const MaxClass = 30

// Pool keeps slices of T. Class k holds capacities from 1<<k up to (not
// including) 1<<(k+1). The zero Pool is ready to use.
type Pool[T any] struct {
	classes [MaxClass + 1]sync.Pool // *[]T
}

// Class returns the class whose every slice has room for n elements, or
// -1 when n is too large to pool.
func Class(n int) int {
	k := bits.Len(uint(max(n, 1) - 1))
	if k > MaxClass {
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
	if k > MaxClass {
		return -1
	}
	return k
}

// Get returns an empty slice with room for n elements, and whether it is
// one put back earlier. A new slice has its class's whole capacity, so it
// can be put back in the same class.
func (p *Pool[T]) Get(n int) ([]T, bool) {
	k := Class(n)
	if k < 0 {
		return make([]T, 0, n), false
	}
	if s, ok := p.classes[k].Get().(*[]T); ok {
		return (*s)[:0], true
	}
	return make([]T, 0, 1<<k), false
}

// Put keeps s for a later Get. Its elements are kept as they are: clear
// those that point at memory that should not be held.
func (p *Pool[T]) Put(s []T) {
	if k := classOfCap(cap(s)); k >= 0 {
		p.classes[k].Put(&s)
	}
}
