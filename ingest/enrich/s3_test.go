package enrich_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/objstore/objstoretest"
)

func put(t *testing.T, cfg objstore.S3Config, url, key, data string) {
	t.Helper()
	b, err := objstore.Open(t.Context(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(t.Context(), key, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func TestS3(t *testing.T) {
	cfg := objstoretest.FakeS3(t, "refdata")
	var opened []string
	deps := enrich.Deps{OpenBucket: func(ctx context.Context, url string) (objstore.Bucket, error) {
		opened = append(opened, url)
		return objstore.Open(ctx, url, cfg)
	}}
	put(t, cfg, "s3://refdata", "music/artists.csv", "artist_id,name,founded\n1,Daft Punk,1993\n2,\"Earth, Wind & Fire\",1969\n")

	tbl := mustOpen(t, enrich.Source{
		Name: "artists", Location: "s3://refdata/music/artists.csv", Key: []string{"artist_id"},
		Columns: []enrich.Column{{Name: "name"}, {Name: "founded", Type: "int"}},
	}, deps)
	wantRow(t, tbl, key("1"), map[string]any{"name": "Daft Punk", "founded": 1993})
	wantRow(t, tbl, key("2"), map[string]any{"name": "Earth, Wind & Fire", "founded": 1969})
	wantMiss(t, tbl, key("3"))
	if len(opened) != 1 || opened[0] != "s3://refdata" {
		t.Errorf("OpenBucket called with %q, want the bucket URL once", opened)
	}

	// Parquet is read whole into memory for random access.
	p := filepath.Join(t.TempDir(), "ref.parquet")
	writeParquet(t, p, 50, 20)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	put(t, cfg, "s3://refdata", "ref.parquet", string(raw))
	tbl = mustOpen(t, enrich.Source{Name: "pq", Location: "s3://refdata/ref.parquet", Key: []string{"id"},
		Columns: []enrich.Column{{Name: "n"}}}, deps)
	wantRow(t, tbl, key("42"), map[string]any{"n": 42000})

	_, err = enrich.Open(t.Context(), enrich.Source{Name: "gone", Location: "s3://refdata/missing.csv", Key: []string{"id"},
		Columns: []enrich.Column{{Name: "name"}}}, deps)
	if !errors.Is(err, objstore.ErrNotExist) || !strings.Contains(err.Error(), `enrich "gone"`) {
		t.Errorf("Open(missing object) = %v, want ErrNotExist naming the source", err)
	}
}
