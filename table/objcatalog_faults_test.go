package table_test

import (
	"errors"
	"regexp"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/internal/faultproxy"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/objstore/objstoretest"
	"github.com/bigfather/bigfather/table"
)

// metadataPUTAfterV1 matches the catalog's commits (v2 and later), not the
// table's creation.
var metadataPUTAfterV1 = regexp.MustCompile(`/metadata/v([2-9]|[0-9]{2,})\.metadata\.json$`)

// newFaultyS3Fixture is the commit fixture on the object-store catalog in
// gofakes3 behind a fault proxy: metadata, manifests and data all go
// through the proxy.
func newFaultyS3Fixture(t *testing.T, rules []faultproxy.Rule) (*fixture, *faultproxy.Proxy) {
	t.Helper()
	ctx := t.Context()
	s3cfg, proxy := objstoretest.FaultyS3(t, rules, "warehouse")
	cat, err := table.OpenCatalog(ctx, table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "objectstore"},
		Warehouse:     "s3://warehouse/lake",
		S3:            s3cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	bcfg := s3cfg
	bcfg.Bucket, bcfg.Prefix = "warehouse", "lake"
	bucket, err := objstore.NewS3(ctx, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	fields := []iceberg.NestedField{{ID: 1, Name: "title", Type: iceberg.PrimitiveTypes.String, Required: true}}
	for i, f := range metaFields() {
		f.ID = i + 2
		fields = append(fields, f)
	}
	tbl, err := table.EnsureTable(ctx, cat, icebergtable.Identifier{"ns", "tbl"}, iceberg.NewSchema(0, fields...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, cat: cat, bucket: bucket, tbl: tbl}, proxy
}

// commitAll commits n consecutive batches of 10 offsets and requires each
// to succeed: a batch reported fenced or unknown here was dropped although
// nothing else writes the table.
func commitAll(t *testing.T, f *fixture, n int) (reconciled int) {
	t.Helper()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	tbl := f.tbl
	var ids []string
	for i := range n {
		from := int64(10 * i)
		var expect *int64
		if i > 0 {
			expect = ptr(from)
		}
		b := f.batch(expect, from, from+10, offsetsRange(from, from+10))
		res, err := c.Commit(t.Context(), tbl, b)
		if err != nil {
			t.Fatalf("commit %d of %d: %v (fenced=%v unknown=%v); want committed: nothing else writes this table",
				i+1, n, err, errors.Is(err, table.ErrFenced), errors.Is(err, table.ErrCommitUnknown))
		}
		if res.Reconciled {
			reconciled++
		}
		tbl = res.Table
		ids = append(ids, b.CommitID)
	}
	final := mustLoad(t, f)
	wm, err := table.Watermarks(final.Metadata(), pipe)
	if err != nil {
		t.Fatal(err)
	}
	if wm[tp0] != int64(10*n) {
		t.Fatalf("watermark %v, want %d", wm, 10*n)
	}
	for i, id := range ids {
		k := 0
		for _, s := range final.Metadata().Snapshots() {
			if s.Summary != nil && s.Summary.Properties[table.SummaryCommitID] == id {
				k++
			}
		}
		if k != 1 {
			t.Fatalf("commit %d (%s) is in %d snapshots, want 1", i+1, id, k)
		}
	}
	rep, err := table.Verify(t.Context(), final, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Partitions[0].Rows != int64(10*n) {
		t.Fatalf("verify: %+v", rep)
	}
	return reconciled
}

// TestObjectStoreCommitLostResponseSDKRetry is issue 11 item 3: the
// metadata PUT is applied, its response is lost, the SDK retries it and
// gets 412 because of its own first attempt. That must not be reported as
// a conflict (which reloads, sees the watermark moved, and fences a batch
// that was committed).
func TestObjectStoreCommitLostResponseSDKRetry(t *testing.T) {
	t.Parallel()
	f, proxy := newFaultyS3Fixture(t, []faultproxy.Rule{
		{Name: "meta", Method: "PUT", Path: metadataPUTAfterV1, Drop: 1, Max: 1},
	})
	commitAll(t, f, 2)
	if st := proxy.Stats()["meta"]; st.Dropped != 1 || st.Matched < 3 {
		t.Fatalf("proxy %+v: want the first commit's PUT dropped and retried by the SDK", st)
	}
}

// TestObjectStoreCommitEveryResponseLost: every attempt of the metadata
// PUT is applied or refused and its response lost, so the SDK gives up
// with a connection error; the committer reconciles by commit id.
func TestObjectStoreCommitEveryResponseLost(t *testing.T) {
	t.Parallel()
	f, proxy := newFaultyS3Fixture(t, []faultproxy.Rule{
		{Name: "meta", Method: "PUT", Path: metadataPUTAfterV1, Drop: 1},
	})
	if got := commitAll(t, f, 1); got != 1 {
		t.Fatalf("%d commits reconciled, want 1", got)
	}
	if st := proxy.Stats()["meta"]; st.Dropped < 2 {
		t.Fatalf("proxy %+v: want every attempt dropped", st)
	}
}

// TestObjectStoreCommitUnderFaults is the fault mix on a smaller
// scale: 30 % of metadata PUTs applied and their responses lost, 5 % of
// every request answered 503 before forwarding, and latency spikes.
func TestObjectStoreCommitUnderFaults(t *testing.T) {
	t.Parallel()
	f, proxy := newFaultyS3Fixture(t, []faultproxy.Rule{
		{Name: "meta", Method: "PUT", Path: metadataPUTAfterV1, Drop: 0.3, Fail: 0.05},
		{Name: "other", Fail: 0.05, Delay: 0.05, DelayMin: 10e6, DelayMax: 100e6},
	})
	commitAll(t, f, 8)
	st := proxy.Stats()
	if st["meta"].Dropped == 0 || st["other"].Failed == 0 {
		t.Fatalf("proxy %+v: the seed injected no drops or no 503s, so this proves nothing", st)
	}
	t.Logf("proxy: %+v", st)
}
