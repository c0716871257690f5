package memlimit

import (
	"runtime/debug"
	"testing"
)

func TestApplySetsAndRestores(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	got, restore := Apply(300 << 20)
	if got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("Apply = %d, limit now %d; want %d", got, debug.SetMemoryLimit(-1), 300<<20)
	}
	restore()
	if now := debug.SetMemoryLimit(-1); now != before {
		t.Fatalf("after restore the limit is %d, want %d", now, before)
	}
}

func TestApplyLeavesGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	got, restore := Apply(300 << 20)
	defer restore()
	if got != before || debug.SetMemoryLimit(-1) != before {
		t.Fatalf("with GOMEMLIMIT set, Apply changed the limit to %d (reported %d); want %d", debug.SetMemoryLimit(-1), got, before)
	}
}

func TestApplyGCSetsAndRestores(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	for _, tc := range []struct{ in, want int }{{0, DefaultGCPercent}, {350, 350}, {-1, -1}} {
		got, restore := ApplyGC(tc.in)
		now := debug.SetGCPercent(tc.want)
		if got != tc.want || now != tc.want || GCPercentInEffect(tc.in) != tc.want {
			t.Fatalf("ApplyGC(%d) = %d, GOGC now %d, in effect %d; want %d", tc.in, got, now, GCPercentInEffect(tc.in), tc.want)
		}
		restore()
		if now := debug.SetGCPercent(before); now != before {
			t.Fatalf("after restore GOGC is %d, want %d", now, before)
		}
	}
}

func TestApplyGCLeavesGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	before := debug.SetGCPercent(150) // as the runtime would have read it
	defer debug.SetGCPercent(before)
	got, restore := ApplyGC(300)
	defer restore()
	if now := debug.SetGCPercent(150); got != 150 || now != 150 {
		t.Fatalf("with GOGC set, ApplyGC reported %d and set %d; want 150 left alone", got, now)
	}
}
