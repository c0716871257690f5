package ingest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	iceberg "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// memBytes estimates the memory the batch holds: rows not yet encoded,
// rows waiting for an encoder and the Parquet writers' unflushed row
// groups, closing files' included.
func (b *batch) memBytes() int64 {
	n := b.pendingB * 2
	for _, f := range b.open {
		n += f.enc.memBytes()
	}
	for _, f := range b.closing {
		n += f.enc.memBytes()
	}
	return n
}

// drop abandons the batch. Uploaded files stay as orphans for cleanup
// (DESIGN.md §3 rule 5); the others' encoding and uploads are aborted.
func (b *batch) drop(cause error) {
	for key, f := range b.open {
		f.enc.abort(cause)
		delete(b.open, key)
	}
	for _, f := range b.closing {
		f.enc.abort(cause)
	}
	b.closing = nil
	b.builder.Release()
}

// dataKey returns the object key for a new data file of ts, under the
// table's location inside the warehouse.
func (p *Pipeline) dataKey(ts *tableState) (string, error) {
	loc := strings.TrimSuffix(ts.tbl.Location(), "/")
	root := strings.TrimSuffix(p.opts.Warehouse.URL(""), "/")
	if loc != root && !strings.HasPrefix(loc, root+"/") {
		return "", fmt.Errorf("table %s: location %s is outside the warehouse %s", ts.name, loc, root)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(loc, root), "/")
	name := fmt.Sprintf("data/%s-%s.parquet", time.Now().UTC().Format("20060102T150405"), uuid.NewString())
	if rel == "" {
		return name, nil
	}
	return rel + "/" + name, nil
}

// writeChunk hands the builder's rows to the open data files, one per
// partition of a partitioned table, opening files as needed. Each file
// encodes on its own goroutine (fileEncoder). A file is closed once it
// reaches the target size; before a file would open past MaxOpenFiles,
// the one holding the most unwritten bytes is closed, so memory stays
// bounded however many partition values a batch touches.
func (p *Pipeline) writeChunk(ctx context.Context, ts *tableState) error {
	b := ts.b
	if b.pending == 0 {
		return nil
	}
	rec := schema.NewRecordBatch(b.builder)
	defer rec.Release()
	b.rows += int64(b.pending)
	b.pending, b.pendingB = 0, 0
	if ts.part == nil {
		return p.writeTo(ctx, ts, "", nil, rec)
	}
	groups, err := ts.part.Split(rec)
	if err != nil {
		return fmt.Errorf("table %s: partition rows: %w", ts.name, err)
	}
	arranged, err := ts.part.Arrange(ctx, rec, groups)
	if err != nil {
		return fmt.Errorf("table %s: %w", ts.name, err)
	}
	defer arranged.Release()
	var off int64
	for _, g := range groups {
		n := int64(len(g.Rows))
		sub := arranged.NewSlice(off, off+n)
		off += n
		err := p.writeTo(ctx, ts, g.Key, g.Values, sub)
		sub.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeTo writes rows of one partition to one of its open files.
func (p *Pipeline) writeTo(ctx context.Context, ts *tableState, key string, values map[int]any, rec arrow.RecordBatch) error {
	b := ts.b
	slot, f := p.pickFile(b, key)
	if f == nil {
		for len(b.open) >= p.opts.MaxOpenFiles {
			if err := p.closeFile(ts, largestOpen(b)); err != nil {
				return err
			}
		}
		var err error
		if f, err = p.openFile(ctx, ts, slot, values); err != nil {
			return err
		}
	}
	if err := f.enc.write(rec); err != nil {
		return fmt.Errorf("table %s: write %s: %w", ts.name, f.key, err)
	}
	p.opts.Hooks.at("mid-upload")
	// The size lags the batches still queued: a file may pass the target
	// by up to encodeQueue chunks.
	if f.enc.size() >= p.opts.TargetFileSize {
		return p.closeFile(ts, slot)
	}
	return nil
}

// pickFile chooses the open file of partition key that takes the next
// rows, by its key in batch.open: the partition key itself, then
// key\x00<i> for the i-th parallel file. It takes the first whose encoder
// can accept rows without waiting. When all are busy, it names a free slot
// with a nil file, for the caller to open, while ParallelFiles and
// MaxOpenFiles allow; otherwise the first file, whose encoder the loop
// then waits for.
func (p *Pipeline) pickFile(b *batch, key string) (string, *openFile) {
	f, ok := b.open[key]
	if !ok {
		return key, nil
	}
	if !f.enc.busy() {
		return key, f
	}
	for i := 1; i < p.opts.ParallelFiles; i++ {
		slot := key + "\x00" + strconv.Itoa(i)
		g, ok := b.open[slot]
		if !ok {
			if len(b.open) < p.opts.MaxOpenFiles {
				return slot, nil
			}
			break
		}
		if !g.enc.busy() {
			return slot, g
		}
	}
	return key, f
}

// largestOpen names the open file holding the most unwritten bytes (ties
// by key, so the choice does not depend on map order).
func largestOpen(b *batch) string {
	best, bestN := "", int64(-1)
	for k, f := range b.open {
		if n := f.enc.memBytes(); n > bestN || (n == bestN && k < best) {
			best, bestN = k, n
		}
	}
	return best
}

func (p *Pipeline) openFile(_ context.Context, ts *tableState, partKey string, values map[int]any) (*openFile, error) {
	key, err := p.dataKey(ts)
	if err != nil {
		return nil, err
	}
	// Not the caller's context: a file opened before a stop signal must
	// still complete for the shutdown flush (Run bounds it).
	up := objstore.NewWriter(p.uploadCtx, p.opts.Warehouse, key)
	w, err := table.NewDataFileWriter(up, ts.sch, p.opts.DataFile)
	if err != nil {
		up.Abort(err)
		return nil, fmt.Errorf("table %s: open data file: %w", ts.name, err)
	}
	// The spec the file is written for, read now: the encoder's goroutine
	// must not read the table, which this loop may replace.
	spec, url := ts.tbl.Spec(), p.opts.Warehouse.URL(key)
	describe := func(w *table.DataFileWriter) (iceberg.DataFile, error) {
		df, err := w.DataFile(url, spec, values)
		if err != nil {
			return nil, fmt.Errorf("data file: %w", err)
		}
		return df, nil
	}
	f := &openFile{key: key, enc: startEncoder(w, up, describe)}
	ts.b.open[partKey] = f
	return f, nil
}

// closeFile starts finishing one open data file (its last rows encoded,
// footer written, upload completed) on the file's goroutine. At most
// MaxOpenFiles files finish at once: past that, closeFile waits for the
// oldest, so that closed files do not pile up in memory.
func (p *Pipeline) closeFile(ts *tableState, partKey string) error {
	b := ts.b
	f := b.open[partKey]
	delete(b.open, partKey)
	f.enc.finish()
	b.closing = append(b.closing, f)
	for len(b.closing) > p.opts.MaxOpenFiles {
		if err := p.collect(ts); err != nil {
			return err
		}
	}
	return nil
}

// collect waits for the oldest closing file and registers it for the
// commit.
func (p *Pipeline) collect(ts *tableState) error {
	b := ts.b
	f := b.closing[0]
	df, err := f.enc.wait()
	if err != nil {
		return fmt.Errorf("table %s: data file %s: %w", ts.name, f.key, err)
	}
	b.closing = b.closing[1:]
	b.files = append(b.files, df)
	b.fileBytes += f.enc.written.Load()
	return nil
}

// seal writes what is left of the batch and closes its files. A batch
// without rows that records passed-over offsets or gaps still commits, as
// one empty file (with null partition values in a partitioned table), so
// that a snapshot summary records them. One that only advances watermarks
// commits without a file where the catalog allows (table/idle.go), and
// otherwise with an empty file too, so that its watermarks advance under
// the same snapshot compare-and-swap as every other commit.
func (p *Pipeline) seal(ctx context.Context, ts *tableState) error {
	if err := p.writeChunk(ctx, ts); err != nil {
		return err
	}
	b := ts.b
	watermarksOnly := !b.hasContent() && ts.pendingSchema() == nil && len(ts.schemaChanges) == 0
	if len(b.open) == 0 && len(b.files) == 0 && !(watermarksOnly && p.committer.CommitsWatermarksAlone()) {
		var values map[int]any
		if spec := ts.tbl.Spec(); spec.NumFields() > 0 {
			values = make(map[int]any, spec.NumFields())
			for _, f := range spec.Fields() {
				values[f.FieldID] = nil
			}
		}
		if _, err := p.openFile(ctx, ts, "", values); err != nil {
			return err
		}
	}
	for _, key := range slices.Sorted(maps.Keys(b.open)) {
		if err := p.closeFile(ts, key); err != nil {
			return err
		}
	}
	// Every file's statistics and partition values, for the commit, in the
	// order the files were closed.
	for len(b.closing) > 0 {
		if err := p.collect(ts); err != nil {
			return err
		}
	}
	return nil
}
