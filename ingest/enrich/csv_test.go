package enrich_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/enrich"
)

const artistsCSV = "\ufeffartist_id,name,country,founded,rating,score,active,listeners\n" +
	"1,Daft Punk,FR,1993,4.5,9.25,true,1000000\n" +
	`2,"Earth, Wind & Fire",US,1969,4.25,8.5,false,-7` + "\n" +
	`3,"The ""Quoted"" Band",,,,,,` + "\n" +
	"4,\"multi\nline\",GB, 2001 , 1e3 ,-0.5,TRUE,9223372036854775807\n"

var artistsColumns = []enrich.Column{
	{Name: "name", As: "artist_name"},
	{Name: "country", Type: "string"},
	{Name: "founded", Type: "int"},
	{Name: "rating", Type: "float"},
	{Name: "score", Type: "double"},
	{Name: "active", Type: "boolean"},
	{Name: "listeners", Type: "long"},
}

func TestCSVTypedColumns(t *testing.T) {
	p := writeFile(t, t.TempDir(), "artists.csv", artistsCSV)
	tbl := mustOpen(t, enrich.Source{Name: "artists", Location: p, Key: []string{"artist_id"}, Columns: artistsColumns}, enrich.Deps{})

	var names []string
	for _, f := range tbl.Fields() {
		names = append(names, f.Name()+":"+f.Type().String())
	}
	wantFields := `artist_name:["null","string"] country:["null","string"] founded:["null","int"] rating:["null","float"] ` +
		`score:["null","double"] active:["null","boolean"] listeners:["null","long"]`
	if got := strings.Join(names, " "); got != wantFields {
		t.Errorf("Fields() = %s\nwant       %s", got, wantFields)
	}
	for _, f := range tbl.Fields() {
		if !f.HasDefault() || f.Default() != nil {
			t.Errorf("field %s: default %v (has %v), want null", f.Name(), f.Default(), f.HasDefault())
		}
	}

	wantRow(t, tbl, key("1"), map[string]any{
		"artist_name": "Daft Punk", "country": "FR", "founded": 1993, "rating": float32(4.5),
		"score": 9.25, "active": true, "listeners": int64(1000000),
	})
	wantRow(t, tbl, key("2"), map[string]any{
		"artist_name": "Earth, Wind & Fire", "country": "US", "founded": 1969, "rating": float32(4.25),
		"score": 8.5, "active": false, "listeners": int64(-7),
	})
	// Empty fields are null, strings included.
	wantRow(t, tbl, key("3"), map[string]any{
		"artist_name": `The "Quoted" Band`, "country": nil, "founded": nil, "rating": nil,
		"score": nil, "active": nil, "listeners": nil,
	})
	wantRow(t, tbl, key("4"), map[string]any{
		"artist_name": "multi\nline", "country": "GB", "founded": 2001, "rating": float32(1000),
		"score": -0.5, "active": true, "listeners": int64(math.MaxInt64),
	})
	wantMiss(t, tbl, key("5"))
	wantMiss(t, tbl, key("01"))
	if s := tbl.Stats(); s.Rows != 4 || s.Hits != 4 || s.Misses != 2 || s.Bytes <= 0 || s.LastRefresh.IsZero() {
		t.Errorf("Stats() = %+v, want 4 rows, 4 hits, 2 misses, bytes and a load time", s)
	}
}

// The pre-encoded bytes must be exactly what hamba/avro writes for the
// same record, not merely something it can read.
func TestEncodingMatchesHamba(t *testing.T) {
	p := writeFile(t, t.TempDir(), "artists.csv", artistsCSV)
	tbl := mustOpen(t, enrich.Source{Name: "artists", Location: p, Key: []string{"artist_id"}, Columns: artistsColumns}, enrich.Deps{})
	rec, err := avro.NewRecordSchema("r", "", tbl.Fields())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"1", "2", "3", "4"} {
		got, _ := tbl.Lookup(nil, key(k))
		want, err := avro.Marshal(rec, row(t, tbl, key(k)))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("key %s: Lookup bytes %x, hamba encodes %x", k, got, want)
		}
	}
}

func TestCSVKeys(t *testing.T) {
	const data = "region,id,flag,label\n" +
		"eu,007,true,a\n" +
		"eu,-3,false,b\n" +
		"us,7,TRUE,c\n" +
		",8,true,null region\n" +
		"eu,,true,null id\n" +
		"eu,+7,true,d\n" // the same key as 007 once canonicalised: the last row wins
	dir := t.TempDir()
	p := writeFile(t, dir, "k.csv", data)
	logs := &logBuffer{}
	tbl := mustOpen(t, enrich.Source{
		Name: "k", Location: "file://" + p, Key: []string{"region", "id", "flag"},
		Columns: []enrich.Column{{Name: "label"}, {Name: "id", As: "id_out", Type: "long"}, {Name: "flag", Type: "boolean"}},
	}, enrich.Deps{Logger: logs.logger()})
	wantRow(t, tbl, key("eu", "7", "true"), map[string]any{"label": "d", "id_out": int64(7), "flag": true})
	wantRow(t, tbl, key("eu", "-3", "false"), map[string]any{"label": "b", "id_out": int64(-3), "flag": false})
	wantRow(t, tbl, key("us", "7", "true"), map[string]any{"label": "c", "id_out": int64(7), "flag": true})
	wantMiss(t, tbl, key("eu", "007", "true"))
	wantMiss(t, tbl, key("eu", "7"))
	wantMiss(t, tbl, key("", "8", "true"))
	s := tbl.Stats()
	if s.Rows != 3 || s.NullKeys != 2 || s.DuplicateKeys != 1 {
		t.Errorf("Stats() = %+v, want 3 rows, 2 null keys, 1 duplicate", s)
	}
	if n := strings.Count(logs.String(), "duplicate keys"); n != 1 {
		t.Errorf("duplicate keys logged %d times, want once per load:\n%s", n, logs)
	}

	// Untyped key columns are text: "007" stays "007".
	tbl = mustOpen(t, enrich.Source{Name: "k", Location: p, Key: []string{"region", "id", "flag"},
		Columns: []enrich.Column{{Name: "label"}}}, enrich.Deps{})
	wantRow(t, tbl, key("eu", "007", "true"), map[string]any{"label": "a"})
	wantRow(t, tbl, key("eu", "+7", "true"), map[string]any{"label": "d"})
	wantRow(t, tbl, key("us", "7", "TRUE"), map[string]any{"label": "c"})
}

func TestCSVLoadErrors(t *testing.T) {
	tests := []struct {
		name, data string
		cols       []enrich.Column
		want       string
		mismatch   bool
	}{
		{"bad int", "id,n\n1,2\n2,x\n", []enrich.Column{{Name: "n", Type: "int"}}, `line 3: column "n": "x" is not a valid int`, false},
		{"int overflow", "id,n\n1,3000000000\n", []enrich.Column{{Name: "n", Type: "int"}}, `line 2: column "n": "3000000000" is not a valid int`, false},
		{"bad boolean", "id,n\n1,yes\n", []enrich.Column{{Name: "n", Type: "boolean"}}, `"yes" is not a valid boolean`, false},
		{"bad typed key", "id,n\n1,a\nx,b\n", []enrich.Column{{Name: "id", Type: "long"}}, `line 3: key column "id": "x" is not a valid long`, false},
		{"ragged row", "id,n\n1,2,3\n", []enrich.Column{{Name: "n"}}, "wrong number of fields", false},
		{"no header", "", []enrich.Column{{Name: "n"}}, "no header row", false},
		{"duplicate header", "id,n,n\n", []enrich.Column{{Name: "n"}}, `header names column "n" twice`, false},
		{"missing column", "id,m\n", []enrich.Column{{Name: "n"}}, `enrich "e": column "n" not in the data`, true},
		{"missing key column", "key,n\n", []enrich.Column{{Name: "n"}}, `enrich "e": key column "id" not in the data`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "e.csv", tt.data)
			_, err := enrich.Open(t.Context(), enrich.Source{Name: "e", Location: p, Key: []string{"id"}, Columns: tt.cols}, enrich.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open() = %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, enrich.ErrColumnMismatch) != tt.mismatch {
				t.Errorf("errors.Is(%v, ErrColumnMismatch) = %v, want %v", err, !tt.mismatch, tt.mismatch)
			}
		})
	}
}
