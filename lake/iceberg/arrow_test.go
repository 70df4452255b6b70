package iceberg

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// TestParseSmallDecimal checks the fast decimal path against arrow's own
// parser.
func TestParseSmallDecimal(t *testing.T) {
	for _, tt := range []struct {
		s     string
		scale int32
		ok    bool
	}{
		{"0", 0, true}, {"-12.340", 3, true}, {"12.5", 2, true}, {"-0.01", 2, true},
		{"999999999999999999", 0, true}, {"9999999999999999.99", 2, true},
		{"1.234", 2, false}, {"1234567890123456789", 0, false}, {"", 2, false},
		{"1.", 2, false}, {".5", 2, false}, {"1e5", 0, false}, {"--1", 0, false}, {"NaN", 2, false},
	} {
		n, ok := parseSmallDecimal(tt.s, tt.scale)
		if ok != tt.ok {
			t.Errorf("parseSmallDecimal(%q, %d) ok = %v, want %v", tt.s, tt.scale, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		want, err := decimal128.FromString(tt.s, 38, tt.scale)
		if err != nil || decimal128.FromI64(n) != want {
			t.Errorf("parseSmallDecimal(%q, %d) = %d, arrow says %v (%v)", tt.s, tt.scale, n, want, err)
		}
		if got := decimal128.FromI64(n).ToString(tt.scale); got != tt.s && !(tt.s == "12.5" && got == "12.50") {
			t.Errorf("round trip of %q: %q", tt.s, got)
		}
	}
}
