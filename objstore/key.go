package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrInvalidKey is returned (wrapped) by every provider for a key or list
// prefix that could escape the bucket root or that would name different
// objects on different providers.
var ErrInvalidKey = errors.New("invalid object key")

// ValidateKey reports whether key is a well-formed object key: non-empty,
// slash-separated, relative, and made of non-empty segments that are neither
// "." nor "..". Providers share this check so that a key accepted by the
// filesystem provider is accepted by S3 and the other way round; otherwise a
// pipeline tested on local disk could fail only in production.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w %q: contains a NUL byte", ErrInvalidKey, key)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: absolute", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := validateSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// validatePrefix checks a List prefix. A prefix may be empty and its last
// segment may be partial ("data/part-0"), so only the complete segments are
// held to the key rules.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.IndexByte(prefix, 0) >= 0 {
		return fmt.Errorf("%w: prefix %q contains a NUL byte", ErrInvalidKey, prefix)
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q is absolute", ErrInvalidKey, prefix)
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := validateSegment(prefix, seg); err != nil {
			return err
		}
	}
	return nil
}

func validateSegment(key, seg string) error {
	switch seg {
	case "":
		return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
	case ".", "..":
		return fmt.Errorf("%w %q: %q path segment", ErrInvalidKey, key, seg)
	}
	return nil
}

// ctxReader fails reads once ctx is done, so a provider copying from a slow
// or endless reader notices cancellation between chunks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}
