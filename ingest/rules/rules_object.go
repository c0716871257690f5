package rules

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/bigfather/bigfather/schema"
)

// Avro records appear in rules as map(string, dyn) values, but of two Go
// types: lazyRecord, which reads only the fields the rules select, and
// recordVal, a record read whole. Both implement traits.Indexer and
// traits.FieldTester rather than traits.Mapper, because CEL answers has()
// on a Mapper with key presence, and a rule must find has() false for a
// null field. They agree on every operation both allow.

// recordVal is a record read whole: every writer field, null ones as null.
// size() counts the writer's fields and `'f' in r` is true for every field
// the writer has; has(r.f) is true for those that are not null.
type recordVal struct {
	t       *Type
	vals    []ref.Val
	adapter types.Adapter
}

var (
	_ traits.Indexer     = (*recordVal)(nil)
	_ traits.FieldTester = (*recordVal)(nil)
	_ traits.Sizer       = (*recordVal)(nil)
	_ traits.Container   = (*recordVal)(nil)
	_ traits.Iterable    = (*recordVal)(nil)
	_ traits.Mapper      = (*headerMap)(nil)
)

func (r *recordVal) field(key ref.Val) int {
	name, ok := key.(types.String)
	if !ok {
		return -1
	}
	return r.t.fieldIndex(string(name))
}

// Get implements traits.Indexer.
func (r *recordVal) Get(key ref.Val) ref.Val {
	i := r.field(key)
	if i < 0 {
		return types.NewErr("no such key: %v", key)
	}
	return r.vals[i]
}

// IsSet implements traits.FieldTester.
func (r *recordVal) IsSet(key ref.Val) ref.Val {
	i := r.field(key)
	return types.Bool(i >= 0 && r.vals[i] != types.NullValue)
}

// Contains implements traits.Container: key membership, as for a map.
func (r *recordVal) Contains(key ref.Val) ref.Val { return types.Bool(r.field(key) >= 0) }

// Size implements traits.Sizer.
func (r *recordVal) Size() ref.Val { return types.Int(len(r.vals)) }

// Iterator implements traits.Iterable, over the field names as over a
// map's keys.
func (r *recordVal) Iterator() traits.Iterator {
	return types.NewStringList(r.adapter, r.t.names).Iterator()
}

// Equal is true for a record or map with the same keys and equal values.
func (r *recordVal) Equal(other ref.Val) ref.Val {
	var size ref.Val
	var get func(string) (ref.Val, bool)
	switch o := other.(type) {
	case *recordVal:
		size = o.Size()
		get = func(name string) (ref.Val, bool) {
			i := o.t.fieldIndex(name)
			if i < 0 {
				return nil, false
			}
			return o.vals[i], true
		}
	case traits.Mapper:
		size = o.Size()
		get = func(name string) (ref.Val, bool) { return o.Find(types.String(name)) }
	default:
		return types.False
	}
	if size != r.Size() {
		return types.False
	}
	for i, f := range r.t.Fields {
		ov, ok := get(f.name)
		if !ok || r.vals[i].Equal(ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// ConvertToNative supports map[string]any and interfaces it satisfies.
func (r *recordVal) ConvertToNative(typeDesc reflect.Type) (any, error) {
	v := r.Value()
	if reflect.TypeOf(v).AssignableTo(typeDesc) {
		return v, nil
	}
	return nil, fmt.Errorf("type conversion error from record to '%v'", typeDesc)
}

// ConvertToType implements ref.Val.
func (r *recordVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return r
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, t)
}

// Type implements ref.Val.
func (r *recordVal) Type() ref.Type { return types.MapType }

// Value returns the record as a map[string]any of native values.
func (r *recordVal) Value() any {
	m := make(map[string]any, len(r.vals))
	for i, f := range r.t.Fields {
		m[f.name] = r.vals[i].Value()
	}
	return m
}

// Get implements traits.Indexer. A field the rules select is read from the
// payload the first time a rule asks for it in an Eval.
func (l *lazyRecord) Get(key ref.Val) ref.Val {
	s := l.slot(key)
	switch {
	case s == nil || s.missing:
		return types.NewErr("no such key: %v", key)
	case s.state == slotNull:
		return types.NullValue
	case s.state != slotSet:
		return types.NewErr("internal error: field %v was not read", key)
	}
	if s.sub != nil {
		return s.sub.rec
	}
	if s.val == nil {
		s.val = l.ev.materialise(s)
	}
	return s.val
}

// IsSet implements traits.FieldTester: false for a field the writer lacks
// or wrote as null.
func (l *lazyRecord) IsSet(key ref.Val) ref.Val {
	s := l.slot(key)
	return types.Bool(s != nil && s.state == slotSet)
}

func (l *lazyRecord) slot(key ref.Val) *lazySlot {
	name, ok := key.(types.String)
	if !ok {
		return nil
	}
	for i := range l.slots {
		for _, n := range l.slots[i].names {
			if n == string(name) {
				return &l.slots[i]
			}
		}
	}
	return nil
}

// errNotRead is what a lazyRecord answers to an operation on it as a
// whole. Bind reads a record whole whenever a rule uses it whole, so this
// is a bug in the path analysis, reported rather than answered wrongly.
func errNotRead() ref.Val {
	return types.NewErr("internal error: record used whole was read lazily")
}

// ConvertToNative implements ref.Val; see errNotRead.
func (l *lazyRecord) ConvertToNative(reflect.Type) (any, error) {
	return nil, errNotRead().(*types.Err)
}

// ConvertToType implements ref.Val.
func (l *lazyRecord) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return l
	case types.TypeType:
		return types.MapType
	}
	return errNotRead()
}

// Equal implements ref.Val; see errNotRead.
func (l *lazyRecord) Equal(ref.Val) ref.Val { return errNotRead() }

// Type implements ref.Val.
func (l *lazyRecord) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (l *lazyRecord) Value() any { return l }

// headerMap shows Kafka headers as map(string, bytes) without building a
// map: records carry few headers, so a scan is cheaper. Of repeated keys
// the last wins, as with Kafka's lastHeader. Operations other than lookup
// build a CEL map once per Eval.
type headerMap struct {
	hs      []schema.Header
	adapter types.Adapter
	std     traits.Mapper
}

func (h *headerMap) reset(hs []schema.Header) { h.hs, h.std = hs, nil }

// Find implements traits.Mapper.
func (h *headerMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	for i := len(h.hs) - 1; i >= 0; i-- {
		if h.hs[i].Key == string(k) {
			v := h.hs[i].Value
			return types.Bytes(v[:len(v):len(v)]), true
		}
	}
	return nil, false
}

// Get implements traits.Indexer.
func (h *headerMap) Get(key ref.Val) ref.Val {
	if v, ok := h.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

// Contains implements traits.Container.
func (h *headerMap) Contains(key ref.Val) ref.Val {
	_, ok := h.Find(key)
	return types.Bool(ok)
}

func (h *headerMap) mapper() traits.Mapper {
	if h.std == nil {
		m := make(map[ref.Val]ref.Val, len(h.hs))
		for _, hd := range h.hs {
			m[types.String(hd.Key)] = types.Bytes(hd.Value[:len(hd.Value):len(hd.Value)])
		}
		h.std = types.NewRefValMap(h.adapter, m)
	}
	return h.std
}

// Size implements traits.Sizer: the number of distinct keys.
func (h *headerMap) Size() ref.Val { return h.mapper().Size() }

// Iterator implements traits.Iterable.
func (h *headerMap) Iterator() traits.Iterator { return h.mapper().Iterator() }

// Equal implements ref.Val.
func (h *headerMap) Equal(other ref.Val) ref.Val { return h.mapper().Equal(other) }

// ConvertToNative implements ref.Val.
func (h *headerMap) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return h.mapper().ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (h *headerMap) ConvertToType(t ref.Type) ref.Val {
	if t == types.MapType {
		return h
	}
	return h.mapper().ConvertToType(t)
}

// Type implements ref.Val.
func (h *headerMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (h *headerMap) Value() any { return h.mapper().Value() }
