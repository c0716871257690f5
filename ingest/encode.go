package ingest

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	iceberg "github.com/apache/iceberg-go"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// encodeQueue is how many record batches may wait for one file's encoder.
// Two keep the encoder busy while the poll loop decodes the next chunk,
// and bound what a slow upload holds in memory.
const encodeQueue = 2

// fileEncoder runs one data file's Parquet encoding, its footer and the
// completion of its upload on a goroutine of its own, so that the poll loop
// decodes the next records while earlier ones are encoded and the open
// files of a batch (a partitioned table's, several tables') encode in
// parallel. The loop hands it record batches, then either finishes it
// (the file is complete once wait returns nil) or aborts it. Only the
// goroutine touches the writer and the upload until wait returns.
type fileEncoder struct {
	w  *table.DataFileWriter // nil once the file is described
	up *objstore.Writer
	in chan arrow.RecordBatch
	// describe turns the closed writer into the commit's data file entry.
	describe func(*table.DataFileWriter) (iceberg.DataFile, error)
	df       iceberg.DataFile // set before done is closed, when err is nil

	// Published by the goroutine after every batch, read by the loop for
	// the target size, the open-file limit and the memory budget.
	written, buffered atomic.Int64
	// queued is the Arrow size of the batches handed over and not yet
	// encoded.
	queued atomic.Int64

	mu       sync.Mutex
	err      error // the first failure; later batches are released unwritten
	aborting error // set by abort: skip the rest and discard the upload

	closed bool          // in is closed (loop side only)
	done   chan struct{} // closed when the goroutine has finished
}

func startEncoder(w *table.DataFileWriter, up *objstore.Writer, describe func(*table.DataFileWriter) (iceberg.DataFile, error)) *fileEncoder {
	e := &fileEncoder{w: w, up: up, describe: describe, in: make(chan arrow.RecordBatch, encodeQueue), done: make(chan struct{})}
	go e.run()
	return e
}

func (e *fileEncoder) run() {
	defer close(e.done)
	for rec := range e.in {
		if e.failed() == nil {
			if err := e.w.Write(rec); err != nil {
				e.fail(err)
			}
			e.written.Store(e.w.BytesWritten())
			e.buffered.Store(e.w.BufferedBytes())
		}
		e.queued.Add(-table.RecordBytes(rec))
		rec.Release()
	}
	if err := e.failed(); err != nil {
		e.up.Abort(err)
		return
	}
	if err := e.w.Close(); err != nil {
		e.fail(fmt.Errorf("close: %w", err))
		e.up.Abort(err)
		return
	}
	if err := e.up.Close(); err != nil {
		e.fail(fmt.Errorf("upload: %w", err))
		return
	}
	df, err := e.describe(e.w)
	if err != nil {
		e.fail(err)
		return
	}
	e.df = df
	e.written.Store(e.w.BytesWritten())
	e.buffered.Store(0)
	e.w = nil // what the writer still holds is garbage from here on
}

func (e *fileEncoder) fail(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// failed returns the abort cause or the first failure, nil while all is
// well.
func (e *fileEncoder) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.aborting != nil {
		return e.aborting
	}
	return e.err
}

// write hands rec to the encoder, which retains it. It blocks while the
// queue is full. An error is an earlier batch's failure: the file is lost.
func (e *fileEncoder) write(rec arrow.RecordBatch) error {
	if err := e.failed(); err != nil {
		return err
	}
	rec.Retain()
	e.queued.Add(table.RecordBytes(rec))
	e.in <- rec
	return nil
}

// finish starts completing the file: what is queued is encoded, then the
// footer is written and the upload completed. wait reports the outcome.
func (e *fileEncoder) finish() {
	if !e.closed {
		e.closed = true
		close(e.in)
	}
}

// wait waits for the goroutine and returns the file's entry for the
// commit, or the failure that lost it. Call finish or abort first.
func (e *fileEncoder) wait() (iceberg.DataFile, error) {
	<-e.done
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil && e.aborting != nil {
		return nil, e.aborting
	}
	return e.df, e.err
}

// abort discards the file: queued batches are released unwritten, a write
// or an upload in progress is interrupted, and the upload is aborted
// (DESIGN.md §3 rule 5: nothing of it is committed). It returns once the
// goroutine has finished.
func (e *fileEncoder) abort(cause error) {
	if cause == nil {
		cause = objstore.ErrAborted
	}
	e.mu.Lock()
	if e.aborting == nil {
		e.aborting = cause
	}
	e.mu.Unlock()
	e.up.Interrupt(cause)
	e.finish()
	<-e.done
	e.up.Abort(cause) // a no-op when the goroutine aborted it already
}

// busy reports whether the encoder's queue is full, so that the next
// write would wait.
func (e *fileEncoder) busy() bool { return len(e.in) == cap(e.in) }

// memBytes is what the file holds in memory: batches waiting and the
// writer's unflushed row group.
func (e *fileEncoder) memBytes() int64 { return e.queued.Load() + e.buffered.Load() }

// size is the file's Parquet bytes so far, written and buffered; it lags
// the batches still queued.
func (e *fileEncoder) size() int64 { return e.written.Load() + e.buffered.Load() }
