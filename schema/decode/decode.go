package decode

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

// Decoder decodes Avro binary payloads written with one writer schema into
// the Arrow columns of one table schema. Fields are resolved by name, or by a
// writer field's alias when no name matches: writer fields the table lacks
// are skipped, table columns the writer lacks are null, and the metadata
// columns are left to schema.AppendMeta.
//
// A Decoder is not safe for concurrent use; use one per goroutine (it is
// cheap to build and holds per-call scratch state).
type Decoder struct {
	root    *node
	nTarget int
	bound   *array.RecordBuilder
	scratch [16]byte
}

// NewDecoder compiles the resolution of writer against target. It fails
// when a table column is required but the writer lacks it, or when a writer
// type cannot be read as the table's type (allowed promotions: int→long,
// float→double, decimal precision widening).
func NewDecoder(writer avro.Schema, target *iceberg.Schema) (*Decoder, error) {
	rec, ok := avrobin.Deref(writer).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("compile decoder: writer schema is %s, want a record", writer.Type())
	}
	c := compiler{memo: map[*avro.RecordSchema]*node{}}
	root, err := c.record(rec, target.Fields(), "", true)
	if err != nil {
		return nil, fmt.Errorf("compile decoder: %w", err)
	}
	return &Decoder{root: root, nTarget: len(target.Fields())}, nil
}

// Decode appends one record to b, whose schema must be schema.ArrowSchema(target).
// It is all or nothing: when it returns an error no builder was touched.
// Malformed payloads return an error wrapping ErrMalformed, and so do bytes
// after the record: they mean the payload is not what its schema id says.
// It does not allocate in steady state.
func (d *Decoder) Decode(payload []byte, b *array.RecordBuilder) error {
	if b != d.bound {
		if err := d.bind(b); err != nil {
			return err
		}
	}
	r := avrobin.Reader{B: payload}
	if err := d.checkWhole(&r); err != nil {
		return err
	}
	r.P = 0
	d.emitFields(d.root, &r, 0)
	return nil
}

// node is one compiled step: how to read a writer value and, when emit is
// set, which builder receives it.
type node struct {
	op   op
	path string
	// emit is false for writer values the table does not hold: they are
	// validated and skipped.
	emit     bool
	required bool // the table column rejects null

	// Writer unions around the value: unionN branches, the null branch at
	// nullIdx (-1 if none). Zero unionN means no union.
	unionN  int
	nullIdx int

	size     int      // opFixed, opDecFixed, opUUIDFixed
	nsym     int      // opEnum
	syms     [][]byte // opEnum symbols, for appending without allocation
	prec     int32    // decimal precision of the table column
	minSize  int      // fewest bytes one value can take (array/map count checks)
	fields   []*node  // opRecord, in writer order
	fieldIdx []int    // opRecord: table child index per writer field, -1 to skip
	missing  []int    // opRecord: table children the writer lacks
	elem     *node    // opArray items, opMap values
	key      *node    // opMap keys
	branches []*node  // opUnion (skip only)

	bindings
}

// op says how a writer value is encoded and converted.
type op uint8

const (
	opNull        op = iota // null type: no bytes
	opBool                  // boolean → bool
	opInt                   // int → int32
	opIntLong               // int → int64
	opLong                  // long → int64
	opFloat                 // float → float32
	opFloatDouble           // float → float64
	opDouble                // double → float64
	opString                // string → string (UTF-8 checked)
	opBytes                 // bytes → binary
	opFixed                 // fixed → fixed_size_binary
	opEnum                  // enum → string
	opUUID                  // string uuid → 16 bytes
	opUUIDFixed             // fixed(16) uuid → 16 bytes
	opDecBytes              // bytes decimal → decimal128
	opDecFixed              // fixed decimal → decimal128
	opDate                  // int date → date32
	opTimeMillis            // int time-millis → time64[us]
	opTimeMicros            // long time-micros → time64[us]
	opTsMillis              // long timestamp-millis → timestamp[us]
	opTsMicros              // long timestamp-micros → timestamp[us]
	opRecord
	opArray
	opMap
	opUnion // union with several non-null branches; skip only
)

// compiler builds node trees. memo holds skip-only record nodes so that
// recursive writer types compile to a finite graph.
type compiler struct {
	memo map[*avro.RecordSchema]*node
}

// record compiles a writer record against table fields. top marks the
// table's top level, where the metadata columns live.
func (c *compiler) record(w *avro.RecordSchema, targets []iceberg.NestedField, path string, top bool) (*node, error) {
	n := &node{op: opRecord, path: path, emit: true, nullIdx: -1}
	bound := schema.BindFields(w, targets, top)
	used := make([]bool, len(targets))
	for i, f := range w.Fields() {
		fp := avrobin.JoinPath(path, f.Name())
		idx := bound[i]
		var child *node
		var err error
		if idx >= 0 {
			t := targets[idx]
			child, err = c.field(f.Type(), t.Type, t.Required, fp)
			used[idx] = true
		} else {
			child, err = c.skip(f.Type(), fp)
		}
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, child)
		n.fieldIdx = append(n.fieldIdx, idx)
		n.minSize += child.minSize
	}
	for i, t := range targets {
		if used[i] || (top && schema.IsMetaColumn(t.Name)) {
			continue
		}
		if t.Required {
			return nil, fmt.Errorf("field %q: table column is required but the writer schema lacks it", avrobin.JoinPath(path, t.Name))
		}
		n.missing = append(n.missing, i)
	}
	return n, nil
}

func (c *compiler) field(w avro.Schema, t iceberg.Type, required bool, path string) (*node, error) {
	w = avrobin.Deref(w)
	unionN, nullIdx, valIdx := 0, -1, -1
	if u, ok := w.(*avro.UnionSchema); ok {
		unionN = len(u.Types())
		for i, b := range u.Types() {
			if avrobin.Deref(b).Type() == avro.Null {
				nullIdx = i
			} else if valIdx >= 0 {
				_, _, err := avrobin.UnwrapNullable(u, path)
				return nil, err
			} else {
				valIdx = i
			}
		}
		if valIdx < 0 {
			if required {
				return nil, fmt.Errorf("field %q: writer type is always null but the table column is required", path)
			}
			return &node{op: opNull, path: path, emit: true, unionN: unionN, nullIdx: nullIdx, minSize: 1}, nil
		}
		w = avrobin.Deref(u.Types()[valIdx])
	}
	if _, ok := w.(*avro.NullSchema); ok {
		if required {
			return nil, fmt.Errorf("field %q: writer type is null but the table column is required", path)
		}
		return &node{op: opNull, path: path, emit: true, nullIdx: -1}, nil
	}
	n, err := c.value(w, t, path)
	if err != nil {
		return nil, err
	}
	n.required = required
	n.unionN, n.nullIdx = unionN, nullIdx
	if unionN > 0 {
		n.minSize = 1
	}
	return n, nil
}

// value compiles a non-union writer value bound to a table type.
func (c *compiler) value(w avro.Schema, t iceberg.Type, path string) (*node, error) {
	n := &node{path: path, emit: true, nullIdx: -1}
	switch ws := w.(type) {
	case *avro.RecordSchema:
		st, ok := t.(*iceberg.StructType)
		if !ok {
			return nil, mismatch(path, w, t)
		}
		rn, err := c.record(ws, st.FieldList, path, false)
		if err != nil {
			return nil, err
		}
		return rn, nil
	case *avro.ArraySchema:
		lt, ok := t.(*iceberg.ListType)
		if !ok {
			return nil, mismatch(path, w, t)
		}
		elem, err := c.field(ws.Items(), lt.Element, lt.ElementRequired, path+".element")
		if err != nil {
			return nil, err
		}
		n.op, n.elem, n.minSize = opArray, elem, 1
		return n, nil
	case *avro.MapSchema:
		mt, ok := t.(*iceberg.MapType)
		if !ok || !mt.KeyType.Equals(iceberg.PrimitiveTypes.String) {
			return nil, mismatch(path, w, t)
		}
		val, err := c.field(ws.Values(), mt.ValueType, mt.ValueRequired, path+".value")
		if err != nil {
			return nil, err
		}
		key := &node{op: opString, path: path + ".key", emit: true, required: true, nullIdx: -1, minSize: 1}
		n.op, n.key, n.elem, n.minSize = opMap, key, val, 1
		return n, nil
	}
	// Primitive, fixed and enum: map the writer type the way schema.ToIceberg
	// does, then check it can be read as the table type.
	wt, err := schema.IcebergType(w, path)
	if err != nil {
		return nil, err
	}
	if err := c.scalar(n, w, wt, t); err != nil {
		return nil, err
	}
	return n, nil
}

// scalar picks the op for a primitive, fixed or enum writer whose Iceberg
// type is wt, read as table type t.
func (c *compiler) scalar(n *node, w avro.Schema, wt, t iceberg.Type) error {
	fixedSize := 0
	if f, ok := w.(*avro.FixedSchema); ok {
		fixedSize = f.Size()
	}
	n.size, n.minSize = fixedSize, max(fixedSize, 1)
	switch wt := wt.(type) {
	case iceberg.BooleanType:
		n.op = opBool
	case iceberg.Int32Type:
		n.op = opInt
		if _, ok := t.(iceberg.Int64Type); ok {
			n.op = opIntLong
			return nil
		}
	case iceberg.Int64Type:
		n.op = opLong
	case iceberg.Float32Type:
		n.op = opFloat
		if _, ok := t.(iceberg.Float64Type); ok {
			n.op = opFloatDouble
			return nil
		}
	case iceberg.Float64Type:
		n.op, n.minSize = opDouble, 8
	case iceberg.StringType:
		n.op = opString
		if e, ok := w.(*avro.EnumSchema); ok {
			n.op, n.nsym = opEnum, len(e.Symbols())
			for _, s := range e.Symbols() {
				n.syms = append(n.syms, []byte(s))
			}
		}
	case iceberg.BinaryType:
		n.op = opBytes
	case iceberg.FixedType:
		n.op = opFixed
	case iceberg.UUIDType:
		n.op = opUUID
		if fixedSize > 0 {
			n.op = opUUIDFixed
		}
	case iceberg.DecimalType:
		n.op = opDecBytes
		if fixedSize > 0 {
			n.op = opDecFixed
		}
		td, ok := t.(iceberg.DecimalType)
		if !ok || td.Scale() != wt.Scale() || td.Precision() < wt.Precision() {
			return mismatch(n.path, w, t)
		}
		n.prec = int32(td.Precision())
		return nil
	case iceberg.DateType:
		n.op = opDate
	case iceberg.TimeType:
		n.op = opTimeMicros
		if w.Type() == avro.Int {
			n.op = opTimeMillis
		}
	case iceberg.TimestampTzType, iceberg.TimestampType:
		n.op = opTsMicros
		if l := w.(*avro.PrimitiveSchema).Logical(); l.Type() == avro.TimestampMillis || l.Type() == avro.LocalTimestampMillis {
			n.op = opTsMillis
		}
	default:
		return mismatch(n.path, w, t)
	}
	if n.op == opFloat {
		n.minSize = 4
	}
	if !wt.Equals(t) {
		return mismatch(n.path, w, t)
	}
	return nil
}

func mismatch(path string, w avro.Schema, t iceberg.Type) error {
	return fmt.Errorf("field %q: writer type %s cannot be read as table type %s", path, avrobin.TypeName(w), t)
}

// skip compiles a writer value the table does not hold: it is validated
// structurally and stepped over. Any Avro schema compiles, including
// recursive records and multi-type unions.
func (c *compiler) skip(w avro.Schema, path string) (*node, error) {
	w = avrobin.Deref(w)
	n := &node{path: path, nullIdx: -1, minSize: 1}
	switch ws := w.(type) {
	case *avro.NullSchema:
		n.op, n.minSize = opNull, 0
	case *avro.PrimitiveSchema:
		switch ws.Type() {
		case avro.Boolean:
			n.op = opBool
		case avro.Int:
			n.op = opInt
		case avro.Long:
			n.op = opLong
		case avro.Float:
			n.op, n.minSize = opFloat, 4
		case avro.Double:
			n.op, n.minSize = opDouble, 8
		case avro.String, avro.Bytes:
			n.op = opBytes
		default:
			return nil, fmt.Errorf("field %q: avro type %s is not supported", path, ws.Type())
		}
	case *avro.FixedSchema:
		n.op, n.size, n.minSize = opFixed, ws.Size(), ws.Size()
	case *avro.EnumSchema:
		n.op, n.nsym = opEnum, len(ws.Symbols())
	case *avro.RecordSchema:
		if m, ok := c.memo[ws]; ok {
			return m, nil
		}
		n.op, n.minSize = opRecord, 0
		c.memo[ws] = n // before the fields, so recursion finds it
		for _, f := range ws.Fields() {
			child, err := c.skip(f.Type(), avrobin.JoinPath(path, f.Name()))
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, child)
			n.fieldIdx = append(n.fieldIdx, -1)
			n.minSize += child.minSize
		}
	case *avro.ArraySchema:
		elem, err := c.skip(ws.Items(), path+".element")
		if err != nil {
			return nil, err
		}
		n.op, n.elem = opArray, elem
	case *avro.MapSchema:
		val, err := c.skip(ws.Values(), path+".value")
		if err != nil {
			return nil, err
		}
		n.op, n.elem = opMap, val
		n.key = &node{op: opBytes, path: path + ".key", nullIdx: -1, minSize: 1}
	case *avro.UnionSchema:
		n.op = opUnion
		for _, b := range ws.Types() {
			bn, err := c.skip(b, path)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, bn)
		}
	default:
		return nil, fmt.Errorf("field %q: avro type %s is not supported", path, w.Type())
	}
	return n, nil
}
