package transform

import (
	"fmt"
	"math"
	"time"

	"github.com/bigfather/bigfather/ingest/rules"
)

// Timestamps the transforms write are Avro long timestamp-micros, which
// schema.ToIceberg maps to timestamptz: microseconds since the Unix epoch, UTC.

// tsKind is a parse_timestamp format.
type tsKind uint8

const (
	tsLayout tsKind = iota // a Go time layout
	tsRFC3339
	tsISO8601
	tsUnixSeconds
	tsUnixMillis
	tsUnixMicros
)

var tsNames = map[string]tsKind{
	"rfc3339": tsRFC3339, "rfc3339nano": tsRFC3339, "iso8601": tsISO8601,
	"unix_seconds": tsUnixSeconds, "unix_millis": tsUnixMillis, "unix_micros": tsUnixMicros,
}

type tsFormat struct {
	kind   tsKind
	layout string
}

func (f tsFormat) unix() bool { return f.kind >= tsUnixSeconds }

// unixScale is how many microseconds one unit of a unix format is, and how
// many fractional digits of it carry information.
func (f tsFormat) unixScale() (scale int64, fracDigits int) {
	switch f.kind {
	case tsUnixSeconds:
		return 1_000_000, 6
	case tsUnixMillis:
		return 1000, 3
	}
	return 1, 0
}

func (s *compiledStep) compileFormats() error {
	names := s.t.Formats
	if len(names) == 0 {
		names = []string{"rfc3339"}
	}
	for _, name := range names {
		if k, ok := tsNames[name]; ok {
			s.formats = append(s.formats, tsFormat{kind: k})
			continue
		}
		// A layout must round-trip a reference time with its date, which
		// rejects typos such as "YYYY-MM-DD" that Go reads as literal text.
		ref := time.Date(2009, 11, 10, 23, 4, 5, 0, time.UTC)
		got, err := time.Parse(name, ref.Format(name))
		if err != nil || got.Year() != ref.Year() || got.YearDay() != ref.YearDay() {
			return fmt.Errorf("format %q is neither rfc3339, rfc3339nano, iso8601, unix_seconds, unix_millis, unix_micros nor a Go time layout with a date", name)
		}
		s.formats = append(s.formats, tsFormat{kind: tsLayout, layout: name})
	}
	s.loc = time.UTC
	if s.t.Zone != "" {
		loc, err := time.LoadLocation(s.t.Zone)
		if err != nil {
			return fmt.Errorf("zone %q: %v", s.t.Zone, err)
		}
		s.loc = loc
	}
	return nil
}

// parseTimestamp reads text under the first of formats that matches it.
func parseTimestamp(s []byte, formats []tsFormat, loc *time.Location) (int64, bool) {
	for _, f := range formats {
		switch f.kind {
		case tsLayout:
			if t, err := time.ParseInLocation(f.layout, rules.AliasString(s), loc); err == nil {
				return t.UnixMicro(), true
			}
		case tsRFC3339, tsISO8601:
			c, ok := parseISO(s)
			if !ok {
				continue
			}
			if f.kind == tsRFC3339 && (!c.zoned || !c.hasSec) || f.kind == tsISO8601 && c.zoned {
				continue
			}
			return c.micros(loc), true
		default:
			scale, frac := f.unixScale()
			if v, ok := parseDecimalScaled(s, scale, frac); ok {
				return v, true
			}
		}
	}
	return 0, false
}

// civil is a date and time of day read from ISO 8601 text.
type civil struct {
	year, month, day, hour, min, sec int
	micro                            int64
	off                              int // seconds east of UTC, when zoned
	zoned, hasSec                    bool
}

// parseISO reads YYYY-MM-DD, optionally followed by 'T', 't' or ' ' and
// hh:mm[:ss[.fraction]], optionally followed by 'Z', 'z' or ±hh:mm. Digits
// of the fraction past microseconds are dropped.
func parseISO(s []byte) (c civil, ok bool) {
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, b := range s[i : i+n] {
			if b < '0' || b > '9' {
				return 0, false
			}
			v = v*10 + int(b-'0')
		}
		return v, true
	}
	var ok1, ok2, ok3 bool
	c.year, ok1 = num(0, 4)
	c.month, ok2 = num(5, 2)
	c.day, ok3 = num(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' ||
		c.month < 1 || c.month > 12 || c.day < 1 || c.day > daysIn(c.year, c.month) {
		return c, false
	}
	i := 10
	if i == len(s) {
		return c, true
	}
	if s[i] != 'T' && s[i] != 't' && s[i] != ' ' {
		return c, false
	}
	c.hour, ok1 = num(i+1, 2)
	c.min, ok2 = num(i+4, 2)
	if !ok1 || !ok2 || s[i+3] != ':' || c.hour > 23 || c.min > 59 {
		return c, false
	}
	i += 6
	if i+2 < len(s) && s[i] == ':' {
		if c.sec, ok1 = num(i+1, 2); !ok1 || c.sec > 59 {
			return c, false
		}
		c.hasSec = true
		i += 3
		if i < len(s) && s[i] == '.' {
			i++
			start := i
			for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
				if i-start < 6 {
					c.micro = c.micro*10 + int64(s[i]-'0')
				}
			}
			n := i - start
			if n == 0 {
				return c, false
			}
			for ; n < 6; n++ {
				c.micro *= 10
			}
		}
	}
	if i == len(s) {
		return c, true
	}
	switch s[i] {
	case 'Z', 'z':
		c.zoned = true
		return c, i+1 == len(s)
	case '+', '-':
		h, ok1 := num(i+1, 2)
		m, ok2 := num(i+4, 2)
		if !ok1 || !ok2 || s[i+3] != ':' || i+6 != len(s) || h > 23 || m > 59 {
			return c, false
		}
		c.off = h*3600 + m*60
		if s[i] == '-' {
			c.off = -c.off
		}
		c.zoned = true
		return c, true
	}
	return c, false
}

// micros is the instant c names; loc places a time without offset.
func (c civil) micros(loc *time.Location) int64 {
	if !c.zoned && loc != time.UTC {
		t := time.Date(c.year, time.Month(c.month), c.day, c.hour, c.min, c.sec, int(c.micro)*1000, loc)
		return t.UnixMicro()
	}
	secs := daysFromCivil(c.year, c.month, c.day)*86400 + int64(c.hour*3600+c.min*60+c.sec-c.off)
	return secs*1_000_000 + c.micro
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to a proleptic
// Gregorian date (H. Hinnant's days_from_civil).
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := int64((month + 9) % 12)
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseDate reads YYYY-MM-DD as days since the epoch.
func parseDate(s []byte) (int64, bool) {
	if len(s) != 10 {
		return 0, false
	}
	c, ok := parseISO(s)
	if !ok {
		return 0, false
	}
	return daysFromCivil(c.year, c.month, c.day), true
}

// parseDecimalScaled reads [+-]digits[.digits] and returns it times scale,
// keeping fracDigits digits of the fraction (none allowed when it is zero).
func parseDecimalScaled(s []byte, scale int64, fracDigits int) (int64, bool) {
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg, i = s[0] == '-', 1
	}
	var whole uint64
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if whole > (math.MaxInt64-9)/10 {
			return 0, false
		}
		whole = whole*10 + uint64(s[i]-'0')
	}
	if i == start {
		return 0, false
	}
	var frac int64
	if i < len(s) && s[i] == '.' && fracDigits > 0 {
		i++
		fs := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if i-fs < fracDigits {
				frac = frac*10 + int64(s[i]-'0')
			}
		}
		n := i - fs
		if n == 0 {
			return 0, false
		}
		for ; n < fracDigits; n++ {
			frac *= 10
		}
	}
	if i != len(s) || whole > uint64(math.MaxInt64/scale) {
		return 0, false
	}
	// whole*scale fits; adding frac (< scale) can still wrap, to negative.
	v := int64(whole)*scale + frac
	if v < 0 {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// unixToMicros scales an integer count of a unix format's units.
func unixToMicros(v, scale int64) (int64, bool) {
	if v > math.MaxInt64/scale || v < math.MinInt64/scale {
		return 0, false
	}
	return v * scale, true
}

// floatUnixToMicros scales a floating count of a unix format's units,
// rounding to the nearest microsecond.
func floatUnixToMicros(f float64, scale int64) (int64, bool) {
	m := math.Round(f * float64(scale))
	if math.IsNaN(m) || m >= 0x1p63 || m < -0x1p63 {
		return 0, false
	}
	return int64(m), true
}

// Layouts for timestamps and dates as text: RFC 3339 with up to microsecond
// precision, in UTC.
const (
	layoutTimestamp      = "2006-01-02T15:04:05.999999Z07:00"
	layoutLocalTimestamp = "2006-01-02T15:04:05.999999"
	layoutDate           = "2006-01-02"
)

func appendTimestamp(dst []byte, micros int64, local bool) []byte {
	layout := layoutTimestamp
	if local {
		layout = layoutLocalTimestamp
	}
	return time.UnixMicro(micros).UTC().AppendFormat(dst, layout)
}

func appendDate(dst []byte, days int64) []byte {
	return time.Unix(days*86400, 0).UTC().AppendFormat(dst, layoutDate)
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
