package config

import (
	"errors"

	"gopkg.in/yaml.v3"

	"github.com/bigfather/bigfather/internal/bytesize"
)

// ByteSize is a number of bytes, as internal/bytesize parses it: the type
// of every size key.
type ByteSize = bytesize.Size

// Binary and decimal byte units.
const (
	KiB = bytesize.KiB
	MiB = bytesize.MiB
	GiB = bytesize.GiB
	TiB = bytesize.TiB

	KB = bytesize.KB
	MB = bytesize.MB
	GB = bytesize.GB
	TB = bytesize.TB
)

// ParseByteSize parses s as described on bytesize.Size.
func ParseByteSize(s string) (ByteSize, error) { return bytesize.Parse(s) }

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
