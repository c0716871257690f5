// Package eventually is the one way tests wait for a condition: poll it
// until it holds, and fail the test loudly, with the condition's own
// account of what it last saw, when a deadline passes first.
//
// A test that waits for something asynchronous (watermarks reaching the
// log end, a child process committing, a partition halting) states the
// condition and a generous bound; the bound only limits how long a broken
// component can hang the test, so it never makes a test pass. Polling
// starts fast, so a condition that holds soon costs little wall time, and
// backs off, so a long wait does not steal the CPU from the component it
// waits for.
package eventually

import (
	"fmt"
	"testing"
	"time"
)

// Intervals between polls: the first retry comes after minInterval, each
// later one after twice the previous, up to maxInterval.
const (
	minInterval = 5 * time.Millisecond
	maxInterval = 100 * time.Millisecond
)

// Within calls cond until it returns nil and fails t (t.Fatalf) with the
// last error cond returned if that has not happened within d. cond runs on
// the calling goroutine, so it may itself call t.Fatal for a state that no
// amount of waiting can repair (a watermark beyond the log end).
func Within(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	if err := Wait(d, cond); err != nil {
		t.Fatal(err)
	}
}

// Wait is Within for callers that are not on a test's goroutine or that
// handle the timeout themselves: it returns nil once cond does, or an
// error that names the bound and wraps cond's last error.
func Wait(d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	interval := minInterval
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not within %s: %w", d, err)
		}
		time.Sleep(min(interval, time.Until(deadline)))
		interval = min(2*interval, maxInterval)
	}
}
