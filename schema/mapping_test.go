package schema

import (
	"strings"
	"testing"

	"github.com/apache/iceberg-go"

	"github.com/bigfather/bigfather/internal/avrotest"
)

func TestToIcebergTypes(t *testing.T) {
	cases := []struct {
		avro     string
		want     string // iceberg type string
		required bool
	}{
		{`"boolean"`, "boolean", true},
		{`"int"`, "int", true},
		{`"long"`, "long", true},
		{`"float"`, "float", true},
		{`"double"`, "double", true},
		{`"string"`, "string", true},
		{`"bytes"`, "binary", true},
		{`{"type":"fixed","name":"F","size":7}`, "fixed[7]", true},
		{`{"type":"enum","name":"E","symbols":["A","B"]}`, "string", true},
		{`{"type":"record","name":"S","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","string"]}]}`, "struct<2: x: required int, 3: y: optional string>", true},
		{`{"type":"array","items":"string"}`, "list<string>", true},
		{`{"type":"map","values":"long"}`, "map<string, long>", true},
		{`{"type":"int","logicalType":"date"}`, "date", true},
		{`{"type":"int","logicalType":"time-millis"}`, "time", true},
		{`{"type":"long","logicalType":"time-micros"}`, "time", true},
		{`{"type":"long","logicalType":"timestamp-millis"}`, "timestamptz", true},
		{`{"type":"long","logicalType":"timestamp-micros"}`, "timestamptz", true},
		{`{"type":"long","logicalType":"local-timestamp-millis"}`, "timestamp", true},
		{`{"type":"long","logicalType":"local-timestamp-micros"}`, "timestamp", true},
		{`{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, "decimal(10, 2)", true},
		{`{"type":"fixed","name":"D","size":16,"logicalType":"decimal","precision":38,"scale":9}`, "decimal(38, 9)", true},
		{`{"type":"string","logicalType":"uuid"}`, "uuid", true},
		{`["null","string"]`, "string", false},
		{`["long","null"]`, "long", false},
		{`["null",{"type":"long","logicalType":"timestamp-millis"}]`, "timestamptz", false},
	}
	for _, tc := range cases {
		t.Run(tc.avro, func(t *testing.T) {
			w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[{"name":"f","type":`+tc.avro+`,"doc":"the f"}]}`)
			sc, err := ToIceberg(w)
			if err != nil {
				t.Fatal(err)
			}
			f, ok := sc.FindFieldByName("f")
			if !ok {
				t.Fatal("field f missing")
			}
			if f.ID != 1 {
				t.Errorf("id = %d, want 1", f.ID)
			}
			if got := f.Type.String(); got != tc.want {
				t.Errorf("type = %s, want %s", got, tc.want)
			}
			if f.Required != tc.required {
				t.Errorf("required = %v, want %v", f.Required, tc.required)
			}
			if f.Doc != "the f" {
				t.Errorf("doc = %q, want %q", f.Doc, "the f")
			}
		})
	}
}

func TestToIcebergListElements(t *testing.T) {
	w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"req","type":{"type":"array","items":"int"}},
		{"name":"opt","type":{"type":"array","items":["null","int"]}},
		{"name":"m","type":{"type":"map","values":["null","string"]}}]}`)
	sc, err := ToIceberg(w)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := sc.FindFieldByName("req")
	opt, _ := sc.FindFieldByName("opt")
	m, _ := sc.FindFieldByName("m")
	if !req.Type.(*iceberg.ListType).ElementRequired {
		t.Error("req elements should be required")
	}
	if opt.Type.(*iceberg.ListType).ElementRequired {
		t.Error("opt elements should be optional")
	}
	if m.Type.(*iceberg.MapType).ValueRequired {
		t.Error("map values should be optional")
	}
}

// TestToIcebergFieldIDs pins the ID layout: iceberg-go's fresh-ID
// assignment (the one its catalogs apply on table creation), so the schema
// ToIceberg returns is the schema a new table gets.
func TestToIcebergFieldIDs(t *testing.T) {
	w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"a","type":"int"},
		{"name":"b","type":"string"},
		{"name":"s","type":{"type":"record","name":"S","fields":[{"name":"c","type":"int"},{"name":"l","type":{"type":"array","items":"int"}}]}},
		{"name":"e","type":"long"}]}`)
	sc, err := ToIceberg(w)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"a": 1, "b": 2, "s": 3, "s.c": 4, "s.l": 5, "s.l.element": 6, "e": 7,
		ColKafkaTopic: 8, ColKafkaPartition: 9, ColKafkaOffset: 10, ColKafkaTimestamp: 11, ColKafkaKey: 12, ColIngestedAt: 13,
	}
	for name, id := range want {
		f, ok := sc.FindFieldByName(name)
		if !ok {
			t.Errorf("field %q missing", name)
			continue
		}
		if f.ID != id {
			t.Errorf("field %q id = %d, want %d", name, f.ID, id)
		}
	}
	fresh, err := iceberg.AssignFreshSchemaIDs(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !fresh.Equals(sc) {
		t.Errorf("catalog re-assignment would change ids:\n%s\nvs\n%s", sc, fresh)
	}
	// Metadata columns: names, types, nullability.
	meta := []struct {
		name, typ string
		required  bool
	}{
		{ColKafkaTopic, "string", true}, {ColKafkaPartition, "int", true}, {ColKafkaOffset, "long", true},
		{ColKafkaTimestamp, "timestamptz", true}, {ColKafkaKey, "binary", false}, {ColIngestedAt, "timestamptz", true},
	}
	fields := sc.Fields()
	for i, m := range meta {
		f := fields[len(fields)-len(meta)+i]
		if f.Name != m.name || f.Type.String() != m.typ || f.Required != m.required {
			t.Errorf("meta column %d = %s %s required=%v, want %s %s required=%v", i, f.Name, f.Type, f.Required, m.name, m.typ, m.required)
		}
	}
}

func TestToIcebergErrors(t *testing.T) {
	cases := []struct{ name, schema, want string }{
		{"multi-type union", `{"type":"record","name":"R","fields":[{"name":"credits","type":{"type":"record","name":"C","fields":[{"name":"role","type":["null","string","int"]}]}}]}`,
			`field "credits.role": union of several non-null types [string int] is not supported`},
		{"not a record", `"string"`, "want a record"},
		{"recursive", `{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}`, `field "next": recursive record N`},
		{"meta collision", `{"type":"record","name":"R","fields":[{"name":"_kafka_offset","type":"long"}]}`, "collides with a metadata column"},
		{"null only", `{"type":"record","name":"R","fields":[{"name":"n","type":"null"}]}`, `field "n"`},
		{"decimal too wide", `{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"fixed","name":"D","size":20,"logicalType":"decimal","precision":40,"scale":0}}]}`, `field "d": decimal(40,0)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToIceberg(avrotest.MustParse(t, tc.schema))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestArrowSchemaTypes(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	sc, err := ToIceberg(w)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ArrowSchema(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateMetaColumns(as); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"uid":       "extension<arrow.uuid>",
		"tmillis":   "time64[us]",
		"tsmillis":  "timestamp[us, tz=UTC]",
		"ltsmicros": "timestamp[us]",
		"price":     "decimal(10, 2)",
		"hash":      "fixed_size_binary[4]",
	}
	for name, typ := range want {
		idx := as.FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("column %q missing", name)
		}
		f := as.Field(idx[0])
		if got := f.Type.String(); got != typ {
			t.Errorf("%s arrow type = %s, want %s", name, got, typ)
		}
		if _, ok := f.Metadata.GetValue("PARQUET:field_id"); !ok {
			t.Errorf("%s lacks a field id", name)
		}
	}
}
