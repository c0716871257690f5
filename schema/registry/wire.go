package registry

import (
	"encoding/binary"
	"errors"
)

// Errors returned by SplitWire.
var (
	// ErrBadMagic means the first byte is not the Confluent magic byte 0, so
	// the value was not produced by a schema-registry serializer.
	ErrBadMagic = errors.New("schema: bad wire-format magic byte")
	// ErrTruncated means the value is shorter than the 5-byte wire header.
	ErrTruncated = errors.New("schema: wire-format header truncated")
)

// wireHeaderLen is the magic byte plus the 4-byte schema id.
const wireHeaderLen = 5

// SplitWire splits a Confluent wire-format value into its schema id and the
// encoded payload. The layout is one magic byte (0), the schema id as a
// 4-byte big-endian integer, then the payload. The returned payload aliases b.
func SplitWire(b []byte) (id int32, payload []byte, err error) {
	if len(b) == 0 {
		return 0, nil, ErrTruncated
	}
	if b[0] != 0 {
		return 0, nil, ErrBadMagic
	}
	if len(b) < wireHeaderLen {
		return 0, nil, ErrTruncated
	}
	return int32(binary.BigEndian.Uint32(b[1:wireHeaderLen])), b[wireHeaderLen:], nil
}
