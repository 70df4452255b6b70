// Package gctune holds the garbage collector setting tributary runs with,
// shared by the binary and the benchmarks that measure it.
package gctune

import (
	"os"
	"runtime/debug"
)

// DefaultPercent is tributary's GOGC when the environment sets none:
// change events are short-lived garbage, so memory is traded for CPU
// (GOMEMLIMIT, or a reader's memory_limit, bounds it).
const DefaultPercent = 400

// Apply sets DefaultPercent unless $GOGC is set, and returns the percent
// in effect.
func Apply() int {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultPercent)
		return DefaultPercent
	}
	p := debug.SetGCPercent(100) // reads the setting $GOGC made
	debug.SetGCPercent(p)
	return p
}
