package table_test

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	iceberg "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// liveHeap is the heap left after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// commitHeap commits one snapshot after another, each on the table the
// previous commit returned, as the pipeline does, and checks that the
// heap after a collection at snapshot total is within a small constant of
// the heap at snapshot base. Only the current metadata may stay alive, and
// it grows with the snapshots it lists (until snapshots are expired), so
// the allowance is a few times the growth of its JSON encoding plus a
// fixed 2 MiB; every metadata version kept alive would cost the sum of
// all their sizes, quadratic in the count.
func commitHeap(t testing.TB, f *fixture, base, total int) {
	ctx := context.Background()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	// One data file for every commit: the duplicate check is off, and a
	// file per snapshot would only add Parquet writing to the run time.
	df := f.file(0)
	tbl := f.tbl
	var wm *int64
	var baseHeap, baseJSON int64
	start := time.Now()
	check := func(n int) {
		raw, err := json.Marshal(tbl.Metadata())
		if err != nil {
			t.Fatal(err)
		}
		heap := liveHeap()
		if n == base {
			baseHeap, baseJSON = heap, int64(len(raw))
			t.Logf("%d snapshots: live heap %.1f MB, metadata %.0f KB, %s", n, mb(heap), float64(len(raw))/1024, time.Since(start).Round(time.Millisecond))
			return
		}
		grown, allowed := heap-baseHeap, 4*(int64(len(raw))-baseJSON)+2<<20
		t.Logf("%d snapshots: live heap %.1f MB (+%.1f MB since %d, allowed %.1f MB), metadata %.0f KB, %s",
			n, mb(heap), mb(grown), base, mb(allowed), float64(len(raw))/1024, time.Since(start).Round(time.Millisecond))
		if grown > allowed {
			t.Fatalf("live heap grew by %.1f MB from %d to %d snapshots, more than %.1f MB: old metadata is kept alive",
				mb(grown), base, n, mb(allowed))
		}
	}
	for i := range total {
		b := &table.Batch{Pipeline: pipe, CommitID: uuid.NewString(), Files: []iceberg.DataFile{df},
			Expect: table.Offsets{}, Ranges: table.Ranges{tp0: {int64(i), int64(i + 1)}}}
		if wm != nil {
			b.Expect[tp0] = *wm
		}
		res, err := c.Commit(ctx, tbl, b)
		if err != nil {
			t.Fatal(err)
		}
		tbl = res.Table
		next := int64(i + 1)
		wm = &next
		// Check along the way too, so a leak fails early instead of
		// exhausting the machine's memory first.
		if n := i + 1; n == base || (n > base && (n%(2*base) == 0 || n == total)) {
			check(n)
		}
	}
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// TestCommitHeapBounded commits 300 snapshots through the SQL catalog
// and compares the live heap at the end with the heap after 30: enough
// to catch metadata kept alive (it cost 4 MB from 30 to 60 snapshots).
// BenchmarkCommitHeapBounded is the longer proof, 2,000 after 200.
func TestCommitHeapBounded(t *testing.T) {
	commitHeap(t, newFixture(t), 30, 300)
}

// BenchmarkCommitHeapBounded is the proof of bounded memory: 2,000 commits
// through the SQL catalog, the live heap at the end compared with the heap
// after 200; it fails, not only reports, when the heap grew more. It takes
// minutes (each commit reads and writes the whole metadata, so the run is
// quadratic in snapshots until snapshots are expired), so it lives among
// the benchmarks that CI runs once rather than in go test ./...; the
// iteration count is ignored, as a run is one table's life.
func BenchmarkCommitHeapBounded(b *testing.B) {
	for b.Loop() {
		commitHeap(b, newFixture(b), 200, 2000)
	}
}

// TestCommitHeapBoundedObjectStore runs the shorter proof through the
// object-store catalog, which applies the updates in process too.
func TestCommitHeapBoundedObjectStore(t *testing.T) {
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	commitHeap(t, newFixtureOn(t, table.NewObjectStoreCatalog("test", b, nil), b), 30, 300)
}
