package config

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bigfather/bigfather/ingest"
)

// decoder walks the YAML node tree and the Go type together. yaml.v3's own
// decoding is used only for single values: walking ourselves is what lets an
// unknown key, a duplicate key or a bad value name its full key path (yaml.v3
// reports only a line and a Go type name), expands ${VAR} only in values the
// config actually reads, and records each key's line for validation errors.
type decoder struct {
	lookup lookupFunc
	errs   errorList
	// lines maps a key path to the line of its value in the file.
	lines map[string]int
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	anyType         = reflect.TypeFor[any]()
)

// decode stores n into v, which is addressable and holds the default. A null
// value (a key with nothing after it) keeps the default.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		// The Go type bounds the recursion depth, so even a cyclic alias
		// cannot make this loop.
		line := n.Line
		n = n.Alias
		d.lines[path] = line
	} else if n.Line > 0 {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	t := v.Type()
	switch {
	case isLeaf(t):
		d.leaf(n, v, path)
	case t.Kind() == reflect.Struct:
		d.structure(n, v, path)
	case t.Kind() == reflect.Slice:
		d.slice(n, v, path)
	case t.Kind() == reflect.Map:
		d.mapping(n, v, path)
	default:
		d.errs.add(n.Line, path, "unsupported Go type %s", t)
	}
}

// isLeaf reports whether t is decoded from a single scalar.
func isLeaf(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(unmarshalerType) || t == anyType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errs.add(n.Line, path, "%s, got %s", want(v.Type()), describe(n))
		return
	}
	n, err := expandScalar(n, d.lookup)
	if err != nil {
		d.errs.add(n.Line, path, "%v", err)
		return
	}
	if v.Type() == anyType {
		x, err := scalarValue(n)
		if err != nil {
			d.errs.add(n.Line, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
		return
	}
	// Decode into a scratch value so a failed decode leaves the default.
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			d.errs.add(n.Line, path, "%s, got %s", want(v.Type()), describe(n))
		} else {
			d.errs.add(n.Line, path, "%v", err)
		}
		return
	}
	v.Set(tmp.Elem())
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errs.add(n.Line, path, "want a mapping of keys, got %s", describe(n))
		return
	}
	t := v.Type()
	d.pairs(n, path, func(k, val *yaml.Node) {
		i, ok := fieldIndex(t, k.Value)
		if !ok {
			d.errs.add(k.Line, joinPath(path, k.Value), "unknown key (%s)", validKeys(path, t))
			return
		}
		d.decode(val, v.Field(i), joinPath(path, k.Value))
	})
}

// pairs calls fn for each key of the mapping n, reporting duplicate keys and
// merge keys instead.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errs.add(k.Line, path, "want a plain key, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errs.add(k.Line, path, "merge keys (<<) are not supported; use an alias (*name) for a whole value")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errs.add(k.Line, joinPath(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, val)
	}
}

func (d *decoder) slice(n *yaml.Node, v reflect.Value, path string) {
	et := v.Type().Elem()
	items := n.Content
	switch {
	case n.Kind == yaml.SequenceNode:
	case n.Kind == yaml.ScalarNode && et.Kind() == reflect.String:
		// A comma-separated scalar is a list of strings, so one environment
		// variable can hold a whole broker list: brokers: ${KAFKA_BROKERS}.
		x, err := expandScalar(n, d.lookup)
		if err != nil {
			d.errs.add(n.Line, path, "%v", err)
			return
		}
		items = nil
		for _, s := range splitList(x.Value) {
			items = append(items, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: n.Line, Column: n.Column})
		}
	default:
		d.errs.add(n.Line, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		// Scalars in a list are expanded and re-resolved individually by
		// leaf, never split again.
		d.decode(item, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errs.add(n.Line, path, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errs.add(n.Line, path, "unsupported Go type %s", t)
		return
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	d.pairs(n, path, func(k, val *yaml.Node) {
		// Keys are taken literally: only values are expanded.
		key := reflect.New(t.Key()).Elem()
		key.SetString(k.Value)
		elem := reflect.New(t.Elem()).Elem()
		d.decode(val, elem, joinPath(path, k.Value))
		m.SetMapIndex(key, elem)
	})
	v.Set(m)
}

// scalarValue is a scalar with the type YAML gives it: an int64, a
// float64, a bool, a string, or nil for null (a transform step's value and
// defaults are typed this way).
func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!int":
		var v int64
		err := n.Decode(&v)
		return v, err
	case "!!float":
		var v float64
		err := n.Decode(&v)
		return v, err
	case "!!bool":
		var v bool
		err := n.Decode(&v)
		return v, err
	}
	return n.Value, nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// fieldIndex returns the index of the field of struct t whose yaml tag is
// name.
func fieldIndex(t reflect.Type, name string) (int, bool) {
	if name == "" {
		// yamlName is "" for fields that are no key (yaml:"-").
		return 0, false
	}
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

// validKeys lists the keys of section path (type t) for an unknown-key error.
func validKeys(path string, t reflect.Type) string {
	in := "top-level keys"
	if path != "" {
		in = "keys in " + path
	}
	return "valid " + in + ": " + strings.Join(fieldNames(t), ", ")
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// want describes what a value of type t looks like in YAML.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return `want a duration like "10s" or "1m30s"`
	case t == reflect.TypeFor[ByteSize]():
		return `want a size like "128MiB" or a number of bytes`
	case t == anyType:
		return "want a single value (a number, true/false or text)"
	case t == reflect.TypeFor[ingest.StartPosition]():
		return "want earliest, latest or an RFC 3339 timestamp"
	}
	switch t.Kind() {
	case reflect.String:
		return "want a string"
	case reflect.Bool:
		return "want true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "want an integer"
	case reflect.Float32, reflect.Float64:
		return "want a number"
	}
	return "want a " + t.String()
}

// describe names what the YAML node is, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	s := n.Value
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
