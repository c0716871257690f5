package decode

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

func malformed(n *node, r *avrobin.Reader, why string) error {
	path := n.path
	if path == "" {
		path = "<record>"
	}
	return fmt.Errorf("%w: field %q at byte %d: %s", schema.ErrMalformed, path, r.P, why)
}

// will succeed: everything emit could trip on is checked here.
func (d *Decoder) check(n *node, r *avrobin.Reader, depth int) error {
	if n.unionN > 0 {
		idx, ok := r.Long()
		if !ok {
			return malformed(n, r, avrobin.WhyVarint)
		}
		if idx < 0 || idx >= int64(n.unionN) {
			return malformed(n, r, avrobin.WhyUnion)
		}
		if int(idx) == n.nullIdx {
			if n.required {
				return malformed(n, r, avrobin.WhyNull)
			}
			return nil
		}
	}
	switch n.op {
	case opNull:
	case opBool:
		b, ok := r.Take(1)
		if !ok {
			return malformed(n, r, avrobin.WhyTruncated)
		}
		if b[0] > 1 {
			return malformed(n, r, avrobin.WhyBool)
		}
	case opInt, opIntLong, opDate, opTimeMillis:
		v, ok := r.Long()
		if !ok {
			return malformed(n, r, avrobin.WhyVarint)
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return malformed(n, r, avrobin.WhyIntRange)
		}
	case opLong, opTimeMicros, opTsMicros:
		if _, ok := r.Long(); !ok {
			return malformed(n, r, avrobin.WhyVarint)
		}
	case opTsMillis:
		v, ok := r.Long()
		if !ok {
			return malformed(n, r, avrobin.WhyVarint)
		}
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return malformed(n, r, avrobin.WhyTimestamp)
		}
	case opFloat, opFloatDouble:
		if _, ok := r.Take(4); !ok {
			return malformed(n, r, avrobin.WhyTruncated)
		}
	case opDouble:
		if _, ok := r.Take(8); !ok {
			return malformed(n, r, avrobin.WhyTruncated)
		}
	case opString, opBytes, opUUID, opDecBytes:
		s, why := r.Bytes()
		if why != "" {
			return malformed(n, r, why)
		}
		if n.emit {
			if why := checkBytes(n, s); why != "" {
				return malformed(n, r, why)
			}
		}
	case opFixed, opUUIDFixed, opDecFixed:
		s, ok := r.Take(n.size)
		if !ok {
			return malformed(n, r, avrobin.WhyTruncated)
		}
		if n.emit && n.op == opDecFixed {
			if why := checkBytes(n, s); why != "" {
				return malformed(n, r, why)
			}
		}
	case opEnum:
		idx, ok := r.Long()
		if !ok {
			return malformed(n, r, avrobin.WhyVarint)
		}
		if idx < 0 || idx >= int64(n.nsym) {
			return malformed(n, r, avrobin.WhyEnum)
		}
	case opRecord:
		if depth >= avrobin.MaxDepth {
			return malformed(n, r, avrobin.WhyDepth)
		}
		for _, child := range n.fields {
			if err := d.check(child, r, depth+1); err != nil {
				return err
			}
		}
	case opArray, opMap:
		if depth >= avrobin.MaxDepth {
			return malformed(n, r, avrobin.WhyDepth)
		}
		minSize := n.elem.minSize
		if n.op == opMap {
			minSize += n.key.minSize
		}
		for {
			c, why := r.Block(minSize)
			if why != "" {
				return malformed(n, r, why)
			}
			if c == 0 {
				return nil
			}
			if minSize == 0 {
				if r.ZeroItems += int64(c); r.ZeroItems > avrobin.ZeroItemBudget(len(r.B)) {
					return malformed(n, r, avrobin.WhyCount)
				}
			}
			for range c {
				if n.op == opMap {
					if err := d.check(n.key, r, depth+1); err != nil {
						return err
					}
				}
				if err := d.check(n.elem, r, depth+1); err != nil {
					return err
				}
			}
		}
	case opUnion:
		if depth >= avrobin.MaxDepth {
			return malformed(n, r, avrobin.WhyDepth)
		}
		idx, ok := r.Long()
		if !ok {
			return malformed(n, r, avrobin.WhyVarint)
		}
		if idx < 0 || idx >= int64(len(n.branches)) {
			return malformed(n, r, avrobin.WhyUnion)
		}
		return d.check(n.branches[idx], r, depth+1)
	}
	return nil
}

// checkBytes validates the content of a byte-string value bound to a column.
func checkBytes(n *node, s []byte) string {
	switch n.op {
	case opString:
		if !utf8.Valid(s) {
			return avrobin.WhyUTF8
		}
	case opUUID:
		var u [16]byte
		if !avrobin.ParseUUID(s, &u) {
			return avrobin.WhyUUID
		}
	case opDecBytes, opDecFixed:
		v, ok := avrobin.DecimalFromBE(s)
		if !ok || !v.FitsInPrecision(n.prec) {
			return avrobin.WhyDecimal
		}
	}
	return ""
}

// emitFields appends a record's fields: writer fields in order (skipping
// those the table lacks), then nulls for table children the writer lacks.
func (d *Decoder) emitFields(n *node, r *avrobin.Reader, depth int) {
	for i, child := range n.fields {
		if n.fieldIdx[i] >= 0 {
			d.emit(child, r, depth+1)
		} else {
			_ = d.check(child, r, depth+1) // already validated: this only steps over it
		}
	}
	for _, b := range n.missingB {
		b.AppendNull()
	}
}

// emit appends one value that check has already validated, so the reads
// here cannot fail.
func (d *Decoder) emit(n *node, r *avrobin.Reader, depth int) {
	if n.unionN > 0 {
		idx, _ := r.Long()
		if int(idx) == n.nullIdx {
			n.bld.AppendNull()
			return
		}
	}
	switch n.op {
	case opNull:
		n.bld.AppendNull()
	case opBool:
		b, _ := r.Take(1)
		n.boolB.Append(b[0] == 1)
	case opInt:
		v, _ := r.Long()
		n.i32.Append(int32(v))
	case opIntLong, opLong:
		v, _ := r.Long()
		n.i64.Append(v)
	case opFloat:
		b, _ := r.Take(4)
		n.f32.Append(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case opFloatDouble:
		b, _ := r.Take(4)
		n.f64.Append(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
	case opDouble:
		b, _ := r.Take(8)
		n.f64.Append(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case opString, opBytes:
		s, _ := r.Bytes()
		n.bin.Append(s)
	case opFixed, opUUIDFixed:
		s, _ := r.Take(n.size)
		n.fsb.Append(s)
	case opEnum:
		idx, _ := r.Long()
		n.bin.Append(n.syms[idx])
	case opUUID:
		s, _ := r.Bytes()
		avrobin.ParseUUID(s, &d.scratch)
		n.fsb.Append(d.scratch[:])
	case opDecBytes:
		s, _ := r.Bytes()
		v, _ := avrobin.DecimalFromBE(s)
		n.dec.Append(v)
	case opDecFixed:
		s, _ := r.Take(n.size)
		v, _ := avrobin.DecimalFromBE(s)
		n.dec.Append(v)
	case opDate:
		v, _ := r.Long()
		n.date.Append(arrow.Date32(v))
	case opTimeMillis:
		v, _ := r.Long()
		n.time.Append(arrow.Time64(v * 1000))
	case opTimeMicros:
		v, _ := r.Long()
		n.time.Append(arrow.Time64(v))
	case opTsMillis:
		v, _ := r.Long()
		n.ts.Append(arrow.Timestamp(v * 1000))
	case opTsMicros:
		v, _ := r.Long()
		n.ts.Append(arrow.Timestamp(v))
	case opRecord:
		n.st.Append(true)
		d.emitFields(n, r, depth)
	case opArray, opMap:
		if n.op == opArray {
			n.list.Append(true)
		} else {
			n.mp.Append(true)
		}
		for {
			c, _ := r.Block(0)
			if c == 0 {
				return
			}
			for range c {
				if n.op == opMap {
					d.emit(n.key, r, depth+1)
				}
				d.emit(n.elem, r, depth+1)
			}
		}
	}
}
