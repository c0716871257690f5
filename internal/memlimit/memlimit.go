// Package memlimit sets the Go runtime's soft memory limit for a process
// that runs an ingest pipeline.
package memlimit

import (
	"os"
	"runtime/debug"
)

// Apply sets the runtime's soft memory limit (runtime/debug.SetMemoryLimit)
// to limit bytes, unless the GOMEMLIMIT environment variable is set: the
// runtime has applied that one already, and the operator's word wins. It
// returns the limit in effect and a function that restores the previous
// one. limit ≤ 0 leaves the limit as it is.
func Apply(limit int64) (int64, func()) {
	if !applies(limit) {
		return debug.SetMemoryLimit(-1), func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	return limit, func() { debug.SetMemoryLimit(prev) }
}

// InEffect is the limit Apply(limit) puts in effect, without applying it.
func InEffect(limit int64) int64 {
	if !applies(limit) {
		return debug.SetMemoryLimit(-1)
	}
	return limit
}

func applies(limit int64) bool { return limit > 0 && os.Getenv("GOMEMLIMIT") == "" }
