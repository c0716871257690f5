package schema_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/schematest"
)

// evolveBase is the writer schema the tables of the Evolve tests are made
// from. Its field IDs (ToIceberg's depth-first assignment): id 1, name 2,
// score 3, big 4, price 5, hash 6, uid 7, addr 8 (street 9, zip 10), nums 11
// (element 12), items 13 (element 14, sku 15), attrs 16 (key 17, value 18,
// v 19), counts 20 (key 21, value 22), opt 23, metadata columns 24..29.
var evolveBase = [][2]string{
	{"id", `"int"`},
	{"name", `"string"`},
	{"score", `"float"`},
	{"big", `"long"`},
	{"price", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`},
	{"hash", `{"type":"fixed","name":"H","size":4}`},
	{"uid", `{"type":"string","logicalType":"uuid"}`},
	{"addr", `{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"}]}`},
	{"nums", `{"type":"array","items":"int"}`},
	{"items", `{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"sku","type":"string"}]}}`},
	{"attrs", `{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"v","type":"int"}]}}`},
	{"counts", `{"type":"map","values":"int"}`},
	{"opt", `["null","string"]`},
}

const evolveBaseLast = 29

// evolveWriter is evolveBase with the fields named in mods replaced by the
// given field JSON (dropped when empty), then extra fields appended.
func evolveWriter(mods map[string]string, extra ...string) string {
	var fields []string
	for _, f := range evolveBase {
		if m, ok := mods[f[0]]; ok {
			if m != "" {
				fields = append(fields, m)
			}
			continue
		}
		fields = append(fields, fmt.Sprintf(`{"name":%q,"type":%s}`, f[0], f[1]))
	}
	fields = append(fields, extra...)
	return `{"type":"record","name":"R","fields":[` + strings.Join(fields, ",") + `]}`
}

func evolveTable(t *testing.T) *iceberg.Schema {
	t.Helper()
	sc, err := schema.ToIceberg(avrotest.MustParse(t, evolveWriter(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.HighestFieldID(); got != evolveBaseLast {
		t.Fatalf("base table highest field id = %d, want %d", got, evolveBaseLast)
	}
	return sc
}

func TestEvolveCompatible(t *testing.T) {
	cases := []struct {
		name   string
		writer string
		last   int      // 0: evolveBaseLast
		want   []string // Change.String() of every change, in order
		// fields maps table paths to "id type required|optional" in next.
		fields map[string]string
	}{
		{name: "same schema", writer: evolveWriter(nil)},
		{name: "removed optional field changes nothing", writer: evolveWriter(map[string]string{"opt": ""}),
			fields: map[string]string{"opt": "23 string optional"}},
		{name: "int into long is a read promotion", writer: evolveWriter(map[string]string{"big": `{"name":"big","type":"int"}`})},
		{name: "float widened to double", writer: evolveWriter(map[string]string{"score": `{"name":"score","type":"double"}`}),
			want:   []string{"widen-type score (id 3): float -> double"},
			fields: map[string]string{"score": "3 double required"}},
		{name: "narrower decimal is read as is", writer: evolveWriter(map[string]string{
			"price": `{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":8,"scale":2}}`})},
		{name: "enum into string column", writer: evolveWriter(map[string]string{
			"name": `{"name":"name","type":{"type":"enum","name":"E","symbols":["X"]}}`})},
		{name: "new top-level column goes before the metadata columns", writer: evolveWriter(nil, `{"name":"email","type":"string","doc":"mail"}`),
			want:   []string{"add-column email (id 30): string"},
			fields: map[string]string{"email": "30 string optional"}},
		{name: "new column in a struct", writer: evolveWriter(map[string]string{
			"addr": `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"},{"name":"country","type":"string"}]}}`}),
			want:   []string{"add-column addr.country (id 30): string"},
			fields: map[string]string{"addr.country": "30 string optional", "addr.zip": "10 int required"}},
		{name: "new column in a list element struct", writer: evolveWriter(map[string]string{
			"items": `{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"qty","type":"int"},{"name":"sku","type":"string"}]}}}`}),
			want:   []string{"add-column items.element.qty (id 30): int"},
			fields: map[string]string{"items.element.qty": "30 int optional"}},
		{name: "new column in a map value struct", writer: evolveWriter(map[string]string{
			"attrs": `{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"v","type":"int"},{"name":"w","type":["null","long"]}]}}}`}),
			want:   []string{"add-column attrs.value.w (id 30): long"},
			fields: map[string]string{"attrs.value.w": "30 long optional"}},
		{name: "new struct column gets fresh nested ids and keeps their nullability", writer: evolveWriter(nil,
			`{"name":"geo","type":{"type":"record","name":"G","fields":[{"name":"lat","type":"double"},{"name":"lon","type":["null","double"]},{"name":"tags","type":{"type":"array","items":"string"}}]}}`),
			want: []string{"add-column geo (id 30): struct<31: lat: required double, 32: lon: optional double, 33: tags: required list<string>>"},
			fields: map[string]string{"geo": "30 struct<31: lat: required double, 32: lon: optional double, 33: tags: required list<string>> optional",
				"geo.tags.element": "34 string required"}},
		{name: "new columns at several levels are numbered in writer order", writer: evolveWriter(map[string]string{
			"id":   `{"name":"id","type":"int"},{"name":"phone","type":"string"}`,
			"addr": `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"},{"name":"country","type":"string"}]}}`,
		}, `{"name":"email","type":"string"}`),
			want:   []string{"add-column phone (id 30): string", "add-column addr.country (id 31): string", "add-column email (id 32): string"},
			fields: map[string]string{"phone": "30 string optional", "addr.country": "31 string optional", "email": "32 string optional"}},
		{name: "new ids start above a last-column-id beyond the schema", writer: evolveWriter(nil, `{"name":"email","type":"string"}`), last: 40,
			want:   []string{"add-column email (id 41): string"},
			fields: map[string]string{"email": "41 string optional"}},
		{name: "int widened to long", writer: evolveWriter(map[string]string{"id": `{"name":"id","type":"long"}`}),
			want:   []string{"widen-type id (id 1): int -> long"},
			fields: map[string]string{"id": "1 long required"}},
		{name: "decimal precision widened", writer: evolveWriter(map[string]string{
			"price": `{"name":"price","type":{"type":"fixed","name":"P","size":8,"logicalType":"decimal","precision":12,"scale":2}}`}),
			want:   []string{"widen-type price (id 5): decimal(10, 2) -> decimal(12, 2)"},
			fields: map[string]string{"price": "5 decimal(12, 2) required"}},
		{name: "list element widened", writer: evolveWriter(map[string]string{"nums": `{"name":"nums","type":{"type":"array","items":"long"}}`}),
			want:   []string{"widen-type nums.element (id 12): int -> long"},
			fields: map[string]string{"nums": "11 list<long> required"}},
		{name: "map value widened", writer: evolveWriter(map[string]string{"counts": `{"name":"counts","type":{"type":"map","values":"long"}}`}),
			want:   []string{"widen-type counts.value (id 22): int -> long"},
			fields: map[string]string{"counts.value": "22 long required"}},
		{name: "nested field widened", writer: evolveWriter(map[string]string{
			"addr": `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"long"}]}}`}),
			want:   []string{"widen-type addr.zip (id 10): int -> long"},
			fields: map[string]string{"addr.zip": "10 long required"}},
		{name: "nullable writer field makes the column optional", writer: evolveWriter(map[string]string{"name": `{"name":"name","type":["null","string"]}`}),
			want:   []string{"make-optional name (id 2)"},
			fields: map[string]string{"name": "2 string optional"}},
		{name: "always-null writer field makes the column optional", writer: evolveWriter(map[string]string{"name": `{"name":"name","type":"null"}`}),
			want:   []string{"make-optional name (id 2)"},
			fields: map[string]string{"name": "2 string optional"}},
		{name: "removed field keeps its column, optional", writer: evolveWriter(map[string]string{"name": ""}),
			want:   []string{"make-optional name (id 2)"},
			fields: map[string]string{"name": "2 string optional"}},
		{name: "removed nested field", writer: evolveWriter(map[string]string{
			"addr": `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"}]}}`}),
			want:   []string{"make-optional addr.zip (id 10)"},
			fields: map[string]string{"addr.zip": "10 int optional"}},
		{name: "nullable list element", writer: evolveWriter(map[string]string{"nums": `{"name":"nums","type":{"type":"array","items":["null","int"]}}`}),
			want:   []string{"make-optional nums.element (id 12)"},
			fields: map[string]string{"nums": "11 list<int> required", "nums.element": "12 int optional"}},
		{name: "nullable struct column", writer: evolveWriter(map[string]string{
			"addr": `{"name":"addr","type":["null",{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"}]}]}`},
			`{"name":"home","type":"A"}`),
			want: []string{"make-optional addr (id 8)", "add-column home (id 30): struct<31: street: required string, 32: zip: required int>"},
			fields: map[string]string{"addr": "8 struct<9: street: required string, 10: zip: required int> optional",
				"home.zip": "32 int required"}},
		{name: "widened and nullable", writer: evolveWriter(map[string]string{"id": `{"name":"id","type":["null","long"]}`}),
			want:   []string{"widen-type id (id 1): int -> long", "make-optional id (id 1)"},
			fields: map[string]string{"id": "1 long optional"}},
		{name: "renamed field binds through its alias", writer: evolveWriter(map[string]string{"name": `{"name":"full_name","aliases":["name"],"type":"string"}`}),
			fields: map[string]string{"name": "2 string required"}},
		{name: "renamed and widened field keeps the old column", writer: evolveWriter(map[string]string{"id": `{"name":"ident","aliases":["x","id"],"type":"long"}`}),
			want:   []string{"widen-type id (id 1): int -> long"},
			fields: map[string]string{"id": "1 long required"}},
		{name: "alias inside a struct", writer: evolveWriter(map[string]string{
			"addr": `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"road","aliases":["street"],"type":["null","string"]},{"name":"zip","type":"int"}]}}`}),
			want:   []string{"make-optional addr.street (id 9)"},
			fields: map[string]string{"addr.street": "9 string optional"}},
		{name: "exact name wins over an alias", writer: evolveWriter(nil, `{"name":"nick","aliases":["name"],"type":"string"}`),
			want:   []string{"add-column nick (id 30): string"},
			fields: map[string]string{"name": "2 string required", "nick": "30 string optional"}},
		{name: "alias of a metadata column does not bind", writer: evolveWriter(nil, `{"name":"topic","aliases":["_kafka_topic"],"type":"string"}`),
			want:   []string{"add-column topic (id 30): string"},
			fields: map[string]string{"topic": "30 string optional", schema.ColKafkaTopic: "24 string required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := evolveTable(t)
			last := tc.last
			if last == 0 {
				last = evolveBaseLast
			}
			w := avrotest.MustParse(t, tc.writer)
			next, changes, err := schema.Evolve(cur, last, w)
			if err != nil {
				t.Fatalf("Evolve: %v", err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("changes:\n got %q\nwant %q", got, tc.want)
			}
			if len(tc.want) == 0 && next != cur {
				t.Errorf("no change, but Evolve returned a new schema:\n%s", next)
			}
			if len(tc.want) > 0 && next.Equals(cur) {
				t.Errorf("changes reported, but next equals cur")
			}
			for path, want := range tc.fields {
				f, ok := next.FindFieldByName(path)
				if !ok {
					t.Errorf("next lacks %s:\n%s", path, next)
					continue
				}
				req := "optional"
				if f.Required {
					req = "required"
				}
				if got := fmt.Sprintf("%d %s %s", f.ID, f.Type, req); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			checkEvolved(t, cur, last, next)
			if _, err := decode.NewDecoder(w, next); err != nil {
				t.Errorf("NewDecoder(writer, next): %v", err)
			}
			// Evolving again from next is a fixed point.
			again, more, err := schema.Evolve(next, max(last, next.HighestFieldID()), w)
			if err != nil || len(more) > 0 || again != next {
				t.Errorf("second Evolve = %v, %v; want no change", more, err)
			}
		})
	}
}

// checkEvolved checks the invariants every evolution keeps: existing IDs
// and names stay, new IDs run from last+1 to next's highest ID, and the
// metadata columns stay last.
func checkEvolved(t *testing.T, cur *iceberg.Schema, last int, next *iceberg.Schema) {
	t.Helper()
	curIDs, err := iceberg.IndexByID(cur)
	if err != nil {
		t.Fatal(err)
	}
	nextIDs, err := iceberg.IndexByID(next)
	if err != nil {
		t.Fatal(err)
	}
	for id, f := range curIDs {
		nf, ok := nextIDs[id]
		if !ok || nf.Name != f.Name {
			t.Errorf("field %d (%s) lost or renamed: %+v", id, f.Name, nf)
		}
	}
	var fresh []int
	for id := range nextIDs {
		if _, ok := curIDs[id]; !ok {
			fresh = append(fresh, id)
		}
	}
	slices.Sort(fresh)
	for i, id := range fresh {
		if id != last+1+i {
			t.Errorf("new field ids %v, want %d.. without gaps", fresh, last+1)
			break
		}
	}
	if len(fresh) > 0 && next.HighestFieldID() != last+len(fresh) {
		t.Errorf("highest field id %d, want %d", next.HighestFieldID(), last+len(fresh))
	}
	fields := next.Fields()
	for i, name := range schema.MetaNames {
		if f := fields[len(fields)-len(schema.MetaNames)+i]; f.Name != name {
			t.Errorf("column %d = %s, want metadata column %s", len(fields)-len(schema.MetaNames)+i, f.Name, name)
		}
	}
}

func TestEvolveIncompatible(t *testing.T) {
	withIdentifier := func(t *testing.T) *iceberg.Schema {
		sc := evolveTable(t)
		return iceberg.NewSchemaWithIdentifiers(sc.ID, []int{1}, sc.Fields()...)
	}
	cases := []struct {
		name   string
		table  func(*testing.T) *iceberg.Schema // nil: evolveTable
		writer string
		want   string
	}{
		{name: "kind change", writer: evolveWriter(map[string]string{"name": `{"name":"name","type":"int"}`}),
			want: "incompatible schema: name: writer type int cannot be written to a column of type string"},
		{name: "record to primitive", writer: evolveWriter(map[string]string{"addr": `{"name":"addr","type":"string"}`}),
			want: "incompatible schema: addr: writer type string cannot be written to a column of type struct<9: street: required string, 10: zip: required int>"},
		{name: "primitive to record", writer: evolveWriter(map[string]string{"name": `{"name":"name","type":{"type":"record","name":"N","fields":[]}}`}),
			want: "incompatible schema: name: writer type N cannot be written to a column of type string"},
		{name: "array to map", writer: evolveWriter(map[string]string{"nums": `{"name":"nums","type":{"type":"map","values":"int"}}`}),
			want: "incompatible schema: nums: writer type map cannot be written to a column of type list<int>"},
		{name: "int into float is no promotion", writer: evolveWriter(map[string]string{"score": `{"name":"score","type":"int"}`}),
			want: "incompatible schema: score: writer type int cannot be written to a column of type float"},
		{name: "string into uuid", writer: evolveWriter(map[string]string{"uid": `{"name":"uid","type":"string"}`}),
			want: "incompatible schema: uid: writer type string cannot be written to a column of type uuid"},
		{name: "decimal scale change", writer: evolveWriter(map[string]string{
			"price": `{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":3}}`}),
			want: "incompatible schema: price: decimal scale changes from 2 to 3"},
		{name: "fixed size change", writer: evolveWriter(map[string]string{"hash": `{"name":"hash","type":{"type":"fixed","name":"H","size":8}}`}),
			want: "incompatible schema: hash: fixed size changes from 4 to 8"},
		{name: "nested kind change", writer: evolveWriter(map[string]string{
			"items": `{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"sku","type":"long"}]}}}`}),
			want: "incompatible schema: items.element.sku: writer type long cannot be written to a column of type string"},
		{name: "union of several types", writer: evolveWriter(map[string]string{"name": `{"name":"name","type":["null","string","int"]}`}),
			want: "incompatible schema: name: union of several non-null types [string int] is not supported"},
		{name: "union of several types in a new record", writer: evolveWriter(nil,
			`{"name":"geo","type":{"type":"record","name":"G","fields":[{"name":"x","type":["int","string"]}]}}`),
			want: "incompatible schema: geo.x: union of several non-null types [int string] is not supported"},
		{name: "new recursive record", writer: evolveWriter(nil, `{"name":"next","type":{"type":"record","name":"N","fields":[{"name":"n","type":["null","N"]}]}}`),
			want: "incompatible schema: next.n: recursive record N is not supported"},
		{name: "new null-only field", writer: evolveWriter(nil, `{"name":"nothing","type":"null"}`),
			want: "incompatible schema: nothing: a null-only type is not supported"},
		{name: "new decimal out of range", writer: evolveWriter(nil,
			`{"name":"d","type":{"type":"fixed","name":"D","size":20,"logicalType":"decimal","precision":40,"scale":0}}`),
			want: "incompatible schema: d: decimal(40,0) is out of Iceberg's range"},
		{name: "metadata column name", writer: evolveWriter(nil, `{"name":"_kafka_offset","type":"long"}`),
			want: "incompatible schema: _kafka_offset: collides with a metadata column"},
		{name: "identifier column made optional", table: withIdentifier, writer: evolveWriter(map[string]string{"id": `{"name":"id","type":["null","int"]}`}),
			want: "incompatible schema: id: identifier column id cannot become optional"},
		{name: "identifier column removed", table: withIdentifier, writer: evolveWriter(map[string]string{"id": ""}),
			want: "incompatible schema: id: identifier column id cannot become optional"},
		{name: "not a record", writer: `"string"`, want: "incompatible schema: writer schema is string, want a record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := evolveTable
			if tc.table != nil {
				table = tc.table
			}
			next, changes, err := schema.Evolve(table(t), evolveBaseLast, avrotest.MustParse(t, tc.writer))
			if err == nil {
				t.Fatalf("Evolve succeeded with %v:\n%s", changes, next)
			}
			if !errors.Is(err, schema.ErrIncompatible) {
				t.Errorf("err = %v, want it to wrap ErrIncompatible", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("err:\n got %s\nwant %s", got, tc.want)
			}
			ie, ok := errors.AsType[*schema.IncompatibleError](err)
			if !ok {
				t.Fatalf("err is %T, want *IncompatibleError", err)
			}
			ie.SchemaID = 42
			if got, want := err.Error(), strings.Replace(tc.want, "incompatible schema", "incompatible schema 42", 1); got != want {
				t.Errorf("with schema id:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestWiden(t *testing.T) {
	p := iceberg.PrimitiveTypes
	cases := []struct {
		writer, table iceberg.Type
		want          string // the widened type, "" for none, or "error: why"
	}{
		{p.Int32, p.Int32, ""},
		{p.Int64, p.Int32, "long"},
		{p.Int32, p.Int64, ""},
		{p.Float64, p.Float32, "double"},
		{p.Float32, p.Float64, ""},
		{iceberg.DecimalTypeOf(12, 2), iceberg.DecimalTypeOf(10, 2), "decimal(12, 2)"},
		{iceberg.DecimalTypeOf(9, 2), iceberg.DecimalTypeOf(10, 2), ""},
		{iceberg.DecimalTypeOf(10, 3), iceberg.DecimalTypeOf(10, 2), "error: decimal scale changes from 2 to 3"},
		{iceberg.FixedTypeOf(8), iceberg.FixedTypeOf(4), "error: fixed size changes from 4 to 8"},
		{p.Int64, p.Float64, "error: writer type long cannot be written to a column of type double"},
		{p.Float32, p.Int32, "error: writer type float cannot be written to a column of type int"},
		{p.String, p.Binary, "error: writer type string cannot be written to a column of type binary"},
		{p.Timestamp, p.TimestampTz, "error: writer type timestamp cannot be written to a column of type timestamptz"},
		{p.Int32, iceberg.DecimalTypeOf(10, 0), "error: writer type int cannot be written to a column of type decimal(10, 0)"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s into %s", tc.writer, tc.table), func(t *testing.T) {
			nt, why := schema.Widen(tc.writer, tc.table)
			got := ""
			switch {
			case why != "":
				got = "error: " + why
			case nt != nil:
				got = nt.String()
			}
			if got != tc.want {
				t.Errorf("widen = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEvolveBadInput(t *testing.T) {
	w := avrotest.MustParse(t, evolveWriter(nil))
	if _, _, err := schema.Evolve(evolveTable(t), evolveBaseLast-1, w); err == nil || errors.Is(err, schema.ErrIncompatible) {
		t.Errorf("last-column-id below the schema: err = %v, want a non-compatibility error", err)
	}
	if _, _, err := schema.Evolve(nil, 0, w); err == nil {
		t.Error("nil table schema: no error")
	}
}

// TestEvolveThenDecode writes a record with an evolved writer (a renamed,
// widened field, a new column, a removed required field) into the evolved
// table and reads back every column.
func TestEvolveThenDecode(t *testing.T) {
	v1 := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"gone","type":"string"}]}`)
	cur, err := schema.ToIceberg(v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"ident","aliases":["id"],"type":"long"},{"name":"name","type":"string"},{"name":"email","type":["null","string"]}]}`)
	next, _, err := schema.Evolve(cur, cur.HighestFieldID(), v2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.NewDecoder(v2, next)
	if err != nil {
		t.Fatal(err)
	}
	b := schematest.NewBuilder(t, next)
	type rec struct {
		Ident int64   `avro:"ident"`
		Name  string  `avro:"name"`
		Email *string `avro:"email"`
	}
	if err := d.Decode(avrotest.MustMarshal(t, v2, rec{Ident: 1 << 40, Name: "n", Email: avrotest.Ptr("e@x")}), b); err != nil {
		t.Fatal(err)
	}
	schema.AppendMeta(b, &schema.Meta{Topic: "t", Offset: 7})
	r := b.NewRecordBatch()
	defer r.Release()
	want := map[string]string{
		"id": "1099511627776", "name": "n", "gone": array.NullValueStr, "email": "e@x",
		schema.ColKafkaTopic: "t", schema.ColKafkaOffset: "7",
	}
	for col, w := range want {
		idx := r.Schema().FieldIndices(col)
		if len(idx) != 1 {
			t.Fatalf("column %q missing from %s", col, r.Schema())
		}
		if got := r.Column(idx[0]).ValueStr(0); got != w {
			t.Errorf("%s = %s, want %s", col, got, w)
		}
	}
}

// TestDecodeBindsAliases pins the decoder's binding rule that Evolve
// relies on: exact names first, then writer aliases, one writer field per
// column, never a metadata column.
func TestDecodeBindsAliases(t *testing.T) {
	target := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 2, Name: "b", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: schema.ColKafkaTopic, Type: iceberg.PrimitiveTypes.String, Required: true},
	)
	cases := []struct {
		name, writer string
		values       map[string]any // writer field → value
		want         [2]string      // a, b
	}{
		{"alias", `[{"name":"x","aliases":["a"],"type":"string"}]`, map[string]any{"x": "1"}, [2]string{"1", array.NullValueStr}},
		{"exact wins over an earlier alias", `[{"name":"x","aliases":["a"],"type":"string"},{"name":"a","type":"string"}]`,
			map[string]any{"x": "1", "a": "2"}, [2]string{"2", array.NullValueStr}},
		{"first alias wins", `[{"name":"x","aliases":["a"],"type":"string"},{"name":"y","aliases":["a","b"],"type":"string"}]`,
			map[string]any{"x": "1", "y": "2"}, [2]string{"1", "2"}},
		{"metadata column is never an alias target", `[{"name":"x","aliases":["_kafka_topic"],"type":"string"}]`,
			map[string]any{"x": "1"}, [2]string{array.NullValueStr, array.NullValueStr}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":`+tc.writer+`}`)
			d, err := decode.NewDecoder(w, target)
			if err != nil {
				t.Fatal(err)
			}
			b := schematest.NewBuilder(t, target)
			if err := d.Decode(avrotest.MustMarshal(t, w, tc.values), b); err != nil {
				t.Fatal(err)
			}
			schema.AppendMeta(b, &schema.Meta{Topic: "topic"})
			r := b.NewRecordBatch()
			defer r.Release()
			got := [2]string{r.Column(0).ValueStr(0), r.Column(1).ValueStr(0)}
			if got != tc.want {
				t.Errorf("a, b = %q, want %q", got, tc.want)
			}
			if got := r.Column(2).ValueStr(0); got != "topic" {
				t.Errorf("%s = %q, want the metadata value", schema.ColKafkaTopic, got)
			}
		})
	}
}
