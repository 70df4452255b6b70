// Package box turns decoded values into interface values without one
// heap allocation per value. The readers and the compactor decode
// millions of row values into []any; Go boxes every string, and every
// integer or float outside a small-value cache, in an allocation of its
// own, which the collector then has to find and sweep one by one.
package box

import "unsafe"

// Boxer hands out interface values whose data lives in slabs it
// allocates Chunk values at a time, instead of one allocation per value:
// a row image of four columns costs a few bytes of slab instead of up to
// four allocations. The values are ordinary interfaces: they compare,
// type-switch and convert as any other. A slab stays alive while any
// value handed out from it does. The zero Boxer is ready to use; a Boxer
// is not safe for concurrent use.
type Boxer struct {
	strs []string
	i64s []int64
	u64s []uint64
	i32s []int32
	f64s []float64
	f32s []float32
	text []byte
}

// Chunk is how many values of one type share an allocation.
const Chunk = 256

// textChunk is the size of the slabs Text copies strings into; a longer
// string gets an allocation of its own.
const textChunk = 16 << 10

// eface is the layout of an empty interface value (runtime.eface): its
// type and a pointer to the value, for types that are not pointer-shaped.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// The runtime's type descriptors of the types Boxer hands out.
var (
	stringType  = typeOf("")
	int64Type   = typeOf(int64(0))
	uint64Type  = typeOf(uint64(0))
	int32Type   = typeOf(int32(0))
	float64Type = typeOf(float64(0))
	float32Type = typeOf(float32(0))
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

// boxed returns the interface value of type typ whose value is at data.
func boxed(typ, data unsafe.Pointer) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

// Str returns s as an interface value.
func (b *Boxer) Str(s string) any { return slabBox(&b.strs, stringType, s) }

// Text returns a copy of raw as a string in an interface value: the
// bytes go to a slab shared with other texts, so raw may be reused.
func (b *Boxer) Text(raw []byte) any { return b.Str(b.String(raw)) }

// String returns a copy of raw as a string whose bytes live in a slab
// shared with other strings.
func (b *Boxer) String(raw []byte) string {
	n := len(raw)
	if n == 0 {
		return ""
	}
	if n > textChunk/8 {
		return string(raw)
	}
	if len(b.text) < n {
		b.text = make([]byte, textChunk)
	}
	p := b.text[:n:n]
	copy(p, raw)
	b.text = b.text[n:]
	return unsafe.String(&p[0], n)
}

// I64 returns v as an interface value.
func (b *Boxer) I64(v int64) any { return slabBox(&b.i64s, int64Type, v) }

// U64 returns v as an interface value.
func (b *Boxer) U64(v uint64) any { return slabBox(&b.u64s, uint64Type, v) }

// I32 returns v as an interface value.
func (b *Boxer) I32(v int32) any { return slabBox(&b.i32s, int32Type, v) }

// F64 returns v as an interface value.
func (b *Boxer) F64(v float64) any { return slabBox(&b.f64s, float64Type, v) }

// F32 returns v as an interface value.
func (b *Boxer) F32(v float32) any { return slabBox(&b.f32s, float32Type, v) }

// slabBox stores v in the next free element of *slab (a new slab of
// Chunk elements when it is used up) and returns it as an interface
// value of type typ, which must be T's.
func slabBox[T any](slab *[]T, typ unsafe.Pointer, v T) any {
	if len(*slab) == 0 {
		*slab = make([]T, Chunk)
	}
	p := &(*slab)[0]
	*p = v
	*slab = (*slab)[1:]
	return boxed(typ, unsafe.Pointer(p))
}
