package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// applySet applies one "key.path=value" override to the top-level mapping
// root, following the Config type so that an unknown path is rejected before
// anything is decoded. Containers on the way are copied before they are
// changed, so a YAML anchor shared with another key is never modified
// through the override.
func applySet(root *yaml.Node, set string) *Error {
	key, value, ok := strings.Cut(set, "=")
	if !ok || key == "" {
		return &Error{Path: set, Msg: "want key.path=value"}
	}
	fail := func(format string, args ...any) *Error {
		var l errorList
		l.add(0, key, format, args...)
		return l[0]
	}
	t := reflect.TypeFor[Config]()
	node := root
	path := ""
	rest := key
	for {
		seg, after, more := strings.Cut(rest, ".")
		name, idx, hasIdx, err := parseSegment(seg)
		if err != nil {
			return fail("%v", err)
		}
		fi, ok := fieldIndex(t, name)
		if !ok {
			if joinPath(path, name) == key {
				return fail("unknown key (%s)", validKeys(path, t))
			}
			return fail("unknown key %q (%s)", name, validKeys(path, t))
		}
		path = joinPath(path, name)
		ft := t.Field(fi).Type
		parent, slot := node, valueSlot(node, name)
		if hasIdx {
			if ft.Kind() != reflect.Slice {
				return fail("%s is not a list", path)
			}
			seq := ownContainer(parent, slot, yaml.SequenceNode)
			if seq == nil {
				return fail("%s in the file is not a list", path)
			}
			switch {
			case idx < len(seq.Content):
			case idx == len(seq.Content):
				seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
			default:
				return fail("index %d is past the end of %s (length %d; use index %d to append)", idx, path, len(seq.Content), len(seq.Content))
			}
			path = indexPath(path, idx)
			parent, slot, ft = seq, idx, ft.Elem()
		}
		switch {
		case isLeaf(ft):
			if more {
				return fail("%s is a single value, not a section", path)
			}
			parent.Content[slot] = scalarFor(ft, value)
			return nil
		case ft.Kind() == reflect.Struct:
			if !more {
				return fail("%s is a section; set one of its keys: %s", path, strings.Join(fieldNames(ft), ", "))
			}
			if node = ownContainer(parent, slot, yaml.MappingNode); node == nil {
				return fail("%s in the file is not a mapping", path)
			}
			t, rest = ft, after
		case ft.Kind() == reflect.Map:
			// The rest of the key, dots included, is the map key:
			// catalog.rest.properties.s3.endpoint sets "s3.endpoint".
			if !more || after == "" {
				return fail("%s is a mapping; set %s.<name>=value", path, path)
			}
			m := ownContainer(parent, slot, yaml.MappingNode)
			if m == nil {
				return fail("%s in the file is not a mapping", path)
			}
			m.Content[valueSlot(m, after)] = scalarFor(ft.Elem(), value)
			return nil
		case ft.Kind() == reflect.Slice && isLeaf(ft.Elem()):
			if more {
				return fail("%s is a list of values, not a section", path)
			}
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, item := range splitList(value) {
				seq.Content = append(seq.Content, scalarFor(ft.Elem(), item))
			}
			parent.Content[slot] = seq
			return nil
		default:
			return fail("%s is a list of sections; set one item's key, like %s[0].%s", path, path, firstField(ft.Elem()))
		}
	}
}

// parseSegment splits "tables[2]" into "tables" and 2.
func parseSegment(seg string) (name string, idx int, hasIdx bool, err error) {
	open := strings.IndexByte(seg, '[')
	if open < 0 {
		return seg, 0, false, nil
	}
	if !strings.HasSuffix(seg, "]") {
		return "", 0, false, fmt.Errorf("invalid index in %q: want name[N]", seg)
	}
	idx, err = strconv.Atoi(seg[open+1 : len(seg)-1])
	if err != nil || idx < 0 {
		return "", 0, false, fmt.Errorf("invalid index in %q: want name[N] with N >= 0", seg)
	}
	return seg[:open], idx, true, nil
}

// valueSlot returns the index in mapping m's Content of the value of key,
// appending an empty (null) value when the key is absent.
func valueSlot(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return i + 1
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
	return len(m.Content) - 1
}

// ownContainer makes parent.Content[slot] a private container of kind: a
// copy of the existing one (following an alias), or a new empty one in
// place of a null. It returns nil when the slot holds something else.
func ownContainer(parent *yaml.Node, slot int, kind yaml.Kind) *yaml.Node {
	n := parent.Content[slot]
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var c yaml.Node
	switch {
	case n.Kind == kind:
		c = *n
		c.Content = append([]*yaml.Node(nil), n.Content...)
		c.Anchor = ""
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		c = yaml.Node{Kind: kind, Line: n.Line, Column: n.Column}
	default:
		return nil
	}
	parent.Content[slot] = &c
	return &c
}

// scalarFor makes the node for a set value. A string field takes the text
// literally (so "null" or "123" stay strings); anything else is resolved as
// YAML would resolve it in the file, except that an empty value is an empty
// string: "metrics.addr=" disables metrics, and "flush.max_latency=" is an
// error rather than a silent fallback to the default.
func scalarFor(t reflect.Type, value string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: value}
	if t.Kind() == reflect.String || value == "" {
		n.Tag = "!!str"
	}
	return n
}

func firstField(t reflect.Type) string {
	if names := fieldNames(t); len(names) > 0 {
		return names[0]
	}
	return "key"
}
