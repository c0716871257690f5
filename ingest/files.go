package ingest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// memBytes estimates the memory the batch holds: rows not yet encoded and
// the Parquet writers' unflushed row groups.
func (b *batch) memBytes() int64 {
	n := b.pendingB * 2
	for _, f := range b.open {
		n += f.w.BufferedBytes()
	}
	return n
}

// drop abandons the batch. Uploaded files stay as orphans for cleanup
// (DESIGN.md §3 rule 5); the open uploads are aborted.
func (b *batch) drop(cause error) {
	for key, f := range b.open {
		f.up.Abort(cause)
		delete(b.open, key)
	}
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
// partition of a partitioned table, opening files as needed. A file is
// closed once it reaches the target size; before a file would open past
// MaxOpenFiles, the one holding the most unwritten bytes is closed, so
// memory stays bounded however many partition values a batch touches.
func (p *Pipeline) writeChunk(ctx context.Context, ts *tableState) error {
	b := ts.b
	if b.pending == 0 {
		return nil
	}
	rec := b.builder.NewRecordBatch()
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

// writeTo writes rows of one partition to its open file.
func (p *Pipeline) writeTo(ctx context.Context, ts *tableState, key string, values map[int]any, rec arrow.RecordBatch) error {
	b := ts.b
	f, ok := b.open[key]
	if !ok {
		for len(b.open) >= p.opts.MaxOpenFiles {
			if err := p.closeFile(ts, largestOpen(b)); err != nil {
				return err
			}
		}
		var err error
		if f, err = p.openFile(ctx, ts, key, values); err != nil {
			return err
		}
	}
	if err := f.w.Write(rec); err != nil {
		return fmt.Errorf("table %s: write %s: %w", ts.name, f.key, err)
	}
	p.opts.Hooks.at("mid-upload")
	if f.w.BytesWritten()+f.w.BufferedBytes() >= p.opts.TargetFileSize {
		return p.closeFile(ts, key)
	}
	return nil
}

// largestOpen names the open file holding the most unwritten bytes (ties
// by key, so the choice does not depend on map order).
func largestOpen(b *batch) string {
	best, bestN := "", int64(-1)
	for k, f := range b.open {
		if n := f.w.BufferedBytes(); n > bestN || (n == bestN && k < best) {
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
	f := &openFile{key: key, up: up, w: w, values: values}
	ts.b.open[partKey] = f
	return f, nil
}

// closeFile finishes one open data file: footer written, upload complete,
// statistics and partition values registered for the commit.
func (p *Pipeline) closeFile(ts *tableState, partKey string) error {
	b := ts.b
	f := b.open[partKey]
	delete(b.open, partKey)
	if err := f.w.Close(); err != nil {
		f.up.Abort(err)
		return fmt.Errorf("table %s: close %s: %w", ts.name, f.key, err)
	}
	if err := f.up.Close(); err != nil {
		return fmt.Errorf("table %s: upload %s: %w", ts.name, f.key, err)
	}
	df, err := f.w.DataFile(p.opts.Warehouse.URL(f.key), ts.tbl.Spec(), f.values)
	if err != nil {
		return fmt.Errorf("table %s: data file %s: %w", ts.name, f.key, err)
	}
	b.files = append(b.files, df)
	b.fileBytes += f.w.BytesWritten()
	return nil
}

// seal writes what is left of the batch and closes its files. A batch
// whose records were all passed over still commits, as one empty file
// (with null partition values in a partitioned table), so that its
// watermarks advance under the same snapshot compare-and-swap as every
// other commit.
func (p *Pipeline) seal(ctx context.Context, ts *tableState) error {
	if err := p.writeChunk(ctx, ts); err != nil {
		return err
	}
	b := ts.b
	if len(b.open) == 0 && len(b.files) == 0 {
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
	return nil
}
