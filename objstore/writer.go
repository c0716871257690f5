package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrAborted is the cause given to an upload stopped by Writer.Abort(nil).
var ErrAborted = errors.New("upload aborted")

// errWriterClosed is returned by Write after Close or Abort.
var errWriterClosed = errors.New("object writer is closed")

// Writer adapts Bucket.Upload, which pulls from a reader, to an
// io.WriteCloser that producers (the Parquet encoder) push into. An io.Pipe
// connects the two and Upload runs in its own goroutine, so a file streams to
// storage with memory bounded by the provider's part size instead of being
// held whole.
//
// A Writer is not safe for concurrent use. Exactly one of Close or Abort
// decides the outcome; calls after the first return the same result.
type Writer struct {
	key     string
	pw      *io.PipeWriter
	cancel  context.CancelCauseFunc
	done    chan struct{}
	err     error // Upload's result, set before done is closed
	n       int64
	closed  bool
	aborted bool
}

// NewWriter starts streaming an upload to key in b. The upload runs until
// Close (which publishes the object) or Abort (which discards it), or until
// ctx is cancelled (which discards it too). The caller must call Close or
// Abort, or the upload goroutine leaks.
func NewWriter(ctx context.Context, b Bucket, key string) *Writer {
	ctx, cancel := context.WithCancelCause(ctx)
	pr, pw := io.Pipe()
	w := &Writer{key: key, pw: pw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		err := b.Upload(ctx, key, pr)
		w.err = err
		// Unblock a Write that is waiting for a reader that has gone away.
		// Upload reads to EOF before succeeding, so after a nil result no
		// Write can be pending.
		if err != nil {
			_ = pr.CloseWithError(err)
		} else {
			_ = pr.Close()
		}
	}()
	return w
}

// Write streams p to the upload. It blocks while the upload is busy sending
// earlier parts, which is the backpressure that bounds memory. If the upload
// has failed, Write returns its error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("write %s: %w", w.key, errWriterClosed)
	}
	n, err := w.pw.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", w.key, err)
	}
	return n, nil
}

// Written returns the number of bytes accepted by Write so far.
func (w *Writer) Written() int64 { return w.n }

// Close ends the stream and waits for the upload to finish. A nil result
// means the object is stored under the key and complete.
func (w *Writer) Close() error {
	if !w.closed {
		w.closed = true
		_ = w.pw.Close()
	}
	<-w.done
	w.cancel(nil)
	if w.aborted && w.err == nil {
		return ErrAborted
	}
	return w.err
}

// Interrupt fails the upload with cause err without waiting: a Write or
// Close in progress on another goroutine returns an error promptly. Unlike
// every other method it may be called concurrently with them. It publishes
// nothing and removes nothing; call Abort afterwards, from the goroutine
// that owns the Writer, to discard the upload.
func (w *Writer) Interrupt(err error) {
	if err == nil {
		err = ErrAborted
	}
	w.cancel(err)
	_ = w.pw.CloseWithError(err)
}

// Abort stops the upload with cause err (ErrAborted if nil) and waits until
// it has ended, so that when Abort returns nothing is visible under the key
// and no parts are left behind. Abort after a successful Close does nothing:
// the object is already published and removing it is the caller's decision
// (Bucket.Delete).
func (w *Writer) Abort(err error) {
	if w.closed {
		<-w.done
		return
	}
	if err == nil {
		err = ErrAborted
	}
	w.closed = true
	w.aborted = true
	// Cancel first so a provider blocked in a network call stops promptly,
	// then fail the reader so one blocked in Read stops too.
	w.cancel(err)
	_ = w.pw.CloseWithError(err)
	<-w.done
}
