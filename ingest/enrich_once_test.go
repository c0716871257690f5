package ingest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/schema/registry"
)

// An enrich step looks a record up once, the first record of a table that
// does not exist yet included: creating the table must not run its
// transform chain a second time, or bigfather_enrich_lookups_total counts
// two lookups for it.
func TestEnrichLooksUpOncePerRecord(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	csv := filepath.Join(t.TempDir(), "cities.csv")
	if err := os.WriteFile(csv, []byte("id,city\n1,Paris\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup, err := enrich.Open(t.Context(), enrich.Source{
		Name: "cities", Location: csv, Key: []string{"id"}, Columns: []enrich.Column{{Name: "city"}},
	}, enrich.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := registry.NewJSONRecords(`{"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	e.sendValues(`{"id": "1"}`, `{"id": "1"}`, `{"id": "1"}`)
	opts := e.options()
	opts.JSON = map[string]*registry.JSONRecords{testTopic: j}
	opts.Tables[0].Transforms = mustTransforms(t,
		transform.Transform{Op: transform.OpEnrich, Lookup: lookup, KeyColumns: []string{"id"}})
	r := e.start(opts)
	e.waitWatermarks(3)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != 3 {
		t.Fatalf("rows %d, want 3", got)
	}
	if s := lookup.Stats(); s.Hits+s.Misses != 3 {
		t.Fatalf("enrich lookups: %d hits + %d misses for 3 records, want 3 (one per record)", s.Hits, s.Misses)
	}
}
