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
