package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
)

// ErrUnsupportedSchema means a registry schema is of a type, or uses a
// construct, that Big Father cannot ingest. It is permanent for that
// schema id: its records are rejected, never waited on.
var ErrUnsupportedSchema = errors.New("schema: unsupported schema")

// JSONSchemaToAvro translates a JSON Schema (the registry's JSON type) to
// the Avro record schema its documents are read with, so JSON Schema
// records share the JSON path (JSONRecords) and from there the Avro one.
//
// The root must be an object with properties. Supported per property:
// "type" string, integer (long), number (double), boolean, object with
// "properties" (a record), object with only "additionalProperties" (a
// map), array with "items"; "enum" of strings (an Avro enum when every
// symbol is a valid Avro name, else a string); "format" date-time
// (timestamp-micros), date, time (time-micros) and uuid on strings; a type
// list or anyOf/oneOf of one type and "null". A property is nullable
// unless "required" lists it. Anything else ($ref, allOf, several non-null
// types, tuple arrays, property names that are not Avro names) is
// ErrUnsupportedSchema, naming the property.
func JSONSchemaToAvro(text string) (avro.Schema, error) {
	var root map[string]any
	if err := json.Unmarshal([]byte(text), &root); err != nil {
		return nil, fmt.Errorf("%w: json schema: %v", ErrUnsupportedSchema, err)
	}
	t := &jsTranslator{names: map[string]bool{}}
	rec, err := t.record(root, "", "Record")
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: json schema: %v", ErrUnsupportedSchema, err)
	}
	s, err := avro.ParseBytesWithCache(raw, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%w: json schema as avro: %v", ErrUnsupportedSchema, err)
	}
	return s, nil
}

var avroNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type jsTranslator struct{ names map[string]bool }

func jsUnsupported(path, format string, args ...any) error {
	if path == "" {
		path = "(root)"
	}
	return fmt.Errorf("%w: json schema property %q: %s", ErrUnsupportedSchema, path, fmt.Sprintf(format, args...))
}

// recordName returns an unused Avro record name derived from hint.
func (t *jsTranslator) recordName(hint string) string {
	name := hint
	for i := 2; t.names[name]; i++ {
		name = fmt.Sprintf("%s%d", hint, i)
	}
	t.names[name] = true
	return name
}

func (t *jsTranslator) record(s map[string]any, path, hint string) (map[string]any, error) {
	props, ok := s["properties"].(map[string]any)
	if !ok {
		return nil, jsUnsupported(path, "an object needs \"properties\"")
	}
	required := map[string]bool{}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				required[name] = true
			}
		}
	}
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names) // JSON objects have no order; a stable one keeps ids stable
	fields := make([]any, 0, len(names))
	for _, name := range names {
		fp := avrobin.JoinPath(path, name)
		if !avroNameRe.MatchString(name) {
			return nil, jsUnsupported(fp, "the name is not a valid column name ([A-Za-z_][A-Za-z0-9_]*)")
		}
		ps, ok := props[name].(map[string]any)
		if !ok {
			return nil, jsUnsupported(fp, "want a schema object")
		}
		typ, nullable, err := t.value(ps, fp, hint+"_"+name)
		if err != nil {
			return nil, err
		}
		f := map[string]any{"name": name, "type": typ}
		if d, ok := ps["description"].(string); ok {
			f["doc"] = d
		}
		if nullable || !required[name] {
			f["type"] = []any{"null", typ}
			f["default"] = nil
		}
		fields = append(fields, f)
	}
	return map[string]any{"type": "record", "name": t.recordName(strings.Trim(hint, "_")), "fields": fields}, nil
}

// value translates one property schema; nullable reports a type that
// admits null itself.
func (t *jsTranslator) value(s map[string]any, path, hint string) (any, bool, error) {
	for _, k := range []string{"$ref", "allOf", "not", "if", "prefixItems"} {
		if _, ok := s[k]; ok {
			return nil, false, jsUnsupported(path, "%q is not supported", k)
		}
	}
	typ, nullable, err := jsType(s, path)
	if err != nil {
		return nil, false, err
	}
	if typ == "" {
		for _, k := range []string{"anyOf", "oneOf"} {
			alts, ok := s[k].([]any)
			if !ok {
				continue
			}
			var only map[string]any
			for _, a := range alts {
				am, ok := a.(map[string]any)
				if !ok {
					return nil, false, jsUnsupported(path, "%s entries must be schemas", k)
				}
				if am["type"] == "null" {
					nullable = true
					continue
				}
				if only != nil {
					return nil, false, jsUnsupported(path, "%s of several non-null types", k)
				}
				only = am
			}
			if only == nil {
				return nil, false, jsUnsupported(path, "%s admits only null", k)
			}
			inner, innerNull, err := t.value(only, path, hint)
			return inner, nullable || innerNull, err
		}
		return nil, false, jsUnsupported(path, "no \"type\"")
	}
	if enum, ok := s["enum"].([]any); ok && typ == "string" {
		var syms []any
		valid := true
		for _, e := range enum {
			str, ok := e.(string)
			if !ok {
				return nil, false, jsUnsupported(path, "enum values must be strings")
			}
			valid = valid && avroNameRe.MatchString(str)
			syms = append(syms, str)
		}
		if valid && len(syms) > 0 {
			return map[string]any{"type": "enum", "name": t.recordName(strings.Trim(hint, "_")), "symbols": syms}, nullable, nil
		}
		return "string", nullable, nil
	}
	switch typ {
	case "string":
		switch s["format"] {
		case "date-time":
			return map[string]any{"type": "long", "logicalType": "timestamp-micros"}, nullable, nil
		case "date":
			return map[string]any{"type": "int", "logicalType": "date"}, nullable, nil
		case "time":
			return map[string]any{"type": "long", "logicalType": "time-micros"}, nullable, nil
		case "uuid":
			return map[string]any{"type": "string", "logicalType": "uuid"}, nullable, nil
		}
		return "string", nullable, nil
	case "integer":
		return "long", nullable, nil
	case "number":
		return "double", nullable, nil
	case "boolean":
		return "boolean", nullable, nil
	case "array":
		items, ok := s["items"].(map[string]any)
		if !ok {
			return nil, false, jsUnsupported(path, "an array needs one \"items\" schema")
		}
		it, itNull, err := t.value(items, path+".element", hint+"_item")
		if err != nil {
			return nil, false, err
		}
		if itNull {
			it = []any{"null", it}
		}
		return map[string]any{"type": "array", "items": it}, nullable, nil
	case "object":
		if _, ok := s["properties"]; ok {
			rec, err := t.record(s, path, hint)
			return rec, nullable, err
		}
		vals, ok := s["additionalProperties"].(map[string]any)
		if !ok {
			return nil, false, jsUnsupported(path, "an object needs \"properties\" or an \"additionalProperties\" schema")
		}
		vt, vNull, err := t.value(vals, path+".value", hint+"_value")
		if err != nil {
			return nil, false, err
		}
		if vNull {
			vt = []any{"null", vt}
		}
		return map[string]any{"type": "map", "values": vt}, nullable, nil
	}
	return nil, false, jsUnsupported(path, "type %q is not supported", typ)
}

// jsType reads "type", a string or a list of one type and "null".
func jsType(s map[string]any, path string) (string, bool, error) {
	switch v := s["type"].(type) {
	case nil:
		return "", false, nil
	case string:
		if v == "null" {
			return "", false, jsUnsupported(path, "a property that is always null")
		}
		return v, false, nil
	case []any:
		var typ string
		nullable := false
		for _, e := range v {
			str, _ := e.(string)
			switch {
			case str == "null":
				nullable = true
			case typ != "":
				return "", false, jsUnsupported(path, "several non-null types %v", v)
			default:
				typ = str
			}
		}
		if typ == "" {
			return "", false, jsUnsupported(path, "a property that is always null")
		}
		return typ, nullable, nil
	}
	return "", false, jsUnsupported(path, "\"type\" must be a string or a list")
}
