package table

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
)

var (
	// ErrInvalidDataFileOptions is returned by NewDataFileWriter for options
	// it cannot honour (unknown codec, negative sizes).
	ErrInvalidDataFileOptions = errors.New("invalid data file options")
	// ErrDataFileSchema is returned by Write for a record whose Arrow schema,
	// field metadata included, is not the writer's ArrowSchema.
	ErrDataFileSchema = errors.New("record schema does not match the data file schema")
	// ErrDataFileClosed is returned by Write after Close.
	ErrDataFileClosed = errors.New("data file writer is closed")
	// ErrDataFileNotClosed is returned by DataFile before Close: the
	// statistics only exist once the footer is written.
	ErrDataFileNotClosed = errors.New("data file writer is not closed")
)

// Defaults for DataFileOptions. They follow Iceberg's table-property defaults
// (write.parquet.*) so files look like the ones Spark or Flink would write,
// except for the zstd level (see DataFileOptions.ZstdLevel).
const (
	DefaultDataFileCompression   = "zstd"
	DefaultDataFileZstdLevel     = 1
	DefaultDataFileRowGroupBytes = 128 << 20
	DefaultDataFilePageBytes     = 256 << 10
	DefaultDataFileStatsTruncate = 16
)

// DataFileOptions configures a DataFileWriter. Zero numeric fields and an
// empty Compression take the defaults; start from DefaultDataFileOptions,
// because DictionaryEnabled cannot tell "unset" from false.
type DataFileOptions struct {
	// Compression is the Parquet codec for every column: zstd (default),
	// snappy, gzip, brotli, lz4 (LZ4_RAW) or uncompressed.
	Compression string `yaml:"compression"`
	// ZstdLevel is the zstd level, default 1. Compression is the largest
	// part of encoding: measured with `bigfather bench` (bench/RESULTS.md),
	// level 1 encodes 30-55 % more records per core than level 3 (zstd's
	// own default, Iceberg's) for files 1-7 % larger. Ingest writes fast;
	// a rewrite such as compaction can afford a higher level. Levels 1-2
	// select the fastest encoder, 3-5 the default one, 6-9 the better one,
	// 10 and up the best. Ignored for other codecs.
	ZstdLevel int `yaml:"zstd_level"`
	// RowGroupBytes is the target uncompressed size of a row group, measured
	// as the Arrow in-memory size of the rows it holds; default 128 MiB,
	// Iceberg's write.parquet.row-group-size-bytes. A reader decodes one row
	// group at a time and plans one split per row group, so this bounds the
	// reader's memory per column set and keeps splits large enough that
	// per-split overhead does not dominate. It also bounds the writer: at
	// most one row group is buffered before it is flushed to the output.
	RowGroupBytes int64 `yaml:"row_group_bytes"`
	// PageBytes is the target data page size before compression, default
	// 256 KiB. Iceberg's write.parquet.page-size-bytes is 1 MiB, but every
	// column of every open file holds its current page in memory (up to
	// twice the target, as the buffer grows by doubling): 42 columns of
	// three files held about 120 MB at 1 MiB. At 256 KiB, measured with
	// `bigfather bench` (bench/RESULTS.md), end to end used 25-35 % less
	// CPU per record on wide rows and about the same on the other
	// workloads, for files 1-2 % larger. zstd compresses in blocks of at
	// most 128 KiB anyway.
	PageBytes int64 `yaml:"page_bytes"`
	// DictionaryEnabled turns on dictionary encoding (default true via
	// DefaultDataFileOptions). Columns whose dictionary would not pay for
	// itself fall back to plain encoding on their own.
	DictionaryEnabled bool `yaml:"dictionary_enabled"`
	// StatsTruncate is the length, in code points for strings and bytes for
	// binary, to which lower/upper bounds are truncated (Iceberg metrics
	// mode truncate(16), the default). A negative value keeps full bounds.
	StatsTruncate int `yaml:"stats_truncate"`
}

// DefaultDataFileOptions returns the options used when nothing is configured.
func DefaultDataFileOptions() DataFileOptions {
	return DataFileOptions{
		Compression:       DefaultDataFileCompression,
		ZstdLevel:         DefaultDataFileZstdLevel,
		RowGroupBytes:     DefaultDataFileRowGroupBytes,
		PageBytes:         DefaultDataFilePageBytes,
		DictionaryEnabled: true,
		StatsTruncate:     DefaultDataFileStatsTruncate,
	}
}

// withDefaults fills zero fields and validates the rest.
func (o DataFileOptions) withDefaults() (DataFileOptions, compress.Compression, error) {
	if o.Compression == "" {
		o.Compression = DefaultDataFileCompression
	}
	if o.ZstdLevel == 0 {
		o.ZstdLevel = DefaultDataFileZstdLevel
	}
	if o.RowGroupBytes == 0 {
		o.RowGroupBytes = DefaultDataFileRowGroupBytes
	}
	if o.PageBytes == 0 {
		o.PageBytes = DefaultDataFilePageBytes
	}
	if o.StatsTruncate == 0 {
		o.StatsTruncate = DefaultDataFileStatsTruncate
	}
	if o.RowGroupBytes < 0 || o.PageBytes < 0 {
		return o, 0, fmt.Errorf("%w: row group bytes %d and page bytes %d must be positive",
			ErrInvalidDataFileOptions, o.RowGroupBytes, o.PageBytes)
	}
	var codec compress.Compression
	switch strings.ToLower(o.Compression) {
	case "zstd":
		codec = compress.Codecs.Zstd
	case "snappy":
		codec = compress.Codecs.Snappy
	case "gzip":
		codec = compress.Codecs.Gzip
	case "brotli":
		codec = compress.Codecs.Brotli
	case "lz4", "lz4_raw":
		codec = compress.Codecs.Lz4Raw
	case "uncompressed", "none":
		codec = compress.Codecs.Uncompressed
	default:
		return o, 0, fmt.Errorf("%w: unknown compression %q", ErrInvalidDataFileOptions, o.Compression)
	}
	return o, codec, nil
}

// DataFileWriter streams Arrow record batches into one Parquet data file and,
// once closed, describes it as an Iceberg DataFile with column statistics.
//
// Row groups are buffered in memory (Parquet needs a whole column chunk
// before the next column) and flushed to the output as soon as they reach
// RowGroupBytes, so memory holds about one row group, never the file.
// A DataFileWriter is not safe for concurrent use.
type DataFileWriter struct {
	sch      *iceberg.Schema
	arrowSch *arrow.Schema
	opts     DataFileOptions
	out      *dataFileCounter
	pw       *pqarrow.FileWriter
	leafCols int64

	rgRawBytes int64 // Arrow bytes written into the open row group
	rows       int64
	err        error // sticky: the Parquet writer is unusable after a failure
	closed     bool
	stats      *fileStats
}

// NewDataFileWriter starts a Parquet file for rows of sch on w. Columns carry
// sch's field IDs. w is not closed by the writer; the caller owns it.
func NewDataFileWriter(w io.Writer, sch *iceberg.Schema, opts DataFileOptions) (*DataFileWriter, error) {
	if w == nil || sch == nil {
		return nil, fmt.Errorf("%w: writer and schema are required", ErrInvalidDataFileOptions)
	}
	opts, codec, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	arrowSch, err := icebergtable.SchemaToArrowSchema(sch, nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("arrow schema for schema %d: %w", sch.ID, err)
	}

	mem := memory.DefaultAllocator
	arrowProps := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema())
	base := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(codec),
		parquet.WithDataPageSize(opts.PageBytes),
		parquet.WithDictionaryDefault(opts.DictionaryEnabled),
		parquet.WithStats(true),
		// V1 pages: what Iceberg Java writes, and the one every reader has.
		parquet.WithDataPageVersion(parquet.DataPageV1),
	}
	if codec == compress.Codecs.Zstd {
		base = append(base, parquet.WithCompressionLevel(opts.ZstdLevel))
	}
	pqSchema, err := pqarrow.ToParquet(arrowSch, parquet.NewWriterProperties(base...), arrowProps)
	if err != nil {
		return nil, fmt.Errorf("parquet schema for schema %d: %w", sch.ID, err)
	}
	// arrow-go only drops a dictionary that does not pay for itself when the
	// column is uncompressed; with zstd it would keep dictionaries on
	// all-distinct columns (ids, offsets) and roughly double their size.
	// Iceberg Java (parquet-mr) checks every column, so do the same.
	for i := range pqSchema.NumColumns() {
		base = append(base, parquet.WithDictionaryCostFallbackFor(pqSchema.Column(i).Path(), true))
	}

	out := &dataFileCounter{w: w}
	pw, err := pqarrow.NewFileWriter(arrowSch, out, parquet.NewWriterProperties(base...), arrowProps)
	if err != nil {
		return nil, fmt.Errorf("open parquet writer: %w", err)
	}
	return &DataFileWriter{
		sch:      sch,
		arrowSch: arrowSch,
		opts:     opts,
		out:      out,
		pw:       pw,
		leafCols: int64(pqSchema.NumColumns()),
	}, nil
}

// ArrowSchema is the schema record batches passed to Write must have: the
// Iceberg schema converted with field IDs in the field metadata.
func (w *DataFileWriter) ArrowSchema() *arrow.Schema { return w.arrowSch }

// Write appends rec to the file. rec must have exactly ArrowSchema(), field
// metadata included, so build batches from it. A new row group is started
// whenever the open one reaches RowGroupBytes; a batch larger than what is
// left of the target is split across row groups, so a row group never grows
// far past the target. rec is not retained.
//
// After an error the writer is unusable and the output must be discarded:
// the Parquet library may already have written a footer to it.
func (w *DataFileWriter) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return ErrDataFileClosed
	}
	if w.err != nil {
		return w.err
	}
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	if !rec.Schema().Equal(w.arrowSch) {
		return fmt.Errorf("%w: got %s, want %s", ErrDataFileSchema, rec.Schema(), w.arrowSch)
	}

	size := RecordBytes(rec)
	perRow := max(1, (size+n-1)/n)
	for off := int64(0); off < n; {
		if w.rgRawBytes >= w.opts.RowGroupBytes {
			if err := w.pw.NewBufferedRowGroupChecked(); err != nil {
				return w.fail(fmt.Errorf("start row group: %w", err))
			}
			w.rgRawBytes = 0
		}
		// Rows that still fit in the open row group; at least one, so a row
		// larger than the target still makes progress.
		take := min(n-off, max(1, (w.opts.RowGroupBytes-w.rgRawBytes)/perRow))
		if err := w.writeRows(rec, off, take); err != nil {
			return w.fail(err)
		}
		if take == n { // the whole batch: use its measured size
			w.rgRawBytes += size
		} else {
			w.rgRawBytes += take * perRow
		}
		w.rows += take
		off += take
	}
	return nil
}

func (w *DataFileWriter) writeRows(rec arrow.RecordBatch, off, take int64) error {
	if off == 0 && take == rec.NumRows() {
		if err := w.pw.WriteBuffered(rec); err != nil {
			return fmt.Errorf("write %d rows: %w", take, err)
		}
		return nil
	}
	slice := rec.NewSlice(off, off+take)
	defer slice.Release()
	if err := w.pw.WriteBuffered(slice); err != nil {
		return fmt.Errorf("write rows [%d, %d): %w", off, off+take, err)
	}
	return nil
}

func (w *DataFileWriter) fail(err error) error {
	w.err = err
	return err
}

// BufferedBytes estimates the memory held for the open row group and not yet
// flushed to the output: the compressed pages already cut, plus the values
// still being encoded into each column's current page (at most about one
// page per column). A full row group is flushed by the next Write or by
// Close (not eagerly, which could leave an empty trailing row group), so
// this is at most about RowGroupBytes.
func (w *DataFileWriter) BufferedBytes() int64 {
	if w.closed {
		return 0
	}
	pending := min(w.rgRawBytes, w.leafCols*w.opts.PageBytes)
	return w.pw.RowGroupTotalBytesWritten() + pending
}

// Rows is the number of rows written so far.
func (w *DataFileWriter) Rows() int64 { return w.rows }

// BytesWritten is the number of bytes handed to the output so far; after
// Close it is the file size.
func (w *DataFileWriter) BytesWritten() int64 { return w.out.n }

// Close flushes the open row group, writes the footer and computes the
// file's statistics. It does not close the underlying writer. Calling Close
// again returns the first result.
func (w *DataFileWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if err := w.pw.Close(); err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("close parquet writer: %w", err)
		}
		return w.err
	}
	if w.err != nil {
		return w.err
	}
	meta, err := w.pw.FileMetadata()
	if err != nil {
		w.err = fmt.Errorf("parquet footer: %w", err)
		return w.err
	}
	stats, err := statsFromParquet(meta, w.sch, w.opts.StatsTruncate)
	if err != nil {
		w.err = fmt.Errorf("data file stats: %w", err)
		return w.err
	}
	w.stats = stats
	return nil
}

// FileMetadata is the Parquet footer, available after Close.
func (w *DataFileWriter) FileMetadata() (*metadata.FileMetaData, error) {
	if !w.closed || w.err != nil {
		return nil, ErrDataFileNotClosed
	}
	return w.pw.FileMetadata()
}

// DataFile describes the closed file, stored at path, as an Iceberg data file
// of spec with the given partition values (keyed by partition field ID; a
// nil value is a null partition). Every field of spec must have an entry.
func (w *DataFileWriter) DataFile(path string, spec iceberg.PartitionSpec, partition map[int]any) (iceberg.DataFile, error) {
	if !w.closed || w.stats == nil {
		if w.err != nil {
			return nil, fmt.Errorf("data file %s: %w", path, w.err)
		}
		return nil, ErrDataFileNotClosed
	}
	partData, logicalTypes, err := dataFilePartition(w.sch, spec, partition)
	if err != nil {
		return nil, fmt.Errorf("data file %s: %w", path, err)
	}
	b, err := iceberg.NewDataFileBuilder(spec, iceberg.EntryContentData, path, iceberg.ParquetFile,
		partData, logicalTypes, nil, w.stats.recordCount, w.out.n)
	if err != nil {
		return nil, fmt.Errorf("data file %s: %w", path, err)
	}
	s := w.stats
	b.ColumnSizes(s.colSizes).ValueCounts(s.valueCounts).NullValueCounts(s.nullCounts)
	if len(s.lower) > 0 {
		b.LowerBoundValues(s.lower)
	}
	if len(s.upper) > 0 {
		b.UpperBoundValues(s.upper)
	}
	if len(s.splitOffsets) > 0 {
		b.SplitOffsets(s.splitOffsets)
	}
	return b.Build(), nil
}

// dataFilePartition checks partition against spec and derives the Avro logical
// types the manifest writer needs for the partition tuple.
func dataFilePartition(sch *iceberg.Schema, spec iceberg.PartitionSpec, partition map[int]any) (map[int]any, map[int]string, error) {
	if spec.NumFields() == 0 {
		if len(partition) > 0 {
			return nil, nil, fmt.Errorf("%w: partition values given for an unpartitioned spec", ErrInvalidDataFileOptions)
		}
		return nil, nil, nil
	}
	data := make(map[int]any, spec.NumFields())
	logical := make(map[int]string)
	for _, field := range spec.Fields() {
		v, ok := partition[field.FieldID]
		if !ok {
			return nil, nil, fmt.Errorf("%w: no value for partition field %q (%d)",
				ErrInvalidDataFileOptions, field.Name, field.FieldID)
		}
		data[field.FieldID] = v
		src, ok := sch.FindFieldByID(field.SourceID())
		if !ok {
			return nil, nil, fmt.Errorf("%w: partition source field %d not in schema",
				ErrInvalidDataFileOptions, field.SourceID())
		}
		switch field.Transform.ResultType(src.Type).(type) {
		case iceberg.DateType:
			logical[field.FieldID] = "date"
		case iceberg.TimeType:
			logical[field.FieldID] = "time-micros"
		case iceberg.TimestampType, iceberg.TimestampTzType:
			logical[field.FieldID] = "timestamp-micros"
		case iceberg.DecimalType:
			logical[field.FieldID] = "decimal"
		case iceberg.UUIDType:
			logical[field.FieldID] = "uuid"
		}
	}
	if len(partition) != len(data) {
		return nil, nil, fmt.Errorf("%w: %d partition values for %d partition fields",
			ErrInvalidDataFileOptions, len(partition), len(data))
	}
	return data, logical, nil
}

// dataFileCounter counts bytes for BytesWritten and, by not implementing
// io.Closer, keeps pqarrow from closing the caller's writer.
type dataFileCounter struct {
	w io.Writer
	n int64
}

func (c *dataFileCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// RecordBytes is the Arrow in-memory size of rec's rows, the "uncompressed"
// measure RowGroupBytes is compared against. It counts only the rows in the
// (possibly sliced) record and allocates nothing.
func RecordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		d := col.Data()
		n += rangeBytes(d, int64(d.Offset()), int64(d.Len()))
	}
	return n
}

// rangeBytes is the size of rows [off, off+n) of d, off being absolute in
// d's buffers. Unknown layouts fall back to the whole buffers, which
// overestimates and so still bounds memory.
func rangeBytes(d arrow.ArrayData, off, n int64) int64 {
	if n <= 0 {
		return 0
	}
	bufs := d.Buffers()
	var size int64
	if len(bufs) > 0 && bufs[0] != nil {
		size += (n + 7) / 8
	}
	dt := d.DataType()
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return size + (n+7)/8
	case *arrow.StringType, *arrow.BinaryType:
		if offs, ok := int32Offsets(bufs, off, n); ok {
			return size + 4*n + int64(offs[n]-offs[0])
		}
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		if len(bufs) > 1 && bufs[1] != nil {
			offs := arrow.Int64Traits.CastFromBytes(bufs[1].Bytes())
			if int64(len(offs)) > off+n {
				return size + 8*n + offs[off+n] - offs[off]
			}
		}
	case *arrow.StructType:
		for _, child := range d.Children() {
			size += rangeBytes(child, int64(child.Offset())+off, n)
		}
		return size
	case *arrow.ListType, *arrow.MapType:
		children := d.Children()
		if offs, ok := int32Offsets(bufs, off, n); ok && len(children) == 1 {
			child := children[0]
			return size + 4*n + rangeBytes(child, int64(child.Offset())+int64(offs[0]), int64(offs[n]-offs[0]))
		}
	case *arrow.FixedSizeListType:
		if children := d.Children(); len(children) == 1 {
			child, k := children[0], int64(t.Len())
			return size + rangeBytes(child, int64(child.Offset())+off*k, n*k)
		}
	case arrow.FixedWidthDataType:
		return size + n*int64(t.BitWidth())/8
	}
	size = 0
	for _, b := range bufs {
		if b != nil {
			size += int64(b.Len())
		}
	}
	for _, child := range d.Children() {
		size += rangeBytes(child, int64(child.Offset()), int64(child.Len()))
	}
	return size
}

// int32Offsets returns the n+1 offsets of rows [off, off+n), if present.
func int32Offsets(bufs []*memory.Buffer, off, n int64) ([]int32, bool) {
	if len(bufs) < 2 || bufs[1] == nil {
		return nil, false
	}
	offs := arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())
	if int64(len(offs)) <= off+n {
		return nil, false
	}
	return offs[off : off+n+1], true
}
