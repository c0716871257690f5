package enrich_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergtable "github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // "sqlite" driver for the catalog

	"github.com/bigfather/bigfather/ingest/enrich"
)

// newCatalog opens an iceberg-go SQLite catalog over a local warehouse,
// the catalog table.OpenCatalog wraps by default. It is opened directly
// rather than through package table, which imports package schema: these
// tests should not stop compiling when schema does.
func newCatalog(t *testing.T) catalog.Catalog {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "catalog.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := sqlcat.NewCatalog("test", db, sqlcat.SQLite, iceberg.Properties{"warehouse": "file://" + filepath.Join(dir, "wh")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	if err := cat.CreateNamespace(t.Context(), catalog.ToIdentifier("music"), nil); err != nil {
		t.Fatal(err)
	}
	return cat
}

var artistsIceberg = iceberg.NewSchema(0,
	iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
	iceberg.NestedField{ID: 2, Name: "name", Type: iceberg.PrimitiveTypes.String},
	iceberg.NestedField{ID: 3, Name: "plays", Type: iceberg.PrimitiveTypes.Int32},
	iceberg.NestedField{ID: 4, Name: "score", Type: iceberg.PrimitiveTypes.Float64},
	iceberg.NestedField{ID: 5, Name: "rating", Type: iceberg.PrimitiveTypes.Float32},
	iceberg.NestedField{ID: 6, Name: "active", Type: iceberg.PrimitiveTypes.Bool},
	iceberg.NestedField{ID: 7, Name: "born", Type: iceberg.PrimitiveTypes.Date},
)

type artist struct {
	id     int64
	name   string // "" is null
	plays  int32
	score  float64
	rating float32
	active bool
}

func appendArtists(t *testing.T, tbl *icebergtable.Table, rows ...artist) *icebergtable.Table {
	t.Helper()
	sch, err := icebergtable.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		if r.name == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(r.name)
		}
		b.Field(2).(*array.Int32Builder).Append(r.plays)
		b.Field(3).(*array.Float64Builder).Append(r.score)
		b.Field(4).(*array.Float32Builder).Append(r.rating)
		b.Field(5).(*array.BooleanBuilder).Append(r.active)
		b.Field(6).(*array.Date32Builder).Append(arrow.Date32(r.id))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	at := array.NewTableFromRecords(sch, []arrow.RecordBatch{rec})
	defer at.Release()
	next, err := tbl.AppendTable(t.Context(), at, 1024, nil)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return next
}

func TestIceberg(t *testing.T) {
	ctx := t.Context()
	cat := newCatalog(t)
	ident := catalog.ToIdentifier("music", "artists")
	tbl, err := cat.CreateTable(ctx, ident, artistsIceberg)
	if err != nil {
		t.Fatal(err)
	}
	src := enrich.Source{Name: "artists", Location: "iceberg:music.artists", Key: []string{"id"}, Columns: []enrich.Column{
		{Name: "name"}, {Name: "plays"}, {Name: "score"}, {Name: "rating"}, {Name: "active"}, {Name: "plays", As: "plays_long", Type: "long"},
		{Name: "id", As: "artist_id"}, // the key column, added too
	}}
	deps := enrich.Deps{Catalog: cat}

	// No snapshot yet: the schema is checked and the index is empty.
	ref := mustOpen(t, src, deps)
	var types []string
	for _, f := range ref.Fields() {
		types = append(types, f.Name()+":"+f.Type().String())
	}
	want := `name:["null","string"] plays:["null","int"] score:["null","double"] rating:["null","float"] active:["null","boolean"] plays_long:["null","long"] artist_id:["null","long"]`
	if got := strings.Join(types, " "); got != want {
		t.Errorf("Fields() = %s\nwant       %s", got, want)
	}
	if s := ref.Stats(); s.Rows != 0 {
		t.Errorf("Stats().Rows = %d before any snapshot, want 0", s.Rows)
	}

	tbl = appendArtists(t, tbl, artist{1, "Daft Punk", 10, 9.5, 4.5, true}, artist{-2, "", 20, -1, 0, false})
	tbl = appendArtists(t, tbl, artist{3, "Air", 30, 3.25, 1.5, true})
	enrich.RefreshNow(ctx, ref)
	wantRow(t, ref, key("1"), map[string]any{"name": "Daft Punk", "plays": 10, "score": 9.5, "rating": float32(4.5), "active": true, "artist_id": int64(1), "plays_long": int64(10)})
	wantRow(t, ref, key("-2"), map[string]any{"name": nil, "plays": 20, "score": -1.0, "rating": float32(0), "active": false, "artist_id": int64(-2), "plays_long": int64(20)})
	wantRow(t, ref, key("3"), map[string]any{"name": "Air", "plays": 30, "score": 3.25, "rating": float32(1.5), "active": true, "artist_id": int64(3), "plays_long": int64(30)})
	if s := ref.Stats(); s.Rows != 3 || s.Refreshes != 1 || s.RefreshErrors != 0 {
		t.Errorf("Stats() = %+v, want 3 rows after one refresh", s)
	}
	loaded := ref.Stats().LastRefresh

	// The same snapshot again: counted, not rebuilt.
	enrich.RefreshNow(ctx, ref)
	if s := ref.Stats(); s.Refreshes != 2 || !s.LastRefresh.Equal(loaded) {
		t.Errorf("Stats() = %+v, want a second refresh that kept the index loaded at %v", s, loaded)
	}

	// A fresh Open reads the same snapshot.
	wantRow(t, mustOpen(t, src, deps), key("3"), map[string]any{"name": "Air", "plays": 30, "score": 3.25, "rating": float32(1.5), "active": true, "artist_id": int64(3), "plays_long": int64(30)})

	// Renaming an added column is a schema change: the refresh re-checks
	// and keeps the old data.
	tx := tbl.NewTransaction()
	if err := tx.UpdateSchema(true, false).RenameColumn([]string{"score"}, "points").Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	enrich.RefreshNow(ctx, ref)
	if s := ref.Stats(); s.RefreshErrors != 1 || s.Rows != 3 {
		t.Errorf("Stats() = %+v after the rename, want a refresh error and the old rows", s)
	}
	wantRow(t, ref, key("1"), map[string]any{"name": "Daft Punk", "plays": 10, "score": 9.5, "rating": float32(4.5), "active": true, "artist_id": int64(1), "plays_long": int64(10)})
	_, err = enrich.Open(ctx, src, deps)
	if !errors.Is(err, enrich.ErrColumnMismatch) || !strings.Contains(err.Error(), `column "score" not in the data`) {
		t.Errorf("Open() after the rename = %v, want the missing column named", err)
	}
}

func TestIcebergErrors(t *testing.T) {
	ctx := context.Background()
	cat := newCatalog(t)
	if _, err := cat.CreateTable(ctx, catalog.ToIdentifier("music", "artists"), artistsIceberg); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, loc, key string
		col            enrich.Column
		want           string
	}{
		{"no such table", "iceberg:music.nope", "id", enrich.Column{Name: "name"}, "load table iceberg:music.nope"},
		{"unsupported type", "iceberg:music.artists", "id", enrich.Column{Name: "born"}, `column "born": type date32 is not supported`},
		{"float key", "iceberg:music.artists", "score", enrich.Column{Name: "name"}, `key column "score": type float64 cannot be a key`},
		{"missing key", "iceberg:music.artists", "artist_id", enrich.Column{Name: "name"}, `key column "artist_id" not in the data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := enrich.Open(ctx, enrich.Source{Name: "ice", Location: tt.loc, Key: []string{tt.key}, Columns: []enrich.Column{tt.col}},
				enrich.Deps{Catalog: cat})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), `enrich "ice": `) {
				t.Fatalf("Open() = %v, want an error naming the source and containing %q", err, tt.want)
			}
		})
	}
}
