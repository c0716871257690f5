package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ByteSize is a number of bytes. In YAML it is a plain integer (bytes) or a
// number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), case-insensitive, optionally with a fraction and a
// space: "128MiB", "64KB", "1.5 GiB".
type ByteSize int64

// Binary and decimal byte units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40

	KB ByteSize = 1e3
	MB ByteSize = 1e6
	GB ByteSize = 1e9
	TB ByteSize = 1e12
)

// units lists binary before decimal, so that String, which picks the largest
// unit that divides exactly, prefers binary when both give the same number.
var units = []struct {
	name string
	size ByteSize
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
	{"B", 1},
}

// ParseByteSize parses s as described on ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	if num == "" {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a size like \"128MiB\"", s)
	}
	mult := ByteSize(-1)
	if unit == "" {
		mult = 1
	}
	for _, u := range units {
		if strings.EqualFold(unit, u.name) {
			mult = u.size
		}
	}
	if mult < 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/int64(mult) {
			return 0, fmt.Errorf("invalid size %q: out of range", s)
		}
		return ByteSize(n) * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %q is not a number", s, num)
	}
	v := math.Round(f * float64(mult))
	// 2^63 is exactly representable; anything at or above it overflows.
	if v >= math.Ldexp(1, 63) {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return ByteSize(v), nil
}

// String formats b with the largest unit that represents it exactly (the
// shortest number), so that
// ParseByteSize(b.String()) == b.
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	if b < 0 {
		return strconv.FormatInt(int64(b), 10) + "B"
	}
	best := units[len(units)-1]
	for _, u := range units {
		if b%u.size == 0 && u.size > best.size {
			best = u
		}
	}
	return strconv.FormatInt(int64(b/best.size), 10) + best.name
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a size like \"128MiB\" or a number of bytes")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Kinds of StartPosition.
const (
	StartEarliest  = "earliest"
	StartLatest    = "latest"
	StartTimestamp = "timestamp"
)

// StartPosition is where a never-committed partition starts consuming. In
// YAML it is "earliest", "latest" or an RFC 3339 timestamp.
type StartPosition struct {
	// Kind is StartEarliest, StartLatest or StartTimestamp.
	Kind string
	// At is the timestamp for StartTimestamp: consumption starts at the
	// first record produced at or after it.
	At time.Time
}

// ParseStartPosition parses s as described on StartPosition.
func ParseStartPosition(s string) (StartPosition, error) {
	switch s {
	case StartEarliest, StartLatest:
		return StartPosition{Kind: s}, nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return StartPosition{}, fmt.Errorf("invalid start %q: want earliest, latest or an RFC 3339 timestamp like 2024-01-02T15:04:05Z", s)
	}
	return StartPosition{Kind: StartTimestamp, At: at}, nil
}

// String returns the YAML form of p.
func (p StartPosition) String() string {
	if p.Kind == StartTimestamp {
		return p.At.Format(time.RFC3339Nano)
	}
	return p.Kind
}

// UnmarshalYAML implements yaml.Unmarshaler. It reads the raw text, because
// YAML would otherwise resolve an unquoted timestamp into its own type.
func (p *StartPosition) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want earliest, latest or an RFC 3339 timestamp")
	}
	v, err := ParseStartPosition(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (p StartPosition) MarshalYAML() (any, error) { return p.String(), nil }

// Scalar is a YAML scalar kept with the type YAML gives it: an int64, a
// float64, a bool, a string, or nil for null.
type Scalar struct{ V any }

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a single value (a number, true/false or text)")
	}
	switch n.ShortTag() {
	case "!!null":
		s.V = nil
		return nil
	case "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			return err
		}
		s.V = v
	case "!!float":
		var v float64
		if err := n.Decode(&v); err != nil {
			return err
		}
		s.V = v
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return err
		}
		s.V = v
	default:
		s.V = n.Value
	}
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (s Scalar) MarshalYAML() (any, error) { return s.V, nil }

// Set implements flag.Value: the same sizes as the config file.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}
