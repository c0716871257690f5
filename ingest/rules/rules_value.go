package rules

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

// Kind says how a writer value is encoded and what a rule sees of it.
type Kind uint8

const (
	KindNull       Kind = iota // null → null
	KindBool                   // boolean → bool
	KindInt                    // int → int
	KindLong                   // long → int
	KindFloat                  // float → double
	KindDouble                 // double → double
	KindString                 // string, uuid string → string
	KindBytes                  // bytes → bytes
	KindFixed                  // fixed → bytes
	KindEnum                   // enum → string (the symbol)
	KindUUIDFixed              // fixed(16) uuid → string, canonical lower-case form
	KindDecBytes               // bytes decimal → double
	KindDecFixed               // fixed decimal → double
	KindDate                   // int date → timestamp, midnight UTC
	KindTimeMillis             // int time-millis → duration since midnight
	KindTimeMicros             // long time-micros → duration since midnight
	KindTsMillis               // long (local-)timestamp-millis → timestamp (UTC)
	KindTsMicros               // long (local-)timestamp-micros → timestamp (UTC)
	KindRecord                 // record → map(string, dyn), see recordVal
	KindArray                  // array → list
	KindMap                    // map → map(string, V)
	KindUnion                  // union → the value of the branch written
)

// Type is a writer schema compiled for reading values out of the binary.
type Type struct {
	Kind     Kind
	path     string
	size     int       // fixed
	scale    int       // decimal
	syms     []ref.Val // enum symbols as CEL strings, made once so reading one allocates nothing
	Fields   []vfield  // record, in writer order
	names    []string  // record field names, for iteration
	elem     *Type     // array items, map values
	branches []*Type   // union
	minSize  int       // fewest bytes one value takes, to bound block counts
}

type vfield struct {
	name    string
	aliases []string
	Type    *Type
}

// fieldIndex resolves a name the way the decoder binds table columns: an
// exact field name first, then a field's alias, so a rule written before a
// writer-side rename (the old name kept as an alias) still finds the field.
func (t *Type) fieldIndex(name string) int {
	for i, f := range t.Fields {
		if f.name == name {
			return i
		}
	}
	for i, f := range t.Fields {
		for _, a := range f.aliases {
			if a == name {
				return i
			}
		}
	}
	return -1
}

// Compiler compiles vtypes. memo makes recursive records a finite graph.
type Compiler struct {
	Memo map[*avro.RecordSchema]*Type
}

func (c *Compiler) Compile(s avro.Schema, path string) (*Type, error) {
	s = avrobin.Deref(s)
	t := &Type{path: path, minSize: 1}
	switch ws := s.(type) {
	case *avro.NullSchema:
		t.Kind, t.minSize = KindNull, 0
	case *avro.PrimitiveSchema:
		t.Kind = PrimitiveKind(ws)
		switch t.Kind {
		case KindFloat:
			t.minSize = 4
		case KindDouble:
			t.minSize = 8
		case KindDecBytes:
			t.scale = ws.Logical().(*avro.DecimalLogicalSchema).Scale()
		}
	case *avro.FixedSchema:
		t.Kind, t.size, t.minSize = KindFixed, ws.Size(), ws.Size()
		if d, ok := ws.Logical().(*avro.DecimalLogicalSchema); ok {
			t.Kind, t.scale = KindDecFixed, d.Scale()
		} else if ws.Size() == 16 && isUUID(ws) {
			t.Kind = KindUUIDFixed
		}
	case *avro.EnumSchema:
		t.Kind = KindEnum
		for _, sym := range ws.Symbols() {
			t.syms = append(t.syms, types.String(sym))
		}
	case *avro.RecordSchema:
		if m, ok := c.Memo[ws]; ok {
			return m, nil
		}
		t.Kind, t.minSize = KindRecord, 0
		c.Memo[ws] = t // before the fields, so recursion finds it
		for _, f := range ws.Fields() {
			ft, err := c.Compile(f.Type(), avrobin.JoinPath(path, f.Name()))
			if err != nil {
				return nil, err
			}
			t.Fields = append(t.Fields, vfield{name: f.Name(), aliases: f.Aliases(), Type: ft})
			t.names = append(t.names, f.Name())
			t.minSize += ft.minSize
		}
	case *avro.ArraySchema:
		elem, err := c.Compile(ws.Items(), path+".element")
		if err != nil {
			return nil, err
		}
		t.Kind, t.elem = KindArray, elem
	case *avro.MapSchema:
		elem, err := c.Compile(ws.Values(), path+".value")
		if err != nil {
			return nil, err
		}
		t.Kind, t.elem = KindMap, elem
	case *avro.UnionSchema:
		t.Kind = KindUnion
		for _, b := range ws.Types() {
			bt, err := c.Compile(b, path)
			if err != nil {
				return nil, err
			}
			t.branches = append(t.branches, bt)
		}
	default:
		return nil, fmt.Errorf("field %q: avro type %s is not supported", path, s.Type())
	}
	return t, nil
}

// isUUID reports whether a fixed is declared a uuid. hamba/avro parses
// the uuid logical type only on strings and leaves it on a fixed as a
// plain property, so both are looked at.
func isUUID(f *avro.FixedSchema) bool {
	if l := f.Logical(); l != nil && l.Type() == avro.UUID {
		return true
	}
	lt, _ := f.Prop("logicalType").(string)
	return lt == string(avro.UUID)
}

// PrimitiveKind maps a primitive and its logical type. As in the Avro spec
// and schema.ToIceberg, a logical type on the wrong primitive is ignored.
func PrimitiveKind(p *avro.PrimitiveSchema) Kind {
	var lt avro.LogicalType
	if l := p.Logical(); l != nil {
		lt = l.Type()
	}
	switch p.Type() {
	case avro.Boolean:
		return KindBool
	case avro.Int:
		switch lt {
		case avro.Date:
			return KindDate
		case avro.TimeMillis:
			return KindTimeMillis
		}
		return KindInt
	case avro.Long:
		switch lt {
		case avro.TimeMicros:
			return KindTimeMicros
		case avro.TimestampMillis, avro.LocalTimestampMillis:
			return KindTsMillis
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			return KindTsMicros
		}
		return KindLong
	case avro.Float:
		return KindFloat
	case avro.Double:
		return KindDouble
	case avro.Bytes:
		if _, ok := p.Logical().(*avro.DecimalLogicalSchema); ok {
			return KindDecBytes
		}
		return KindBytes
	}
	return KindString
}

// Why a payload is malformed, besides the decoder's reasons.
const (
	whyItems    = "more array or map items than the payload can justify"
	whyDuration = "time of day overflows a duration"
)

func malformedAt(t *Type, r *avrobin.Reader, why string) error {
	path := t.path
	if path == "" {
		path = "<record>"
	}
	return fmt.Errorf("%w: field %q at byte %d: %s", schema.ErrMalformed, path, r.P, why)
}

// Walker reads values for rules. Every read is bounds-checked by reader;
// items caps the array and map items one walk may visit, because items of
// a zero-size type (null, fixed(0), an empty record) cost no bytes, so the
// per-block count check alone would let a small payload describe billions.
type Walker struct {
	adapter  types.Adapter
	items    int
	maxItems int
}

// itemsPerByte and itemsSlack size walker.maxItems from the payload length:
// generous for real data, linear in the payload for hostile data.
const (
	itemsPerByte = 8
	itemsSlack   = 4096
)

func (w *Walker) Reset(payloadLen int) {
	w.items = 0
	w.maxItems = itemsSlack + itemsPerByte*payloadLen
}

// ReadMode says what walk does with a value.
type ReadMode uint8

const (
	// ModeSkip steps over a value no rule reads, checking only what
	// stepping needs: bounds, lengths, counts, indexes, depth.
	ModeSkip ReadMode = iota
	// modeCheck steps over a value, checking everything modeBuild would,
	// so that building it later cannot fail.
	ModeCheck
	// modeBuild returns the value as a rule sees it. Strings and bytes
	// alias the payload (see RuleEvaluator.Eval).
	ModeBuild
)

// Walk reads one value of type t at r. Without modeBuild it returns nil.
func (w *Walker) Walk(t *Type, r *avrobin.Reader, depth int, mode ReadMode) (ref.Val, error) {
	build := mode == ModeBuild
	switch t.Kind {
	case KindNull:
		return types.NullValue, nil
	case KindBool:
		b, ok := r.Take(1)
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyTruncated)
		}
		if b[0] > 1 {
			return nil, malformedAt(t, r, avrobin.WhyBool)
		}
		return types.Bool(b[0] == 1), nil
	case KindInt, KindLong, KindDate, KindTimeMillis, KindTimeMicros, KindTsMillis, KindTsMicros:
		return w.integer(t, r, build)
	case KindFloat:
		b, ok := r.Take(4)
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyTruncated)
		}
		if !build {
			return nil, nil
		}
		return types.Double(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case KindDouble:
		b, ok := r.Take(8)
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyTruncated)
		}
		if !build {
			return nil, nil
		}
		return types.Double(math.Float64frombits(binary.LittleEndian.Uint64(b))), nil
	case KindString, KindBytes, KindDecBytes:
		s, why := r.Bytes()
		if why != "" {
			return nil, malformedAt(t, r, why)
		}
		return w.byteValue(t, r, s, mode)
	case KindFixed, KindUUIDFixed, KindDecFixed:
		s, ok := r.Take(t.size)
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyTruncated)
		}
		return w.byteValue(t, r, s, mode)
	case KindEnum:
		idx, ok := r.Long()
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyVarint)
		}
		if idx < 0 || idx >= int64(len(t.syms)) {
			return nil, malformedAt(t, r, avrobin.WhyEnum)
		}
		return t.syms[idx], nil
	case KindRecord:
		return w.record(t, r, depth, mode)
	case KindArray, KindMap:
		return w.collection(t, r, depth, mode)
	case KindUnion:
		if depth >= avrobin.MaxDepth {
			return nil, malformedAt(t, r, avrobin.WhyDepth)
		}
		idx, ok := r.Long()
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyVarint)
		}
		if idx < 0 || idx >= int64(len(t.branches)) {
			return nil, malformedAt(t, r, avrobin.WhyUnion)
		}
		return w.Walk(t.branches[idx], r, depth+1, mode)
	}
	return nil, malformedAt(t, r, "unknown compiled type")
}

// integer reads the varint-encoded kinds.
func (w *Walker) integer(t *Type, r *avrobin.Reader, build bool) (ref.Val, error) {
	v, ok := r.Long()
	if !ok {
		return nil, malformedAt(t, r, avrobin.WhyVarint)
	}
	switch t.Kind {
	case KindInt, KindDate, KindTimeMillis:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, malformedAt(t, r, avrobin.WhyIntRange)
		}
	case KindTimeMicros:
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return nil, malformedAt(t, r, whyDuration)
		}
	}
	if !build {
		return nil, nil
	}
	switch t.Kind {
	case KindDate:
		return types.Timestamp{Time: time.Unix(v*86400, 0).UTC()}, nil
	case KindTimeMillis:
		return types.Duration{Duration: time.Duration(v) * time.Millisecond}, nil
	case KindTimeMicros:
		return types.Duration{Duration: time.Duration(v) * time.Microsecond}, nil
	case KindTsMillis:
		return types.Timestamp{Time: time.UnixMilli(v).UTC()}, nil
	case KindTsMicros:
		return types.Timestamp{Time: time.UnixMicro(v).UTC()}, nil
	}
	return types.Int(v), nil
}

// byteValue checks and converts a string, bytes, fixed or decimal value.
func (w *Walker) byteValue(t *Type, r *avrobin.Reader, s []byte, mode ReadMode) (ref.Val, error) {
	if mode == ModeSkip {
		return nil, nil
	}
	build := mode == ModeBuild
	switch t.Kind {
	case KindString:
		if !utf8.Valid(s) {
			return nil, malformedAt(t, r, avrobin.WhyUTF8)
		}
		if build {
			return types.String(AliasString(s)), nil
		}
	case KindBytes, KindFixed:
		if build {
			// The full slice expression keeps an append from ever
			// writing into the payload past the value.
			return types.Bytes(s[:len(s):len(s)]), nil
		}
	case KindUUIDFixed:
		if build {
			return types.String(formatUUID(s)), nil
		}
	case KindDecBytes, KindDecFixed:
		v, ok := avrobin.DecimalFromBE(s)
		if !ok {
			return nil, malformedAt(t, r, avrobin.WhyDecimal)
		}
		if build {
			return types.Double(DecimalToFloat(v.HighBits(), v.LowBits(), t.scale)), nil
		}
	}
	return nil, nil
}

func (w *Walker) record(t *Type, r *avrobin.Reader, depth int, mode ReadMode) (ref.Val, error) {
	build := mode == ModeBuild
	if depth >= avrobin.MaxDepth {
		return nil, malformedAt(t, r, avrobin.WhyDepth)
	}
	var vals []ref.Val
	if build {
		vals = make([]ref.Val, len(t.Fields))
	}
	for i, f := range t.Fields {
		v, err := w.Walk(f.Type, r, depth+1, mode)
		if err != nil {
			return nil, err
		}
		if build {
			vals[i] = v
		}
	}
	if !build {
		return nil, nil
	}
	return &recordVal{t: t, vals: vals, adapter: w.adapter}, nil
}

func (w *Walker) collection(t *Type, r *avrobin.Reader, depth int, mode ReadMode) (ref.Val, error) {
	build := mode == ModeBuild
	if depth >= avrobin.MaxDepth {
		return nil, malformedAt(t, r, avrobin.WhyDepth)
	}
	isMap := t.Kind == KindMap
	minSize := t.elem.minSize
	if isMap {
		minSize++ // the key's length
	}
	var list []ref.Val
	var m map[ref.Val]ref.Val
	if build && isMap {
		m = map[ref.Val]ref.Val{}
	}
	for {
		c, why := r.Block(minSize)
		if why != "" {
			return nil, malformedAt(t, r, why)
		}
		if c == 0 {
			break
		}
		if w.items += c; w.items > w.maxItems {
			return nil, malformedAt(t, r, whyItems)
		}
		if build && !isMap {
			// c is bounded by the bytes left and by maxItems, so this
			// cannot be driven beyond the payload's size; Grow doubles,
			// so many small blocks do not copy the list once each.
			list = slices.Grow(list, c)
		}
		for range c {
			var k []byte
			if isMap {
				var why string
				if k, why = r.Bytes(); why != "" {
					return nil, malformedAt(t, r, why)
				}
				if mode != ModeSkip && !utf8.Valid(k) {
					return nil, malformedAt(t, r, avrobin.WhyUTF8)
				}
			}
			v, err := w.Walk(t.elem, r, depth+1, mode)
			if err != nil {
				return nil, err
			}
			switch {
			case !build:
			case isMap:
				m[types.String(AliasString(k))] = v // a repeated key: the last wins
			default:
				list = append(list, v)
			}
		}
	}
	switch {
	case !build:
		return nil, nil
	case isMap:
		return types.NewRefValMap(w.adapter, m), nil
	}
	if list == nil {
		list = []ref.Val{}
	}
	return types.NewRefValList(w.adapter, list), nil
}

// AliasString views b as a string without copying. Only values that live
// no longer than one Eval are made this way.
func AliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func formatUUID(b []byte) string {
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(out[:])
}

// DecimalToFloat converts an unscaled 128-bit value to the nearest double
// when it can do so exactly rounded (|unscaled| < 2^53 and scale ≤ 22, where
// both operands of the division are exact), else to a close approximation.
func DecimalToFloat(hi int64, lo uint64, scale int) float64 {
	const exact = 1 << 53
	if v := int64(lo); hi == v>>63 && v > -exact && v < exact && scale >= 0 && scale <= 22 {
		return float64(v) / math.Pow10(scale) // exact: 1e0…1e22 are doubles
	}
	neg := hi < 0
	if neg { // two's complement negation of the 128-bit value
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	f := float64(uint64(hi))*0x1p64 + float64(lo)
	f /= math.Pow10(scale)
	if neg {
		f = -f
	}
	return f
}
