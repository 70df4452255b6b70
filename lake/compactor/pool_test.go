package compactor

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchPoolClasses checks that a pooled slice always has room for
// what it is handed out for, whatever capacity it came back with.
func TestFetchPoolClasses(t *testing.T) {
	var p fetchPool
	for _, n := range []int{0, 1, 2, 3, 1000, 1024, 1025, 100_000, 1 << 20, 3<<20 + 7} {
		r := p.GetRecords(n)
		if cap(r) < n {
			t.Fatalf("GetRecords(%d): capacity %d", n, cap(r))
		}
		p.PutRecords(r)
		if r := p.GetRecords(n); cap(r) < n {
			t.Fatalf("GetRecords(%d) again: capacity %d", n, cap(r))
		}
		p.PutRecords(make([]kgo.Record, 0, n+n/3)) // an odd capacity, as a codec grows one
		if r := p.GetRecords(n); cap(r) < n {
			t.Fatalf("GetRecords(%d) after an odd put: capacity %d", n, cap(r))
		}
		src := s2.EncodeSnappy(nil, make([]byte, n))
		b := p.GetDecompressBytes(src, kgo.CodecSnappy)
		if cap(b) < n || len(b) != 0 {
			t.Fatalf("GetDecompressBytes for %d bytes: length %d, capacity %d", n, len(b), cap(b))
		}
		p.PutDecompressBytes(make([]byte, 0, n+n/3+1))
		if b := p.GetDecompressBytes(src, kgo.CodecSnappy); cap(b) < n {
			t.Fatalf("GetDecompressBytes for %d bytes after an odd put: capacity %d", n, cap(b))
		}
	}
	if b := p.GetDecompressBytes([]byte{1, 2, 3}, kgo.CodecZstd); b != nil {
		t.Errorf("a buffer for zstd, whose size is unknown: capacity %d", cap(b))
	}
}
