package enrich_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/bigfather/bigfather/ingest/enrich"
)

var parquetSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "region", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "tiny", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "big", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
}, nil)

// writeParquet writes rows of parquetSchema; rowGroup rows per row group.
func writeParquet(t *testing.T, path string, rows int, rowGroup int64) {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, parquetSchema)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%2 == 0 {
			b.Field(1).(*array.StringBuilder).Append("eu")
		} else {
			b.Field(1).(*array.StringBuilder).Append("us")
		}
		if i == 1 { // row 1: every value column null
			for f := 2; f < len(parquetSchema.Fields()); f++ {
				b.Field(f).AppendNull()
			}
			continue
		}
		b.Field(2).(*array.Int8Builder).Append(int8(-i))
		b.Field(3).(*array.Int32Builder).Append(int32(i * 1000))
		b.Field(4).(*array.Int64Builder).Append(int64(i) << 40)
		b.Field(5).(*array.Uint32Builder).Append(uint32(4_000_000_000 + i))
		b.Field(6).(*array.Float32Builder).Append(float32(i) + 0.5)
		b.Field(7).(*array.Float64Builder).Append(float64(i) / 4)
		b.Field(8).(*array.BooleanBuilder).Append(i%3 == 0)
		b.Field(9).(*array.StringBuilder).Append("s" + strings.Repeat("é", i%4))
		b.Field(10).(*array.LargeStringBuilder).Append("large")
		b.Field(11).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		lb := b.Field(12).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).Append("tag")
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(parquetSchema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // closes f too
		t.Fatal(err)
	}
}

func TestParquet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ref.parquet")
	writeParquet(t, p, 1000, 300)
	cols := []enrich.Column{
		{Name: "tiny"}, {Name: "n"}, {Name: "big"}, {Name: "u"}, {Name: "f"}, {Name: "d"}, {Name: "ok"}, {Name: "s"}, {Name: "ls"},
		{Name: "n", As: "n_long", Type: "long"}, {Name: "f", As: "f_double", Type: "double"},
	}
	tbl := mustOpen(t, enrich.Source{Name: "pq", Location: p, Key: []string{"region", "id"}, Columns: cols}, enrich.Deps{})
	var types []string
	for _, f := range tbl.Fields() {
		types = append(types, f.Name()+":"+f.Type().String())
	}
	want := `tiny:["null","int"] n:["null","int"] big:["null","long"] u:["null","long"] f:["null","float"] d:["null","double"] ` +
		`ok:["null","boolean"] s:["null","string"] ls:["null","string"] n_long:["null","long"] f_double:["null","double"]`
	if got := strings.Join(types, " "); got != want {
		t.Errorf("Fields() = %s\nwant       %s", got, want)
	}
	wantRow(t, tbl, key("eu", "0"), map[string]any{
		"tiny": 0, "n": 0, "big": int64(0), "u": int64(4_000_000_000), "f": float32(0.5), "d": 0.0, "ok": true,
		"s": "s", "ls": "large", "n_long": int64(0), "f_double": 0.5,
	})
	wantRow(t, tbl, key("us", "1"), map[string]any{
		"tiny": nil, "n": nil, "big": nil, "u": nil, "f": nil, "d": nil, "ok": nil, "s": nil, "ls": nil, "n_long": nil, "f_double": nil,
	})
	// Row 999 is in the last of four row groups.
	last := 999
	wantRow(t, tbl, key("us", "999"), map[string]any{
		"tiny": int(int8(-last)), "n": 999000, "big": int64(999) << 40, "u": int64(4_000_000_999), "f": float32(999.5),
		"d": 249.75, "ok": true, "s": "séééé"[:1+2*(999%4)], "ls": "large", "n_long": int64(999000), "f_double": 999.5,
	})
	wantMiss(t, tbl, key("eu", "1"))
	if s := tbl.Stats(); s.Rows != 1000 {
		t.Errorf("Stats().Rows = %d, want 1000", s.Rows)
	}
}

func TestParquetColumnErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ref.parquet")
	writeParquet(t, p, 10, 100)
	tests := []struct {
		name string
		key  string
		col  enrich.Column
		want string
	}{
		{"unsupported type", "id", enrich.Column{Name: "ts"}, `enrich "pq": column "ts": type timestamp[us, tz=UTC] is not supported`},
		{"nested type", "id", enrich.Column{Name: "tags"}, `column "tags": type list<element: utf8, nullable> is not supported`},
		{"narrowing", "id", enrich.Column{Name: "big", Type: "int"}, `column "big": type int64 in the data does not fit int`},
		{"wrong declared type", "id", enrich.Column{Name: "s", Type: "long"}, `column "s": type utf8 in the data does not fit long`},
		{"float key", "d", enrich.Column{Name: "s"}, `key column "d": type float64 cannot be a key`},
		{"missing column", "id", enrich.Column{Name: "nope"}, `enrich "pq": column "nope" not in the data`},
		{"missing key", "nope", enrich.Column{Name: "s"}, `enrich "pq": key column "nope" not in the data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := enrich.Open(t.Context(), enrich.Source{Name: "pq", Location: p, Key: []string{tt.key}, Columns: []enrich.Column{tt.col}}, enrich.Deps{})
			if !errors.Is(err, enrich.ErrColumnMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open() = %v, want ErrColumnMismatch containing %q", err, tt.want)
			}
		})
	}
}

func TestParquetNotParquet(t *testing.T) {
	p := writeFile(t, t.TempDir(), "ref.parquet", "id,name\n1,a\n")
	_, err := enrich.Open(t.Context(), enrich.Source{Name: "pq", Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}}}, enrich.Deps{})
	if err == nil || !strings.Contains(err.Error(), "parquet") {
		t.Fatalf("Open() = %v, want a parquet error", err)
	}
}
