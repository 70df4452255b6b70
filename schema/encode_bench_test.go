package schema

import (
	"strings"
	"testing"
)

var sink []byte

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("83868641912-28773972837-60736120486-75162659906-", 3)
	b.SetBytes(int64(len(s)))
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		sink = appendString(buf[:0], s)
	}
}
