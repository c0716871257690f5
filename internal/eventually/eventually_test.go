package eventually_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/eventually"
)

func TestWithinReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	start := time.Now()
	eventually.Within(t, 10*time.Second, func() error {
		calls++
		if calls < 4 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 4 {
		t.Fatalf("cond called %d times, want 4 (once more after it held is a wasted poll, fewer is a pass without it holding)", calls)
	}
	// 5+10+20 ms of backoff; far below the bound, which only caps a hang.
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %s for three retries", el)
	}
}

// fatalTB records the first Fatal and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestWithinFailsWithTheLastStateAfterTheBound(t *testing.T) {
	f := &fatalTB{TB: t}
	calls := 0
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		eventually.Within(f, 200*time.Millisecond, func() error {
			calls++
			return fmt.Errorf("watermarks at %d", calls)
		})
		t.Error("Within returned although the condition never held")
	}()
	<-done
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("gave up after %s, before the 200ms bound", el)
	}
	want := fmt.Sprintf("not within 200ms: watermarks at %d", calls)
	if f.msg != want {
		t.Fatalf("failure %q, want %q (the last state seen)", f.msg, want)
	}
	if calls < 3 {
		t.Fatalf("cond polled %d times in 200ms", calls)
	}
}

func TestWaitChecksOnceMoreAtTheDeadline(t *testing.T) {
	// A condition that only holds after the bound has passed still has
	// its last look: the bound is when waiting stops, not when looking does.
	start := time.Now()
	err := eventually.Wait(50*time.Millisecond, func() error {
		if time.Since(start) >= 50*time.Millisecond {
			return nil
		}
		return errors.New("not yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = eventually.Wait(time.Millisecond, func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Fatalf("Wait = %v, want the condition's error", err)
	}
}
