package iceberg

import (
	"syscall"
	"unsafe"
)

// mapSlots maps n zeroed slots in anonymous memory and returns them with
// the mapping. (Asking for transparent huge pages, MADV_HUGEPAGE, halved
// the page faults but cost more system time than it saved, in
// BenchmarkCompactorInsert at 4 million rows: the kernel zeroes, and
// may compact memory for, 2 MiB at each fault.)
func mapSlots(n int) ([]keySlot, []byte, bool) {
	b, err := syscall.Mmap(-1, 0, n*int(unsafe.Sizeof(keySlot{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, false
	}
	return unsafe.Slice((*keySlot)(unsafe.Pointer(unsafe.SliceData(b))), n), b, true
}

func unmapSlots(b []byte) {
	if err := syscall.Munmap(b); err != nil {
		panic("key table: unmap: " + err.Error())
	}
}
