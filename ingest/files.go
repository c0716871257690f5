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
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// ChunkRows is how many rows a batch's column builder holds before they
// are handed to the file pool as one record batch. The bench's limit
// pipelines cut their chunks at the same size.
const ChunkRows = 8192

// filePool writes the data files of the pipeline's batches into the
// warehouse. Each batch's files are a batchFiles; the pool holds what is
// the same for all of them: where files go, how they are encoded, and the
// limits on how many a batch keeps open and how large they grow. It only
// writes and seals files: which rows a batch holds, and what its commit
// records, is the batch's business.
type filePool struct {
	warehouse objstore.Bucket
	dataFile  table.DataFileOptions
	maxOpen   int   // Options.MaxOpenFiles
	parallel  int   // Options.ParallelFiles
	target    int64 // Options.TargetFileSize
	hooks     Hooks
	// uploads is the context uploads run under, set by Run: not the poll
	// loop's, since a file opened before a stop signal must still complete
	// for the shutdown flush (Run bounds it).
	uploads context.Context
}

func newFilePool(o *Options) *filePool {
	return &filePool{
		warehouse: o.Warehouse,
		dataFile:  o.DataFile,
		maxOpen:   o.MaxOpenFiles,
		parallel:  o.ParallelFiles,
		target:    o.TargetFileSize,
		hooks:     o.Hooks,
	}
}

// batchFiles are the data files of one batch: the ones being written, the
// ones finishing on their goroutines, and the finished ones the commit
// carries.
type batchFiles struct {
	// open holds the data files being written, by partition key ("" for
	// an unpartitioned table; see pickFile for parallel files).
	open map[string]*openFile
	// closing holds the files finishing on their goroutines, in the order
	// they were closed; collect moves them to done.
	closing []*openFile
	done    []iceberg.DataFile
	bytes   int64 // the size of the done files
}

type openFile struct {
	key string // object key
	enc *fileEncoder
}

// fileTable is what the pool needs of a table to write its files: the
// table (its location and partition spec), the schema the batch's rows
// have, and the partitioner of that schema (nil when unpartitioned).
type fileTable struct {
	name string
	tbl  *icebergtable.Table
	sch  *iceberg.Schema
	part *table.Partitioner
}

// memBytes is what the files hold in memory: batches queued for their
// encoders and unflushed row groups, closing files' included.
func (bf *batchFiles) memBytes() int64 {
	var n int64
	for _, f := range bf.open {
		n += f.enc.memBytes()
	}
	for _, f := range bf.closing {
		n += f.enc.memBytes()
	}
	return n
}

// abort ends every file not yet finished: its encoding stops and its
// upload is discarded. Files already uploaded stay as orphans for cleanup
// (DESIGN.md §3 rule 5).
func (bf *batchFiles) abort(cause error) {
	for key, f := range bf.open {
		f.enc.abort(cause)
		delete(bf.open, key)
	}
	for _, f := range bf.closing {
		f.enc.abort(cause)
	}
	bf.closing = nil
}

// memBytes estimates the memory the batch holds: rows not yet encoded,
// rows waiting for an encoder and the Parquet writers' unflushed row
// groups, closing files' included.
func (b *batch) memBytes() int64 {
	return b.pendingB*2 + b.files.memBytes()
}

// drop abandons the batch. Uploaded files stay as orphans for cleanup
// (DESIGN.md §3 rule 5); the others' encoding and uploads are aborted.
func (b *batch) drop(cause error) {
	b.files.abort(cause)
	b.builder.Release()
}

// fileTable describes ts for the file pool.
func (ts *tableState) fileTable() fileTable {
	return fileTable{name: ts.name, tbl: ts.tbl, sch: ts.sch, part: ts.part}
}

// writeChunk hands the builder's rows to the batch's data files.
func (p *Pipeline) writeChunk(ctx context.Context, ts *tableState) error {
	b := ts.b
	if b.pending == 0 {
		return nil
	}
	rec := schema.NewRecordBatch(b.builder)
	defer rec.Release()
	b.rows += int64(b.pending)
	b.pending, b.pendingB = 0, 0
	return p.pool.write(ctx, &b.files, ts.fileTable(), rec)
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
	return p.pool.seal(ctx, &b.files, ts.fileTable(), !(watermarksOnly && p.committer.CommitsWatermarksAlone()))
}

// write hands rows to bf's open data files, one per partition of a
// partitioned table, opening files as needed. Each file encodes on its
// own goroutine (fileEncoder). A file is closed once it reaches the
// target size; before a file would open past MaxOpenFiles, the one
// holding the most unwritten bytes is closed, so memory stays bounded
// however many partition values a batch touches.
func (fp *filePool) write(ctx context.Context, bf *batchFiles, t fileTable, rec arrow.RecordBatch) error {
	if t.part == nil {
		return fp.writeTo(ctx, bf, t, "", nil, rec)
	}
	groups, err := t.part.Split(rec)
	if err != nil {
		return fmt.Errorf("table %s: partition rows: %w", t.name, err)
	}
	arranged, err := t.part.Arrange(ctx, rec, groups)
	if err != nil {
		return fmt.Errorf("table %s: %w", t.name, err)
	}
	defer arranged.Release()
	var off int64
	for _, g := range groups {
		n := int64(len(g.Rows))
		sub := arranged.NewSlice(off, off+n)
		off += n
		err := fp.writeTo(ctx, bf, t, g.Key, g.Values, sub)
		sub.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeTo writes rows of one partition to one of its open files.
func (fp *filePool) writeTo(ctx context.Context, bf *batchFiles, t fileTable, key string, values map[int]any, rec arrow.RecordBatch) error {
	slot, f := fp.pickFile(bf, key)
	if f == nil {
		for len(bf.open) >= fp.maxOpen {
			if err := fp.closeFile(bf, t, largestOpen(bf)); err != nil {
				return err
			}
		}
		var err error
		if f, err = fp.openFile(ctx, bf, t, slot, values); err != nil {
			return err
		}
	}
	if err := f.enc.write(rec); err != nil {
		return fmt.Errorf("table %s: write %s: %w", t.name, f.key, err)
	}
	fp.hooks.at("mid-upload")
	// The size lags the batches still queued: a file may pass the target
	// by up to encodeQueue chunks.
	if f.enc.size() >= fp.target {
		return fp.closeFile(bf, t, slot)
	}
	return nil
}

// pickFile chooses the open file of partition key that takes the next
// rows, by its key in bf.open: the partition key itself, then
// key\x00<i> for the i-th parallel file. It takes the first whose encoder
// can accept rows without waiting. When all are busy, it names a free slot
// with a nil file, for the caller to open, while ParallelFiles and
// MaxOpenFiles allow; otherwise the first file, whose encoder the loop
// then waits for.
func (fp *filePool) pickFile(bf *batchFiles, key string) (string, *openFile) {
	f, ok := bf.open[key]
	if !ok {
		return key, nil
	}
	if !f.enc.busy() {
		return key, f
	}
	for i := 1; i < fp.parallel; i++ {
		slot := key + "\x00" + strconv.Itoa(i)
		g, ok := bf.open[slot]
		if !ok {
			if len(bf.open) < fp.maxOpen {
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
func largestOpen(bf *batchFiles) string {
	best, bestN := "", int64(-1)
	for k, f := range bf.open {
		if n := f.enc.memBytes(); n > bestN || (n == bestN && k < best) {
			best, bestN = k, n
		}
	}
	return best
}

// dataKey returns the object key for a new data file of t, under the
// table's location inside the warehouse.
func (fp *filePool) dataKey(t fileTable) (string, error) {
	loc := strings.TrimSuffix(t.tbl.Location(), "/")
	root := strings.TrimSuffix(fp.warehouse.URL(""), "/")
	if loc != root && !strings.HasPrefix(loc, root+"/") {
		return "", fmt.Errorf("table %s: location %s is outside the warehouse %s", t.name, loc, root)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(loc, root), "/")
	name := fmt.Sprintf("data/%s-%s.parquet", time.Now().UTC().Format("20060102T150405"), uuid.NewString())
	if rel == "" {
		return name, nil
	}
	return rel + "/" + name, nil
}

func (fp *filePool) openFile(_ context.Context, bf *batchFiles, t fileTable, partKey string, values map[int]any) (*openFile, error) {
	key, err := fp.dataKey(t)
	if err != nil {
		return nil, err
	}
	// Not the caller's context: a file opened before a stop signal must
	// still complete for the shutdown flush (Run bounds it).
	up := objstore.NewWriter(fp.uploads, fp.warehouse, key)
	w, err := table.NewDataFileWriter(up, t.sch, fp.dataFile)
	if err != nil {
		up.Abort(err)
		return nil, fmt.Errorf("table %s: open data file: %w", t.name, err)
	}
	// The spec the file is written for, read now: the encoder's goroutine
	// must not read the table, which the poll loop may replace.
	spec, url := t.tbl.Spec(), fp.warehouse.URL(key)
	describe := func(w *table.DataFileWriter) (iceberg.DataFile, error) {
		df, err := w.DataFile(url, spec, values)
		if err != nil {
			return nil, fmt.Errorf("data file: %w", err)
		}
		return df, nil
	}
	f := &openFile{key: key, enc: startEncoder(w, up, describe)}
	bf.open[partKey] = f
	return f, nil
}

// closeFile starts finishing one open data file (its last rows encoded,
// footer written, upload completed) on the file's goroutine. At most
// MaxOpenFiles files finish at once: past that, closeFile waits for the
// oldest, so that closed files do not pile up in memory.
func (fp *filePool) closeFile(bf *batchFiles, t fileTable, partKey string) error {
	f := bf.open[partKey]
	delete(bf.open, partKey)
	f.enc.finish()
	bf.closing = append(bf.closing, f)
	for len(bf.closing) > fp.maxOpen {
		if err := collect(bf, t); err != nil {
			return err
		}
	}
	return nil
}

// collect waits for the oldest closing file and registers it for the
// commit.
func collect(bf *batchFiles, t fileTable) error {
	f := bf.closing[0]
	df, err := f.enc.wait()
	if err != nil {
		return fmt.Errorf("table %s: data file %s: %w", t.name, f.key, err)
	}
	bf.closing = bf.closing[1:]
	bf.done = append(bf.done, df)
	bf.bytes += f.enc.written.Load()
	return nil
}

// seal closes bf's files and waits for them all, leaving every file's
// statistics and partition values in bf.done, in the order the files were
// closed. With needFile, a batch that wrote no file gets one empty file
// (with null partition values in a partitioned table), for the commit to
// carry.
func (fp *filePool) seal(ctx context.Context, bf *batchFiles, t fileTable, needFile bool) error {
	if needFile && len(bf.open) == 0 && len(bf.done) == 0 {
		var values map[int]any
		if spec := t.tbl.Spec(); spec.NumFields() > 0 {
			values = make(map[int]any, spec.NumFields())
			for _, f := range spec.Fields() {
				values[f.FieldID] = nil
			}
		}
		if _, err := fp.openFile(ctx, bf, t, "", values); err != nil {
			return err
		}
	}
	for _, key := range slices.Sorted(maps.Keys(bf.open)) {
		if err := fp.closeFile(bf, t, key); err != nil {
			return err
		}
	}
	for len(bf.closing) > 0 {
		if err := collect(bf, t); err != nil {
			return err
		}
	}
	return nil
}
