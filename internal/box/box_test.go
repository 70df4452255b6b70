package box

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
	var b Boxer
	var got, want []any
	raw := make([]byte, 0, 64)
	for i := range 3 * Chunk {
		s := strings.Repeat("x", i%7) + fmt.Sprint(i)
		raw = append(raw[:0], s...)
		got = append(got, b.Str(s), b.I64(int64(-i)<<40), b.U64(uint64(i)<<60|uint64(i)),
			b.Text(raw), b.I32(int32(i)<<20), b.F64(float64(i)/3), b.F32(float32(i)/7))
		want = append(want, s, int64(-i)<<40, uint64(i)<<60|uint64(i),
			s, int32(i)<<20, float64(i)/3, float32(i)/7)
		raw = append(raw[:0], "overwritten"...) // Text copied it
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
		case int64, uint64, int32, float64, float32:
		default:
			t.Fatalf("value %d has type %T", i, v)
		}
	}
	long := strings.Repeat("y", textChunk)
	if got := b.Text([]byte(long)); got != long {
		t.Error("a text longer than a slab changed")
	}
	if got := b.Text(nil); got != "" {
		t.Errorf("empty text: %#v", got)
	}
	if reflect.TypeOf(b.Str("")) != reflect.TypeOf("") || reflect.TypeOf(b.I64(0)) != reflect.TypeOf(int64(0)) ||
		reflect.TypeOf(b.I32(0)) != reflect.TypeOf(int32(0)) || reflect.TypeOf(b.F32(0)) != reflect.TypeOf(float32(0)) {
		t.Error("boxed types differ from Go's")
	}
}

// BenchmarkBoxer compares slab boxing with Go's own.
func BenchmarkBoxer(b *testing.B) {
	s := strings.Repeat("c", 120)
	sink := make([]any, 4)
	b.Run("slab", func(b *testing.B) {
		var bx Boxer
		b.ReportAllocs()
		for i := range b.N {
			sink[0], sink[1], sink[2], sink[3] = bx.I64(int64(i)<<20), bx.I64(int64(i)), bx.Str(s[:i%120]), bx.Str(s)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			sink[0], sink[1], sink[2], sink[3] = any(int64(i)<<20), any(int64(i)), any(s[:i%120]), any(s)
		}
	})
}
