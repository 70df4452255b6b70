package iceberg

import (
	"os"
	"testing"
)

// TestMain runs this package's tests with every key table mapped outside
// the heap (slotmem.go), so that the index's every use (building,
// refreshing, rewriting, copy-on-write) runs on mapped slots, which
// production gives only to tables of over about 50,000 rows.
func TestMain(m *testing.M) {
	mapMinSlots = minKeySlots
	os.Exit(m.Run())
}
