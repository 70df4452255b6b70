package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if got := Apply(); got != DefaultPercent {
		t.Errorf("Apply() = %d without $GOGC, want %d", got, DefaultPercent)
	}
	if got := debug.SetGCPercent(100); got != DefaultPercent {
		t.Errorf("GC percent %d after Apply, want %d", got, DefaultPercent)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	if got := Apply(); got != 150 {
		t.Errorf("Apply() = %d with GOGC=150, want 150", got)
	}
}
