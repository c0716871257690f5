package ingest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema/registry"
)

// A plain-JSON topic with a declared schema: good records land typed in
// the table (created from the declaration), records that are not JSON or
// do not fit the declaration go to quarantine, rules apply, and EO holds.
func TestPlainJSONWithDeclaredSchema(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	j, err := registry.NewJSONRecords(`{"type": "record", "name": "Play", "fields": [
	  {"name": "user_id", "type": "long"},
	  {"name": "track", "type": "string"},
	  {"name": "ms", "type": "int"},
	  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	  {"name": "device", "type": ["null", "string"], "default": null}]}`)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for i := range 30 {
		values = append(values, fmt.Sprintf(`{"user_id": %d, "track": "t%d", "ms": %d, "at": "2024-05-0%dT10:00:00Z"}`, i, i, 1000*i, 1+i%9))
	}
	values = append(values,
		`{"user_id": "x", "track": "t", "ms": 1, "at": 0}`, // wrong type
		`{"track": "t", "ms": 1, "at": 0}`,                 // missing required field
		`<xml/>`,                                           // not JSON
		`{"user_id": 1, "track": "t", "ms": -5, "at": 0}`,  // fails the rule
	)
	e.sendValues(values...)
	rules, err := rules.CompileRules([]rules.Rule{{Name: "non_negative_ms", Expr: "value.ms >= 0"}})
	if err != nil {
		t.Fatal(err)
	}
	opts := withQuarantine(e.options())
	opts.JSON = map[string]*registry.JSONRecords{testTopic: j}
	opts.Tables[0].Rules = rules
	r := e.start(opts)
	e.waitWatermarks(int64(len(values)))
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 30 || rejectsIn(rep) != 4 {
		t.Fatalf("rows %d rejects %d, want 30 and 4", rowsIn(rep), rejectsIn(rep))
	}
	reasons := map[string]int{}
	for _, row := range e.readRejects() {
		reasons[row.reason]++
		if row.schemaID != nil {
			t.Errorf("a plain-JSON reject has schema id %d", *row.schemaID)
		}
	}
	if reasons["malformed-json"] != 3 || reasons["non_negative_ms"] != 1 {
		t.Fatalf("reject reasons %v, want 3 malformed-json and 1 non_negative_ms", reasons)
	}
	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := tbl.Schema().FindFieldByName("at"); !ok || f.Type.String() != "timestamptz" {
		t.Fatalf("column at: %v, want a timestamptz from the declaration", f)
	}
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var sum int64
	col := at.Column(at.Schema().FieldIndices("user_id")[0])
	for _, c := range col.Data().Chunks() {
		for _, v := range c.(*array.Int64).Int64Values() {
			sum += v
		}
	}
	if sum != 29*30/2 {
		t.Fatalf("sum of user_id %d, want %d", sum, 29*30/2)
	}
}

// JSON Schema records through the registry (wire header, then the JSON
// document) land in a table created from the schema's translation; a
// record whose schema cannot be translated goes to quarantine instead of
// stalling the pipeline as if the registry were down.
func TestJSONSchemaThroughTheRegistry(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	rcl, err := sr.NewClient(sr.URLs(e.cluster.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	js, err := rcl.CreateSchema(context.Background(), testTopic+"-value", sr.Schema{Type: sr.TypeJSON, Schema: `{"type": "object",
	  "required": ["id"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}}`})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := rcl.CreateSchema(context.Background(), "other-value", sr.Schema{Type: sr.TypeJSON,
		Schema: `{"type": "object", "properties": {"id": {"$ref": "#/$defs/id"}}}`})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id int, doc string) {
		t.Helper()
		e.send(&kgo.Record{Value: music.AppendWire(nil, int32(id), []byte(doc))})
	}
	for i := range 20 {
		send(js.ID, fmt.Sprintf(`{"id": %d, "name": "n%d", "at": "2024-06-01T00:00:%02dZ"}`, i, i, i))
	}
	send(js.ID, `{"name": "no id"}`)
	send(bad.ID, `{"id": 1}`) // a schema using $ref, which is not translated
	send(js.ID, `{"id": 99}`)

	r := e.start(withQuarantine(e.options()))
	e.waitWatermarks(23)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 21 || rejectsIn(rep) != 2 {
		t.Fatalf("rows %d rejects %d, want 21 and 2", rowsIn(rep), rejectsIn(rep))
	}
	reasons := map[string]int{}
	for _, row := range e.readRejects() {
		reasons[row.reason]++
	}
	if reasons["malformed-json"] != 1 || reasons["unsupported-schema"] != 1 {
		t.Fatalf("reject reasons %v", reasons)
	}
	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := tbl.Schema().FindFieldByName("at"); !ok || f.Type.String() != "timestamptz" || f.Required {
		t.Fatalf("column at: %v", f)
	}
}
