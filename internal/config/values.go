package config

import "github.com/bigfather/bigfather/internal/bytesize"

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
