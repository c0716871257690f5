package config

import (
	"errors"
	"fmt"
	"time"

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
