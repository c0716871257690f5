package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Reasons a payload is malformed, named in the error.
const (
	whyTruncated = "truncated"
	whyVarint    = "truncated or overlong varint"
	whyIntRange  = "int out of 32-bit range"
	whyLength    = "negative length or length beyond the payload"
	whyCount     = "block item count beyond what the payload can hold"
	whyBool      = "boolean byte is neither 0 nor 1"
	whyUnion     = "union branch index out of range"
	whyEnum      = "enum symbol index out of range"
	whyNull      = "null in a required column"
	whyUTF8      = "string is not valid UTF-8"
	whyUUID      = "uuid is not in canonical 8-4-4-4-12 hex form"
	whyDecimal   = "decimal does not fit the column precision"
	whyTimestamp = "timestamp overflows microseconds"
	whyDepth     = "nesting deeper than the limit"
	whyTrailing  = "trailing bytes after the record"
)

func malformed(n *node, r *reader, why string) error {
	path := n.path
	if path == "" {
		path = "<record>"
	}
	return fmt.Errorf("%w: field %q at byte %d: %s", ErrMalformed, path, r.p, why)
}

// reader walks an Avro binary payload. Every method checks bounds, so
// untrusted lengths never index past the payload or size an allocation.
type reader struct {
	b []byte
	p int
	// zeroItems counts the array and map items of zero encoded size
	// (nulls, empty records) the validating pass has seen. A block's count
	// is bounded by the bytes left only for items that take bytes; without
	// a budget, a payload of n bytes could describe n² zero-size items and
	// keep a worker busy for minutes.
	zeroItems int64
}

// zeroItemBudget is how many zero-size items a payload of n bytes may
// describe: far more than any real record holds, linear in its size.
func zeroItemBudget(n int) int64 { return 4096 + 8*int64(n) }

// long reads a zigzag varint of at most 10 bytes.
func (r *reader) long() (int64, bool) {
	if r.p < len(r.b) && r.b[r.p] < 0x80 { // one byte: most counts, lengths and small ints
		u := uint64(r.b[r.p])
		r.p++
		return int64(u>>1) ^ -int64(u&1), true
	}
	var u uint64
	for i, shift := 0, uint(0); i < 10; i, shift = i+1, shift+7 {
		if r.p >= len(r.b) {
			return 0, false
		}
		c := r.b[r.p]
		r.p++
		if i == 9 && c > 1 {
			return 0, false // more than 64 bits
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), true
		}
	}
	return 0, false
}

func (r *reader) take(n int) ([]byte, bool) {
	if n < 0 || n > len(r.b)-r.p {
		return nil, false
	}
	s := r.b[r.p : r.p+n]
	r.p += n
	return s, true
}

// bytes reads a length-prefixed byte string.
func (r *reader) bytes() ([]byte, string) {
	n, ok := r.long()
	if !ok {
		return nil, whyVarint
	}
	if n < 0 || n > int64(len(r.b)-r.p) {
		return nil, whyLength
	}
	s, _ := r.take(int(n))
	return s, ""
}

// block reads an array or map block header and returns its item count,
// zero at the end. minSize is the fewest bytes one item can take; the count
// is checked against the bytes left before anything loops on it.
func (r *reader) block(minSize int) (int, string) {
	c, ok := r.long()
	if !ok {
		return 0, whyVarint
	}
	if c < 0 {
		if c == math.MinInt64 {
			return 0, whyCount
		}
		c = -c
		// A negative count is followed by the block's size in bytes,
		// which only skippers use.
		size, ok := r.long()
		if !ok {
			return 0, whyVarint
		}
		if size < 0 || size > int64(len(r.b)-r.p) {
			return 0, whyLength
		}
	}
	if c > int64(len(r.b)-r.p)/int64(max(minSize, 1)) {
		return 0, whyCount
	}
	return int(c), ""
}

// check validates one value without appending anything. It proves that emit
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

// decimalFromBE reads a big-endian two's complement integer of any length
// into a Decimal128, failing if it needs more than 128 bits.
func decimalFromBE(s []byte) (decimal128.Num, bool) {
	if len(s) == 0 {
		return decimal128.Num{}, true
	}
	neg := s[0]&0x80 != 0
	fill := byte(0)
	if neg {
		fill = 0xff
	}
	for len(s) > 16 {
		if s[0] != fill {
			return decimal128.Num{}, false
		}
		s = s[1:]
	}
	if (s[0]&0x80 != 0) != neg {
		return decimal128.Num{}, false // the dropped bytes carried the sign
	}
	var buf [16]byte
	for i := range 16 - len(s) {
		buf[i] = fill
	}
	copy(buf[16-len(s):], s)
	return decimal128.New(int64(binary.BigEndian.Uint64(buf[:8])), binary.BigEndian.Uint64(buf[8:])), true
}

// parseUUID parses the canonical 36-character form into out without
// allocating.
func parseUUID(s []byte, out *[16]byte) bool {
	if len(s) != 36 {
		return false
	}
	s = s[:36:36]
	if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	// Invalid digits map to 0xff; OR-ing every nibble lets one test at the
	// end reject them, with no branch per character.
	var bad byte
	for j, i := range uuidHexAt {
		hi, lo := hexNibble[s[i]], hexNibble[s[i+1]]
		bad |= hi | lo
		out[j] = hi<<4 | lo
	}
	return bad&0xf0 == 0
}

// uuidHexAt are the offsets of the 16 hex pairs in a canonical UUID.
var uuidHexAt = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexNibble maps an ASCII hex digit to its value, anything else to 0xff.
var hexNibble = func() (t [256]byte) {
	for c := range t {
		t[c] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
		t[c-'a'+'A'] = c - 'a' + 10
	}
	return t
}()
