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
func (b *boxer) str(s string) any {
	if len(b.strs) == 0 {
		b.strs = make([]string, boxChunk)
	}
	p := &b.strs[0]
	*p = s
	b.strs = b.strs[1:]
	return boxed(stringType, unsafe.Pointer(p))
}

// i64 returns v as an interface value.
func (b *boxer) i64(v int64) any {
	if len(b.i64s) == 0 {
		b.i64s = make([]int64, boxChunk)
	}
	p := &b.i64s[0]
	*p = v
	b.i64s = b.i64s[1:]
	return boxed(int64Type, unsafe.Pointer(p))
}

// u64 returns v as an interface value.
func (b *boxer) u64(v uint64) any {
	if len(b.u64s) == 0 {
		b.u64s = make([]uint64, boxChunk)
	}
	p := &b.u64s[0]
	*p = v
	b.u64s = b.u64s[1:]
	return boxed(uint64Type, unsafe.Pointer(p))
}
