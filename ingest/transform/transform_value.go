package transform

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/avrobin"
)

// Avro binary encoders.

// AppendAvroLong appends v as an Avro int or long: a zig-zag varint.
func AppendAvroLong(dst []byte, v int64) []byte { return appendLong(dst, v) }

func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func appendBytes(dst, s []byte) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendFloat32(dst []byte, f float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
}

func appendFloat64(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

// maxValueText is how many bytes of a value an error message quotes.
const maxValueText = 64

// truncValue quotes s for an error message, cut to maxValueText bytes at a
// character boundary.
func truncValue(s string) string {
	if len(s) <= maxValueText {
		return strconv.Quote(s)
	}
	cut := maxValueText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// textIn reads a value a string op sees as text: a string, or an enum's
// symbol (syms set).
type textIn struct {
	syms [][]byte
}

func (t textIn) read(v []byte) []byte {
	r := avrobin.Reader{B: v}
	if t.syms != nil {
		idx, _ := r.Long()
		return t.syms[idx]
	}
	s, _ := r.Bytes()
	return s
}

type trimConv struct{ text textIn }

// conv strips surrounding white space and folds each inner run of it to
// one space.
func (c *trimConv) conv(p *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	s := c.text.read(v)
	p.tmp = p.tmp[:0]
	space := false
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(s[i:])
		}
		if unicode.IsSpace(r) {
			space = true
		} else {
			if space && len(p.tmp) > 0 {
				p.tmp = append(p.tmp, ' ')
			}
			space = false
			p.tmp = append(p.tmp, s[i:i+n]...)
		}
		i += n
	}
	return appendBytes(dst, p.tmp), false, nil
}

type caseConv struct {
	text  textIn
	upper bool
}

func (c *caseConv) conv(p *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	s := c.text.read(v)
	p.tmp = p.tmp[:0]
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(s[i:])
		}
		if c.upper {
			r = unicode.ToUpper(r)
		} else {
			r = unicode.ToLower(r)
		}
		p.tmp = utf8.AppendRune(p.tmp, r)
		i += n
	}
	return appendBytes(dst, p.tmp), false, nil
}

type emptyConv struct{ text textIn }

func (c *emptyConv) conv(_ *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	s := c.text.read(v)
	return appendBytes(dst, s), len(s) == 0, nil
}

type hashConv struct {
	text textIn
	h    hash.Hash // HMAC-SHA256 under the step's key, reused
}

func (c *hashConv) conv(p *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	c.h.Reset()
	c.h.Write(c.text.read(v))
	sum := c.h.Sum(p.sum[:0])
	dst = appendLong(dst, int64(hex.EncodedLen(len(sum))))
	return hex.AppendEncode(dst, sum), false, nil
}

type maskConv struct {
	text textIn
	keep int
}

// conv replaces every character but the last keep by '*'.
func (c *maskConv) conv(_ *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	s := c.text.read(v)
	tail := len(s) // where the kept characters start
	for range c.keep {
		if tail == 0 {
			break
		}
		_, n := utf8.DecodeLastRune(s[:tail])
		tail -= n
	}
	masked := utf8.RuneCount(s[:tail])
	dst = appendLong(dst, int64(masked+len(s)-tail))
	for range masked {
		dst = append(dst, '*')
	}
	return append(dst, s[tail:]...), false, nil
}

// tsConv is parse_timestamp.
type tsConv struct {
	from    rules.Kind
	formats []tsFormat
	unix    tsFormat // for a numeric column
	loc     *time.Location
	syms    [][]byte
}

func (c *tsConv) conv(_ *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	r := avrobin.Reader{B: v}
	switch c.from {
	case rules.KindInt, rules.KindLong:
		n, _ := r.Long()
		scale, _ := c.unix.unixScale()
		us, ok := unixToMicros(n, scale)
		if !ok {
			return dst, false, fmt.Errorf("%d is out of the timestamp range", n)
		}
		return appendLong(dst, us), false, nil
	case rules.KindDouble:
		f := math.Float64frombits(binary.LittleEndian.Uint64(v))
		scale, _ := c.unix.unixScale()
		us, ok := floatUnixToMicros(f, scale)
		if !ok {
			return dst, false, fmt.Errorf("%g is out of the timestamp range", f)
		}
		return appendLong(dst, us), false, nil
	}
	s := textIn{syms: c.syms}.read(v)
	us, ok := parseTimestamp(s, c.formats, c.loc)
	if !ok {
		return dst, false, fmt.Errorf("%s matches none of the timestamp formats", truncValue(string(s)))
	}
	return appendLong(dst, us), false, nil
}

// castable reports whether cast converts a value of kind from to to.
func castable(from rules.Kind, to castTarget) bool {
	switch from {
	case rules.KindInt, rules.KindLong, rules.KindFloat, rules.KindDouble:
		return to <= tDouble
	case rules.KindString, rules.KindEnum:
		return true
	case rules.KindBool:
		return to == tString || to == tBool
	case rules.KindBytes:
		return to == tString
	case rules.KindDate, rules.KindTsMillis, rules.KindTsMicros:
		return to == tString || to == tTimestamp || to == tDate
	case rules.KindDecBytes, rules.KindDecFixed:
		return to == tString || to == tFloat || to == tDouble
	}
	return false
}

// castConv is cast, for the pairs castable allows.
type castConv struct {
	from  rules.Kind
	to    castTarget
	local bool // a local-timestamp: as text, without offset
	scale int  // decimal
	syms  [][]byte
}

var errBadUTF8 = errors.New("bytes are not valid UTF-8")

func (c *castConv) conv(p *TransformProgram, dst, v []byte) ([]byte, bool, error) {
	r := avrobin.Reader{B: v}
	switch c.from {
	case rules.KindInt, rules.KindLong:
		n, _ := r.Long()
		return c.fromInt(p, dst, n)
	case rules.KindFloat:
		return c.fromFloat(p, dst, float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), 32)
	case rules.KindDouble:
		return c.fromFloat(p, dst, math.Float64frombits(binary.LittleEndian.Uint64(v)), 64)
	case rules.KindBool:
		if c.to == tString {
			return appendBytes(dst, strconv.AppendBool(p.tmp[:0], v[0] == 1)), false, nil
		}
		return append(dst, v[0]), false, nil
	case rules.KindString, rules.KindEnum, rules.KindBytes:
		s := textIn{syms: c.syms}.read(v)
		if c.from == rules.KindBytes && !utf8.Valid(s) {
			return dst, false, errBadUTF8
		}
		return c.fromText(dst, s)
	case rules.KindDecBytes, rules.KindDecFixed:
		b := v
		if c.from == rules.KindDecBytes {
			b, _ = r.Bytes()
		}
		num, _ := avrobin.DecimalFromBE(b)
		if c.to == tString {
			p.tmp = appendDecimal(p.tmp[:0], num.HighBits(), num.LowBits(), c.scale)
			return appendBytes(dst, p.tmp), false, nil
		}
		return c.fromFloat(p, dst, rules.DecimalToFloat(num.HighBits(), num.LowBits(), c.scale), 64)
	}
	// Dates and timestamps.
	n, _ := r.Long()
	days, us := n, n
	switch c.from {
	case rules.KindDate:
		if n > math.MaxInt64/86_400_000_000 || n < math.MinInt64/86_400_000_000 {
			return dst, false, fmt.Errorf("date %d is out of the timestamp range", n)
		}
		us = n * 86_400_000_000
	case rules.KindTsMillis:
		var ok bool
		if us, ok = unixToMicros(n, 1000); !ok {
			return dst, false, fmt.Errorf("timestamp %d ms is out of range", n)
		}
		days = floorDiv(us, 86_400_000_000)
	default:
		days = floorDiv(us, 86_400_000_000)
	}
	switch c.to {
	case tString:
		if c.from == rules.KindDate {
			p.tmp = appendDate(p.tmp[:0], days)
		} else {
			p.tmp = appendTimestamp(p.tmp[:0], us, c.local)
		}
		return appendBytes(dst, p.tmp), false, nil
	case tDate:
		if days < math.MinInt32 || days > math.MaxInt32 {
			return dst, false, fmt.Errorf("timestamp %d µs is out of the date range", us)
		}
		return appendLong(dst, days), false, nil
	}
	return appendLong(dst, us), false, nil
}

func (c *castConv) fromInt(p *TransformProgram, dst []byte, n int64) ([]byte, bool, error) {
	switch c.to {
	case tString:
		return appendBytes(dst, strconv.AppendInt(p.tmp[:0], n, 10)), false, nil
	case tInt:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return dst, false, fmt.Errorf("%d overflows int", n)
		}
		return appendLong(dst, n), false, nil
	case tLong:
		return appendLong(dst, n), false, nil
	case tFloat:
		return appendFloat32(dst, float32(n)), false, nil
	}
	return appendFloat64(dst, float64(n)), false, nil
}

func (c *castConv) fromFloat(p *TransformProgram, dst []byte, f float64, bitSize int) ([]byte, bool, error) {
	switch c.to {
	case tString:
		return appendBytes(dst, strconv.AppendFloat(p.tmp[:0], f, 'g', -1, bitSize)), false, nil
	case tInt, tLong:
		lo, hi := float64(math.MinInt32), float64(math.MaxInt32)
		if c.to == tLong {
			lo, hi = -0x1p63, 0x1p63-1024 // the largest double below 2^63
		}
		if f != math.Trunc(f) || math.IsNaN(f) {
			return dst, false, fmt.Errorf("%g is not integral", f)
		}
		if f < lo || f > hi {
			return dst, false, fmt.Errorf("%g overflows %s", f, c.to)
		}
		return appendLong(dst, int64(f)), false, nil
	case tFloat:
		if !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
			return dst, false, fmt.Errorf("%g overflows float", f)
		}
		return appendFloat32(dst, float32(f)), false, nil
	}
	return appendFloat64(dst, f), false, nil
}

func (c *castConv) fromText(dst, s []byte) ([]byte, bool, error) {
	str := rules.AliasString(s) // only parsed, never kept
	bad := func() ([]byte, bool, error) {
		want := map[castTarget]string{tInt: "an int", tLong: "a long", tFloat: "a float", tDouble: "a double",
			tBool: "a boolean", tTimestamp: "an RFC 3339 timestamp", tDate: "a date (YYYY-MM-DD)"}[c.to]
		return dst, false, fmt.Errorf("%s is not %s", truncValue(string(s)), want)
	}
	switch c.to {
	case tString:
		return appendBytes(dst, s), false, nil
	case tInt, tLong:
		size := 64
		if c.to == tInt {
			size = 32
		}
		n, err := strconv.ParseInt(str, 10, size)
		if err != nil {
			return bad()
		}
		return appendLong(dst, n), false, nil
	case tFloat, tDouble:
		size := 64
		if c.to == tFloat {
			size = 32
		}
		f, err := strconv.ParseFloat(str, size)
		if err != nil {
			return bad()
		}
		if c.to == tFloat {
			return appendFloat32(dst, float32(f)), false, nil
		}
		return appendFloat64(dst, f), false, nil
	case tBool:
		b, err := strconv.ParseBool(str)
		if err != nil {
			return bad()
		}
		return appendBool(dst, b), false, nil
	case tTimestamp:
		us, ok := parseTimestamp(s, rfc3339Only, time.UTC)
		if !ok {
			return bad()
		}
		return appendLong(dst, us), false, nil
	}
	days, ok := parseDate(s)
	if !ok {
		return bad()
	}
	return appendLong(dst, days), false, nil
}

var rfc3339Only = []tsFormat{{kind: tsRFC3339}}

// appendDecimal appends the decimal text of the 128-bit two's complement
// unscaled value hi:lo with scale digits after the point.
func appendDecimal(dst []byte, hi int64, lo uint64, scale int) []byte {
	neg := hi < 0
	h := uint64(hi)
	if neg { // negate the 128-bit value
		lo = ^lo + 1
		h = ^h
		if lo == 0 {
			h++
		}
	}
	var buf [40]byte // 2^128 has 39 digits
	i := len(buf)
	for h != 0 || lo != 0 {
		var rem uint64
		h, rem = bits.Div64(0, h, 10)
		lo, rem = bits.Div64(rem, lo, 10)
		i--
		buf[i] = '0' + byte(rem)
	}
	digits := buf[i:]
	if neg {
		dst = append(dst, '-')
	}
	if scale <= 0 {
		if len(digits) == 0 {
			return append(dst, '0')
		}
		return append(dst, digits...)
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for range scale - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-scale:]...)
}
