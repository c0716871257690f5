package ingest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/table/tabletest"
)

// A flush that fails in the middle of a poll abandons the rest of the
// poll, records of partitions not reached yet included. Every partition
// of that poll must be re-seeked from the tables (a never-committed one
// back to where it started), or those records are skipped for good.
func TestFailedFlushMidPollLosesNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 4)
	const n = 4400
	e.produce(n, 1) // all in the log before the start: the first polls span every partition
	faulty := &tabletest.FaultyCatalog{Catalog: e.cat}
	// The committer tries a commit 11 times (table.CommitterOptions'
	// MaxConflictRetries): 22 failures fail the first two flushes.
	const fails = 22
	faulty.FailBefore.Store(fails)
	opts := e.options()
	opts.Catalog = faulty
	opts.FlushMaxRecords = 300 // flushes, and so the failures, come mid-poll
	r := e.start(opts)
	// Records skipped by a bad re-seek are never fetched again: the
	// watermarks stop short. Bounded well below waitWatermarks' limit.
	// Not Within: running out of time is the failure the checks below
	// describe, with the numbers.
	_ = eventually.Wait(30*time.Second, func() error {
		if got := sumOf(e.watermarks()); got < n {
			return fmt.Errorf("watermarks at %d of %d", got, n)
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if faulty.FailBefore.Load() >= 0 {
		t.Fatalf("only %d of the %d armed commit failures happened", fails-faulty.FailBefore.Load()-1, fails)
	}
	if got := sumOf(e.watermarks()); got != n {
		t.Fatalf("watermarks sum to %d of %d: %v", got, n, e.watermarks())
	}
	rep := e.verify()
	if got := rowsIn(rep); got != n {
		t.Fatalf("rows %d, want %d", got, n)
	}
	if len(rep.Partitions) != 4 {
		t.Fatalf("verify saw %d partitions, want 4", len(rep.Partitions))
	}
}
