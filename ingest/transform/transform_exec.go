package transform

import (
	"crypto/sha256"
	"fmt"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

// TransformProgram applies a transform chain to records of one writer
// schema. It holds scratch buffers reused across records, so it is not safe
// for concurrent use: use one per goroutine.
//
// A record is held as the encodings of its top-level fields, sub-slices of
// the payload or of an arena the steps write new values to. Steps that only
// move fields (rename, drop, keep, flatten) copy no value bytes, and the
// output is written once, at the end.
type TransformProgram struct {
	schema avro.Schema
	writer *rules.Type // the writer record, to validate and split payloads
	steps  []boundStep

	cur, next [][]byte         // field encodings, current and being built
	arena     []byte           // values steps wrote for the current record
	tmp       []byte           // one value being built
	joined    []byte           // the current record, for CEL
	key       LookupKeyBuilder // an enrich key
	sum       [sha256.Size]byte
	w         rules.Walker
	zero      schema.Meta // what a nil meta reads as
}

type boundStep struct {
	index int
	name  string
	run   stepRunner
}

// stepRunner is a bound step. It transforms p.cur in place or swaps in
// p.next; an error is about the record, and Apply names the step.
type stepRunner interface {
	run(p *TransformProgram, meta *schema.Meta, headers []schema.Header) (keep bool, err error)
}

// Schema returns the output record schema: the writer's full name, doc and
// aliases, with the fields the chain leaves.
func (p *TransformProgram) Schema() avro.Schema { return p.schema }

// Apply transforms one record and appends its encoding under Schema to
// dst. keep is false, and dst returned as it is, when a filter step drops
// the record.
//
// A payload that does not decode under the writer schema fails with an
// error wrapping ErrMalformed; bytes after the record are ignored. A record
// a step cannot transform fails with a *TransformError naming the step.
// Apply validates the whole payload first (lengths, counts, indexes, UTF-8
// of strings), so that no step sees garbage; whatever the bytes, it does
// not panic. It does not check what only the table decoder can (uuid text,
// decimal precision), which decode.Decoder does on the output.
//
// meta (nil reads as the zero Meta) and headers are what the CEL of derive
// and filter steps see, and meta.Timestamp is what a default step From
// kafka_timestamp writes. Steady state, Apply allocates only in derive and
// filter steps and for Go-layout timestamp formats; Apply keeps no
// reference to its arguments once it returns.
func (p *TransformProgram) Apply(dst, payload []byte, meta *schema.Meta, headers []schema.Header) (out []byte, keep bool, err error) {
	defer p.release()
	if meta == nil {
		meta = &p.zero
	}
	p.arena = p.arena[:0]
	r := avrobin.Reader{B: payload}
	p.w.Reset(len(payload))
	for i := range p.writer.Fields {
		start := r.P
		if _, err := p.w.Walk(p.writer.Fields[i].Type, &r, 1, rules.ModeCheck); err != nil {
			return dst, false, err
		}
		p.cur = append(p.cur, payload[start:r.P])
	}
	for i := range p.steps {
		s := &p.steps[i]
		keep, err := s.run.run(p, meta, headers)
		if err != nil {
			return dst, false, &TransformError{Step: s.name, Index: s.index, Err: err}
		}
		if !keep {
			return dst, false, nil
		}
	}
	for _, v := range p.cur {
		dst = append(dst, v...)
	}
	return dst, true, nil
}

// release forgets the record, so that the program keeps no reference to
// the caller's payload.
func (p *TransformProgram) release() {
	clear(p.cur[:cap(p.cur)])
	clear(p.next[:cap(p.next)])
	p.cur, p.next = p.cur[:0], p.next[:0]
}

// join writes the current record to p.joined.
func (p *TransformProgram) join() []byte {
	p.joined = p.joined[:0]
	for _, v := range p.cur {
		p.joined = append(p.joined, v...)
	}
	return p.joined
}

// projectStep is drop and keep: the fields at src, in order.
type projectStep struct {
	src []int
}

func (s *projectStep) run(p *TransformProgram, _ *schema.Meta, _ []schema.Header) (bool, error) {
	p.next = p.next[:0]
	for _, i := range s.src {
		p.next = append(p.next, p.cur[i])
	}
	p.cur, p.next = p.next, p.cur
	return true, nil
}

// columnStep applies one op to each of its columns.
type columnStep struct {
	cols []colOp
}

func (s *columnStep) run(p *TransformProgram, meta *schema.Meta, _ []schema.Header) (bool, error) {
	for i := range s.cols {
		c := &s.cols[i]
		v, err := c.apply(p, p.cur[c.idx], meta)
		if err != nil {
			return false, fmt.Errorf("column %q: %w", c.name, err)
		}
		p.cur[c.idx] = v
	}
	return true, nil
}

// colOp converts one column's value. The union around the value is read
// and written here; conv sees and writes the bare value.
type colOp struct {
	idx  int
	name string

	inUnion  bool
	inNull   int64 // the input's null branch, -1 if none
	outUnion bool
	outNull  int64 // the output's null branch, when outUnion
	outVal   int64 // the output's value branch, when outUnion

	conv  valueConv // nil copies the value
	fill  []byte    // default: what a null becomes
	kafka int64     // default from kafka_timestamp: 1 for micros, 1000 for millis
}

// valueConv converts a value encoding v, appending the result's encoding
// to dst, or reporting that the result is null.
type valueConv interface {
	conv(p *TransformProgram, dst, v []byte) (out []byte, null bool, err error)
}

func (c *colOp) apply(p *TransformProgram, v []byte, meta *schema.Meta) ([]byte, error) {
	if c.inUnion {
		r := avrobin.Reader{B: v}
		idx, _ := r.Long()
		if idx == c.inNull {
			return c.null(p, meta), nil
		}
		v = v[r.P:]
	}
	start := len(p.arena)
	if c.outUnion {
		p.arena = appendLong(p.arena, c.outVal)
	}
	if c.conv == nil {
		p.arena = append(p.arena, v...)
		return p.arena[start:], nil
	}
	out, null, err := c.conv.conv(p, p.arena, v)
	if err != nil {
		p.arena = p.arena[:start]
		return nil, err
	}
	if null {
		out = appendLong(out[:start], c.outNull)
	}
	p.arena = out
	return p.arena[start:], nil
}

// null is what a null input becomes.
func (c *colOp) null(p *TransformProgram, meta *schema.Meta) []byte {
	start := len(p.arena)
	switch {
	case c.kafka == 1:
		p.arena = appendLong(p.arena, meta.Timestamp.UnixMicro())
	case c.kafka > 1:
		p.arena = appendLong(p.arena, meta.Timestamp.UnixMilli())
	case c.fill != nil:
		return c.fill
	default:
		p.arena = appendLong(p.arena, c.outNull)
	}
	return p.arena[start:]
}

// deriveStep writes the value of a CEL expression to a column.
type deriveStep struct {
	ev  *rules.RuleEvaluator
	idx int // the column replaced, -1 to append
	to  castTarget
}

func (s *deriveStep) run(p *TransformProgram, meta *schema.Meta, headers []schema.Header) (bool, error) {
	var payload []byte
	if s.ev.ReadsValue() {
		payload = p.join()
	}
	val, err := s.ev.EvalValue(payload, meta, headers)
	if err != nil {
		s.ev.Release()
		return false, celError(err)
	}
	start := len(p.arena)
	p.arena, err = appendDerived(p.arena, val, s.to)
	s.ev.Release()
	if err != nil {
		p.arena = p.arena[:start]
		return false, err
	}
	if s.idx >= 0 {
		p.cur[s.idx] = p.arena[start:]
	} else {
		p.cur = append(p.cur, p.arena[start:])
	}
	return true, nil
}

// appendDerived appends a CEL result as a value of ["null", to].
func appendDerived(dst []byte, val ref.Val, to castTarget) ([]byte, error) {
	if o, ok := val.(*types.Optional); ok {
		val = types.NullValue
		if o.HasValue() {
			val = o.GetValue()
		}
	}
	if val == types.NullValue {
		return append(dst, 0), nil
	}
	wrong := func() ([]byte, error) {
		return dst, fmt.Errorf("result is %s, want %s", val.Type().TypeName(), to)
	}
	switch to {
	case tString:
		s, ok := val.(types.String)
		if !ok {
			return wrong()
		}
		if !utf8.ValidString(string(s)) {
			return dst, fmt.Errorf("result is not valid UTF-8")
		}
		dst = appendLong(append(dst, 2), int64(len(s)))
		return append(dst, string(s)...), nil
	case tLong:
		i, ok := val.(types.Int)
		if !ok {
			return wrong()
		}
		return appendLong(append(dst, 2), int64(i)), nil
	case tDouble:
		f, ok := val.(types.Double)
		if !ok {
			return wrong()
		}
		return appendFloat64(append(dst, 2), float64(f)), nil
	case tBool:
		b, ok := val.(types.Bool)
		if !ok {
			return wrong()
		}
		return appendBool(append(dst, 2), bool(b)), nil
	case tTimestamp, tDate:
		ts, ok := val.(types.Timestamp)
		if !ok {
			return wrong()
		}
		if to == tDate {
			return appendLong(append(dst, 2), floorDiv(ts.Unix(), 86400)), nil
		}
		return appendLong(append(dst, 2), ts.UnixMicro()), nil
	}
	return wrong()
}

// celError renders a CEL evaluation error, bounded in length: CEL messages
// can quote values.
func celError(err error) error {
	msg := err.Error()
	if len(msg) > 200 {
		msg = truncValue(msg[:200])
	}
	return fmt.Errorf("expression: %s", msg)
}

// filterStep drops the records for which a CEL predicate is false.
type filterStep struct {
	ev *rules.RuleEvaluator
}

func (s *filterStep) run(p *TransformProgram, meta *schema.Meta, headers []schema.Header) (bool, error) {
	var payload []byte
	if s.ev.ReadsValue() {
		payload = p.join()
	}
	val, err := s.ev.EvalValue(payload, meta, headers)
	defer s.ev.Release()
	if err != nil {
		return false, celError(err)
	}
	keep, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, want bool", val.Type().TypeName())
	}
	return bool(keep), nil
}

// enrichStep adds a lookup's fields, joined on key columns.
type enrichStep struct {
	spec *enrichSpec
	keys []keyCol
}

type keyCol struct {
	idx   int
	union bool
	null  int64
	kind  rules.Kind
	syms  [][]byte
}

func (s *enrichStep) run(p *TransformProgram, _ *schema.Meta, _ []schema.Header) (bool, error) {
	e := s.spec
	hit := p.lookupKey(s.keys)
	start := len(p.arena)
	if hit {
		var row []byte
		row, hit = e.lookup.Lookup(p.arena, p.key.Key)
		if hit {
			if len(row) < start {
				return false, fmt.Errorf("lookup row for key %s: the lookup dropped bytes it was given", truncValue(string(p.key.Key)))
			}
			p.arena = row
			if err := p.addRow(e, start); err != nil {
				return false, fmt.Errorf("lookup row for key %s: %v", truncValue(string(p.key.Key)), err)
			}
			return true, nil
		}
	}
	p.arena = p.arena[:start]
	if e.onMiss == missQuarantine {
		return false, fmt.Errorf("no lookup row for key %s", truncValue(string(p.key.Key)))
	}
	p.cur = append(p.cur, e.miss...)
	return true, nil
}

// lookupKey builds the key of the current record in p.key, reporting
// false when a key column is null.
func (p *TransformProgram) lookupKey(keys []keyCol) bool {
	p.key.Reset(p.key.Key[:0])
	for i := range keys {
		k := &keys[i]
		r := avrobin.Reader{B: p.cur[k.idx]}
		if k.union {
			if idx, _ := r.Long(); idx == k.null {
				p.key.Null() // the key still names the record in an on_miss error
				return false
			}
		}
		switch k.kind {
		case rules.KindString:
			s, _ := r.Bytes()
			p.key.Text(s)
		case rules.KindEnum:
			idx, _ := r.Long()
			p.key.Text(k.syms[idx])
		case rules.KindInt, rules.KindLong:
			v, _ := r.Long()
			p.key.Int(v)
		case rules.KindBool:
			b, _ := r.Take(1)
			p.key.Bool(b[0] == 1)
		}
	}
	return true
}

// addRow splits the row the lookup appended to the arena at start into
// its fields, validating them, and adds them to the record.
func (p *TransformProgram) addRow(e *enrichSpec, start int) error {
	row := p.arena[start:]
	r := avrobin.Reader{B: row}
	p.w.Reset(len(row))
	first := len(p.cur)
	for i, t := range e.types {
		fs := r.P
		if _, err := p.w.Walk(t, &r, 1, rules.ModeCheck); err != nil {
			p.cur = p.cur[:first]
			return err
		}
		v := row[fs:r.P]
		if e.onMiss == missNull {
			a := len(p.arena)
			p.arena = e.wraps[i].appendPresent(p.arena, v)
			v = p.arena[a:]
		}
		p.cur = append(p.cur, v)
	}
	if r.P != len(row) {
		p.cur = p.cur[:first]
		return fmt.Errorf("%d bytes after the fields", len(row)-r.P)
	}
	return nil
}
