package transform

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/schematest"
)

// TestTransformChains checks that each step sees what the steps before it
// left: renamed, flattened, derived and enriched columns.
func TestTransformChains(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "rename then cast the new name",
			steps: []Transform{{Op: OpRename, Renames: map[string]string{"year": "release_year"}}, {Op: OpCast, Columns: []string{"release_year"}, To: "long"}},
			want:  map[string]any{"release_year": int64(1999)}, gone: []string{"year"}, types: map[string]string{"release_year": "long?"}},
		{name: "derive from a flattened column, then drop the leaves",
			steps: []Transform{
				{Op: OpFlatten},
				{Op: OpDerive, Column: "label", Type: "string", Expr: "has(value.artist_label_name) ? value.artist_label_name : 'self-released'"},
				{Op: OpKeep, Columns: []string{"id", "label"}},
			},
			rec:  map[string]any{"artist": map[string]any{"name": "Solo", "country": nil, "label": nil}},
			want: map[string]any{"id": int64(7), "label": "self-released"}, gone: []string{"artist_name"}, order: []string{"id", "label"}},
		{name: "event time falling back to the kafka timestamp",
			steps: []Transform{
				{Op: OpParseTimestamp, Columns: []string{"released"}, Formats: []string{"rfc3339", "unix_millis"}},
				{Op: OpDefault, Columns: []string{"released"}, From: "kafka_timestamp"},
			},
			rec: map[string]any{"released": nil}, want: map[string]any{"released": testMeta.Timestamp}, types: map[string]string{"released": "timestamptz"}},
		{name: "event time present",
			steps: []Transform{
				{Op: OpParseTimestamp, Columns: []string{"released"}},
				{Op: OpDefault, Columns: []string{"released"}, From: "kafka_timestamp"},
			},
			want: map[string]any{"released": utc(2024, 5, 17, 10, 20, 30, 123456)}},
		{name: "enrich then derive from the added field",
			steps: []Transform{
				{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"genre", "id"}},
				{Op: OpUpper, Columns: []string{"label_name"}},
				{Op: OpDerive, Column: "credit", Type: "string", Expr: "value.artist.name + ' / ' + value.label_name"},
			},
			want: map[string]any{"label_name": "SEASIDE RECORDS", "credit": "The Harbour Lights / SEASIDE RECORDS"}},
		{name: "several column steps on one column",
			steps: []Transform{
				{Op: OpTrim, Columns: []string{"title"}},
				{Op: OpLower, Columns: []string{"title"}},
				{Op: OpMask, Columns: []string{"title"}, KeepLast: 6},
				{Op: OpRename, Renames: map[string]string{"title": "masked"}},
			},
			want: map[string]any{"masked": "***************(live)"}},
		{name: "cast to string then hash",
			steps: []Transform{{Op: OpCast, Columns: []string{"id"}, To: "string"}, {Op: OpHash, Columns: []string{"id"}, Key: []byte("k")}},
			want:  map[string]any{"id": hmacHex([]byte("k"), "7")}, types: map[string]string{"id": "string"}},
	})
}

// TestTransformToTable runs a realistic chain, then maps its output schema
// to a table and decodes the output into Arrow, as the pipeline does.
func TestTransformToTable(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w,
		Transform{Op: OpRename, Renames: map[string]string{"id": "track_id", "title": "track_title"}},
		Transform{Op: OpDrop, Columns: []string{"blob", "attrs"}},
		Transform{Op: OpCast, Columns: []string{"year"}, To: "int"},
		Transform{Op: OpTrim, Columns: []string{"track_title"}},
		Transform{Op: OpHash, Columns: []string{"email"}, Key: []byte("pepper")},
		Transform{Op: OpParseTimestamp, Columns: []string{"released"}},
		Transform{Op: OpDefault, Columns: []string{"released"}, From: "kafka_timestamp"},
		Transform{Op: OpFlatten},
		Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"genre", "track_id"}},
		Transform{Op: OpDerive, Column: "popular", Type: "boolean", Expr: "value.plays > 1000"},
		Transform{Op: OpFilter, Expr: "value.track_title != ''"},
	)
	types := icebergTypes(t, p.Schema())
	want := map[string]string{
		"track_id": "long", "track_title": "string", "year": "int?", "plays": "int", "score": "double", "ratio": "float",
		"explicit": "boolean", "genre": "string", "email": "string?", "released": "timestamptz", "epoch": "long?",
		"event_ts": "timestamptz?", "day": "date", "price": "decimal(10, 2)", "artist_name": "string", "artist_country": "string?",
		"artist_label_name": "string?", "artist_label_id": "int?", "tags": "list<string>", "label_name": "string?",
		"label_country": "string?", "popular": "boolean?",
	}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("column %s is %q, want %q", k, types[k], v)
		}
	}
	if len(types) != len(want)+6 { // and the metadata columns
		t.Errorf("columns = %v", types)
	}
	sc, b := schematest.NewTarget(t, p.Schema())
	dec, err := decode.NewDecoder(p.Schema(), sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []map[string]any{baseTrack(), track(map[string]any{"released": nil, "email": nil, "year": nil})} {
		out, keep, err := p.Apply(nil, avrotest.MustMarshal(t, w, rec), testMeta, nil)
		if err != nil || !keep {
			t.Fatalf("Apply: keep = %v, err = %v", keep, err)
		}
		if err := dec.Decode(out, b); err != nil {
			t.Fatalf("Decode the output: %v", err)
		}
		schema.AppendMeta(b, testMeta)
	}
	r := b.NewRecordBatch()
	defer r.Release()
	col := r.Column(int(r.Schema().FieldIndices("track_title")[0])).(*array.String)
	if r.NumRows() != 2 || col.Value(0) != "Midnight Ferry (Live)" {
		t.Errorf("rows = %d, track_title = %q", r.NumRows(), col.Value(0))
	}
}

// TestTransformOutputSchemaStandsAlone removes or moves the definitions of
// named types that other fields refer to: the output schema must still
// define each where it is first used.
func TestTransformOutputSchemaStandsAlone(t *testing.T) {
	rich := avrotest.MustParse(t, avrotest.RichSchema)
	shared := avrotest.MustParse(t, `{"type":"record","name":"S","namespace":"n","fields":[
		{"name":"a","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
		{"name":"b","type":["null","E"]},
		{"name":"c","type":{"type":"array","items":"E"}},
		{"name":"r","type":{"type":"record","name":"In","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":2}}]}},
		{"name":"g","type":{"type":"map","values":"F"}}]}`)
	type sharedRec struct {
		A string   `avro:"a"`
		B *string  `avro:"b"`
		C []string `avro:"c"`
		R struct {
			F [2]byte `avro:"f"`
		} `avro:"r"`
		G map[string][2]byte `avro:"g"`
	}
	sharedVal := sharedRec{A: "X", B: avrotest.Ptr("Y"), C: []string{"Y", "X"}, G: map[string][2]byte{"k": {1, 2}}}
	sharedVal.R.F = [2]byte{3, 4}
	cases := []struct {
		name   string
		writer avro.Schema
		rec    any
		steps  []Transform
		check  func(m map[string]any) bool
	}{
		{"drop the record another field refers to", rich, avrotest.FullEvent(), []Transform{{Op: OpDrop, Columns: []string{"address"}}},
			func(m map[string]any) bool { return sideSt(m["maybe_addr"]) }},
		{"flatten the record another field refers to", rich, avrotest.FullEvent(), []Transform{{Op: OpFlatten, Columns: []string{"address"}}},
			func(m map[string]any) bool {
				return m["address_street"] == "Main St" && sideSt(m["maybe_addr"])
			}},
		{"cast the enum others refer to", shared, sharedVal, []Transform{{Op: OpCast, Columns: []string{"a"}, To: "string"}},
			func(m map[string]any) bool {
				return m["a"] == "X" && m["b"].(map[string]any)["n.E"] == "Y" && m["c"].([]any)[0] == "Y"
			}},
		{"keep only references", shared, sharedVal, []Transform{{Op: OpKeep, Columns: []string{"c", "g"}}},
			func(m map[string]any) bool {
				return m["c"].([]any)[1] == "X" && m["g"].(map[string]any)["k"] == [2]byte{1, 2}
			}},
		{"flatten the record defining a fixed", shared, sharedVal, []Transform{{Op: OpFlatten}, {Op: OpDrop, Columns: []string{"a"}}},
			func(m map[string]any) bool { return m["r_f"] == [2]byte{3, 4} && m["b"].(map[string]any)["n.E"] == "Y" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProgram(t, tc.writer, tc.steps...)
			js, err := json.Marshal(p.Schema())
			if err != nil {
				t.Fatal(err)
			}
			again, err := avro.ParseWithCache(string(js), "", &avro.SchemaCache{})
			if err != nil {
				t.Fatalf("the output schema does not parse on its own: %v\n%s", err, js)
			}
			out, keep, err := p.Apply(nil, avrotest.MustMarshal(t, tc.writer, tc.rec), nil, nil)
			if err != nil || !keep {
				t.Fatalf("Apply: keep = %v, err = %v", keep, err)
			}
			var m map[string]any
			if err := avro.Unmarshal(again, out, &m); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !tc.check(m) {
				t.Errorf("output = %v", m)
			}
			if _, err := schema.ToIceberg(p.Schema()); err != nil && !strings.Contains(err.Error(), "not supported") {
				t.Errorf("ToIceberg: %v", err)
			}
		})
	}
}

// sideSt reports whether v, a decoded ["null", Address], is Side St.
func sideSt(v any) bool {
	m, _ := v.(map[string]any)
	addr, _ := m["test.Address"].(map[string]any)
	return addr["street"] == "Side St"
}

func TestTransformSchemaMetadata(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpCast, Columns: []string{"id"}, To: "string"}, Transform{Op: OpFlatten})
	rec := p.Schema().(*avro.RecordSchema)
	if rec.FullName() != "test.music.Track" || rec.Doc() != "a track" {
		t.Errorf("record %s, doc %q", rec.FullName(), rec.Doc())
	}
	id := rec.Fields()[0]
	if id.Doc() != "track id" || len(id.Aliases()) != 1 || id.Aliases()[0] != "track_no" {
		t.Errorf("a cast field keeps its doc and aliases: doc %q, aliases %v", id.Doc(), id.Aliases())
	}
	for _, f := range rec.Fields() {
		if f.Name() == "artist_name" && f.Doc() != "credited name" {
			t.Errorf("a flattened leaf keeps its doc: %q", f.Doc())
		}
		if f.Name() == "artist_label_name" && (!f.HasDefault() || f.Default() != nil) {
			t.Errorf("a leaf made nullable defaults to null")
		}
	}
}
