package table_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

func partitionTestSchema() *iceberg.Schema {
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "cat", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: "at", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
	)
}

func TestParsePartitionSpec(t *testing.T) {
	sch := partitionTestSchema()
	spec, err := table.ParsePartitionSpec(sch, []string{"day(at)", "bucket(8, id)", "cat", "truncate(2, cat)"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"at_day", "id_bucket", "cat", "cat_truncate"}
	for i, f := range spec.Fields() {
		if f.Name != want[i] || f.FieldID != 1000+i {
			t.Errorf("field %d: %s (%d), want %s", i, f.Name, f.FieldID, want[i])
		}
	}
	for _, bad := range []string{"day(nope)", "bucket(id)", "day(3, at)", "hour(cat)", "frobnicate(at)", "cat cat", "cat\x00"} {
		if _, err := table.ParsePartitionSpec(sch, []string{bad}); !errors.Is(err, table.ErrPartitionSpec) {
			t.Errorf("%q: %v, want ErrPartitionSpec", bad, err)
		}
	}
	if _, err := table.ParsePartitionSpec(sch, []string{"cat", "identity(cat)"}); !errors.Is(err, table.ErrPartitionSpec) {
		t.Errorf("a partition field twice: %v", err)
	}
}

// Rows split by day(at) and identity(cat) land in one file per partition,
// with partition values iceberg-go plans scans by: a filter on cat reads
// only that partition's files, and late rows sit in their own day.
func TestPartitionedFilesPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	cat, err := table.OpenCatalog(ctx, table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(dir, "c.db")}}, Warehouse: "file://" + wh})
	if err != nil {
		t.Fatal(err)
	}
	sch := partitionTestSchema()
	spec, err := table.ParsePartitionSpec(sch, []string{"day(at)", "cat"})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.EnsureTable(ctx, cat, icebergtable.Identifier{"db", "p"}, sch, nil, catalog.WithPartitionSpec(spec))
	if err != nil {
		t.Fatal(err)
	}
	arr, err := schema.ArrowSchema(tbl.Schema())
	if err != nil {
		t.Fatal(err)
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer rb.Release()
	day := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	cats := []string{"a", "b", "c"}
	const n = 300
	for i := range n {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		rb.Field(1).(*array.StringBuilder).Append(cats[i%3])
		at := day.Add(time.Duration(i%2) * 24 * time.Hour) // two days, interleaved: late rows
		rb.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()

	p, err := table.NewPartitioner(tbl.Schema(), tbl.Spec(), arr)
	if err != nil || p == nil {
		t.Fatalf("partitioner %v, %v", p, err)
	}
	groups, err := p.Split(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 6 {
		t.Fatalf("%d partitions, want 6 (2 days × 3 categories)", len(groups))
	}
	bucket, err := objstore.NewFS(wh)
	if err != nil {
		t.Fatal(err)
	}
	arranged, err := p.Arrange(ctx, rec, groups)
	if err != nil {
		t.Fatal(err)
	}
	defer arranged.Release()
	var files []iceberg.DataFile
	var total, off int64
	for i, g := range groups {
		sub := arranged.NewSlice(off, off+int64(len(g.Rows)))
		off += int64(len(g.Rows))
		var buf bytes.Buffer
		w, err := table.NewDataFileWriter(&buf, tbl.Schema(), table.DefaultDataFileOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(sub); err != nil {
			t.Fatal(err)
		}
		total += sub.NumRows()
		sub.Release()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		key := "db/p/data/part-" + string(rune('a'+i)) + ".parquet"
		if err := bucket.Upload(ctx, key, bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatal(err)
		}
		df, err := w.DataFile(bucket.URL(key), tbl.Spec(), g.Values)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, df)
	}
	if total != n {
		t.Fatalf("split %d rows of %d", total, n)
	}
	tx := tbl.NewTransaction()
	if err := tx.AddDataFiles(ctx, files, nil); err != nil {
		t.Fatal(err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	scan := tbl.Scan(icebergtable.WithRowFilter(iceberg.EqualTo(iceberg.Reference("cat"), "b")))
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Fatalf("a filter on cat plans %d files, want the 2 of cat b", len(tasks))
	}
	got, err := scan.ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if got.NumRows() != n/3 {
		t.Fatalf("cat = b reads %d rows, want %d", got.NumRows(), n/3)
	}
}
