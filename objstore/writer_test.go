package objstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bigfather/bigfather/objstore"
)

func newFSBucket(t *testing.T) *objstore.FS {
	t.Helper()
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An upload that fails before reading (bad key) must surface its error on
// Write instead of blocking the producer forever on the pipe.
func TestWriterUploadFailsEarly(t *testing.T) {
	w := objstore.NewWriter(t.Context(), newFSBucket(t), "../escape")
	if _, err := w.Write([]byte("data")); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Write = %v, want ErrInvalidKey", err)
	}
	if err := w.Close(); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Close = %v, want ErrInvalidKey", err)
	}
}

func TestWriterParentContextCancelled(t *testing.T) {
	b := newFSBucket(t)
	ctx, cancel := context.WithCancel(t.Context())
	w := objstore.NewWriter(ctx, b, "k")
	if _, err := w.Write([]byte("part")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	cancel()
	// Writes may or may not fail depending on when the upload notices; the
	// outcome is decided by Close.
	_, _ = w.Write([]byte("more"))
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	if _, err := b.Get(t.Context(), "k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get = %v, want ErrNotExist", err)
	}
}

func TestWriterAbortCause(t *testing.T) {
	b := newFSBucket(t)
	w := objstore.NewWriter(t.Context(), b, "k")
	w.Abort(nil)
	if err := w.Close(); !errors.Is(err, objstore.ErrAborted) {
		t.Fatalf("Close after Abort(nil) = %v, want ErrAborted", err)
	}
	cause := errors.New("encode failed")
	w = objstore.NewWriter(t.Context(), b, "k2")
	w.Abort(cause)
	w.Abort(errors.New("second abort is a no-op"))
	if err := w.Close(); !errors.Is(err, cause) {
		t.Fatalf("Close after Abort(cause) = %v, want the cause", err)
	}
	if w.Written() != 0 {
		t.Fatalf("Written = %d, want 0", w.Written())
	}
}
