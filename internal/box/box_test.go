package mysql

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestBoxer checks that slab-boxed values behave as ordinarily boxed ones
// (equality, type switches, reflection, formatting), and stay intact
// across collections while the slabs go on being filled.
func TestBoxer(t *testing.T) {
	var b boxer
	var got, want []any
	for i := range 3 * boxChunk {
		s := strings.Repeat("x", i%7) + fmt.Sprint(i)
		got = append(got, b.str(s), b.i64(int64(-i)<<40), b.u64(uint64(i)<<60|uint64(i)))
		want = append(want, s, int64(-i)<<40, uint64(i)<<60|uint64(i))
		if i%100 == 0 {
			runtime.GC()
		}
	}
	runtime.GC()
	for i := range got {
		if got[i] != want[i] || !reflect.DeepEqual(got[i], want[i]) || fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Fatalf("value %d: %#v, want %#v", i, got[i], want[i])
		}
		switch v := got[i].(type) {
		case string:
			if v != want[i].(string) {
				t.Fatalf("string %d: %q", i, v)
			}
		case int64, uint64:
		default:
			t.Fatalf("value %d has type %T", i, v)
		}
	}
	if reflect.TypeOf(b.str("")) != reflect.TypeOf("") || reflect.TypeOf(b.i64(0)) != reflect.TypeOf(int64(0)) {
		t.Error("boxed types differ from Go's")
	}
}

// BenchmarkBoxer compares slab boxing with Go's own.
func BenchmarkBoxer(b *testing.B) {
	s := strings.Repeat("c", 120)
	sink := make([]any, 4)
	b.Run("slab", func(b *testing.B) {
		var bx boxer
		b.ReportAllocs()
		for i := range b.N {
			sink[0], sink[1], sink[2], sink[3] = bx.i64(int64(i)<<20), bx.i64(int64(i)), bx.str(s[:i%120]), bx.str(s)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			sink[0], sink[1], sink[2], sink[3] = any(int64(i)<<20), any(int64(i)), any(s[:i%120]), any(s)
		}
	})
}
