package ingest

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// poolTable creates a table partitioned by genre in a local warehouse and
// a file pool writing into it, with no Kafka and no pipeline.
func poolTable(t *testing.T, maxOpen int) (*filePool, fileTable) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	wh, err := objstore.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := table.OpenCatalog(ctx, table.CatalogOptions{Warehouse: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cat.(interface{ Close() error }); ok {
		t.Cleanup(func() { c.Close() })
	}
	sch := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "genre", Type: iceberg.PrimitiveTypes.String, Required: true})
	spec, err := table.ParsePartitionSpec(sch, []string{"genre"})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.EnsureTable(ctx, cat, icebergtable.Identifier{"db", "pool"}, sch, nil, catalog.WithPartitionSpec(spec))
	if err != nil {
		t.Fatal(err)
	}
	arr, err := schema.ArrowSchema(tbl.Schema())
	if err != nil {
		t.Fatal(err)
	}
	part, err := table.NewPartitioner(tbl.Schema(), tbl.Spec(), arr)
	if err != nil {
		t.Fatal(err)
	}
	fp := &filePool{warehouse: wh, dataFile: table.DefaultDataFileOptions(), maxOpen: maxOpen, parallel: 1, target: 128 << 20, uploads: ctx}
	return fp, fileTable{name: "db.pool", tbl: tbl, sch: tbl.Schema(), part: part}
}

// The pool, on its own, writes one file per partition value, never keeps
// more than MaxOpenFiles open however many values a chunk touches, and
// seals every row into the files the commit carries.
func TestFilePoolBoundsOpenFilesAndSealsEveryRow(t *testing.T) {
	const genres, perGenre, maxOpen = 5, 40, 2
	fp, ft := poolTable(t, maxOpen)
	arr, err := schema.ArrowSchema(ft.sch)
	if err != nil {
		t.Fatal(err)
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer rb.Release()
	for i := range genres * perGenre {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		rb.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("g%d", i%genres))
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()

	ctx := context.Background()
	bf := &batchFiles{open: map[string]*openFile{}}
	if err := fp.write(ctx, bf, ft, rec); err != nil {
		t.Fatal(err)
	}
	if len(bf.open) > maxOpen {
		t.Fatalf("%d files open, above MaxOpenFiles %d", len(bf.open), maxOpen)
	}
	if err := fp.seal(ctx, bf, ft, true); err != nil {
		t.Fatal(err)
	}
	if len(bf.open) != 0 || len(bf.closing) != 0 {
		t.Fatalf("after seal: %d open, %d closing", len(bf.open), len(bf.closing))
	}
	if len(bf.done) != genres {
		t.Fatalf("%d data files, want one per genre (%d)", len(bf.done), genres)
	}
	seen := map[any]bool{}
	var rows int64
	for _, df := range bf.done {
		rows += df.Count()
		for _, v := range df.Partition() {
			if seen[v] {
				t.Fatalf("two files of partition %v", v)
			}
			seen[v] = true
		}
	}
	if rows != genres*perGenre {
		t.Fatalf("files hold %d rows, want %d", rows, genres*perGenre)
	}
	if bf.bytes <= 0 {
		t.Fatalf("sealed files' bytes %d", bf.bytes)
	}
}

// A batch with no rows seals into one empty file with null partition
// values when its commit needs a file, and into none when it does not.
func TestFilePoolSealsAnEmptyFileOnlyWhenAsked(t *testing.T) {
	fp, ft := poolTable(t, 4)
	ctx := context.Background()
	none := &batchFiles{open: map[string]*openFile{}}
	if err := fp.seal(ctx, none, ft, false); err != nil {
		t.Fatal(err)
	}
	if len(none.done) != 0 {
		t.Fatalf("%d files sealed for a batch that needs none", len(none.done))
	}
	empty := &batchFiles{open: map[string]*openFile{}}
	if err := fp.seal(ctx, empty, ft, true); err != nil {
		t.Fatal(err)
	}
	if len(empty.done) != 1 || empty.done[0].Count() != 0 {
		t.Fatalf("sealed %d files, want one empty file", len(empty.done))
	}
	for id, v := range empty.done[0].Partition() {
		if v != nil {
			t.Fatalf("partition field %d is %v, want null", id, v)
		}
	}
}
