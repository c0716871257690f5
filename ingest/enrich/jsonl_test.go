package enrich_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/ingest/enrich"
)

func TestJSONLInference(t *testing.T) {
	const data = `{"id": 1, "name": "Daft Punk", "plays": 10, "score": 1, "active": true, "note": null, "extra": {"ignored": [1]}}
{"id": 2, "name": "", "plays": -20, "score": 2.5, "active": false}

   {"id": 3, "plays": null, "score": 1e2, "note": "x"}   
{"id": "4", "name": "string key four"}
{"id": -0, "name": "minus zero"}
{"id": null, "name": "null key"}
{"name": "missing key"}
`
	p := writeFile(t, t.TempDir(), "artists.ndjson", data)
	tbl := mustOpen(t, enrich.Source{Name: "a", Location: p, Key: []string{"id"}, Columns: []enrich.Column{
		{Name: "name"}, {Name: "plays"}, {Name: "score"}, {Name: "active"}, {Name: "note"}, {Name: "plays", As: "plays_d", Type: "double"},
	}}, enrich.Deps{})
	var types []string
	for _, f := range tbl.Fields() {
		types = append(types, f.Name()+":"+f.Type().String())
	}
	want := `name:["null","string"] plays:["null","long"] score:["null","double"] active:["null","boolean"] note:["null","string"] plays_d:["null","double"]`
	if got := strings.Join(types, " "); got != want {
		t.Errorf("Fields() = %s\nwant       %s", got, want)
	}
	wantRow(t, tbl, key("1"), map[string]any{"name": "Daft Punk", "plays": int64(10), "score": 1.0, "active": true, "note": nil, "plays_d": 10.0})
	// "" is a value in JSON, unlike in CSV.
	wantRow(t, tbl, key("2"), map[string]any{"name": "", "plays": int64(-20), "score": 2.5, "active": false, "note": nil, "plays_d": -20.0})
	wantRow(t, tbl, key("3"), map[string]any{"name": nil, "plays": nil, "score": 100.0, "active": nil, "note": "x", "plays_d": nil})
	wantRow(t, tbl, key("4"), map[string]any{"name": "string key four", "plays": nil, "score": nil, "active": nil, "note": nil, "plays_d": nil})
	wantRow(t, tbl, key("0"), map[string]any{"name": "minus zero", "plays": nil, "score": nil, "active": nil, "note": nil, "plays_d": nil})
	if s := tbl.Stats(); s.Rows != 5 || s.NullKeys != 2 {
		t.Errorf("Stats() = %+v, want 5 rows and 2 null keys", s)
	}
}

func TestJSONLBooleanAndCompositeKeys(t *testing.T) {
	const data = `{"a": true, "b": 12, "v": "t12"}
{"a": false, "b": 12, "v": "f12"}
`
	p := writeFile(t, t.TempDir(), "k.jsonl", data)
	tbl := mustOpen(t, enrich.Source{Name: "k", Location: p, Key: []string{"b", "a"}, Columns: []enrich.Column{{Name: "v"}}}, enrich.Deps{})
	wantRow(t, tbl, key("12", "true"), map[string]any{"v": "t12"})
	wantRow(t, tbl, key("12", "false"), map[string]any{"v": "f12"})
	wantMiss(t, tbl, key("true", "12"))
}

func TestJSONLLoadErrors(t *testing.T) {
	tests := []struct {
		name, data string
		cols       []enrich.Column
		want       string
	}{
		{"malformed line", "{\"id\": 1, \"v\": \"a\"}\n\n{\"id\": 2, \"v\": }\n", nil, "line 3: malformed JSON"},
		{"trailing data", `{"id": 1, "v": "a"} {"id": 2}`, nil, "line 1: malformed JSON: data after the object"},
		{"not an object", "[1, 2]\n", nil, "line 1: want a JSON object, got an array"},
		{"mixed types", "{\"id\": 1, \"v\": 1}\n{\"id\": 2, \"v\": \"x\"}\n", nil, `column "v": line 2: a string, but line 1 has a long; set its type`},
		{"object value", "{\"id\": 1, \"v\": {}}\n", nil, `column "v": line 1: an object is not a supported value`},
		{"all null", "{\"id\": 1, \"v\": null}\n", nil, `column "v": no non-null values to infer a type from`},
		{"fractional key", "{\"id\": 1.5, \"v\": \"a\"}\n", nil, `line 1: key column "id": 1.5: a fractional number cannot be a key`},
		{"declared int gets fraction", "{\"id\": 1, \"v\": 2.5}\n", []enrich.Column{{Name: "v", Type: "int"}}, `line 1: column "v": a fractional number is not a valid int`},
		{"declared string gets number", "{\"id\": 1, \"v\": 2}\n", []enrich.Column{{Name: "v", Type: "string"}}, `column "v": an integer is not a valid string`},
		{"missing column", "{\"id\": 1, \"w\": 2}\n", nil, `enrich "j": column "v" not in the data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "j.jsonl", tt.data)
			cols := tt.cols
			if cols == nil {
				cols = []enrich.Column{{Name: "v"}}
			}
			_, err := enrich.Open(t.Context(), enrich.Source{Name: "j", Location: p, Key: []string{"id"}, Columns: cols}, enrich.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open() = %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), `enrich "j": `) {
				t.Errorf("error %q does not name the source", err)
			}
			if errors.Is(err, enrich.ErrInvalidSource) {
				t.Errorf("a data error %v matches ErrInvalidSource", err)
			}
		})
	}
}
