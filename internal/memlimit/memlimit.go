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

// DefaultGCPercent is the collector's target (GOGC) a pipeline runs with
// unless configured otherwise. With the soft memory limit capping the
// heap, GOGC only sets how often the collector runs below the limit:
// Go's default of 100 spent 7 % of the small workload's CPU on
// collection, 200 spends 4 % and reaches the same limit
// (bench/RESULTS.md).
const DefaultGCPercent = 200

// ApplyGC sets the collector's target (runtime/debug.SetGCPercent) to
// percent, unless the GOGC environment variable is set: the operator's
// word wins, as with GOMEMLIMIT. 0 means DefaultGCPercent and -1 turns
// the proportional collector off, so that it runs only at the memory
// limit. It returns the target in effect and a function that restores
// the previous one.
func ApplyGC(percent int) (int, func()) {
	want := GCPercentInEffect(percent)
	if os.Getenv("GOGC") != "" {
		return want, func() {}
	}
	prev := debug.SetGCPercent(want)
	return want, func() { debug.SetGCPercent(prev) }
}

// GCPercentInEffect is the target ApplyGC(percent) puts in effect,
// without applying it.
func GCPercentInEffect(percent int) int {
	if os.Getenv("GOGC") != "" {
		cur := debug.SetGCPercent(100)
		debug.SetGCPercent(cur)
		return cur
	}
	if percent == 0 {
		return DefaultGCPercent
	}
	return percent
}
