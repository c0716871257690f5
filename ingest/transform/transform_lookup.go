package transform

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/avrobin"
)

// LookupKeySeparator separates the texts of the key columns in a lookup
// key. A key value that itself holds the separator byte makes keys
// ambiguous; the reference data should not have such keys.
const LookupKeySeparator = 0x00

// LookupKeyBuilder is the one definition of the lookup-key format: a key
// is the canonical texts of its key columns, in KeyColumns order, joined
// by LookupKeySeparator. The canonical text of a value is
//
//	string, []byte (an Avro string or an enum's symbol)  the bytes as they are
//	int, int8…int64, uint…uint64 (Avro int, long)        decimal, '-' for negatives, no '+' or leading zeros
//	bool (Avro boolean)                                  true or false
//
// An enrich step builds each record's key with it, ingest/enrich each
// reference row's, and LookupKey anyone else's, so the three cannot
// drift apart. Key is appended to, never truncated: start a key with
// Reset. The methods do not allocate beyond growing Key.
type LookupKeyBuilder struct {
	Key   []byte
	parts int // key columns of the current key so far
}

// Reset starts a new key at the end of dst.
func (b *LookupKeyBuilder) Reset(dst []byte) { b.Key, b.parts = dst, 0 }

// sep separates the next key column from the previous one.
func (b *LookupKeyBuilder) sep() {
	if b.parts > 0 {
		b.Key = append(b.Key, LookupKeySeparator)
	}
	b.parts++
}

// Text appends a string, bytes or enum symbol key column.
func (b *LookupKeyBuilder) Text(s []byte) { b.sep(); b.Key = append(b.Key, s...) }

// String appends a string key column.
func (b *LookupKeyBuilder) String(s string) { b.sep(); b.Key = append(b.Key, s...) }

// Int appends an integer key column.
func (b *LookupKeyBuilder) Int(v int64) { b.sep(); b.Key = strconv.AppendInt(b.Key, v, 10) }

// Uint appends an unsigned integer key column.
func (b *LookupKeyBuilder) Uint(v uint64) { b.sep(); b.Key = strconv.AppendUint(b.Key, v, 10) }

// Bool appends a boolean key column.
func (b *LookupKeyBuilder) Bool(v bool) { b.sep(); b.Key = strconv.AppendBool(b.Key, v) }

// Null appends a null key column: its separator and no text. A row with
// one is not indexed (nor looked up), but the key still names the record
// in an on_miss error, so it keeps the separator a column is owed.
func (b *LookupKeyBuilder) Null() { b.sep() }

// AppendLookupKey appends to dst the canonical text of one key value (see
// LookupKeyBuilder). A key of several columns is their texts joined by
// LookupKeySeparator (see LookupKey). Other types than those listed there
// are an error.
func AppendLookupKey(dst []byte, v any) ([]byte, error) {
	b := LookupKeyBuilder{Key: dst}
	if err := b.value(v); err != nil {
		return dst, err
	}
	return b.Key, nil
}

// value appends one key column of a Go type.
func (b *LookupKeyBuilder) value(v any) error {
	switch v := v.(type) {
	case string:
		b.String(v)
	case []byte:
		b.Text(v)
	case bool:
		b.Bool(v)
	case uint:
		b.Uint(uint64(v))
	case uint64:
		b.Uint(v)
	default:
		i, ok := intOf(v)
		if !ok {
			return fmt.Errorf("lookup key value of type %T: want a string, []byte, integer or bool", v)
		}
		b.Int(i)
	}
	return nil
}

// LookupKey is the lookup key of a row whose key columns hold values, in
// order (see LookupKeyBuilder).
func LookupKey(values ...any) ([]byte, error) {
	var b LookupKeyBuilder
	for _, v := range values {
		if err := b.value(v); err != nil {
			return nil, err
		}
	}
	return b.Key, nil
}

// intOf converts a Go integer, or an integral float64 as YAML and JSON
// may give one, to int64.
func intOf(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint:
		return int64(v), v <= math.MaxInt64
	case uint64:
		return int64(v), v <= math.MaxInt64
	case float64:
		if v == math.Trunc(v) && v >= -0x1p63 && v < 0x1p63 {
			return int64(v), true
		}
	}
	return 0, false
}

func floatOf(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	if i, ok := intOf(v); ok {
		return float64(i), true
	}
	return 0, false
}

// missMode is what enrich does when no row matches.
type missMode uint8

const (
	missNull missMode = iota
	missDefault
	missQuarantine
)

// enrichSpec is an enrich step prepared at compile time: the lookup's
// fields do not depend on the writer schema.
type enrichSpec struct {
	lookup Lookup
	onMiss missMode
	fields []*avro.Field // as the lookup encodes them
	types  []*rules.Type // of fields, to validate and split what the lookup returns
	out    []*avro.Field // the fields added to the record
	wraps  []nullWrap    // missNull: how a value found becomes a value of out's type
	miss   [][]byte      // missNull, missDefault: what each added field holds on a miss
}

func compileEnrich(t *Transform) (*enrichSpec, error) {
	if t.Lookup == nil {
		return nil, errors.New("lookup is required")
	}
	if err := checkColumns("key_columns", t.KeyColumns, true); err != nil {
		return nil, err
	}
	e := &enrichSpec{lookup: t.Lookup}
	switch t.OnMiss {
	case "", "null":
	case "default":
		e.onMiss = missDefault
	case "quarantine":
		e.onMiss = missQuarantine
	default:
		return nil, fmt.Errorf("on_miss %q is not one of null, default, quarantine", t.OnMiss)
	}
	if t.Defaults != nil && e.onMiss != missDefault {
		return nil, errors.New("defaults apply only to on_miss default")
	}
	e.fields = t.Lookup.Fields()
	if len(e.fields) == 0 {
		return nil, errors.New("the lookup adds no fields")
	}
	c := rules.Compiler{Memo: map[*avro.RecordSchema]*rules.Type{}}
	seen := map[string]bool{}
	for _, f := range e.fields {
		name := f.Name()
		if seen[name] {
			return nil, fmt.Errorf("lookup field %q: added twice", name)
		}
		seen[name] = true
		base, _, err := avrobin.UnwrapNullable(f.Type(), name)
		if err != nil {
			return nil, fmt.Errorf("lookup %w", err)
		}
		if _, ok := base.(*avro.PrimitiveSchema); !ok {
			return nil, fmt.Errorf("lookup field %q: type %s is not a primitive or a nullable primitive", name, avrobin.TypeName(base))
		}
		vt, err := c.Compile(f.Type(), name)
		if err != nil {
			return nil, fmt.Errorf("lookup %w", err)
		}
		e.types = append(e.types, vt)
		switch e.onMiss {
		case missNull:
			nt, w, err := makeNullable(f.Type())
			if err != nil {
				return nil, fmt.Errorf("lookup field %q: %w", name, err)
			}
			of, err := newField(name, nt, f, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("lookup field %q: %w", name, err)
			}
			e.out, e.wraps, e.miss = append(e.out, of), append(e.wraps, w), append(e.miss, w.null)
		case missDefault:
			v, ok := t.Defaults[name]
			if !ok {
				return nil, fmt.Errorf("defaults has no value for lookup field %q", name)
			}
			enc, err := encodeFieldValue(v, f.Type())
			if err != nil {
				return nil, fmt.Errorf("defaults of lookup field %q: %w", name, err)
			}
			e.out, e.miss = append(e.out, f), append(e.miss, enc)
		default:
			e.out = append(e.out, f)
		}
	}
	var extra []string
	for name := range t.Defaults {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return nil, fmt.Errorf("defaults names %q, which the lookup does not add", extra)
	}
	return e, nil
}

// encodeFieldValue encodes a configured value under s, a primitive or a
// union of null and one primitive; nil is null.
func encodeFieldValue(v any, s avro.Schema) ([]byte, error) {
	u, isUnion := avrobin.Deref(s).(*avro.UnionSchema)
	if !isUnion {
		if v == nil {
			return nil, errors.New("null for a field that is not nullable")
		}
		sv, err := encodeScalar(v, avrobin.Deref(s))
		return sv.enc, err
	}
	for i, b := range u.Types() {
		isNull := avrobin.Deref(b).Type() == avro.Null
		switch {
		case v == nil && isNull:
			return appendLong(nil, int64(i)), nil
		case v != nil && !isNull:
			sv, err := encodeScalar(v, avrobin.Deref(b))
			return append(appendLong(nil, int64(i)), sv.enc...), err
		}
	}
	return nil, errors.New("null for a field that is not nullable")
}

// scalarValue is a configured value encoded for one Avro type, with the
// value to declare as the field's Avro default, when there is one.
type scalarValue struct {
	enc    []byte
	def    any
	hasDef bool
}

// encodeScalar converts a configured value (string, bool, integer, float)
// to the Avro type s (not a union). Timestamps are given as RFC 3339 text
// (an offset-less time is UTC), dates as YYYY-MM-DD.
func encodeScalar(v any, s avro.Schema) (scalarValue, error) {
	mismatch := func(want string) (scalarValue, error) {
		return scalarValue{}, fmt.Errorf("value %s (%T) is not %s", truncValue(fmt.Sprint(v)), v, want)
	}
	if e, ok := s.(*avro.EnumSchema); ok {
		str, _ := v.(string)
		i := slices.Index(e.Symbols(), str)
		if i < 0 {
			return mismatch("a symbol of enum " + e.FullName())
		}
		return scalarValue{enc: appendLong(nil, int64(i)), def: str, hasDef: true}, nil
	}
	p, ok := s.(*avro.PrimitiveSchema)
	if !ok {
		return scalarValue{}, fmt.Errorf("a default for type %s is not supported", avrobin.TypeName(s))
	}
	switch k := rules.PrimitiveKind(p); k {
	case rules.KindString:
		str, ok := v.(string)
		if !ok {
			return mismatch("a string")
		}
		var u [16]byte
		if l := p.Logical(); l != nil && l.Type() == avro.UUID && !avrobin.ParseUUID([]byte(str), &u) {
			return mismatch("a uuid")
		}
		return scalarValue{enc: appendBytes(nil, []byte(str)), def: str, hasDef: true}, nil
	case rules.KindBytes:
		str, ok := v.(string)
		if !ok {
			return mismatch("a string")
		}
		return scalarValue{enc: appendBytes(nil, []byte(str))}, nil
	case rules.KindBool:
		b, ok := v.(bool)
		if !ok {
			return mismatch("a boolean")
		}
		return scalarValue{enc: appendBool(nil, b), def: b, hasDef: true}, nil
	case rules.KindInt, rules.KindLong:
		i, ok := intOf(v)
		if !ok || k == rules.KindInt && (i < math.MinInt32 || i > math.MaxInt32) {
			return mismatch("an " + map[rules.Kind]string{rules.KindInt: "int", rules.KindLong: "long"}[k])
		}
		var def any = i
		if k == rules.KindInt {
			def = int(i)
		}
		return scalarValue{enc: appendLong(nil, i), def: def, hasDef: true}, nil
	case rules.KindFloat, rules.KindDouble:
		f, ok := floatOf(v)
		if !ok {
			return mismatch("a number")
		}
		if k == rules.KindFloat {
			if !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
				return mismatch("a float")
			}
			return scalarValue{enc: appendFloat32(nil, float32(f)), def: float32(f), hasDef: true}, nil
		}
		return scalarValue{enc: appendFloat64(nil, f), def: f, hasDef: true}, nil
	case rules.KindDate:
		str, _ := v.(string)
		days, ok := parseDate([]byte(str))
		if !ok {
			return mismatch("a date (YYYY-MM-DD)")
		}
		return scalarValue{enc: appendLong(nil, days), def: int(days), hasDef: true}, nil
	case rules.KindTsMillis, rules.KindTsMicros:
		str, _ := v.(string)
		us, ok := parseTimestamp([]byte(str), []tsFormat{{kind: tsRFC3339}, {kind: tsISO8601}}, time.UTC)
		if !ok {
			return mismatch("an RFC 3339 timestamp")
		}
		if k == rules.KindTsMillis {
			us = floorDiv(us, 1000)
		}
		return scalarValue{enc: appendLong(nil, us), def: us, hasDef: true}, nil
	}
	return scalarValue{}, fmt.Errorf("a default for type %s is not supported", avrobin.TypeName(p))
}

// nullWrap says how a value changes when its type is made nullable.
type nullWrap struct {
	kind wrapKind
	null []byte // the encoding of null under the nullable type
}

type wrapKind uint8

const (
	wrapNone  wrapKind = iota // the type admits null already
	wrapPlain                 // T became ["null", T]: a value gains branch index 1
	wrapShift                 // a union without null gained a null first: branch i became i+1
)

// makeNullable returns s, or s made to admit null.
func makeNullable(s avro.Schema) (avro.Schema, nullWrap, error) {
	d := avrobin.Deref(s)
	if d.Type() == avro.Null {
		return s, nullWrap{}, nil
	}
	u, ok := d.(*avro.UnionSchema)
	if !ok {
		nu, err := avro.NewUnionSchema([]avro.Schema{avro.NewNullSchema(), s})
		return nu, nullWrap{kind: wrapPlain, null: []byte{0}}, err
	}
	for i, b := range u.Types() {
		if avrobin.Deref(b).Type() == avro.Null {
			return s, nullWrap{null: appendLong(nil, int64(i))}, nil
		}
	}
	nu, err := avro.NewUnionSchema(append([]avro.Schema{avro.NewNullSchema()}, u.Types()...))
	return nu, nullWrap{kind: wrapShift, null: []byte{0}}, err
}

// appendPresent appends v, a value encoded under the type before wrapping,
// as a value of the nullable type.
func (w *nullWrap) appendPresent(dst, v []byte) []byte {
	switch w.kind {
	case wrapPlain:
		dst = append(dst, 2)
	case wrapShift:
		r := avrobin.Reader{B: v}
		idx, _ := r.Long()
		dst = appendLong(dst, idx+1)
		v = v[r.P:]
	}
	return append(dst, v...)
}
