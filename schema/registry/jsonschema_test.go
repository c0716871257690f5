package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
)

const orderJSONSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["id", "at", "lines"],
  "properties": {
    "id": {"type": "integer"},
    "at": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "uid": {"type": ["string", "null"], "format": "uuid"},
    "status": {"type": "string", "enum": ["NEW", "PAID"]},
    "label": {"type": "string", "enum": ["a b", "c"]},
    "total": {"type": "number"},
    "paid": {"type": "boolean"},
    "lines": {"type": "array", "items": {"type": "object", "required": ["sku"],
      "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}},
    "attrs": {"type": "object", "additionalProperties": {"type": "string"}},
    "ship": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"city": {"type": "string"}}}]}
  }
}`

func TestJSONSchemaToAvro(t *testing.T) {
	as, err := JSONSchemaToAvro(orderJSONSchema)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := schema.ToIceberg(as)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ      string
		required bool
	}{
		"id": {"long", true}, "at": {"timestamptz", true}, "day": {"date", false}, "uid": {"uuid", false},
		"status": {"string", false}, "label": {"string", false}, "total": {"double", false}, "paid": {"boolean", false},
		"lines": {"list<struct<", true}, "attrs": {"map<string, string>", false}, "ship": {"struct<", false},
	}
	for name, w := range want {
		f, ok := sc.FindFieldByName(name)
		if !ok {
			t.Errorf("column %s missing", name)
			continue
		}
		if !strings.HasPrefix(f.Type.String(), w.typ) || f.Required != w.required {
			t.Errorf("column %s: %s required=%v, want %s… required=%v", name, f.Type, f.Required, w.typ, w.required)
		}
	}
	if f, _ := sc.FindFieldByName("lines.element.sku"); f.Type == nil || !f.Type.Equals(iceberg.PrimitiveTypes.String) || !f.Required {
		t.Errorf("lines.element.sku: %v", f)
	}
	// Documents of the schema convert and decode.
	j := &JSONRecords{schema: as}
	d, err := decode.NewDecoder(as, sc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := j.Convert(nil, []byte(`{"id": 1, "at": "2024-01-02T03:04:05Z", "status": "PAID", "label": "a b",
	  "lines": [{"sku": "x", "qty": 2}], "attrs": {"k": "v"}, "ship": {"city": "Busan"}, "extra": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(p); err != nil {
		t.Fatal(err)
	}
	again, err := JSONSchemaToAvro(orderJSONSchema)
	if err != nil || again.String() != as.String() {
		t.Fatalf("translation is not stable: %v", err)
	}

	for _, c := range []struct{ schema, want string }{
		{`{"type": "object", "properties": {"a": {"$ref": "#/defs/x"}}}`, `"a": "$ref"`},
		{`{"type": "object", "properties": {"a": {"type": ["string", "integer"]}}}`, `"a": several non-null types`},
		{`{"type": "object", "properties": {"user-id": {"type": "string"}}}`, `"user-id": the name is not a valid column name`},
		{`{"type": "object", "properties": {"a": {"type": "array"}}}`, `"a": an array needs`},
		{`{"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}`, "several non-null types"},
		{`{"type": "array"}`, "an object needs"},
		{`not json`, "json schema"},
	} {
		_, err := JSONSchemaToAvro(c.schema)
		if !errors.Is(err, ErrUnsupportedSchema) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrUnsupportedSchema with %q", c.schema, err, c.want)
		}
	}
}

// FuzzJSONSchemaToAvro: registry text of any shape translates to a schema
// the table mapping accepts, or fails as ErrUnsupportedSchema.
func FuzzJSONSchemaToAvro(f *testing.F) {
	f.Add(orderJSONSchema)
	f.Add(`{"type": "object", "properties": {"a": {"type": ["null", "array"], "items": {"type": "object", "properties": {}}}}}`)
	f.Add(`{"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"anyOf": [{"type": "null"}, {"type": "number"}]}}}}`)
	f.Fuzz(func(t *testing.T, text string) {
		as, err := JSONSchemaToAvro(text)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedSchema) {
				t.Fatalf("error %v is not ErrUnsupportedSchema", err)
			}
			return
		}
		if _, err := schema.ToIceberg(as); err != nil {
			t.Fatalf("translated schema does not map to a table: %v", err)
		}
	})
}
