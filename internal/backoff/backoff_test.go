package backoff

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestNextDoublesToTheCapAndResets(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{"registry outage", 250 * ms, 10 * time.Second, []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"reconcile", 100 * ms, 5 * time.Second, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}},
		{"initial above the cap is waited once", 15 * time.Second, 10 * time.Second, []time.Duration{15 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"initial at the cap", 10 * time.Second, 10 * time.Second, []time.Duration{10 * time.Second, 10 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.initial, tc.max)
			var got []time.Duration
			for range tc.want {
				got = append(got, b.Next())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delays %v, want %v", got, tc.want)
			}
			b.Reset()
			if d := b.Next(); d != tc.initial {
				t.Fatalf("after Reset: %v, want the initial %v", d, tc.initial)
			}
		})
	}
}

func TestWaitWaitsTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(250*time.Millisecond, time.Second)
		for _, want := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second} {
			start := time.Now()
			if err := b.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got != want {
				t.Fatalf("waited %v, want %v", got, want)
			}
		}
	})
}

func TestWaitStopsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		b := New(10*time.Second, time.Minute)
		start := time.Now()
		if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v, want context.DeadlineExceeded", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("returned after %v, want 3s (when the context ended)", got)
		}
		done, stop := context.WithCancel(t.Context())
		stop()
		if err := Sleep(done, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep on a cancelled context: %v, want context.Canceled", err)
		}
	})
}
