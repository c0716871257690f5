package avrobin

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// MaxDepth bounds the nesting of records, arrays, maps and unions in one
// payload, so recursive writer schemas cannot exhaust the stack.
const MaxDepth = 64

// Reasons a payload is malformed, named in the error.
const (
	WhyTruncated = "truncated"
	WhyVarint    = "truncated or overlong varint"
	WhyIntRange  = "int out of 32-bit range"
	WhyLength    = "negative length or length beyond the payload"
	WhyCount     = "block item count beyond what the payload can hold"
	WhyBool      = "boolean byte is neither 0 nor 1"
	WhyUnion     = "union branch index out of range"
	WhyEnum      = "enum symbol index out of range"
	WhyNull      = "null in a required column"
	WhyUTF8      = "string is not valid UTF-8"
	WhyUUID      = "uuid is not in canonical 8-4-4-4-12 hex form"
	WhyDecimal   = "decimal does not fit the column precision"
	WhyTimestamp = "timestamp overflows microseconds"
	WhyDepth     = "nesting deeper than the limit"
	WhyTrailing  = "trailing bytes after the record"
)

// Reader walks an Avro binary payload. Every method checks bounds, so
// untrusted lengths never index past the payload or size an allocation.
type Reader struct {
	B []byte
	P int
	// zeroItems counts the array and map items of zero encoded size
	// (nulls, empty records) the validating pass has seen. A block's count
	// is bounded by the bytes left only for items that take bytes; without
	// a budget, a payload of n bytes could describe n² zero-size items and
	// keep a worker busy for minutes.
	ZeroItems int64
}

// ZeroItemBudget is how many zero-size items a payload of n bytes may
// describe: far more than any real record holds, linear in its size.
func ZeroItemBudget(n int) int64 { return 4096 + 8*int64(n) }

// Long reads a zigzag varint of at most 10 bytes.
func (r *Reader) Long() (int64, bool) {
	if r.P < len(r.B) && r.B[r.P] < 0x80 { // one byte: most counts, lengths and small ints
		u := uint64(r.B[r.P])
		r.P++
		return int64(u>>1) ^ -int64(u&1), true
	}
	var u uint64
	for i, shift := 0, uint(0); i < 10; i, shift = i+1, shift+7 {
		if r.P >= len(r.B) {
			return 0, false
		}
		c := r.B[r.P]
		r.P++
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

func (r *Reader) Take(n int) ([]byte, bool) {
	if n < 0 || n > len(r.B)-r.P {
		return nil, false
	}
	s := r.B[r.P : r.P+n]
	r.P += n
	return s, true
}

// Bytes reads a length-prefixed byte string.
func (r *Reader) Bytes() ([]byte, string) {
	n, ok := r.Long()
	if !ok {
		return nil, WhyVarint
	}
	if n < 0 || n > int64(len(r.B)-r.P) {
		return nil, WhyLength
	}
	s, _ := r.Take(int(n))
	return s, ""
}

// Block reads an array or map block header and returns its item count,
// zero at the end. minSize is the fewest bytes one item can take; the count
// is checked against the bytes left before anything loops on it.
func (r *Reader) Block(minSize int) (int, string) {
	c, ok := r.Long()
	if !ok {
		return 0, WhyVarint
	}
	if c < 0 {
		if c == math.MinInt64 {
			return 0, WhyCount
		}
		c = -c
		// A negative count is followed by the block's size in bytes,
		// which only skippers use.
		size, ok := r.Long()
		if !ok {
			return 0, WhyVarint
		}
		if size < 0 || size > int64(len(r.B)-r.P) {
			return 0, WhyLength
		}
	}
	if c > int64(len(r.B)-r.P)/int64(max(minSize, 1)) {
		return 0, WhyCount
	}
	return int(c), ""
}

// check validates one value without appending anything. It proves that emit

// DecimalFromBE reads a big-endian two's complement integer of any length
// into a Decimal128, failing if it needs more than 128 bits.
func DecimalFromBE(s []byte) (decimal128.Num, bool) {
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

// ParseUUID parses the canonical 36-character form into out without
// allocating.
func ParseUUID(s []byte, out *[16]byte) bool {
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
