package rules

import (
	"fmt"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

// RuleEvaluator evaluates Rules over records of one writer schema.
//
// It does not decode records into Go values. Bind finds which fields of
// value the rules read; Eval walks the Avro binary once, validating and
// stepping over everything else, and notes where each of those fields
// starts; a field becomes a CEL value only when a rule asks for it. A
// record a rule uses whole (compares, iterates, passes to size()) is read
// whole, as is value itself when a rule uses it so.
//
// What a rule sees of each Avro type:
//
//	null, or the null branch of a union   null; has() is false
//	boolean                               bool
//	int, long                             int
//	float, double                         double
//	string, uuid string                   string
//	bytes, fixed                          bytes
//	enum                                  string: the symbol
//	uuid fixed(16)                        string: canonical lower-case form
//	decimal (bytes or fixed)              double: unscaled / 10^scale, exactly
//	                                      rounded when |unscaled| < 2^53
//	                                      and scale ≤ 22, else approximate
//	date                                  google.protobuf.Timestamp: midnight UTC
//	time-millis, time-micros              google.protobuf.Duration since midnight
//	timestamp-*, local-timestamp-*        google.protobuf.Timestamp, UTC
//	record                                map(string, dyn) of the writer's fields,
//	                                      null ones included, but has() is
//	                                      false for those, as for a null
//	                                      field of value
//	array                                 list
//	map                                   map(string, V)
//	union                                 the value of the branch written
//
// A field the writer lacks fails has() and errors when read. Names resolve
// to writer fields like the decoder's table binding: by name, then alias.
//
// A RuleEvaluator is not safe for concurrent use; use one per goroutine.
type RuleEvaluator struct {
	rules *Rules
	plan  *recPlan // fields read lazily; nil when no rule reads value or value is read whole
	whole *Type    // the writer record, when a rule reads value whole
	slots []*lazySlot

	w       Walker
	vars    ruleVars
	payload []byte
	root    ref.Val // what value resolves to in the current Eval
}

// recPlan reads one record lazily: the writer's fields in order, each
// stepped over or noted in a slot of rec.
type recPlan struct {
	t     *Type
	steps []planStep
	last  int // the last step with a slot, -1 if none
	rec   *lazyRecord
}

type planStep struct {
	t    *Type // the field's writer type
	slot int   // index in rec.slots, -1 to step over
}

// lazyRecord is a record read lazily, as value or as a field of it.
type lazyRecord struct {
	ev    *RuleEvaluator
	slots []lazySlot
}

type slotState uint8

const (
	slotUnread slotState = iota // not read in the current Eval
	slotNull
	slotSet
)

// lazySlot is one field the rules read. The fields after missing are set
// by each Eval.
type lazySlot struct {
	names   []string // as rules name it: the field name or an alias
	sub     *recPlan // set when the rules only select fields of this record
	missing bool     // the writer lacks the field

	state slotState
	t     *Type   // the type written (a union's branch)
	start int     // where the value starts in the payload
	val   ref.Val // the value, once a rule asked for it
}

// Bind compiles the evaluation of r over records written with writer,
// which must be a record schema. It walks the whole writer schema, so
// cache the evaluator per writer schema id (and per goroutine).
func (r *Rules) Bind(writer avro.Schema) (*RuleEvaluator, error) {
	rec, ok := avrobin.Deref(writer).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("bind rules: writer schema is %s, want a record", writer.Type())
	}
	c := Compiler{Memo: map[*avro.RecordSchema]*Type{}}
	t, err := c.Compile(rec, "")
	if err != nil {
		return nil, fmt.Errorf("bind rules: %w", err)
	}
	ev := &RuleEvaluator{rules: r}
	ev.w.adapter = r.adapter
	ev.vars.ev = ev
	ev.vars.headers.adapter = r.adapter
	switch {
	case r.reads == nil:
	case r.reads.whole:
		ev.whole = t
	default:
		ev.plan = ev.planRecord(t, r.reads)
	}
	return ev, nil
}

// planRecord plans the lazy read of record t for the paths under n.
func (ev *RuleEvaluator) planRecord(t *Type, n *pathNode) *recPlan {
	p := &recPlan{t: t, last: -1, rec: &lazyRecord{ev: ev}, steps: make([]planStep, len(t.Fields))}
	for i, f := range t.Fields {
		p.steps[i] = planStep{t: f.Type, slot: -1}
	}
	// Group the rules' names by writer field: a name and an alias may
	// reach the same one, which is read once.
	type group struct {
		field int
		names []string
		reads *pathNode
	}
	var groups []*group
	var missing []string
	for _, c := range n.children {
		fi := t.fieldIndex(c.name)
		if fi < 0 {
			missing = append(missing, c.name)
			continue
		}
		var g *group
		for _, o := range groups {
			if o.field == fi {
				g = o
			}
		}
		if g == nil {
			g = &group{field: fi, reads: &pathNode{}}
			groups = append(groups, g)
		}
		g.names = append(g.names, c.name)
		g.reads.merge(c)
	}
	for _, g := range groups {
		s := lazySlot{names: g.names}
		if rt := selectableRecord(t.Fields[g.field].Type); rt != nil && !g.reads.whole && len(g.reads.children) > 0 {
			s.sub = ev.planRecord(rt, g.reads)
		}
		p.steps[g.field].slot = len(p.rec.slots)
		p.rec.slots = append(p.rec.slots, s)
		p.last = max(p.last, g.field)
	}
	for _, name := range missing {
		p.rec.slots = append(p.rec.slots, lazySlot{names: []string{name}, missing: true})
	}
	for i := range p.rec.slots {
		ev.slots = append(ev.slots, &p.rec.slots[i])
	}
	return p
}

// selectableRecord returns the record a field holds when it is a record or
// a union of null and one record: rules select fields of those lazily.
// Anything else a rule selects into (a map, a multi-type union) is read
// whole and CEL selects on the value.
func selectableRecord(t *Type) *Type {
	if t.Kind == KindRecord {
		return t
	}
	if t.Kind != KindUnion || len(t.branches) != 2 {
		return nil
	}
	a, b := t.branches[0], t.branches[1]
	switch {
	case a.Kind == KindNull && b.Kind == KindRecord:
		return b
	case b.Kind == KindNull && a.Kind == KindRecord:
		return a
	}
	return nil
}

// Eval evaluates the rules in declaration order against one record and
// returns the name of the first that fails, or "" when all pass. A rule
// whose evaluation errors (a missing field, a type mismatch at run time)
// fails, and the error, naming the rule, is returned with it.
//
// When the payload cannot be read as far as the rules need, Eval returns
// "" and an error wrapping ErrMalformed. Eval reads the payload only up to
// the end of the last field the rules read (all of it when a rule reads
// value whole, none when no rule reads value), and of the fields no rule
// reads it checks only the structure it needs to step over them (lengths,
// counts, union and enum indexes), not their content (UTF-8, decimal
// width). It is therefore no substitute for decode.Decoder.Check. Whatever the
// bytes, it does not panic, and its memory and time are linear in the
// payload's size.
//
// meta may be nil, which reads as the zero Meta. Once it returns, Eval
// keeps no reference to payload, meta or headers (only, for reuse, the
// topic string). Steady state, it allocates
// only for what the rules read: CEL values for fields and metadata (enum
// symbols, booleans and small ints excepted), and whatever the rules'
// functions allocate.
func (e *RuleEvaluator) Eval(payload []byte, meta *schema.Meta, headers []schema.Header) (failed string, err error) {
	// Strings and bytes the rules see alias payload and headers instead of
	// copying them. That is sound because no CEL value outlives this call:
	// the result is reduced to a bool, errors are rendered to text, and
	// Release drops every cached value before returning.
	defer e.Release()
	e.payload = payload
	e.vars.reset(meta, headers)
	if err := e.read(payload); err != nil {
		return "", err
	}
	for _, cr := range e.rules.rules {
		out, _, err := cr.prg.Eval(&e.vars)
		if err != nil {
			// %v, not %w: the CEL error may refer to evaluation values.
			return cr.name, fmt.Errorf("rule %q: %v", cr.name, err)
		}
		pass, ok := out.(types.Bool)
		if !ok {
			return cr.name, fmt.Errorf("rule %q: result is %s, want bool", cr.name, out.Type().TypeName())
		}
		if !pass {
			return cr.name, nil
		}
	}
	return "", nil
}

// read walks the payload as far as the rules need.
func (e *RuleEvaluator) read(payload []byte) error {
	r := avrobin.Reader{B: payload}
	e.w.Reset(len(payload))
	switch {
	case e.whole != nil:
		v, err := e.w.Walk(e.whole, &r, 0, ModeBuild)
		if err != nil {
			return err
		}
		e.root = v
	case e.plan != nil:
		if _, err := e.extract(e.plan, &r, 0, true); err != nil {
			return err
		}
		e.root = e.plan.rec
	}
	return nil
}

// extract reads record plan p at r: it steps over fields no rule reads and
// notes the others in their slots, descending into records read lazily.
// With truncate it stops after p's last slot, which ends the whole read;
// it reports whether it did.
func (e *RuleEvaluator) extract(p *recPlan, r *avrobin.Reader, depth int, truncate bool) (bool, error) {
	if depth >= avrobin.MaxDepth {
		return false, malformedAt(p.t, r, avrobin.WhyDepth)
	}
	if truncate && p.last < 0 { // the rules read only fields the writer lacks
		return true, nil
	}
	for i := range p.steps {
		st := &p.steps[i]
		if st.slot < 0 {
			if _, err := e.w.Walk(st.t, r, depth+1, ModeSkip); err != nil {
				return false, err
			}
			continue
		}
		s := &p.rec.slots[st.slot]
		s.val = nil
		t := st.t
		if t.Kind == KindUnion {
			idx, ok := r.Long()
			if !ok {
				return false, malformedAt(t, r, avrobin.WhyVarint)
			}
			if idx < 0 || idx >= int64(len(t.branches)) {
				return false, malformedAt(t, r, avrobin.WhyUnion)
			}
			t = t.branches[idx]
		}
		last := truncate && i == p.last
		switch {
		case t.Kind == KindNull:
			s.state = slotNull
		case s.sub != nil:
			if t != s.sub.t {
				return false, malformedAt(t, r, "union branch is not the record planned") // unreachable: selectableRecord
			}
			s.state = slotSet
			if done, err := e.extract(s.sub, r, depth+1, last); err != nil || done {
				return done, err
			}
		default:
			s.state, s.t, s.start = slotSet, t, r.P
			if _, err := e.w.Walk(t, r, depth+1, ModeCheck); err != nil {
				return false, err
			}
		}
		if last {
			return true, nil
		}
	}
	return false, nil
}

// materialise makes the CEL value of a slot read. The bytes were validated
// by extract, so an error here is a bug; it is reported as a CEL error and
// so fails the rule rather than passing it.
func (e *RuleEvaluator) materialise(s *lazySlot) ref.Val {
	r := avrobin.Reader{B: e.payload, P: s.start}
	e.w.Reset(len(e.payload))
	v, err := e.w.Walk(s.t, &r, 0, ModeBuild)
	if err != nil {
		return types.NewErr("%v", err)
	}
	return v
}

// Release drops every reference to the caller's memory, and forgets the
// record so that nothing read from it can be seen with the next one.
func (e *RuleEvaluator) Release() {
	for _, s := range e.slots {
		s.val, s.state = nil, slotUnread
	}
	e.payload, e.root = nil, nil
	e.vars.reset(nil, nil)
}

// ruleVars is the CEL activation: it resolves the variables of a Rule,
// making each value only when a rule refers to it.
type ruleVars struct {
	ev      *RuleEvaluator
	meta    *schema.Meta
	zero    schema.Meta // what a nil meta reads as
	headers headerMap
	// The boxed topic is kept across records: an evaluator usually sees
	// one topic, and boxing a string allocates.
	topic    string
	topicVal ref.Val
}

func (a *ruleVars) reset(m *schema.Meta, hs []schema.Header) {
	if m == nil {
		m = &a.zero
	}
	a.meta = m
	a.headers.reset(hs)
}

// ResolveName implements interpreter.Activation.
func (a *ruleVars) ResolveName(name string) (any, bool) {
	m := a.meta
	switch name {
	case varValue:
		if a.ev.root == nil {
			return nil, false
		}
		return a.ev.root, true
	case varKey:
		if m.Key == nil {
			return types.NullValue, true
		}
		return types.Bytes(m.Key[:len(m.Key):len(m.Key)]), true
	case varTopic:
		if a.topicVal == nil || a.topic != m.Topic {
			a.topic, a.topicVal = m.Topic, types.String(m.Topic)
		}
		return a.topicVal, true
	case varPartition:
		return types.Int(m.Partition), true
	case varOffset:
		return types.Int(m.Offset), true
	case varTimestamp:
		return types.Timestamp{Time: m.Timestamp.UTC()}, true
	case varHeaders:
		return &a.headers, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *ruleVars) Parent() interpreter.Activation { return nil }
