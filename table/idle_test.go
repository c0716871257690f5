package table_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/tabletest"
)

var tp1 = table.TP{Topic: "t", Partition: 1}

// idleBatch advances tp from from to to and records nothing.
func idleBatch(tp table.TP, expect *int64, from, to int64) *table.Batch {
	b := &table.Batch{Pipeline: pipe, CommitID: uuid.NewString(), Expect: table.Offsets{}, Ranges: table.Ranges{tp: {from, to}}}
	if expect != nil {
		b.Expect[tp] = *expect
	}
	return b
}

func fixtures(t *testing.T) map[string]*fixture {
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*fixture{
		"sql":         newFixture(t),
		"objectstore": newFixtureOn(t, table.NewObjectStoreCatalog("test", b, nil), b),
	}
}

// TestWatermarkOnlyCommitsAddNoSnapshot: batches that only advance a
// watermark commit no file and no snapshot; the next snapshot's ranges
// take in the offsets they passed over, so verify's history stays
// contiguous.
func TestWatermarkOnlyCommitsAddNoSnapshot(t *testing.T) {
	for name, f := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := table.NewCommitter(f.cat, table.CommitterOptions{})
			if !c.CommitsWatermarksAlone() {
				t.Fatal("CommitsWatermarksAlone is false for a catalog of this package")
			}
			res, err := c.Commit(ctx, f.tbl, f.batch(nil, 0, 10, offsetsRange(0, 10)))
			if err != nil {
				t.Fatal(err)
			}
			first := res.Snapshot
			tbl := res.Table
			for i := int64(1); i <= 3; i++ {
				res, err := c.Commit(ctx, tbl, idleBatch(tp0, ptr(10*i), 10*i, 10*(i+1)))
				if err != nil {
					t.Fatalf("idle commit %d: %v", i, err)
				}
				tbl = res.Table
				if res.Snapshot != first || len(tbl.Metadata().Snapshots()) != 1 {
					t.Fatalf("idle commit %d: snapshot %d, %d snapshots; want the first (%d) and only one", i, res.Snapshot, len(tbl.Metadata().Snapshots()), first)
				}
			}
			// The catalog holds what the commits returned.
			loaded, err := f.cat.LoadTable(ctx, tbl.Identifier())
			if err != nil {
				t.Fatal(err)
			}
			if w := watermark(t, loaded); w != 40 {
				t.Fatalf("watermark %d after the idle commits, want 40", w)
			}
			if p, err := table.PendingRanges(loaded.Metadata(), pipe); err != nil || p[tp0] != [2]int64{10, 40} {
				t.Fatalf("pending ranges %v (%v), want [10, 40)", p, err)
			}
			res, err = c.Commit(ctx, loaded, f.batch(ptr(40), 40, 50, offsetsRange(40, 50)))
			if err != nil {
				t.Fatal(err)
			}
			tbl = res.Table
			snap := tbl.Metadata().CurrentSnapshot()
			if got := snap.Summary.Properties[table.SummaryRanges]; got != `{"t":{"0":[10,50]}}` {
				t.Fatalf("second snapshot's ranges %s, want [10, 50)", got)
			}
			if _, ok := tbl.Properties()[table.PropPendingPrefix+pipe]; ok {
				t.Fatalf("pending ranges left after the snapshot took them in: %v", tbl.Properties())
			}
			rep, err := table.Verify(ctx, tbl, pipe, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("verify: %v", rep.Violations)
			}
		})
	}
}

// TestWatermarkOnlyCommitsAreFenced: a commit without a snapshot moves no
// snapshot, so a writer whose view predates it must still be stopped by
// the watermarks it moved, whether its own commit has a snapshot or not;
// and a writer of another partition must not put the watermark back.
func TestWatermarkOnlyCommitsAreFenced(t *testing.T) {
	for name, f := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := table.NewCommitter(f.cat, table.CommitterOptions{})
			b := f.batch(nil, 0, 10, offsetsRange(0, 10))
			b.Ranges[tp1] = [2]int64{0, 10}
			res, err := c.Commit(ctx, f.tbl, b)
			if err != nil {
				t.Fatal(err)
			}
			stale := res.Table // W = 10 for both partitions
			// Another worker advances tp0 without a snapshot.
			if _, err := c.Commit(ctx, stale, idleBatch(tp0, ptr(10), 10, 20)); err != nil {
				t.Fatal(err)
			}
			// A zombie with the old view, committing tp0 again: fenced,
			// with or without a snapshot of its own.
			if _, err := c.Commit(ctx, stale, idleBatch(tp0, ptr(10), 10, 15)); !errors.Is(err, table.ErrFenced) {
				t.Fatalf("stale watermark-only commit: %v, want ErrFenced", err)
			}
			if _, err := c.Commit(ctx, stale, f.batch(ptr(10), 10, 15, offsetsRange(10, 15))); !errors.Is(err, table.ErrFenced) {
				t.Fatalf("stale commit with a snapshot: %v, want ErrFenced", err)
			}
			// The owner of tp1, with the old view: a conflict, reloaded and
			// retried, which keeps tp0 where the other worker put it.
			b1 := &table.Batch{Pipeline: pipe, CommitID: uuid.NewString(), Files: []iceberg.DataFile{f.file()},
				Expect: table.Offsets{tp1: 10}, Ranges: table.Ranges{tp1: {10, 12}}}
			res, err = c.Commit(ctx, stale, b1)
			if err != nil {
				t.Fatal(err)
			}
			if res.Conflicts != 1 {
				t.Errorf("%d conflicts, want 1", res.Conflicts)
			}
			wm, err := table.Watermarks(res.Table.Metadata(), pipe)
			if err != nil {
				t.Fatal(err)
			}
			if wm[tp0] != 20 || wm[tp1] != 12 {
				t.Fatalf("watermarks %v, want %s at 20 and %s at 12", wm, tp0, tp1)
			}
			// A stale idle commit of tp1 after that is fenced as well.
			if _, err := c.Commit(ctx, stale, idleBatch(tp1, ptr(10), 10, 11)); !errors.Is(err, table.ErrFenced) {
				t.Fatalf("stale watermark-only commit of %s: %v, want ErrFenced", tp1, err)
			}
		})
	}
}

// TestWatermarkOnlyCommitsThroughOtherCatalogs: a catalog this package
// does not implement (here a wrapper) may forward requirements to a server
// that knows only Iceberg's own, so the Committer says a batch needs a
// file there.
func TestWatermarkOnlyCommitsThroughOtherCatalogs(t *testing.T) {
	f := newFixture(t)
	if table.NewCommitter(&tabletest.FaultyCatalog{Catalog: f.cat}, table.CommitterOptions{}).CommitsWatermarksAlone() {
		t.Fatal("CommitsWatermarksAlone is true for a foreign catalog")
	}
}

// TestWatermarkOnlyCommitsDeleteOldMetadata: commits without a
// transaction delete the metadata files they drop from the log, as
// iceberg-go does after a transaction's.
func TestWatermarkOnlyCommitsDeleteOldMetadata(t *testing.T) {
	for name, f := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			c := table.NewCommitter(f.cat, table.CommitterOptions{})
			tbl := f.tbl
			var wm *int64
			for i := int64(0); i < 25; i++ {
				res, err := c.Commit(context.Background(), tbl, idleBatch(tp0, wm, i, i+1))
				if err != nil {
					t.Fatal(err)
				}
				tbl, wm = res.Table, ptr(i+1)
			}
			var files []string
			for _, p := range metadataFiles(t, f.bucket.(*objstore.FS).Root()) {
				if strings.Contains(p, "/tbl/") {
					files = append(files, p)
				}
			}
			if len(files) != table.MetadataVersionsKept+1 {
				t.Fatalf("%d metadata files after 26 versions, want %d: %v", len(files), table.MetadataVersionsKept+1, files)
			}
		})
	}
}
