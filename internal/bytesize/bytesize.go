// Package bytesize is a number of bytes as the config file and the flags
// write it: "128MiB", "64KB", "1.5 GiB" or a plain integer.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes. In YAML it is a plain integer (bytes) or a
// number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), case-insensitive, optionally with a fraction and a
// space: "128MiB", "64KB", "1.5 GiB".
type Size int64

// Binary and decimal byte units.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40

	KB Size = 1e3
	MB Size = 1e6
	GB Size = 1e9
	TB Size = 1e12
)

// units lists binary before decimal, so that String, which picks the largest
// unit that divides exactly, prefers binary when both give the same number.
var units = []struct {
	name string
	size Size
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
	{"B", 1},
}

// Parse parses s as described on Size.
func Parse(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	if num == "" {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a size like \"128MiB\"", s)
	}
	mult := Size(-1)
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
		return Size(n) * mult, nil
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
	return Size(v), nil
}

// String formats b with the largest unit that represents it exactly (the
// shortest number), so that
// Parse(b.String()) == b.
func (b Size) String() string {
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
func (b *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a size like \"128MiB\" or a number of bytes")
	}
	v, err := Parse(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b Size) MarshalYAML() (any, error) { return b.String(), nil }

// Set implements flag.Value: the same sizes as the config file.
func (b *Size) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}
