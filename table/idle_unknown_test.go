package table_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/internal/faultproxy"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// TestWatermarkOnlyCommitLostResponse: every metadata PUT of the
// object-store catalog (in gofakes3 behind the fault proxy) is applied and
// its response lost, so each commit's outcome is unknown. A commit without
// a snapshot is reconciled through its property-commit marker: reported
// committed once, neither fenced nor applied twice, and the next snapshot
// takes in the offsets it passed over.
func TestWatermarkOnlyCommitLostResponse(t *testing.T) {
	t.Parallel()
	f, proxy := newFaultyS3Fixture(t, []faultproxy.Rule{
		{Name: "meta", Method: "PUT", Path: metadataPUTAfterV1, Drop: 1},
	})
	ctx := t.Context()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	if !c.CommitsWatermarksAlone() {
		t.Fatal("the object-store catalog must take the watermark-only path")
	}
	res, err := c.Commit(ctx, f.tbl, f.batch(nil, 0, 10, offsetsRange(0, 10)))
	if err != nil {
		t.Fatal(err)
	}
	first, tbl := res.Snapshot, res.Table
	for i := int64(1); i <= 2; i++ {
		versions := logLen(tbl)
		b := idleBatch(tp0, ptr(10*i), 10*i, 10*(i+1))
		res, err := c.Commit(ctx, tbl, b)
		if err != nil {
			t.Fatalf("idle commit %d: %v (fenced=%v unknown=%v); want committed", i, err,
				errors.Is(err, table.ErrFenced), errors.Is(err, table.ErrCommitUnknown))
		}
		if !res.Reconciled {
			t.Fatalf("idle commit %d: not reconciled, but every response was lost", i)
		}
		tbl = res.Table
		if res.Snapshot != first || len(tbl.Metadata().Snapshots()) != 1 {
			t.Fatalf("idle commit %d: snapshot %d of %d; want the first (%d), alone", i, res.Snapshot, len(tbl.Metadata().Snapshots()), first)
		}
		if got := tbl.Properties()[table.PropPropertyCommitPrefix+pipe]; !strings.Contains(got, b.CommitID) {
			t.Fatalf("idle commit %d: marker %q does not name commit %s", i, got, b.CommitID)
		}
		// Applied once: one metadata version more, not two.
		if got := logLen(tbl); got != versions+1 {
			t.Fatalf("idle commit %d: %d metadata log entries after, %d before; want one more", i, got, versions)
		}
	}
	if w := watermark(t, tbl); w != 30 {
		t.Fatalf("watermark %d, want 30", w)
	}
	if p, err := table.PendingRanges(tbl.Metadata(), pipe); err != nil || p[tp0] != [2]int64{10, 30} {
		t.Fatalf("pending %v (%v), want [10, 30)", p, err)
	}
	res, err = c.Commit(ctx, tbl, f.batch(ptr(30), 30, 40, offsetsRange(30, 40)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := table.Verify(ctx, mustLoad(t, f), pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Partitions[0].Rows != 20 || rep.Partitions[0].Watermark != 40 {
		t.Fatalf("verify: %+v", rep)
	}
	if st := proxy.Stats()["meta"]; st.Dropped < 4 {
		t.Fatalf("proxy %+v: want the responses of every commit dropped", st)
	}
}

// interleavingCatalog applies a commit, then lets another writer commit
// (hook) before answering with an error that leaves the outcome unknown:
// the reconciling reload sees the other writer's commit on top of this
// one. It embeds the object-store catalog, so it commits in process.
type interleavingCatalog struct {
	*table.ObjectStoreCatalog
	hook func()
}

var errLostResponse = errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer")

func (c *interleavingCatalog) CommitTable(ctx context.Context, ident icebergtable.Identifier, reqs []icebergtable.Requirement, updates []icebergtable.Update) (icebergtable.Metadata, string, error) {
	meta, loc, err := c.ObjectStoreCatalog.CommitTable(ctx, ident, reqs, updates)
	if err != nil || c.hook == nil {
		return meta, loc, err
	}
	hook := c.hook
	c.hook = nil
	hook()
	return nil, "", errLostResponse
}

// TestWatermarkOnlyCommitUnknownOutcomeThenOtherPartition: two instances
// share a table, each owning a partition (a quarantine table while
// nothing is rejected). A's watermark-only commit of tp0 is applied but
// its response is lost; before A reloads to reconcile, B commits tp1
// without a snapshot too, which rewrites the pipeline's property-commit
// marker. A's commit happened and nobody else touched tp0: it must be
// reported committed, not fenced by its own watermark.
func TestWatermarkOnlyCommitUnknownOutcomeThenOtherPartition(t *testing.T) {
	bucket, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inner := table.NewObjectStoreCatalog("test", bucket, nil)
	f := newFixtureOn(t, inner, bucket)
	ctx := t.Context()
	b := f.batch(nil, 0, 10, offsetsRange(0, 10))
	b.Ranges[tp1] = [2]int64{0, 10}
	res, err := table.NewCommitter(inner, table.CommitterOptions{}).Commit(ctx, f.tbl, b)
	if err != nil {
		t.Fatal(err)
	}
	base := res.Table
	cat := &interleavingCatalog{ObjectStoreCatalog: inner}
	a := table.NewCommitter(cat, table.CommitterOptions{})
	other := table.NewCommitter(inner, table.CommitterOptions{})
	cat.hook = func() {
		tbl := mustLoad(t, f)
		if _, err := other.Commit(ctx, tbl, idleBatch(tp1, ptr(10), 10, 15)); err != nil {
			t.Errorf("B's commit of %s: %v", tp1, err)
		}
	}
	res, err = a.Commit(ctx, base, idleBatch(tp0, ptr(10), 10, 20))
	if err != nil {
		t.Fatalf("A's commit of %s: %v (fenced=%v); it was applied and nobody else wrote %s: want committed",
			tp0, err, errors.Is(err, table.ErrFenced), tp0)
	}
	if !res.Reconciled {
		t.Error("A's commit was not reconciled")
	}
	wm, err := table.Watermarks(mustLoad(t, f).Metadata(), pipe)
	if err != nil {
		t.Fatal(err)
	}
	if wm[tp0] != 20 || wm[tp1] != 15 {
		t.Fatalf("watermarks %v, want %s at 20, %s at 15", wm, tp0, tp1)
	}
}

// logLen is the length of tbl's metadata log (below the versions kept).
func logLen(tbl *icebergtable.Table) int {
	n := 0
	for range tbl.Metadata().PreviousFiles() {
		n++
	}
	return n
}

// lateCatalog loses its first commit's request in flight: the call fails
// at once, and the request reaches the store only after the reconciling
// reload has looked (a PUT or an UPDATE the server applies late).
type lateCatalog struct {
	*table.ObjectStoreCatalog
	late func()
	n    int
}

func (c *lateCatalog) CommitTable(ctx context.Context, ident icebergtable.Identifier, reqs []icebergtable.Requirement, updates []icebergtable.Update) (icebergtable.Metadata, string, error) {
	c.n++
	if c.n > 1 {
		return c.ObjectStoreCatalog.CommitTable(ctx, ident, reqs, updates)
	}
	ctx = context.WithoutCancel(ctx) // the request outlives the call; its requirements stay
	c.late = func() {
		if _, _, err := c.ObjectStoreCatalog.CommitTable(ctx, ident, reqs, updates); err != nil {
			panic(err)
		}
	}
	return nil, "", errLostResponse
}

func (c *lateCatalog) LoadTable(ctx context.Context, ident icebergtable.Identifier) (*icebergtable.Table, error) {
	tbl, err := c.ObjectStoreCatalog.LoadTable(ctx, ident)
	if late := c.late; late != nil {
		c.late = nil
		late()
	}
	if err != nil {
		return nil, err
	}
	// Bound to this catalog, so that transactions commit through it too.
	return icebergtable.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), tbl.FS, c), nil
}

// TestCommitAppliedAfterReconcile: a commit's request is applied only
// after the reload that reconciles it found nothing, so the retry
// conflicts with it. The reload after that conflict holds the batch's own
// commit: it must be reported committed (once), not fenced by its own
// watermark; with and without a snapshot.
func TestCommitAppliedAfterReconcile(t *testing.T) {
	for _, idle := range []bool{true, false} {
		t.Run(map[bool]string{true: "watermark-only", false: "snapshot"}[idle], func(t *testing.T) {
			bucket, err := objstore.NewFS(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			inner := table.NewObjectStoreCatalog("test", bucket, nil)
			f := newFixtureOn(t, inner, bucket)
			cat := &lateCatalog{ObjectStoreCatalog: inner}
			b := f.batch(nil, 0, 10, offsetsRange(0, 10))
			if idle {
				b = idleBatch(tp0, nil, 0, 10)
			}
			tbl, err := cat.LoadTable(t.Context(), f.tbl.Identifier())
			if err != nil {
				t.Fatal(err)
			}
			res, err := table.NewCommitter(cat, table.CommitterOptions{}).Commit(t.Context(), tbl, b)
			if err != nil {
				t.Fatalf("commit: %v (fenced=%v); it was applied once, by its own late request: want committed",
					err, errors.Is(err, table.ErrFenced))
			}
			if w := watermark(t, mustLoad(t, f)); w != 10 {
				t.Fatalf("watermark %d, want 10", w)
			}
			if n := len(mustLoad(t, f).Metadata().Snapshots()); (idle && n != 0) || (!idle && n != 1) {
				t.Fatalf("%d snapshots", n)
			}
			if !res.Reconciled {
				t.Error("not reported reconciled, but its first outcome was unknown")
			}
		})
	}
}
