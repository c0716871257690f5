package transform

import (
	"fmt"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

// flatRec is how a flatten step takes apart one record value: a record
// field's encoding is its fields' encodings one after another, so the
// leaves are sub-slices of it, re-prefixed only when they become nullable.
type flatRec struct {
	union   bool  // the record is a branch of a union
	nullIdx int64 // the union's null branch, -1 if none
	// children are the record's fields, in order.
	children []flatChild
	// nulls are the encodings of null of every leaf under the record, for
	// when it is null.
	nulls [][]byte
}

type flatChild struct {
	t       *rules.Type // the field's type, to find where its value ends
	sub     *flatRec    // set for a record flattened further
	wrapped bool        // an ancestor is nullable: the leaf's type became nullable
	wrap    nullWrap
}

// recordOf returns the record a field holds, when it holds a record or a
// union of one record and (optionally) null, with the union's null branch.
func recordOf(s avro.Schema) (rec *avro.RecordSchema, union bool, nullIdx int64) {
	nullIdx = -1
	switch t := avrobin.Deref(s).(type) {
	case *avro.RecordSchema:
		return t, false, -1
	case *avro.UnionSchema:
		for i, b := range t.Types() {
			switch b := avrobin.Deref(b).(type) {
			case *avro.NullSchema:
				nullIdx = int64(i)
			case *avro.RecordSchema:
				if rec != nil {
					return nil, false, -1
				}
				rec = b
			default:
				return nil, false, -1
			}
		}
		return rec, rec != nil, nullIdx
	}
	return nil, false, -1
}

func (b *binder) flatten(cols []string, sep string) (stepRunner, error) {
	targets := map[int]bool{}
	if len(cols) == 0 {
		for i, f := range b.fields {
			if r, _, _ := recordOf(f.Type()); r != nil {
				targets[i] = true
			}
		}
	}
	for _, name := range cols {
		i := b.index(name)
		if i < 0 {
			return nil, fmt.Errorf("column %q does not exist", name)
		}
		if r, _, _ := recordOf(b.fields[i].Type()); r == nil {
			return nil, fmt.Errorf("column %q is %s, not a record", name, avrobin.TypeName(avrobin.Deref(b.fields[i].Type())))
		}
		targets[i] = true
	}
	if len(targets) == 0 {
		return nil, nil
	}
	st := &flatStep{plan: make([]*flatRec, len(b.fields))}
	var fields []*avro.Field
	for i, f := range b.fields {
		if !targets[i] {
			fields = append(fields, f)
			continue
		}
		fr, leaves, err := b.flatRecord(f.Name(), f.Type(), sep, false, 1, map[string]bool{})
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name(), err)
		}
		st.plan[i] = fr
		fields = append(fields, leaves...)
	}
	if err := checkUnique(fields); err != nil {
		return nil, err
	}
	b.fields = fields
	return st, nil
}

// flatRecord plans the flattening of a record-typed value named prefix and
// returns its leaf fields. wrapped is set under a nullable ancestor.
func (b *binder) flatRecord(prefix string, typ avro.Schema, sep string, wrapped bool, depth int, path map[string]bool) (*flatRec, []*avro.Field, error) {
	rec, union, nullIdx := recordOf(typ)
	if depth > avrobin.MaxDepth {
		return nil, nil, fmt.Errorf("records nest deeper than %d", avrobin.MaxDepth)
	}
	if path[rec.FullName()] {
		return nil, nil, fmt.Errorf("recursive record %s cannot be flattened", rec.FullName())
	}
	path[rec.FullName()] = true
	defer delete(path, rec.FullName())
	fr := &flatRec{union: union, nullIdx: nullIdx}
	nullable := wrapped || nullIdx >= 0
	var out []*avro.Field
	for _, cf := range rec.Fields() {
		name := prefix + sep + cf.Name()
		vt, err := b.vc.Compile(cf.Type(), name)
		if err != nil {
			return nil, nil, err
		}
		ch := flatChild{t: vt}
		if r, _, _ := recordOf(cf.Type()); r != nil {
			sub, leaves, err := b.flatRecord(name, cf.Type(), sep, nullable, depth+1, path)
			if err != nil {
				return nil, nil, err
			}
			ch.sub = sub
			fr.nulls = append(fr.nulls, sub.nulls...)
			out = append(out, leaves...)
		} else {
			t := cf.Type()
			if nullable {
				if t, ch.wrap, err = makeNullable(t); err != nil {
					return nil, nil, fmt.Errorf("field %q: %w", name, err)
				}
				ch.wrapped = true
				fr.nulls = append(fr.nulls, ch.wrap.null)
			}
			f, err := newField(name, t, cf, nil, nil)
			if err != nil {
				return nil, nil, fmt.Errorf("field %q: %w", name, err)
			}
			out = append(out, f)
		}
		fr.children = append(fr.children, ch)
	}
	return fr, out, nil
}

// flatStep replaces the record fields planned by their leaves.
type flatStep struct {
	plan []*flatRec // per input field; nil passes it through
}

func (s *flatStep) run(p *TransformProgram, _ *schema.Meta, _ []schema.Header) (bool, error) {
	p.next = p.next[:0]
	for i, v := range p.cur {
		if s.plan[i] == nil {
			p.next = append(p.next, v)
			continue
		}
		if err := p.flatten(s.plan[i], v); err != nil {
			return false, err
		}
	}
	p.cur, p.next = p.next, p.cur
	return true, nil
}

func (p *TransformProgram) flatten(fr *flatRec, v []byte) error {
	r := avrobin.Reader{B: v}
	if fr.union {
		if idx, _ := r.Long(); idx == fr.nullIdx {
			p.next = append(p.next, fr.nulls...)
			return nil
		}
	}
	for i := range fr.children {
		ch := &fr.children[i]
		start := r.P
		p.w.Reset(len(v))
		if _, err := p.w.Walk(ch.t, &r, 1, rules.ModeSkip); err != nil {
			return fmt.Errorf("internal error: flatten: %v", err) // the value was validated
		}
		cv := v[start:r.P]
		switch {
		case ch.sub != nil:
			if err := p.flatten(ch.sub, cv); err != nil {
				return err
			}
		case ch.wrapped:
			a := len(p.arena)
			p.arena = ch.wrap.appendPresent(p.arena, cv)
			p.next = append(p.next, p.arena[a:])
		default:
			p.next = append(p.next, cv)
		}
	}
	return nil
}
