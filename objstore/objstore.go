// Package objstore puts object storage behind one small interface with two
// providers: the local filesystem and S3 (any S3-compatible endpoint).
//
// Keys are slash-separated and relative to the bucket's root URL (the
// warehouse). Data files are written once under unique names and never
// overwritten; metadata that must be created exactly once (the object-store
// catalog's vN.metadata.json) uses PutIfAbsent, which is atomic against
// concurrent writers on every provider.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

var (
	// ErrNotExist is returned by Get when no object has the key.
	ErrNotExist = errors.New("object does not exist")
	// ErrExists is returned by PutIfAbsent when an object already has the key.
	ErrExists = errors.New("object already exists")
)

// Object describes one stored object.
type Object struct {
	Key     string // relative to the bucket root
	Size    int64
	ModTime time.Time
}

// Bucket is object storage rooted at one URL.
type Bucket interface {
	// Upload streams r to key, replacing nothing it was not asked to: callers
	// use unique keys. Memory is bounded by the part size however long r is
	// (S3 multipart). If ctx is cancelled or r fails, nothing is left visible
	// under key.
	Upload(ctx context.Context, key string, r io.Reader) error
	// PutIfAbsent writes r to key only if no object has that key, atomically
	// against concurrent writers; otherwise it returns ErrExists. ErrExists
	// means this call did not write the object: an implementation that
	// retries must not report its own earlier, applied attempt as ErrExists.
	// Any other error leaves the outcome unknown.
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
	// Get opens the object for reading; ErrNotExist if it is missing.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URL returns the absolute location of key (file:///abs/path or
	// s3://bucket/prefix/key), as written into Iceberg metadata.
	URL(key string) string
}
