package schema

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
)

// vkind says how a writer value is encoded and what a rule sees of it.
type vkind uint8

const (
	vNull       vkind = iota // null → null
	vBool                    // boolean → bool
	vInt                     // int → int
	vLong                    // long → int
	vFloat                   // float → double
	vDouble                  // double → double
	vString                  // string, uuid string → string
	vBytes                   // bytes → bytes
	vFixed                   // fixed → bytes
	vEnum                    // enum → string (the symbol)
	vUUIDFixed               // fixed(16) uuid → string, canonical lower-case form
	vDecBytes                // bytes decimal → double
	vDecFixed                // fixed decimal → double
	vDate                    // int date → timestamp, midnight UTC
	vTimeMillis              // int time-millis → duration since midnight
	vTimeMicros              // long time-micros → duration since midnight
	vTsMillis                // long (local-)timestamp-millis → timestamp (UTC)
	vTsMicros                // long (local-)timestamp-micros → timestamp (UTC)
	vRecord                  // record → map(string, dyn), see recordVal
	vArray                   // array → list
	vMap                     // map → map(string, V)
	vUnion                   // union → the value of the branch written
)

// vtype is a writer schema compiled for reading values out of the binary.
type vtype struct {
	kind     vkind
	path     string
	size     int       // fixed
	scale    int       // decimal
	syms     []ref.Val // enum symbols as CEL strings, made once so reading one allocates nothing
	fields   []vfield  // record, in writer order
	names    []string  // record field names, for iteration
	elem     *vtype    // array items, map values
	branches []*vtype  // union
	minSize  int       // fewest bytes one value takes, to bound block counts
}

type vfield struct {
	name    string
	aliases []string
	t       *vtype
}

// fieldIndex resolves a name the way the decoder binds table columns: an
// exact field name first, then a field's alias, so a rule written before a
// writer-side rename (the old name kept as an alias) still finds the field.
func (t *vtype) fieldIndex(name string) int {
	for i, f := range t.fields {
		if f.name == name {
			return i
		}
	}
	for i, f := range t.fields {
		for _, a := range f.aliases {
			if a == name {
				return i
			}
		}
	}
	return -1
}

// vcompiler compiles vtypes. memo makes recursive records a finite graph.
type vcompiler struct {
	memo map[*avro.RecordSchema]*vtype
}

func (c *vcompiler) typ(s avro.Schema, path string) (*vtype, error) {
	s = deref(s)
	t := &vtype{path: path, minSize: 1}
	switch ws := s.(type) {
	case *avro.NullSchema:
		t.kind, t.minSize = vNull, 0
	case *avro.PrimitiveSchema:
		t.kind = primitiveKind(ws)
		switch t.kind {
		case vFloat:
			t.minSize = 4
		case vDouble:
			t.minSize = 8
		case vDecBytes:
			t.scale = ws.Logical().(*avro.DecimalLogicalSchema).Scale()
		}
	case *avro.FixedSchema:
		t.kind, t.size, t.minSize = vFixed, ws.Size(), ws.Size()
		if d, ok := ws.Logical().(*avro.DecimalLogicalSchema); ok {
			t.kind, t.scale = vDecFixed, d.Scale()
		} else if ws.Size() == 16 && isUUID(ws) {
			t.kind = vUUIDFixed
		}
	case *avro.EnumSchema:
		t.kind = vEnum
		for _, sym := range ws.Symbols() {
			t.syms = append(t.syms, types.String(sym))
		}
	case *avro.RecordSchema:
		if m, ok := c.memo[ws]; ok {
			return m, nil
		}
		t.kind, t.minSize = vRecord, 0
		c.memo[ws] = t // before the fields, so recursion finds it
		for _, f := range ws.Fields() {
			ft, err := c.typ(f.Type(), joinPath(path, f.Name()))
			if err != nil {
				return nil, err
			}
			t.fields = append(t.fields, vfield{name: f.Name(), aliases: f.Aliases(), t: ft})
			t.names = append(t.names, f.Name())
			t.minSize += ft.minSize
		}
	case *avro.ArraySchema:
		elem, err := c.typ(ws.Items(), path+".element")
		if err != nil {
			return nil, err
		}
		t.kind, t.elem = vArray, elem
	case *avro.MapSchema:
		elem, err := c.typ(ws.Values(), path+".value")
		if err != nil {
			return nil, err
		}
		t.kind, t.elem = vMap, elem
	case *avro.UnionSchema:
		t.kind = vUnion
		for _, b := range ws.Types() {
			bt, err := c.typ(b, path)
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

// primitiveKind maps a primitive and its logical type. As in the Avro spec
// and ToIceberg, a logical type on the wrong primitive is ignored.
func primitiveKind(p *avro.PrimitiveSchema) vkind {
	var lt avro.LogicalType
	if l := p.Logical(); l != nil {
		lt = l.Type()
	}
	switch p.Type() {
	case avro.Boolean:
		return vBool
	case avro.Int:
		switch lt {
		case avro.Date:
			return vDate
		case avro.TimeMillis:
			return vTimeMillis
		}
		return vInt
	case avro.Long:
		switch lt {
		case avro.TimeMicros:
			return vTimeMicros
		case avro.TimestampMillis, avro.LocalTimestampMillis:
			return vTsMillis
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			return vTsMicros
		}
		return vLong
	case avro.Float:
		return vFloat
	case avro.Double:
		return vDouble
	case avro.Bytes:
		if _, ok := p.Logical().(*avro.DecimalLogicalSchema); ok {
			return vDecBytes
		}
		return vBytes
	}
	return vString
}

// Why a payload is malformed, besides the decoder's reasons.
const (
	whyItems    = "more array or map items than the payload can justify"
	whyDuration = "time of day overflows a duration"
)

func malformedAt(t *vtype, r *reader, why string) error {
	path := t.path
	if path == "" {
		path = "<record>"
	}
	return fmt.Errorf("%w: field %q at byte %d: %s", ErrMalformed, path, r.p, why)
}

// walker reads values for rules. Every read is bounds-checked by reader;
// items caps the array and map items one walk may visit, because items of
// a zero-size type (null, fixed(0), an empty record) cost no bytes, so the
// per-block count check alone would let a small payload describe billions.
type walker struct {
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

func (w *walker) reset(payloadLen int) {
	w.items = 0
	w.maxItems = itemsSlack + itemsPerByte*payloadLen
}

// readMode says what walk does with a value.
type readMode uint8

const (
	// modeSkip steps over a value no rule reads, checking only what
	// stepping needs: bounds, lengths, counts, indexes, depth.
	modeSkip readMode = iota
	// modeCheck steps over a value, checking everything modeBuild would,
	// so that building it later cannot fail.
	modeCheck
	// modeBuild returns the value as a rule sees it. Strings and bytes
	// alias the payload (see RuleEvaluator.Eval).
	modeBuild
)

// walk reads one value of type t at r. Without modeBuild it returns nil.
func (w *walker) walk(t *vtype, r *reader, depth int, mode readMode) (ref.Val, error) {
	build := mode == modeBuild
	switch t.kind {
	case vNull:
		return types.NullValue, nil
	case vBool:
		b, ok := r.take(1)
		if !ok {
			return nil, malformedAt(t, r, whyTruncated)
		}
		if b[0] > 1 {
			return nil, malformedAt(t, r, whyBool)
		}
		return types.Bool(b[0] == 1), nil
	case vInt, vLong, vDate, vTimeMillis, vTimeMicros, vTsMillis, vTsMicros:
		return w.integer(t, r, build)
	case vFloat:
		b, ok := r.take(4)
		if !ok {
			return nil, malformedAt(t, r, whyTruncated)
		}
		if !build {
			return nil, nil
		}
		return types.Double(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case vDouble:
		b, ok := r.take(8)
		if !ok {
			return nil, malformedAt(t, r, whyTruncated)
		}
		if !build {
			return nil, nil
		}
		return types.Double(math.Float64frombits(binary.LittleEndian.Uint64(b))), nil
	case vString, vBytes, vDecBytes:
		s, why := r.bytes()
		if why != "" {
			return nil, malformedAt(t, r, why)
		}
		return w.byteValue(t, r, s, mode)
	case vFixed, vUUIDFixed, vDecFixed:
		s, ok := r.take(t.size)
		if !ok {
			return nil, malformedAt(t, r, whyTruncated)
		}
		return w.byteValue(t, r, s, mode)
	case vEnum:
		idx, ok := r.long()
		if !ok {
			return nil, malformedAt(t, r, whyVarint)
		}
		if idx < 0 || idx >= int64(len(t.syms)) {
			return nil, malformedAt(t, r, whyEnum)
		}
		return t.syms[idx], nil
	case vRecord:
		return w.record(t, r, depth, mode)
	case vArray, vMap:
		return w.collection(t, r, depth, mode)
	case vUnion:
		if depth >= maxDepth {
			return nil, malformedAt(t, r, whyDepth)
		}
		idx, ok := r.long()
		if !ok {
			return nil, malformedAt(t, r, whyVarint)
		}
		if idx < 0 || idx >= int64(len(t.branches)) {
			return nil, malformedAt(t, r, whyUnion)
		}
		return w.walk(t.branches[idx], r, depth+1, mode)
	}
	return nil, malformedAt(t, r, "unknown compiled type")
}

// integer reads the varint-encoded kinds.
func (w *walker) integer(t *vtype, r *reader, build bool) (ref.Val, error) {
	v, ok := r.long()
	if !ok {
		return nil, malformedAt(t, r, whyVarint)
	}
	switch t.kind {
	case vInt, vDate, vTimeMillis:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, malformedAt(t, r, whyIntRange)
		}
	case vTimeMicros:
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return nil, malformedAt(t, r, whyDuration)
		}
	}
	if !build {
		return nil, nil
	}
	switch t.kind {
	case vDate:
		return types.Timestamp{Time: time.Unix(v*86400, 0).UTC()}, nil
	case vTimeMillis:
		return types.Duration{Duration: time.Duration(v) * time.Millisecond}, nil
	case vTimeMicros:
		return types.Duration{Duration: time.Duration(v) * time.Microsecond}, nil
	case vTsMillis:
		return types.Timestamp{Time: time.UnixMilli(v).UTC()}, nil
	case vTsMicros:
		return types.Timestamp{Time: time.UnixMicro(v).UTC()}, nil
	}
	return types.Int(v), nil
}

// byteValue checks and converts a string, bytes, fixed or decimal value.
func (w *walker) byteValue(t *vtype, r *reader, s []byte, mode readMode) (ref.Val, error) {
	if mode == modeSkip {
		return nil, nil
	}
	build := mode == modeBuild
	switch t.kind {
	case vString:
		if !utf8.Valid(s) {
			return nil, malformedAt(t, r, whyUTF8)
		}
		if build {
			return types.String(aliasString(s)), nil
		}
	case vBytes, vFixed:
		if build {
			// The full slice expression keeps an append from ever
			// writing into the payload past the value.
			return types.Bytes(s[:len(s):len(s)]), nil
		}
	case vUUIDFixed:
		if build {
			return types.String(formatUUID(s)), nil
		}
	case vDecBytes, vDecFixed:
		v, ok := decimalFromBE(s)
		if !ok {
			return nil, malformedAt(t, r, whyDecimal)
		}
		if build {
			return types.Double(decimalToFloat(v.HighBits(), v.LowBits(), t.scale)), nil
		}
	}
	return nil, nil
}

func (w *walker) record(t *vtype, r *reader, depth int, mode readMode) (ref.Val, error) {
	build := mode == modeBuild
	if depth >= maxDepth {
		return nil, malformedAt(t, r, whyDepth)
	}
	var vals []ref.Val
	if build {
		vals = make([]ref.Val, len(t.fields))
	}
	for i, f := range t.fields {
		v, err := w.walk(f.t, r, depth+1, mode)
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

func (w *walker) collection(t *vtype, r *reader, depth int, mode readMode) (ref.Val, error) {
	build := mode == modeBuild
	if depth >= maxDepth {
		return nil, malformedAt(t, r, whyDepth)
	}
	isMap := t.kind == vMap
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
		c, why := r.block(minSize)
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
				if k, why = r.bytes(); why != "" {
					return nil, malformedAt(t, r, why)
				}
				if mode != modeSkip && !utf8.Valid(k) {
					return nil, malformedAt(t, r, whyUTF8)
				}
			}
			v, err := w.walk(t.elem, r, depth+1, mode)
			if err != nil {
				return nil, err
			}
			switch {
			case !build:
			case isMap:
				m[types.String(aliasString(k))] = v // a repeated key: the last wins
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

// aliasString views b as a string without copying. Only values that live
// no longer than one Eval are made this way.
func aliasString(b []byte) string {
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

// decimalToFloat converts an unscaled 128-bit value to the nearest double
// when it can do so exactly rounded (|unscaled| < 2^53 and scale ≤ 22, where
// both operands of the division are exact), else to a close approximation.
func decimalToFloat(hi int64, lo uint64, scale int) float64 {
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
