package table_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/tabletest"
)

const pipe = "p1"

var tp0 = table.TP{Topic: "t", Partition: 0}

// fixture is a table with only the metadata columns plus a title, in a
// SQLite catalog over a local warehouse.
type fixture struct {
	t      testing.TB
	cat    catalog.Catalog
	bucket objstore.Bucket
	tbl    *icebergtable.Table
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	bucket, err := objstore.NewFS(wh)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := table.OpenCatalog(ctx, table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(dir, "cat.db")}},
		Warehouse:     "file://" + wh,
	})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, cat, bucket)
}

// newFixtureOn creates the fixture's table in cat, whose warehouse is bucket.
func newFixtureOn(t testing.TB, cat catalog.Catalog, bucket objstore.Bucket) *fixture {
	t.Helper()
	ctx := context.Background()
	fields := []iceberg.NestedField{{ID: 1, Name: "title", Type: iceberg.PrimitiveTypes.String, Required: true}}
	for i, f := range metaFields() {
		f.ID = i + 2
		fields = append(fields, f)
	}
	tbl, err := table.EnsureTable(ctx, cat, icebergtable.Identifier{"ns", "tbl"}, iceberg.NewSchema(0, fields...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, cat: cat, bucket: bucket, tbl: tbl}
}

func metaFields() []iceberg.NestedField {
	return []iceberg.NestedField{
		{Name: schema.ColKafkaTopic, Type: iceberg.PrimitiveTypes.String, Required: true},
		{Name: schema.ColKafkaPartition, Type: iceberg.PrimitiveTypes.Int32, Required: true},
		{Name: schema.ColKafkaOffset, Type: iceberg.PrimitiveTypes.Int64, Required: true},
		{Name: schema.ColKafkaTimestamp, Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
		{Name: schema.ColKafkaKey, Type: iceberg.PrimitiveTypes.Binary},
		{Name: schema.ColIngestedAt, Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
	}
}

// file writes one data file holding the given offsets of tp0.
func (f *fixture) file(offsets ...int64) iceberg.DataFile {
	f.t.Helper()
	sch := f.tbl.Schema()
	arr, err := schema.ArrowSchema(sch)
	if err != nil {
		f.t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer b.Release()
	for _, o := range offsets {
		b.Field(0).(*array.StringBuilder).Append("song")
		schema.AppendMeta(b, &schema.Meta{Topic: tp0.Topic, Partition: tp0.Partition, Offset: o})
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	key := "ns/tbl/data/" + uuid.NewString() + ".parquet"
	up := objstore.NewWriter(context.Background(), f.bucket, key)
	w, err := table.NewDataFileWriter(up, sch, table.DataFileOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		f.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		f.t.Fatal(err)
	}
	df, err := w.DataFile(f.bucket.URL(key), f.tbl.Spec(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return df
}

func offsetsRange(from, to int64) []int64 {
	var out []int64
	for o := from; o < to; o++ {
		out = append(out, o)
	}
	return out
}

func (f *fixture) batch(expect *int64, from, to int64, rows []int64) *table.Batch {
	b := &table.Batch{
		Pipeline: pipe, CommitID: uuid.NewString(),
		Files:  []iceberg.DataFile{f.file(rows...)},
		Expect: table.Offsets{}, Ranges: table.Ranges{tp0: {from, to}},
	}
	if expect != nil {
		b.Expect[tp0] = *expect
	}
	return b
}

func ptr(v int64) *int64 { return &v }

func TestCommitAdvancesWatermarksAndRecordsSummary(t *testing.T) {
	f := newFixture(t)
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	b := f.batch(nil, 0, 10, offsetsRange(0, 10))
	res, err := c.Commit(context.Background(), f.tbl, b)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := table.Watermarks(res.Table.Metadata(), pipe)
	if err != nil {
		t.Fatal(err)
	}
	if wm[tp0] != 10 {
		t.Fatalf("watermark %v, want 10", wm)
	}
	if got := table.FindCommit(res.Table.Metadata(), b.CommitID); got == 0 || got != res.Snapshot {
		t.Fatalf("commit id found in snapshot %d, committed %d", got, res.Snapshot)
	}
	props := res.Table.Metadata().CurrentSnapshot().Summary.Properties
	if props[table.SummaryPipeline] != pipe || props[table.SummaryRanges] != `{"t":{"0":[0,10]}}` {
		t.Fatalf("summary %v", props)
	}
}

// The origin is where a partition's first commit started; later commits
// keep it, and a partition first committed later gets its own.
func TestCommitRecordsOrigins(t *testing.T) {
	f := newFixture(t)
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	ctx := context.Background()
	res, err := c.Commit(ctx, f.tbl, f.batch(nil, 5, 10, offsetsRange(5, 10)))
	if err != nil {
		t.Fatal(err)
	}
	b := f.batch(ptr(10), 10, 20, offsetsRange(10, 20))
	tp1 := table.TP{Topic: "t", Partition: 1}
	b.Ranges[tp1] = [2]int64{40, 41}
	if res, err = c.Commit(ctx, res.Table, b); err != nil {
		t.Fatal(err)
	}
	origins, err := table.Origins(res.Table.Metadata(), pipe)
	if err != nil {
		t.Fatal(err)
	}
	if want := (table.Offsets{tp0: 5, tp1: 40}); len(origins) != 2 || origins[tp0] != 5 || origins[tp1] != 40 {
		t.Fatalf("origins %v, want %v", origins, want)
	}
}

func TestCommitFencesStaleBatches(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	stale := f.tbl
	res, err := c.Commit(ctx, f.tbl, f.batch(nil, 0, 10, offsetsRange(0, 10)))
	if err != nil {
		t.Fatal(err)
	}
	// A zombie that also started from "never committed", on the stale handle:
	// its commit conflicts, the reload shows the moved watermark, it is fenced.
	if _, err := c.Commit(ctx, stale, f.batch(nil, 0, 12, offsetsRange(0, 12))); !errors.Is(err, table.ErrFenced) {
		t.Fatalf("zombie commit: %v, want ErrFenced", err)
	}
	// The same on a fresh handle: fenced before any catalog call.
	if _, err := c.Commit(ctx, res.Table, f.batch(ptr(4), 4, 12, offsetsRange(4, 12))); err == nil {
		t.Fatal("a batch whose range does not start at its watermark was committed")
	}
	if _, err := c.Commit(ctx, res.Table, f.batch(ptr(7), 7, 12, offsetsRange(7, 12))); !errors.Is(err, table.ErrFenced) {
		t.Fatalf("stale expectation: %v, want ErrFenced", err)
	}
	// The rightful owner continues.
	if _, err := c.Commit(ctx, res.Table, f.batch(ptr(10), 10, 20, offsetsRange(10, 20))); err != nil {
		t.Fatal(err)
	}
	rep, err := table.Verify(ctx, mustLoad(t, f), pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Partitions[0].Rows != 20 {
		t.Fatalf("report %+v", rep)
	}
}

func mustLoad(t *testing.T, f *fixture) *icebergtable.Table {
	t.Helper()
	tbl, err := f.cat.LoadTable(context.Background(), f.tbl.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// A commit by another writer that leaves the watermarks alone (compaction,
// retention) is a clean conflict: reload, re-check, retry.
func TestCommitRetriesConflictThatKeepsWatermarks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	res, err := c.Commit(ctx, f.tbl, f.batch(nil, 0, 10, offsetsRange(0, 10)))
	if err != nil {
		t.Fatal(err)
	}
	other := res.Table.NewTransaction()
	if err := other.SetProperties(iceberg.Properties{"owner": "compactor"}); err != nil {
		t.Fatal(err)
	}
	if err := other.AddDataFiles(ctx, []iceberg.DataFile{f.file()}, iceberg.Properties{"writer": "compactor"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res2, err := c.Commit(ctx, res.Table, f.batch(ptr(10), 10, 20, offsetsRange(10, 20)))
	if err != nil {
		t.Fatal(err)
	}
	if res2.Conflicts != 1 {
		t.Fatalf("conflicts %d, want 1", res2.Conflicts)
	}
	meta := res2.Table.Metadata()
	if meta.Properties()["owner"] != "compactor" {
		t.Fatal("the other writer's property was lost")
	}
	if wm, _ := table.Watermarks(meta, pipe); wm[tp0] != 20 {
		t.Fatalf("watermark %v", wm)
	}
}

func TestCommitReconcilesUnknownOutcome(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lossy := &tabletest.FaultyCatalog{Catalog: f.cat}
	lossy.LoseAfterApply.Store(1)
	lossy.FailBefore.Store(1)
	c := table.NewCommitter(lossy, table.CommitterOptions{})
	tbl, err := lossy.LoadTable(ctx, f.tbl.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	b := f.batch(nil, 0, 10, offsetsRange(0, 10))
	res, err := c.Commit(ctx, tbl, b)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reconciled {
		t.Fatal("outcome was not reconciled")
	}
	if got := lossy.Commits.Load(); got != 2 {
		t.Fatalf("catalog saw %d commits, want 2 (one not forwarded, one applied with its response lost)", got)
	}
	n := 0
	for _, s := range res.Table.Metadata().Snapshots() {
		if s.Summary.Properties[table.SummaryCommitID] == b.CommitID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("commit applied %d times", n)
	}
}

// Verify must catch what it exists to catch: duplicates, missing offsets,
// rows above the watermark, and ranges that jump.
func TestVerifyDetectsViolations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	res, err := c.Commit(ctx, f.tbl, f.batch(nil, 0, 10, offsetsRange(0, 10)))
	if err != nil {
		t.Fatal(err)
	}
	// Offsets 5..9 again, 10..13 fine, 14 missing, 15 beyond the watermark.
	rows := append(offsetsRange(5, 14), 15)
	if _, err := c.Commit(ctx, res.Table, f.batch(ptr(10), 10, 15, rows)); err != nil {
		t.Fatal(err)
	}
	kafka := func(_ context.Context, _ table.TP, from, to int64) ([]int64, error) {
		return offsetsRange(from, to), nil
	}
	rep, err := table.Verify(ctx, mustLoad(t, f), pipe, kafka)
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Partitions[0]
	if len(p.Duplicates) != 5 || len(p.Missing) != 1 || p.Missing[0] != 14 || len(p.Beyond) != 1 || p.Beyond[0] != 15 {
		t.Fatalf("partition report %+v", p)
	}
	if rep.OK() {
		t.Fatal("report OK despite violations")
	}
}
