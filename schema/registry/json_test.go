package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/schematest"
)

const jsonDeclared = `{"type": "record", "name": "Order", "fields": [
  {"name": "id", "type": "long"},
  {"name": "user", "type": "string"},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "qty", "type": "int", "default": 1},
  {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}], "default": null},
  {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
  {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
  {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
  {"name": "attrs", "type": {"type": "map", "values": "double"}, "default": {}},
  {"name": "blob", "type": ["null", "bytes"], "default": null},
  {"name": "hash", "type": ["null", {"type": "fixed", "name": "H", "size": 4}], "default": null},
  {"name": "ship", "type": ["null", {"type": "record", "name": "Ship", "fields": [
     {"name": "city", "type": "string"}, {"name": "zip", "type": ["null", "string"], "default": null}]}], "default": null}
]}`

func TestJSONRecordsConvertAndDecode(t *testing.T) {
	j, err := NewJSONRecords(jsonDeclared)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := schema.ToIceberg(j.Schema())
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.NewDecoder(j.Schema(), sc)
	if err != nil {
		t.Fatal(err)
	}
	b := schematest.NewBuilder(t, sc)
	good := []string{
		`{"id": 1, "user": "ann", "price": 12.5, "at": "2024-03-01T12:00:00.123456Z", "uid": "123e4567-e89b-12d3-a456-426614174000", "kind": "A",
		  "note": "hi", "qty": 3, "day": "2024-03-01", "tags": ["x", "y"], "attrs": {"w": 1.5}, "blob": "AQID", "hash": "AQIDBA==",
		  "ship": {"city": "Seoul"}, "ignored": [1, 2]}`,
		`{"id": 2, "user": "bob", "price": "0.07", "at": 1709294400000000, "uid": "123e4567-e89b-12d3-a456-426614174001", "kind": "B", "day": 19783, "note": null}`,
	}
	for _, g := range good {
		p, err := j.Convert(nil, []byte(g))
		if err != nil {
			t.Fatalf("convert %s: %v", g, err)
		}
		if err := d.Decode(p, b); err != nil {
			t.Fatalf("decode converted %s: %v", g, err)
		}
		schema.AppendMeta(b, &schema.Meta{Topic: "orders"})
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	col := func(name string) int { return rec.Schema().FieldIndices(name)[0] }
	if q := rec.Column(col("qty")).(*array.Int32); q.Value(0) != 3 || q.Value(1) != 1 {
		t.Errorf("qty %v: the default fills a missing field", q)
	}
	if n := rec.Column(col("note")); n.IsNull(0) || !n.IsNull(1) {
		t.Errorf("note nulls wrong")
	}
	if s := rec.Column(col("ship")); s.IsNull(0) || !s.IsNull(1) {
		t.Errorf("ship nulls wrong")
	}

	bad := []struct{ json, want string }{
		{`{"id": 1.5}`, `"id"`},
		{`{"id": 1, "user": 7}`, `"user"`},
		{`not json`, "malformed json"},
		{`{"id": 1, "user": "u", "price": 1.234, "at": 0, "uid": "123e4567-e89b-12d3-a456-426614174000", "kind": "A"}`, `"price"`},
		{`{"id": 1, "user": "u", "price": 1, "at": 0, "uid": "nope", "kind": "A"}`, `"uid"`},
		{`{"id": 1, "user": "u", "price": 1, "at": 0, "uid": "123e4567-e89b-12d3-a456-426614174000", "kind": "C"}`, `"kind"`},
		{`{"id": 1, "user": "u", "price": 1, "uid": "123e4567-e89b-12d3-a456-426614174000", "kind": "A"}`, `"at"`},
		{`{"id": 99999999999999999999}`, `"id"`},
		{`{"id": 1} {"id": 2}`, "after the record"},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper"},
		{`[1]`, "want an object"},
	}
	for _, c := range bad {
		_, err := j.Convert(nil, []byte(c.json))
		if !errors.Is(err, ErrMalformedJSON) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("convert %.40s: %v, want ErrMalformedJSON naming %s", c.json, err, c.want)
		}
	}
}

// FuzzJSONRecords: any bytes convert or fail as ErrMalformedJSON, and what
// converts decodes.
func FuzzJSONRecords(f *testing.F) {
	f.Add([]byte(`{"id": 1, "user": "ann", "price": 12.5, "at": 0, "uid": "123e4567-e89b-12d3-a456-426614174000", "kind": "A"}`))
	f.Add([]byte(`{"id": 1, "tags": [null]}`))
	f.Add([]byte(`{"ship": {"city": 1}}`))
	j, err := NewJSONRecords(jsonDeclared)
	if err != nil {
		f.Fatal(err)
	}
	sc, err := schema.ToIceberg(j.Schema())
	if err != nil {
		f.Fatal(err)
	}
	d, err := decode.NewDecoder(j.Schema(), sc)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := j.Convert(nil, in)
		if err != nil {
			if !errors.Is(err, ErrMalformedJSON) {
				t.Fatalf("error %v is not ErrMalformedJSON", err)
			}
			return
		}
		if err := d.Check(p); err != nil {
			t.Fatalf("converted %q does not decode: %v", in, err)
		}
	})
}
