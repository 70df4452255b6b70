package mysql

import "unsafe"

// boxer turns decoded strings and integers into interface values whose
// data lives in slabs it allocates boxChunk values at a time, instead of
// one allocation per value (Go boxes a string or an int64 that does not
// fit a small-value cache on the heap). A row image of four columns
// costs a few bytes of slab instead of up to four allocations. The values
// are ordinary interfaces: they compare, type-switch and convert as any
// other. A slab stays alive while any value handed out from it does.
type boxer struct {
	strs []string
	i64s []int64
	u64s []uint64
}

// boxChunk is how many values of one type share an allocation.
const boxChunk = 256

// eface is the layout of an empty interface value (runtime.eface): its
// type and a pointer to the value, for types that are not pointer-shaped.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// The runtime's type descriptors of the types boxer hands out.
var (
	stringType = typeOf("")
	int64Type  = typeOf(int64(0))
	uint64Type = typeOf(uint64(0))
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

// boxed returns the interface value of type typ whose value is at data.
func boxed(typ, data unsafe.Pointer) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

// str returns s as an interface value.
func (b *boxer) str(s string) any { return slabBox(&b.strs, stringType, s) }

// i64 returns v as an interface value.
func (b *boxer) i64(v int64) any { return slabBox(&b.i64s, int64Type, v) }

// u64 returns v as an interface value.
func (b *boxer) u64(v uint64) any { return slabBox(&b.u64s, uint64Type, v) }

// slabBox stores v in the next free element of *slab (a new slab of
// boxChunk elements when it is used up) and returns it as an interface
// value of type typ, which must be T's.
func slabBox[T any](slab *[]T, typ unsafe.Pointer, v T) any {
	if len(*slab) == 0 {
		*slab = make([]T, boxChunk)
	}
	p := &(*slab)[0]
	*p = v
	*slab = (*slab)[1:]
	return boxed(typ, unsafe.Pointer(p))
}
