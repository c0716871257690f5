// Package backoff is the one retry delay of Big Father: a wait that
// starts at an initial delay and doubles after every wait up to a cap,
// without jitter.
//
// Every retry loop of the ingester waits with it: a registry outage
// (ingest, schema registry client), a catalog that cannot load or create a
// table, a reconcile reloading a table whose commit outcome is unknown, and
// the poll loop re-reading after a flush failed. Those loops differ in what
// they retry, what they report while they wait and when they give up, so
// the loop stays theirs; only the delay is shared. There is no jitter: each
// loop is one per process and table or partition set, not a herd of
// clients retrying together, and the delays the tests and the docs name
// stay exact.
package backoff

import (
	"context"
	"time"
)

// Exponential is a delay that starts at Initial and doubles after every
// wait, capped at Max. Reset starts it over. It is not safe for concurrent
// use; a caller that shares one guards it with its own lock.
type Exponential struct {
	initial, max time.Duration
	next         time.Duration
}

// New returns a delay of initial, doubling after every wait up to max.
// An initial above max is waited once, then max (a configured first delay
// is honoured as given).
func New(initial, max time.Duration) Exponential {
	return Exponential{initial: initial, max: max}
}

// Next returns the delay to wait now and doubles the one after it.
func (b *Exponential) Next() time.Duration {
	if b.next <= 0 {
		b.next = b.initial
	}
	d := b.next
	b.next = min(2*d, b.max)
	return d
}

// Reset makes the next delay the initial one again, as after a success.
func (b *Exponential) Reset() { b.next = 0 }

// Wait waits the next delay, or until ctx is done, and then returns
// ctx.Err().
func (b *Exponential) Wait(ctx context.Context) error {
	return Sleep(ctx, b.Next())
}

// Sleep waits d, or until ctx is done, and then returns ctx.Err(). It is
// for a caller that takes the delay under a lock (Next) and waits outside
// it.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
