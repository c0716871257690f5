package transform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/avrobin"
)

// Bind checks that every step fits the record as the steps before it
// leave it — the columns exist and have types the step handles — and
// computes the output schema. It walks the whole writer schema, so cache
// the program per writer schema id (and per goroutine). Errors wrap
// ErrTransform and name the step and the column:
//
//	transform "year" (step 2, cast): column "year": record cannot be cast to long
func (t *Transforms) Bind(writer avro.Schema) (*TransformProgram, error) {
	rec, ok := avrobin.Deref(writer).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("%w: writer schema is %s, want a record", ErrTransform, writer.Type())
	}
	b := &binder{rec: rec, fields: rec.Fields(), vc: rules.Compiler{Memo: map[*avro.RecordSchema]*rules.Type{}}}
	wt, err := b.vc.Compile(rec, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTransform, err)
	}
	p := &TransformProgram{writer: wt}
	most := len(b.fields)
	for _, s := range t.steps {
		b.step = s
		run, err := b.bind(s)
		if err != nil {
			return nil, &stepError{index: s.index, name: s.name, op: s.op, err: err}
		}
		if run != nil {
			p.steps = append(p.steps, boundStep{index: s.index, name: s.name, run: run})
		}
		most = max(most, len(b.fields))
	}
	if p.schema, err = outputSchema(rec, b.fields); err != nil {
		return nil, fmt.Errorf("%w: output schema: %v", ErrTransform, err)
	}
	p.cur, p.next = make([][]byte, 0, most), make([][]byte, 0, most)
	return p, nil
}

// outputSchema makes the output record and proves it stands on its own:
// its JSON is parsed afresh, and the parsed schema is what Schema returns,
// exactly what a consumer of that JSON gets.
func outputSchema(rec *avro.RecordSchema, fields []*avro.Field) (avro.Schema, error) {
	rf := refFixer{defined: map[string]bool{rec.FullName(): true}}
	fields, _, err := rf.fields(fields)
	if err != nil {
		return nil, err
	}
	opts := []avro.SchemaOption{avro.WithDoc(rec.Doc()), avro.WithAliases(rec.Aliases()), avro.WithProps(rec.Props())}
	out, err := avro.NewRecordSchema(rec.Name(), rec.Namespace(), fields, opts...)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return avro.ParseWithCache(string(js), "", &avro.SchemaCache{})
}

// binder carries the record as the steps bound so far leave it.
type binder struct {
	rec    *avro.RecordSchema
	fields []*avro.Field
	vc     rules.Compiler
	step   *compiledStep
}

func (b *binder) index(name string) int {
	return slices.IndexFunc(b.fields, func(f *avro.Field) bool { return f.Name() == name })
}

func (b *binder) bind(s *compiledStep) (stepRunner, error) {
	switch s.op {
	case OpRename:
		return nil, b.rename(s.t.Renames)
	case OpDrop, OpKeep:
		return b.project(s.t.Columns, s.op == OpKeep)
	case OpDerive:
		return b.derive(s)
	case OpFilter:
		ev, err := s.rules.Bind(b.record())
		if err != nil {
			return nil, err
		}
		return &filterStep{ev: ev}, nil
	case OpFlatten:
		return b.flatten(s.t.Columns, s.t.Separator)
	case OpEnrich:
		return b.enrich(s.enrich, s.t.KeyColumns)
	}
	step := &columnStep{}
	for _, name := range s.t.Columns {
		c, err := b.column(name)
		if err != nil {
			return nil, err
		}
		op, typ, err := b.columnOp(s, c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", name, err)
		}
		if op == nil { // the value and its type stay as they are
			continue
		}
		if typ != c.field.Type() {
			var def *scalarValue
			if s.op == OpDefault && s.t.Value != nil {
				sv, _ := encodeScalar(s.t.Value, c.base)
				def = &sv
			}
			f, err := newField(name, typ, c.field, c.field.Aliases(), def)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", name, err)
			}
			b.fields = slices.Clone(b.fields)
			b.fields[c.idx] = f
		}
		op.idx, op.name = c.idx, name
		step.cols = append(step.cols, *op)
	}
	if len(step.cols) == 0 {
		return nil, nil
	}
	return step, nil
}

// record is the current record as a schema, for binding CEL to it.
func (b *binder) record() avro.Schema {
	rec, err := avro.NewRecordSchema(b.rec.Name(), b.rec.Namespace(), b.fields)
	if err != nil { // the writer's own name: cannot fail
		return b.rec
	}
	return rec
}

// colInfo is a top-level field a step applies to: its value type, and the
// union around it, if any.
type colInfo struct {
	idx   int
	field *avro.Field
	raw   avro.Schema // the value's type as written (possibly a reference)
	base  avro.Schema // raw, dereferenced
	kind  rules.Kind
	union bool
	// Branch indexes in the union: of null (-1 when it has none) and of
	// the value.
	nullIdx, valIdx int64
}

func (c *colInfo) nullable() bool { return c.union && c.nullIdx >= 0 }

func (b *binder) column(name string) (colInfo, error) {
	i := b.index(name)
	if i < 0 {
		return colInfo{}, fmt.Errorf("column %q does not exist", name)
	}
	c := colInfo{idx: i, field: b.fields[i], raw: b.fields[i].Type(), nullIdx: -1}
	if u, ok := avrobin.Deref(c.raw).(*avro.UnionSchema); ok {
		c.union, c.valIdx = true, -1
		for j, br := range u.Types() {
			switch {
			case avrobin.Deref(br).Type() == avro.Null:
				c.nullIdx = int64(j)
			case c.valIdx >= 0:
				return colInfo{}, fmt.Errorf("column %q is a union of several types", name)
			default:
				c.valIdx, c.raw = int64(j), br
			}
		}
		if c.valIdx < 0 {
			return colInfo{}, fmt.Errorf("column %q is always null", name)
		}
	}
	c.base = avrobin.Deref(c.raw)
	t, err := b.vc.Compile(c.base, name)
	if err != nil {
		return colInfo{}, err
	}
	c.kind = t.Kind
	return c, nil
}

func (b *binder) rename(renames map[string]string) error {
	fields := slices.Clone(b.fields)
	for _, old := range slices.Sorted(maps.Keys(renames)) {
		i := b.index(old)
		if i < 0 {
			return fmt.Errorf("column %q does not exist", old)
		}
		// The aliases go: they map earlier writer names to the field for
		// binding table columns, and a renamed field must land in the
		// column of its new name, not in one of an old name.
		f, err := newField(renames[old], fields[i].Type(), fields[i], nil, nil)
		if err != nil {
			return fmt.Errorf("column %q: %w", old, err)
		}
		fields[i] = f
	}
	if err := checkUnique(fields); err != nil {
		return err
	}
	b.fields = fields
	return nil
}

func checkUnique(fields []*avro.Field) error {
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if seen[f.Name()] {
			return fmt.Errorf("two fields would be named %q", f.Name())
		}
		seen[f.Name()] = true
	}
	return nil
}

func (b *binder) project(cols []string, keep bool) (stepRunner, error) {
	named := make(map[string]bool, len(cols))
	for _, c := range cols {
		if b.index(c) < 0 {
			return nil, fmt.Errorf("column %q does not exist", c)
		}
		named[c] = true
	}
	st := &projectStep{}
	var fields []*avro.Field
	for i, f := range b.fields {
		if named[f.Name()] == keep {
			st.src = append(st.src, i)
			fields = append(fields, f)
		}
	}
	b.fields = fields
	return st, nil
}

// columnOp binds a per-column step (cast, default, parse_timestamp and the
// string ops) to column c. It returns the op and the column's new type, or
// a nil op when the step leaves the column as it is.
func (b *binder) columnOp(s *compiledStep, c colInfo) (*colOp, avro.Schema, error) {
	op := &colOp{inUnion: c.union, inNull: c.nullIdx, outUnion: c.union, outNull: c.nullIdx, outVal: c.valIdx}
	// retype gives the column the value type t, keeping it nullable if it
	// was (as ["null", t]).
	retype := func(t avro.Schema) (avro.Schema, error) {
		op.outUnion, op.outNull, op.outVal = c.nullable(), 0, 1
		if !c.nullable() {
			return t, nil
		}
		return avro.NewUnionSchema([]avro.Schema{avro.NewNullSchema(), t})
	}
	switch s.op {
	case OpCast:
		return b.castOp(s.cast, c, op, retype)
	case OpDefault:
		return defaultOp(s, c, op)
	case OpParseTimestamp:
		conv := &tsConv{from: c.kind, formats: s.formats, loc: s.loc, syms: symbols(c.base)}
		switch c.kind {
		case rules.KindString, rules.KindEnum:
		case rules.KindInt, rules.KindLong, rules.KindDouble:
			i := slices.IndexFunc(s.formats, tsFormat.unix)
			if i < 0 {
				return nil, nil, fmt.Errorf("is %s, which needs a unix_* format", avrobin.TypeName(c.base))
			}
			conv.unix = s.formats[i]
		default:
			return nil, nil, fmt.Errorf("is %s, want a string or a number", avrobin.TypeName(c.base))
		}
		op.conv = conv
		t, err := retype(tTimestamp.schema())
		return op, t, err
	}
	// The string ops.
	if c.kind != rules.KindString && c.kind != rules.KindEnum {
		return nil, nil, fmt.Errorf("is %s, want a string", avrobin.TypeName(c.base))
	}
	text := textIn{syms: symbols(c.base)}
	switch s.op {
	case OpTrim:
		op.conv = &trimConv{text}
	case OpLower, OpUpper:
		op.conv = &caseConv{text: text, upper: s.op == OpUpper}
	case OpEmptyToNull:
		op.conv = &emptyConv{text}
	case OpHash:
		op.conv = &hashConv{text: text, h: hmac.New(sha256.New, s.t.Key)}
	case OpMask:
		op.conv = &maskConv{text: text, keep: s.t.KeepLast}
	}
	// A plain string keeps its type; an enum or uuid becomes a string.
	val := c.raw
	if p, ok := c.base.(*avro.PrimitiveSchema); !ok || p.Logical() != nil {
		val = tString.schema()
	}
	nullable := c.nullable() || s.op == OpEmptyToNull
	if val == c.raw && nullable == c.nullable() {
		return op, c.field.Type(), nil // the union, if any, stays as it is
	}
	if !nullable {
		op.outUnion = false
		return op, val, nil
	}
	op.outUnion, op.outNull, op.outVal = true, 0, 1
	typ, err := avro.NewUnionSchema([]avro.Schema{avro.NewNullSchema(), val})
	return op, typ, err
}

// castIdentity reports whether the column's type is the cast's target type
// already, so that the cast changes nothing.
func castIdentity(c colInfo, to castTarget) bool {
	p, ok := c.base.(*avro.PrimitiveSchema)
	if !ok {
		return false
	}
	if p.Logical() == nil {
		plain, ok := map[castTarget]rules.Kind{tString: rules.KindString, tInt: rules.KindInt, tLong: rules.KindLong, tFloat: rules.KindFloat, tDouble: rules.KindDouble, tBool: rules.KindBool}[to]
		return ok && c.kind == plain
	}
	lt := p.Logical().Type()
	return to == tTimestamp && lt == avro.TimestampMicros && c.kind == rules.KindTsMicros || to == tDate && lt == avro.Date && c.kind == rules.KindDate
}

func (b *binder) castOp(to castTarget, c colInfo, op *colOp, retype func(avro.Schema) (avro.Schema, error)) (*colOp, avro.Schema, error) {
	local := false
	if p, ok := c.base.(*avro.PrimitiveSchema); ok && p.Logical() != nil {
		lt := p.Logical().Type()
		local = lt == avro.LocalTimestampMillis || lt == avro.LocalTimestampMicros
	}
	if !castable(c.kind, to) {
		return nil, nil, fmt.Errorf("%s cannot be cast to %s", avrobin.TypeName(c.base), to)
	}
	if castIdentity(c, to) {
		return nil, nil, nil
	}
	conv := &castConv{from: c.kind, to: to, local: local, syms: symbols(c.base)}
	if d, ok := c.base.(*avro.PrimitiveSchema); ok {
		if l, ok := d.Logical().(*avro.DecimalLogicalSchema); ok {
			conv.scale = l.Scale()
		}
	}
	if f, ok := c.base.(*avro.FixedSchema); ok {
		if l, ok := f.Logical().(*avro.DecimalLogicalSchema); ok {
			conv.scale = l.Scale()
		}
	}
	op.conv = conv
	if c.kind == rules.KindInt && to == tLong {
		op.conv = nil // the same varint
	}
	t, err := retype(to.schema())
	return op, t, err
}

func defaultOp(s *compiledStep, c colInfo, op *colOp) (*colOp, avro.Schema, error) {
	op.outUnion = false
	if s.kafkaDef {
		switch c.kind {
		case rules.KindTsMillis:
			op.kafka = 1000
		case rules.KindTsMicros:
			op.kafka = 1
		default:
			return nil, nil, fmt.Errorf("is %s; from kafka_timestamp needs a timestamp", avrobin.TypeName(c.base))
		}
	} else {
		sv, err := encodeScalar(s.t.Value, c.base)
		if err != nil {
			return nil, nil, err
		}
		op.fill = sv.enc
	}
	if !c.nullable() { // never null: nothing to fill
		return nil, nil, nil
	}
	return op, c.raw, nil
}

// symbols are an enum's symbols as bytes, nil for other types.
func symbols(s avro.Schema) [][]byte {
	e, ok := s.(*avro.EnumSchema)
	if !ok {
		return nil
	}
	out := make([][]byte, len(e.Symbols()))
	for i, sym := range e.Symbols() {
		out[i] = []byte(sym)
	}
	return out
}

func (b *binder) derive(s *compiledStep) (stepRunner, error) {
	ev, err := s.rules.Bind(b.record())
	if err != nil {
		return nil, err
	}
	typ, err := avro.NewUnionSchema([]avro.Schema{avro.NewNullSchema(), s.derive.schema()})
	if err != nil {
		return nil, err
	}
	st := &deriveStep{ev: ev, to: s.derive, idx: b.index(s.t.Column)}
	var like *avro.Field
	var aliases []string
	if st.idx >= 0 {
		like = b.fields[st.idx]
		aliases = like.Aliases()
	}
	f, err := newField(s.t.Column, typ, like, aliases, nil)
	if err != nil {
		return nil, err
	}
	b.fields = slices.Clone(b.fields)
	if st.idx >= 0 {
		b.fields[st.idx] = f
	} else {
		b.fields = append(b.fields, f)
	}
	return st, nil
}

func (b *binder) enrich(e *enrichSpec, keyCols []string) (stepRunner, error) {
	st := &enrichStep{spec: e}
	for _, name := range keyCols {
		c, err := b.column(name)
		if err != nil {
			return nil, fmt.Errorf("key column: %w", err)
		}
		switch c.kind {
		case rules.KindString, rules.KindEnum, rules.KindInt, rules.KindLong, rules.KindBool:
		default:
			return nil, fmt.Errorf("key column %q is %s, want a string, enum, int, long or boolean", name, avrobin.TypeName(c.base))
		}
		st.keys = append(st.keys, keyCol{idx: c.idx, union: c.union, null: c.nullIdx, kind: c.kind, syms: symbols(c.base)})
	}
	for _, f := range e.out {
		if b.index(f.Name()) >= 0 {
			return nil, fmt.Errorf("lookup field %q collides with a field of the record", f.Name())
		}
	}
	b.fields = append(slices.Clone(b.fields), e.out...)
	return st, nil
}

// newField makes a field named name of type typ after like (nil for a new
// field), keeping like's doc, order and properties. Its default is def when
// given; else null when typ is a union with null first; else like's default
// when typ is like's own type. aliases are the field's aliases.
func newField(name string, typ avro.Schema, like *avro.Field, aliases []string, def *scalarValue) (*avro.Field, error) {
	var opts []avro.SchemaOption
	if like != nil {
		opts = append(opts, avro.WithDoc(like.Doc()), avro.WithOrder(like.Order()), avro.WithProps(like.Props()))
	}
	if len(aliases) > 0 {
		opts = append(opts, avro.WithAliases(aliases))
	}
	base := len(opts)
	switch {
	case def != nil && def.hasDef:
		opts = append(opts, avro.WithDefault(def.def))
	case nullFirst(typ):
		opts = append(opts, avro.WithDefault(nil))
	case like != nil && like.HasDefault() && like.Type() == typ:
		opts = append(opts, avro.WithDefault(like.Default()))
	}
	f, err := avro.NewField(name, typ, opts...)
	if err != nil && len(opts) > base {
		// hamba/avro keeps some defaults converted (bytes, fixed) in a
		// form it does not accept back; such a field loses its default.
		f, err = avro.NewField(name, typ, opts[:base]...)
	}
	return f, err
}

func nullFirst(s avro.Schema) bool {
	u, ok := avrobin.Deref(s).(*avro.UnionSchema)
	return ok && len(u.Types()) > 0 && avrobin.Deref(u.Types()[0]).Type() == avro.Null
}

// refFixer rewrites types so that, in print order, each named type is
// defined where it first appears and referred to by name after. Steps can
// remove the definition a later reference relies on (drop, keep, cast,
// flatten), and a definition can come to follow a reference.
type refFixer struct {
	defined map[string]bool
}

func (r *refFixer) fields(fs []*avro.Field) ([]*avro.Field, bool, error) {
	var out []*avro.Field
	for i, f := range fs {
		t, err := r.schema(f.Type())
		if err != nil {
			return nil, false, err
		}
		if t == f.Type() {
			if out != nil {
				out = append(out, f)
			}
			continue
		}
		if out == nil {
			out = append(make([]*avro.Field, 0, len(fs)), fs[:i]...)
		}
		var def *scalarValue
		if f.HasDefault() {
			def = &scalarValue{def: f.Default(), hasDef: true}
		}
		nf, err := newField(f.Name(), t, f, f.Aliases(), def)
		if err != nil {
			return nil, false, err
		}
		out = append(out, nf)
	}
	if out == nil {
		return fs, false, nil
	}
	return out, true, nil
}

func (r *refFixer) schema(s avro.Schema) (avro.Schema, error) {
	switch s := s.(type) {
	case *avro.RefSchema:
		if r.defined[s.Schema().FullName()] {
			return s, nil
		}
		return r.schema(s.Schema())
	case *avro.RecordSchema:
		if r.defined[s.FullName()] {
			return avro.NewRefSchema(s), nil
		}
		r.defined[s.FullName()] = true
		fields, changed, err := r.fields(s.Fields())
		if err != nil || !changed {
			return s, err
		}
		opts := []avro.SchemaOption{avro.WithDoc(s.Doc()), avro.WithAliases(s.Aliases()), avro.WithProps(s.Props())}
		if s.IsError() {
			return avro.NewErrorRecordSchema(s.Name(), s.Namespace(), fields, opts...)
		}
		return avro.NewRecordSchema(s.Name(), s.Namespace(), fields, opts...)
	case avro.NamedSchema: // enum, fixed
		if r.defined[s.FullName()] {
			return avro.NewRefSchema(s), nil
		}
		r.defined[s.FullName()] = true
		return s, nil
	case *avro.ArraySchema:
		items, err := r.schema(s.Items())
		if err != nil || items == s.Items() {
			return s, err
		}
		return avro.NewArraySchema(items, avro.WithProps(s.Props())), nil
	case *avro.MapSchema:
		vals, err := r.schema(s.Values())
		if err != nil || vals == s.Values() {
			return s, err
		}
		return avro.NewMapSchema(vals, avro.WithProps(s.Props())), nil
	case *avro.UnionSchema:
		var types []avro.Schema
		for i, t := range s.Types() {
			nt, err := r.schema(t)
			if err != nil {
				return nil, err
			}
			if nt != t && types == nil {
				types = slices.Clone(s.Types()[:i])
			}
			if types != nil {
				types = append(types, nt)
			}
		}
		if types == nil {
			return s, nil
		}
		return avro.NewUnionSchema(types)
	}
	return s, nil
}
