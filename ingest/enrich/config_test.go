package enrich_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/objstore"
)

func TestOpenValidatesSource(t *testing.T) {
	dir := t.TempDir()
	csvPath := writeFile(t, dir, "a.csv", "id,name\n1,a\n")
	writeFile(t, dir, "a.txt", "id,name\n1,a\n")
	base := func() enrich.Source {
		return enrich.Source{Name: "artists", Location: csvPath, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}}}
	}
	tests := []struct {
		name string
		mod  func(*enrich.Source)
		deps enrich.Deps
		want string
	}{
		{"unknown format", func(s *enrich.Source) { s.Format = "xml" }, enrich.Deps{}, `format "xml": want csv, jsonl, parquet or iceberg`},
		{"format from an unknown extension", func(s *enrich.Source) { s.Location = dir + "/a.txt" }, enrich.Deps{}, "has no known extension"},
		{"iceberg location with another format", func(s *enrich.Source) { s.Location = "iceberg:ns.t"; s.Format = "csv" }, enrich.Deps{}, `format "csv": location "iceberg:ns.t" is an Iceberg table`},
		{"bad type", func(s *enrich.Source) { s.Columns = []enrich.Column{{Name: "name", Type: "varchar"}} }, enrich.Deps{}, `column "name": type "varchar": want string, int, long, float, double or boolean`},
		{"bad output name", func(s *enrich.Source) { s.Columns = []enrich.Column{{Name: "name", As: "artist-name"}} }, enrich.Deps{}, `column "name": output name "artist-name" is not a valid Avro name`},
		{"output name twice", func(s *enrich.Source) { s.Columns = []enrich.Column{{Name: "name"}, {Name: "id", As: "name"}} }, enrich.Deps{}, `column "id": output name "name" is used by column "name" too`},
		{"column without name", func(s *enrich.Source) { s.Columns = []enrich.Column{{As: "x"}} }, enrich.Deps{}, "columns[0]: name is required"},
		{"no columns", func(s *enrich.Source) { s.Columns = []enrich.Column{} }, enrich.Deps{}, "columns: at least one column to add is required"},
		{"no key", func(s *enrich.Source) { s.Key = []string{} }, enrich.Deps{}, "key: at least one key column is required"},
		{"empty key column", func(s *enrich.Source) { s.Key = []string{"id", ""} }, enrich.Deps{}, "key[1]: empty column name"},
		{"key twice", func(s *enrich.Source) { s.Key = []string{"id", "id"} }, enrich.Deps{}, `key: column "id" is listed twice`},
		{"float key", func(s *enrich.Source) { s.Columns = []enrich.Column{{Name: "id", Type: "double"}} }, enrich.Deps{}, `key column "id": type double cannot be a key`},
		{"negative refresh", func(s *enrich.Source) { s.Refresh = -time.Second }, enrich.Deps{}, "refresh -1s is negative"},
		{"no name", func(s *enrich.Source) { s.Name = "" }, enrich.Deps{}, "name is required"},
		{"s3 without OpenBucket", func(s *enrich.Source) { s.Location = "s3://b/a.csv" }, enrich.Deps{}, `location "s3://b/a.csv": an s3:// source needs Deps.OpenBucket`},
		{"s3 without key", func(s *enrich.Source) { s.Location = "s3://b/"; s.Format = "csv" }, enrich.Deps{OpenBucket: openNothing}, `location "s3://b/": invalid object key`},
		{"s3 without bucket", func(s *enrich.Source) { s.Location = "s3:///a.csv" }, enrich.Deps{OpenBucket: openNothing}, "no bucket name"},
		{"unsupported scheme", func(s *enrich.Source) { s.Location = "gs://b/a.csv" }, enrich.Deps{}, `unsupported scheme "gs"`},
		{"iceberg without catalog", func(s *enrich.Source) { s.Location = "iceberg:ns.t" }, enrich.Deps{}, `location "iceberg:ns.t": an Iceberg source needs a catalog`},
		{"iceberg without namespace", func(s *enrich.Source) { s.Location = "iceberg:t" }, enrich.Deps{}, `location "iceberg:t": want iceberg:namespace.table`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base()
			tt.mod(&src)
			_, err := enrich.Open(t.Context(), src, tt.deps)
			if !errors.Is(err, enrich.ErrInvalidSource) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open() = %v, want ErrInvalidSource containing %q", err, tt.want)
			}
			if prefix := `enrich "` + src.Name + `": `; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
	// The valid base opens.
	mustOpen(t, base(), enrich.Deps{})
}

func openNothing(context.Context, string) (objstore.Bucket, error) {
	return nil, errors.New("not reached")
}

func TestFormatFromLocation(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.CSV", "a.jsonl", "a.ndjson"} {
		data := "id,name\n1,x\n"
		if !strings.HasSuffix(strings.ToLower(name), ".csv") {
			data = `{"id": 1, "name": "x"}`
		}
		p := writeFile(t, dir, name, data)
		wantRow(t, mustOpen(t, enrich.Source{Name: name, Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}}}, enrich.Deps{}),
			key("1"), map[string]any{"name": "x"})
	}
	// An explicit format wins over the extension.
	p := writeFile(t, dir, "a.txt", `{"id": 1, "name": "x"}`)
	wantRow(t, mustOpen(t, enrich.Source{Name: "txt", Location: p, Format: "JSONL", Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}}}, enrich.Deps{}),
		key("1"), map[string]any{"name": "x"})
}

func TestMetrics(t *testing.T) {
	p := writeFile(t, t.TempDir(), "a.csv", "id,name\n1,a\n1,b\n,c\n")
	reg := prometheus.NewPedanticRegistry()
	src := enrich.Source{Name: "artists", Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}}}
	tbl := mustOpen(t, src, enrich.Deps{Registerer: reg})
	tbl.Lookup(nil, key("1"))
	tbl.Lookup(nil, key("2"))
	tbl.Lookup(nil, key("3"))
	want := map[string]float64{
		`bigfather_enrich_lookups_total{result="hit",source="artists"}`:     1,
		`bigfather_enrich_lookups_total{result="miss",source="artists"}`:    2,
		`bigfather_enrich_refreshes_total{result="ok",source="artists"}`:    0,
		`bigfather_enrich_refreshes_total{result="error",source="artists"}`: 0,
		`bigfather_enrich_rows{source="artists"}`:                           1,
		`bigfather_enrich_duplicate_keys{source="artists"}`:                 1,
		`bigfather_enrich_null_keys{source="artists"}`:                      1,
		`bigfather_enrich_index_bytes{source="artists"}`:                    float64(tbl.Stats().Bytes),
		`bigfather_enrich_last_refresh_timestamp_seconds{source="artists"}`: float64(tbl.Stats().LastRefresh.UnixNano()) / 1e9,
	}
	got := gather(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("gathered %d series, want %d: %v", len(got), len(want), got)
	}
	// A second source of the same name is refused, not a panic, and leaves
	// the first one's metrics in place.
	if _, err := enrich.Open(t.Context(), src, enrich.Deps{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "registered already") {
		t.Errorf("Open(same name, same registry) = %v, want a registration error", err)
	}
	if n := len(gather(t, reg)); n != len(want) {
		t.Errorf("gathered %d series after the refused Open, want %d", n, len(want))
	}
	src.Name = "albums"
	mustOpen(t, src, enrich.Deps{Registerer: reg})
	if n := len(gather(t, reg)); n != 2*len(want) {
		t.Errorf("gathered %d series with two sources, want %d", n, 2*len(want))
	}
}

// gather returns every series in reg as name{labels} → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue()
			if c := m.GetCounter(); c != nil {
				v = c.GetValue()
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}
