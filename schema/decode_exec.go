package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

func malformed(n *node, r *reader, why string) error {
	path := n.path
	if path == "" {
		path = "<record>"
	}
	return fmt.Errorf("%w: field %q at byte %d: %s", ErrMalformed, path, r.p, why)
}

// will succeed: everything emit could trip on is checked here.
func (d *Decoder) check(n *node, r *reader, depth int) error {
	if n.unionN > 0 {
		idx, ok := r.long()
		if !ok {
			return malformed(n, r, whyVarint)
		}
		if idx < 0 || idx >= int64(n.unionN) {
			return malformed(n, r, whyUnion)
		}
		if int(idx) == n.nullIdx {
			if n.required {
				return malformed(n, r, whyNull)
			}
			return nil
		}
	}
	switch n.op {
	case opNull:
	case opBool:
		b, ok := r.take(1)
		if !ok {
			return malformed(n, r, whyTruncated)
		}
		if b[0] > 1 {
			return malformed(n, r, whyBool)
		}
	case opInt, opIntLong, opDate, opTimeMillis:
		v, ok := r.long()
		if !ok {
			return malformed(n, r, whyVarint)
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return malformed(n, r, whyIntRange)
		}
	case opLong, opTimeMicros, opTsMicros:
		if _, ok := r.long(); !ok {
			return malformed(n, r, whyVarint)
		}
	case opTsMillis:
		v, ok := r.long()
		if !ok {
			return malformed(n, r, whyVarint)
		}
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return malformed(n, r, whyTimestamp)
		}
	case opFloat, opFloatDouble:
		if _, ok := r.take(4); !ok {
			return malformed(n, r, whyTruncated)
		}
	case opDouble:
		if _, ok := r.take(8); !ok {
			return malformed(n, r, whyTruncated)
		}
	case opString, opBytes, opUUID, opDecBytes:
		s, why := r.bytes()
		if why != "" {
			return malformed(n, r, why)
		}
		if n.emit {
			if why := checkBytes(n, s); why != "" {
				return malformed(n, r, why)
			}
		}
	case opFixed, opUUIDFixed, opDecFixed:
		s, ok := r.take(n.size)
		if !ok {
			return malformed(n, r, whyTruncated)
		}
		if n.emit && n.op == opDecFixed {
			if why := checkBytes(n, s); why != "" {
				return malformed(n, r, why)
			}
		}
	case opEnum:
		idx, ok := r.long()
		if !ok {
			return malformed(n, r, whyVarint)
		}
		if idx < 0 || idx >= int64(n.nsym) {
			return malformed(n, r, whyEnum)
		}
	case opRecord:
		if depth >= maxDepth {
			return malformed(n, r, whyDepth)
		}
		for _, child := range n.fields {
			if err := d.check(child, r, depth+1); err != nil {
				return err
			}
		}
	case opArray, opMap:
		if depth >= maxDepth {
			return malformed(n, r, whyDepth)
		}
		minSize := n.elem.minSize
		if n.op == opMap {
			minSize += n.key.minSize
		}
		for {
			c, why := r.block(minSize)
			if why != "" {
				return malformed(n, r, why)
			}
			if c == 0 {
				return nil
			}
			if minSize == 0 {
				if r.zeroItems += int64(c); r.zeroItems > zeroItemBudget(len(r.b)) {
					return malformed(n, r, whyCount)
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
		if depth >= maxDepth {
			return malformed(n, r, whyDepth)
		}
		idx, ok := r.long()
		if !ok {
			return malformed(n, r, whyVarint)
		}
		if idx < 0 || idx >= int64(len(n.branches)) {
			return malformed(n, r, whyUnion)
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
			return whyUTF8
		}
	case opUUID:
		var u [16]byte
		if !parseUUID(s, &u) {
			return whyUUID
		}
	case opDecBytes, opDecFixed:
		v, ok := decimalFromBE(s)
		if !ok || !v.FitsInPrecision(n.prec) {
			return whyDecimal
		}
	}
	return ""
}

// emitFields appends a record's fields: writer fields in order (skipping
// those the table lacks), then nulls for table children the writer lacks.
func (d *Decoder) emitFields(n *node, r *reader, depth int) {
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
func (d *Decoder) emit(n *node, r *reader, depth int) {
	if n.unionN > 0 {
		idx, _ := r.long()
		if int(idx) == n.nullIdx {
			n.bld.AppendNull()
			return
		}
	}
	switch n.op {
	case opNull:
		n.bld.AppendNull()
	case opBool:
		b, _ := r.take(1)
		n.boolB.Append(b[0] == 1)
	case opInt:
		v, _ := r.long()
		n.i32.Append(int32(v))
	case opIntLong, opLong:
		v, _ := r.long()
		n.i64.Append(v)
	case opFloat:
		b, _ := r.take(4)
		n.f32.Append(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case opFloatDouble:
		b, _ := r.take(4)
		n.f64.Append(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
	case opDouble:
		b, _ := r.take(8)
		n.f64.Append(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case opString, opBytes:
		s, _ := r.bytes()
		n.bin.Append(s)
	case opFixed, opUUIDFixed:
		s, _ := r.take(n.size)
		n.fsb.Append(s)
	case opEnum:
		idx, _ := r.long()
		n.bin.Append(n.syms[idx])
	case opUUID:
		s, _ := r.bytes()
		parseUUID(s, &d.scratch)
		n.fsb.Append(d.scratch[:])
	case opDecBytes:
		s, _ := r.bytes()
		v, _ := decimalFromBE(s)
		n.dec.Append(v)
	case opDecFixed:
		s, _ := r.take(n.size)
		v, _ := decimalFromBE(s)
		n.dec.Append(v)
	case opDate:
		v, _ := r.long()
		n.date.Append(arrow.Date32(v))
	case opTimeMillis:
		v, _ := r.long()
		n.time.Append(arrow.Time64(v * 1000))
	case opTimeMicros:
		v, _ := r.long()
		n.time.Append(arrow.Time64(v))
	case opTsMillis:
		v, _ := r.long()
		n.ts.Append(arrow.Timestamp(v * 1000))
	case opTsMicros:
		v, _ := r.long()
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
			c, _ := r.block(0)
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
