package bench

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"
	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// BenchmarkParquetLibraries compares arrow-go's pqarrow (what
// table.DataFileWriter wraps) with parquet-go/parquet-go on the same rows,
// to choose the data-file encoder by measurement. The rows are generated,
// decoded into Arrow record batches of chunkRows rows the way the pipeline
// does it (decode.Decoder plus AppendMeta) and, where a variant needs it,
// converted, all before the timer starts. One iteration encodes every row
// into one Parquet file written to a counting io.Discard.
//
// Both libraries are configured alike: zstd at the fastest level (pqarrow
// level 1 is klauspost's SpeedFastest, the encoder parquet-go's
// zstd.SpeedFastest selects too), the same data page size, V1 pages, PLAIN
// for what is not dictionary-encoded (parquet-go's default for byte arrays
// would be DELTA_LENGTH_BYTE_ARRAY), statistics, a 1 MiB dictionary limit,
// and the row group target of DefaultDataFileOptions (for these sizes one
// row group). Dictionary encoding is on for exactly the columns where
// pqarrow, run once on the same rows before timing, dictionary-encoded
// every data page; parquet-go has no cost-based fallback of its own, so it
// is handed pqarrow's choices. TestParquetLibrariesAgree checks that the
// files have the same schema, encodings and values. Differences that
// remain: parquet-go's zstd.Codec does not entropy-code literals where no
// match is found (arrow-go does), so its files are a few percent larger on
// high-entropy columns (parquet-go-arrowzstd removes that difference);
// parquet-go always writes the page index (column and offset indexes),
// which our writer does not; pqarrow stores the Arrow schema in the
// footer; DataFileWriter computes the Iceberg column statistics on Close.
//
// Variants (conversion means Arrow arrays -> parquet-go input, per row and
// column, and is inside the timer unless the name says noconv):
//
//	pqarrow                  table.DataFileWriter, DefaultDataFileOptions; no conversion
//	parquet-go               generic, schema-driven (usable with registry schemas): each
//	                         Arrow column is converted to []parquet.Value (no copy of string
//	                         bytes) and written with ColumnWriter.WriteRowValues
//	parquet-go-arrowzstd     parquet-go, compressing with arrow-go's zstd encoder options
//	parquet-go-noconv        parquet-go, the []parquet.Value built before timing
//	parquet-go-struct        GenericWriter[T] with a Go struct per workload (its typed fast
//	                         path; needs the schema at compile time, so it is a bound, not an
//	                         option for the pipeline): Arrow -> []T, strings not copied
//	parquet-go-struct-noconv the same, the []T built before timing
//
// SetBytes is the Kafka bytes of the rows (value with its wire header,
// plus key), so MB/s compares with `bigfather bench`; rows/s and the file
// size (B/file) are reported as metrics, and cpu-ms/op, the process's
// user+system CPU time per file (processCPU, GC workers included), which
// a busy machine disturbs less than the wall time. Run with -benchtime=3x
// or so.
func BenchmarkParquetLibraries(b *testing.B) {
	for _, wl := range []struct {
		name string
		rows int
	}{{"small", 100_000}, {"wide", 30_000}} {
		b.Run(wl.name, func(b *testing.B) {
			d := newPQLibData(b, wl.name, wl.rows, table.DefaultDataFileOptions())
			defer d.release()
			for _, v := range pqlibVariants(d) {
				b.Run(v.name, func(b *testing.B) {
					enc := v.prepare(b)
					out := &pqlibCounter{}
					b.SetBytes(d.inputBytes)
					b.ReportAllocs()
					cpu0 := processCPU()
					for b.Loop() {
						out.n = 0
						if err := enc(out); err != nil {
							b.Fatal(err)
						}
					}
					cpu := processCPU() - cpu0
					b.ReportMetric(float64(d.rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
					b.ReportMetric(float64(out.n), "B/file")
					b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
				})
			}
		})
	}
}

// TestParquetLibrariesAgree checks that every benchmarked variant writes
// the same file content: read back with parquet-go's reader, each file has
// the same row count and row groups, the same leaf columns (type, logical
// type, optional-ness, field ID), the same page encodings, and
// every column the same values (null count, hash of the values in order,
// sum of integers, total byte length, first and last value). The pqarrow
// file is also checked against sums computed from the Arrow input, so a
// reader bug shared by all files cannot pass.
func TestParquetLibrariesAgree(t *testing.T) {
	for _, wl := range []struct {
		name          string
		rows          int
		groupBytes    int64
		long, str, nl string // a long, a string and a nullable column
	}{
		{"small", 20_000, 20_000 * 348 / 3, "user_id", "page_url", "referrer"},
		{"wide", 6_000, 6_000 * 1083 / 3, "counter_03", "attr_07", "note_01"},
	} {
		// With the default options the rows make one row group, as in the
		// benchmark. With row groups of about a third of the rows, where
		// the writers start one is checked too, but not the encodings:
		// pqarrow may drop the dictionary of a column in a short last row
		// group, and parquet-go has no such fallback.
		for _, groupBytes := range []int64{0, wl.groupBytes} {
			t.Run(fmt.Sprintf("%s/groupbytes=%d", wl.name, groupBytes), func(t *testing.T) {
				opts := table.DefaultDataFileOptions()
				if groupBytes > 0 {
					opts.RowGroupBytes = groupBytes
				}
				d := newPQLibData(t, wl.name, wl.rows, opts)
				defer d.release()
				var ref *pqlibFileSummary
				for _, v := range pqlibVariants(d) {
					var buf bytes.Buffer
					if err := v.prepare(t)(&buf); err != nil {
						t.Fatalf("%s: %v", v.name, err)
					}
					got, err := summarizeParquet(buf.Bytes())
					if err != nil {
						t.Fatalf("%s: read back: %v", v.name, err)
					}
					if ref == nil { // pqarrow comes first: check it against the input
						ref = got
						checkAgainstArrow(t, d, got, wl.long, wl.str, wl.nl)
						if groupBytes > 0 && got.rowGroups < 3 {
							t.Errorf("pqarrow wrote %d row groups, want at least 3", got.rowGroups)
						}
						continue
					}
					if diff := ref.diff(got, groupBytes == 0); diff != "" {
						t.Errorf("%s differs from pqarrow: %s", v.name, diff)
					}
				}
			})
		}
	}
}

// pqlibData is one workload's rows, decoded before timing.
type pqlibData struct {
	sch        *iceberg.Schema
	arrow      *arrow.Schema
	batches    []arrow.RecordBatch
	workload   string
	rows       int64
	inputBytes int64 // Kafka value (wire header and Avro) plus key
	opts       table.DataFileOptions
	// rowsPerRowGroup is opts' row group target in rows of this
	// workload's Arrow size.
	rowsPerRowGroup int64
	dict            []bool // per column: pqarrow dictionary-encoded it
	pqSchema        *parquet.Schema
}

func newPQLibData(tb testing.TB, name string, rows int, opts table.DataFileOptions) *pqlibData {
	tb.Helper()
	wl, ok := LookupWorkload(name)
	if !ok {
		tb.Fatalf("no workload %q", name)
	}
	w, err := avro.Parse(wl.Schema)
	if err != nil {
		tb.Fatal(err)
	}
	sch, err := schema.ToIceberg(w)
	if err != nil {
		tb.Fatal(err)
	}
	arr, err := schema.ArrowSchema(sch)
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := decode.NewDecoder(w, sch)
	if err != nil {
		tb.Fatal(err)
	}
	d := &pqlibData{sch: sch, arrow: arr, opts: opts, workload: name, rows: int64(rows)}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer rb.Release()
	gen := wl.newGen(1)
	meta := &schema.Meta{Topic: "bench", Partition: 3, IngestedAt: time.Unix(1_700_000_001, 0)}
	var val, key []byte
	for i := range rows {
		if val, key, err = gen.next(music.AppendWire(val[:0], 1, nil), key[:0]); err != nil {
			tb.Fatal(err)
		}
		d.inputBytes += int64(len(val) + len(key))
		_, payload, err := registry.SplitWire(val)
		if err != nil {
			tb.Fatal(err)
		}
		if err := dec.Decode(payload, rb); err != nil {
			tb.Fatal(err)
		}
		meta.Offset, meta.Key = int64(i), key
		meta.Timestamp = time.UnixMilli(1_700_000_000_000 + int64(i))
		schema.AppendMeta(rb, meta)
		if (i+1)%chunkRows == 0 || i == rows-1 {
			d.batches = append(d.batches, rb.NewRecordBatch())
		}
	}
	var arrowBytes int64
	for _, rec := range d.batches {
		arrowBytes += table.RecordBytes(rec)
	}
	perRow := max(1, (arrowBytes+d.rows-1)/d.rows)
	d.rowsPerRowGroup = max(1, opts.RowGroupBytes/perRow)

	// One pqarrow encode, untimed, tells which columns it dictionary-encodes.
	var probe bytes.Buffer
	if err := d.encodePQArrow(&probe); err != nil {
		tb.Fatal(err)
	}
	s, err := summarizeParquet(probe.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	d.dict = make([]bool, arr.NumFields())
	for i, f := range arr.Fields() {
		d.dict[i] = s.dict[f.Name]
	}
	if d.pqSchema, err = pqgoSchema(arr, d.dict); err != nil {
		tb.Fatal(err)
	}
	if got := d.pqSchema.Columns(); len(got) != arr.NumFields() {
		tb.Fatalf("parquet-go schema has %d columns, arrow %d", len(got), arr.NumFields())
	} else {
		for i, f := range arr.Fields() {
			if len(got[i]) != 1 || got[i][0] != f.Name {
				tb.Fatalf("parquet-go column %d is %v, arrow field %q", i, got[i], f.Name)
			}
		}
	}
	return d
}

func (d *pqlibData) release() {
	for _, rec := range d.batches {
		rec.Release()
	}
}

func (d *pqlibData) encodePQArrow(w io.Writer) error {
	fw, err := table.NewDataFileWriter(w, d.sch, d.opts)
	if err != nil {
		return err
	}
	for _, rec := range d.batches {
		if err := fw.Write(rec); err != nil {
			return err
		}
	}
	return fw.Close()
}

// pqgoOptions configures parquet-go like DefaultDataFileOptions configures
// pqarrow; see BenchmarkParquetLibraries.
func (d *pqlibData) pqgoOptions(codec compress.Codec) []parquet.WriterOption {
	opts := d.opts
	return []parquet.WriterOption{
		parquet.Compression(codec),
		// parquet-go's default for byte arrays is DELTA_LENGTH_BYTE_ARRAY;
		// ours (and Iceberg Java's with V1 pages) is PLAIN.
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.Plain),
		parquet.PageBufferSize(int(opts.PageBytes)),
		parquet.DataPageVersion(1),
		parquet.DataPageStatistics(true),
		parquet.DictionaryMaxBytes(1 << 20), // arrow-go's dictionary page limit
		parquet.MaxRowsPerRowGroup(d.rowsPerRowGroup),
	}
}

type pqlibVariant struct {
	name string
	// prepare does the untimed work and returns the timed encode.
	prepare func(tb testing.TB) func(w io.Writer) error
}

func pqlibVariants(d *pqlibData) []pqlibVariant {
	return []pqlibVariant{
		{"pqarrow", func(testing.TB) func(io.Writer) error { return d.encodePQArrow }},
		{"parquet-go", func(testing.TB) func(io.Writer) error {
			return d.genericEncoder(&zstd.Codec{Level: zstd.SpeedFastest})
		}},
		{"parquet-go-arrowzstd", func(testing.TB) func(io.Writer) error {
			return d.genericEncoder(&arrowZstd{level: kzstd.SpeedFastest})
		}},
		{"parquet-go-noconv", func(testing.TB) func(io.Writer) error {
			codec := &zstd.Codec{Level: zstd.SpeedFastest}
			pre := make([][][]parquet.Value, len(d.batches))
			for bi, rec := range d.batches {
				pre[bi] = make([][]parquet.Value, rec.NumCols())
				for c := range pre[bi] {
					pre[bi][c] = appendPQValues(nil, rec.Column(c), 0, int(rec.NumRows()), c, d.arrow.Field(c).Nullable)
				}
			}
			return func(w io.Writer) error {
				return d.encodePQGoColumns(w, codec, func(bi int, _ arrow.RecordBatch, col, lo, hi int) []parquet.Value {
					return pre[bi][col][lo:hi]
				})
			}
		}},
		{"parquet-go-struct", func(tb testing.TB) func(io.Writer) error { return d.structEncoder(tb, false) }},
		{"parquet-go-struct-noconv", func(tb testing.TB) func(io.Writer) error { return d.structEncoder(tb, true) }},
	}
}

// genericEncoder is the parquet-go variant: conversion inside the timer.
func (d *pqlibData) genericEncoder(codec compress.Codec) func(io.Writer) error {
	buf := make([]parquet.Value, 0, chunkRows)
	return func(w io.Writer) error {
		return d.encodePQGoColumns(w, codec, func(_ int, rec arrow.RecordBatch, col, lo, hi int) []parquet.Value {
			buf = appendPQValues(buf[:0], rec.Column(col), lo, hi, col, d.arrow.Field(col).Nullable)
			return buf
		})
	}
}

// arrowZstd is a parquet-go codec that compresses with the zstd encoder
// options arrow-go uses (parquet/compress/zstd.go): unlike parquet-go's
// zstd.Codec it entropy-codes literals even where no match is found, which
// at SpeedFastest costs time and saves size on high-entropy columns, and
// it keeps the frame checksum. It isolates the codec's share of the gap.
type arrowZstd struct {
	zstd.Codec // Decode, String, CompressionCodec
	level      kzstd.EncoderLevel
	encoders   sync.Pool
}

func (c *arrowZstd) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*kzstd.Encoder)
	if e == nil {
		var err error
		if e, err = kzstd.NewWriter(nil, kzstd.WithZeroFrames(true), kzstd.WithEncoderLevel(c.level),
			kzstd.WithEncoderConcurrency(1), kzstd.WithAllLitEntropyCompression(true)); err != nil {
			return nil, err
		}
	}
	defer c.encoders.Put(e)
	return e.EncodeAll(src, dst[:0]), nil
}

// encodePQGoColumns writes every batch column by column through the
// writer's ColumnWriters, in calls of at most pqgoWriteRows rows (a page is
// only cut between calls), starting a row group every rowsPerRowGroup
// rows. values returns rows [lo, hi) of column col of rec, batch bi, as
// parquet values.
func (d *pqlibData) encodePQGoColumns(w io.Writer, codec compress.Codec,
	values func(bi int, rec arrow.RecordBatch, col, lo, hi int) []parquet.Value) error {
	const pqgoWriteRows = 1024
	pw := parquet.NewWriter(w, append(d.pqgoOptions(codec), d.pqSchema)...)
	var inGroup int64
	for bi, rec := range d.batches {
		n := rec.NumRows()
		for off := int64(0); off < n; {
			take := min(n-off, d.rowsPerRowGroup-inGroup)
			cols := pw.ColumnWriters()
			for c := range int(rec.NumCols()) {
				vals := values(bi, rec, c, int(off), int(off+take))
				for len(vals) > 0 {
					k := min(len(vals), pqgoWriteRows)
					if _, err := cols[c].WriteRowValues(vals[:k]); err != nil {
						return fmt.Errorf("column %d: %w", c, err)
					}
					vals = vals[k:]
				}
			}
			off += take
			if inGroup += take; inGroup >= d.rowsPerRowGroup {
				if err := pw.Flush(); err != nil {
					return err
				}
				inGroup = 0
			}
		}
	}
	return pw.Close()
}

// appendPQValues appends rows [lo, hi) of col, the column at index colIdx
// of a flat schema, as parquet values. Byte arrays point into the Arrow
// buffers (the column buffers copy them).
func appendPQValues(dst []parquet.Value, col arrow.Array, lo, hi, colIdx int, optional bool) []parquet.Value {
	def := 0
	if optional {
		def = 1
	}
	nulls := col.NullN() > 0
	null := parquet.NullValue().Level(0, 0, colIdx)
	switch a := col.(type) {
	case *array.Int64:
		v := a.Int64Values()
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.Int64Value(v[i]).Level(0, def, colIdx))
		}
	case *array.Timestamp:
		v := a.TimestampValues()
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.Int64Value(int64(v[i])).Level(0, def, colIdx))
		}
	case *array.Int32:
		v := a.Int32Values()
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.Int32Value(v[i]).Level(0, def, colIdx))
		}
	case *array.Float64:
		v := a.Float64Values()
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.DoubleValue(v[i]).Level(0, def, colIdx))
		}
	case *array.Boolean:
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.BooleanValue(a.Value(i)).Level(0, def, colIdx))
		}
	case *array.String:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		base := offs[0]
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.ByteArrayValue(data[offs[i]-base:offs[i+1]-base]).Level(0, def, colIdx))
		}
	case *array.Binary:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		base := offs[0]
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.ByteArrayValue(data[offs[i]-base:offs[i+1]-base]).Level(0, def, colIdx))
		}
	case array.ExtensionArray: // uuid over fixed_size_binary(16)
		s := a.Storage().(*array.FixedSizeBinary)
		for i := lo; i < hi; i++ {
			if nulls && a.IsNull(i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.FixedLenByteArrayValue(s.Value(i)).Level(0, def, colIdx))
		}
	default:
		panic(fmt.Sprintf("appendPQValues: arrow type %s not handled", col.DataType()))
	}
	return dst
}

// pqgoSchema is the parquet-go schema matching pqarrow's for a flat Arrow
// schema: same column order, physical and logical types, optional-ness and
// field IDs, dictionary encoding where dict says. It is derived from a Go
// struct type built at run time, the only way parquet-go's public API
// keeps column order (a parquet.Group sorts by name).
func pqgoSchema(arr *arrow.Schema, dict []bool) (*parquet.Schema, error) {
	fields := make([]reflect.StructField, arr.NumFields())
	for i, f := range arr.Fields() {
		idText, ok := f.Metadata.GetValue("PARQUET:field_id")
		if !ok {
			return nil, fmt.Errorf("field %q has no field id", f.Name)
		}
		id, err := strconv.Atoi(idText)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		var (
			typ  reflect.Type
			opts []string
		)
		switch t := f.Type.(type) {
		case *arrow.Int64Type:
			typ, opts = reflect.TypeFor[int64](), []string{"int(64)"}
		case *arrow.Int32Type:
			typ, opts = reflect.TypeFor[int32](), []string{"int(32)"}
		case *arrow.Float64Type:
			typ = reflect.TypeFor[float64]()
		case *arrow.BooleanType:
			typ = reflect.TypeFor[bool]()
		case *arrow.StringType:
			typ = reflect.TypeFor[string]()
		case *arrow.BinaryType:
			typ = reflect.TypeFor[[]byte]()
		case *arrow.TimestampType:
			if t.Unit != arrow.Microsecond {
				return nil, fmt.Errorf("field %q: timestamp unit %s", f.Name, t.Unit)
			}
			adj := "utc"
			if t.TimeZone == "" {
				adj = "local"
			}
			typ, opts = reflect.TypeFor[int64](), []string{"timestamp(microsecond:" + adj + ")"}
		case arrow.ExtensionType:
			if t.ExtensionName() != "arrow.uuid" {
				return nil, fmt.Errorf("field %q: extension %s", f.Name, t.ExtensionName())
			}
			typ, opts = reflect.TypeFor[[16]byte](), []string{"uuid"}
		default:
			return nil, fmt.Errorf("field %q: arrow type %s not handled", f.Name, f.Type)
		}
		if f.Nullable {
			typ, opts = reflect.PointerTo(typ), append(opts, "optional")
		}
		if dict[i] {
			opts = append(opts, "dict")
		}
		tag := fmt.Sprintf(`parquet:"%s,id(%d)`, f.Name, id)
		for _, o := range opts {
			tag += "," + o
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: typ, Tag: reflect.StructTag(tag + `"`)}
	}
	return parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Interface()), nil
}

// structEncoder returns the GenericWriter[T] encoder of d's workload; with
// noconv the rows are converted to T before timing.
func (d *pqlibData) structEncoder(tb testing.TB, noconv bool) func(io.Writer) error {
	switch d.workload {
	case "small":
		return structEncoderOf(tb, d, noconv, fillSmallRows)
	case "wide":
		return structEncoderOf(tb, d, noconv, fillWideRows)
	}
	tb.Fatalf("no struct type for workload %q", d.workload)
	return nil
}

func structEncoderOf[T any](tb testing.TB, d *pqlibData, noconv bool,
	fill func(dst []T, side *pqlibSide, rec arrow.RecordBatch) []T) func(io.Writer) error {
	tb.Helper()
	opts := d.pqgoOptions(&zstd.Codec{Level: zstd.SpeedFastest})
	// The dictionary choice is made at run time: replace those fields' tags.
	st := reflect.TypeFor[T]()
	for i := range st.NumField() {
		tag := st.Field(i).Tag.Get("parquet")
		name, _, _ := strings.Cut(tag, ",")
		if c := d.arrow.FieldIndices(name); len(c) == 1 && d.dict[c[0]] {
			opts = append(opts, parquet.StructTag(reflect.StructTag(`parquet:"`+tag+`,dict"`), st.Field(i).Name))
		}
	}
	// The struct must give the same schema as the generic variant, or
	// GenericWriter would also silently take its slow, row-based path.
	cfg, err := parquet.NewWriterConfig(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	s := parquet.SchemaOf(new(T), cfg.SchemaConfig)
	if !parquet.EqualNodes(s, d.pqSchema) {
		tb.Fatalf("struct %s gives schema\n%s\nwant\n%s", st, s, d.pqSchema)
	}
	for _, path := range s.Columns() { // EqualNodes ignores encodings
		got, _ := s.Lookup(path...)
		want, _ := d.pqSchema.Lookup(path...)
		if got.Node.Encoding() != want.Node.Encoding() {
			tb.Fatalf("struct %s: column %v encoding %v, want %v", st, path, got.Node.Encoding(), want.Node.Encoding())
		}
	}
	write := func(w io.Writer, rows func(bi int, rec arrow.RecordBatch) []T) error {
		pw := parquet.NewGenericWriter[T](w, opts...)
		for bi, rec := range d.batches {
			if _, err := pw.Write(rows(bi, rec)); err != nil {
				return err
			}
		}
		return pw.Close()
	}
	if noconv {
		pre := make([][]T, len(d.batches))
		for bi, rec := range d.batches {
			pre[bi] = fill(nil, &pqlibSide{}, rec)
		}
		return func(w io.Writer) error {
			return write(w, func(bi int, _ arrow.RecordBatch) []T { return pre[bi] })
		}
	}
	var (
		buf  []T
		side pqlibSide
	)
	return func(w io.Writer) error {
		return write(w, func(_ int, rec arrow.RecordBatch) []T {
			buf = fill(buf[:0], &side, rec)
			return buf
		})
	}
}

// pqlibSide holds the values optional struct fields point to, reused from
// one batch to the next (GenericWriter.Write copies what it is given).
type pqlibSide struct {
	str [2][]string
	f64 []float64
	bin [][]byte
}

func (s *pqlibSide) reset(n int) {
	for i := range s.str {
		s.str[i] = grow(s.str[i], n)
	}
	s.f64, s.bin = grow(s.f64, n), grow(s.bin, n)
}

func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

func optString(a *array.String, i int, side []string) *string {
	if a.IsNull(i) {
		return nil
	}
	side[i] = a.Value(i)
	return &side[i]
}

func optBinary(a *array.Binary, i int, side [][]byte) *[]byte {
	if a.IsNull(i) {
		return nil
	}
	side[i] = a.Value(i)
	return &side[i]
}

func colI64(rec arrow.RecordBatch, i int) []int64 { return rec.Column(i).(*array.Int64).Int64Values() }
func colI32(rec arrow.RecordBatch, i int) []int32 { return rec.Column(i).(*array.Int32).Int32Values() }
func colF64(rec arrow.RecordBatch, i int) []float64 {
	return rec.Column(i).(*array.Float64).Float64Values()
}
func colBool(rec arrow.RecordBatch, i int) *array.Boolean { return rec.Column(i).(*array.Boolean) }
func colStr(rec arrow.RecordBatch, i int) *array.String   { return rec.Column(i).(*array.String) }
func colBin(rec arrow.RecordBatch, i int) *array.Binary   { return rec.Column(i).(*array.Binary) }
func colTS(rec arrow.RecordBatch, i int) []arrow.Timestamp {
	return rec.Column(i).(*array.Timestamp).TimestampValues()
}

type pqSmallRow struct {
	EventID        [16]byte `parquet:"event_id,id(1),uuid"`
	UserID         int64    `parquet:"user_id,id(2),int(64)"`
	SessionID      string   `parquet:"session_id,id(3)"`
	EventType      string   `parquet:"event_type,id(4)"`
	PageURL        string   `parquet:"page_url,id(5)"`
	Referrer       *string  `parquet:"referrer,id(6),optional"`
	UserAgent      string   `parquet:"user_agent,id(7)"`
	OccurredAt     int64    `parquet:"occurred_at,id(8),timestamp(microsecond:utc)"`
	DurationMs     int32    `parquet:"duration_ms,id(9),int(32)"`
	Country        *string  `parquet:"country,id(10),optional"`
	Amount         *float64 `parquet:"amount,id(11),optional"`
	KafkaTopic     string   `parquet:"_kafka_topic,id(12)"`
	KafkaPartition int32    `parquet:"_kafka_partition,id(13),int(32)"`
	KafkaOffset    int64    `parquet:"_kafka_offset,id(14),int(64)"`
	KafkaTimestamp int64    `parquet:"_kafka_timestamp,id(15),timestamp(microsecond:utc)"`
	KafkaKey       *[]byte  `parquet:"_kafka_key,id(16),optional"`
	IngestedAt     int64    `parquet:"_ingested_at,id(17),timestamp(microsecond:utc)"`
}

func fillSmallRows(dst []pqSmallRow, side *pqlibSide, rec arrow.RecordBatch) []pqSmallRow {
	n := int(rec.NumRows())
	side.reset(n)
	dst = grow(dst, n)
	uuid := rec.Column(0).(array.ExtensionArray).Storage().(*array.FixedSizeBinary)
	userID, sess, typ, url, ref, ua := colI64(rec, 1), colStr(rec, 2), colStr(rec, 3), colStr(rec, 4), colStr(rec, 5), colStr(rec, 6)
	at, dur, country, amount := colTS(rec, 7), colI32(rec, 8), colStr(rec, 9), rec.Column(10).(*array.Float64)
	topic, part, off, kts, key, ing := colStr(rec, 11), colI32(rec, 12), colI64(rec, 13), colTS(rec, 14), colBin(rec, 15), colTS(rec, 16)
	amounts := amount.Float64Values()
	for i := range dst {
		r := &dst[i]
		copy(r.EventID[:], uuid.Value(i))
		r.UserID, r.SessionID, r.EventType, r.PageURL = userID[i], sess.Value(i), typ.Value(i), url.Value(i)
		r.Referrer, r.UserAgent = optString(ref, i, side.str[0]), ua.Value(i)
		r.OccurredAt, r.DurationMs, r.Country = int64(at[i]), dur[i], optString(country, i, side.str[1])
		r.Amount = nil
		if amount.IsValid(i) {
			side.f64[i] = amounts[i]
			r.Amount = &side.f64[i]
		}
		r.KafkaTopic, r.KafkaPartition, r.KafkaOffset, r.KafkaTimestamp = topic.Value(i), part[i], off[i], int64(kts[i])
		r.KafkaKey, r.IngestedAt = optBinary(key, i, side.bin), int64(ing[i])
	}
	return dst
}

type pqWideRow struct {
	Counter00      int64   `parquet:"counter_00,id(1),int(64)"`
	Counter01      int64   `parquet:"counter_01,id(2),int(64)"`
	Counter02      int64   `parquet:"counter_02,id(3),int(64)"`
	Counter03      int64   `parquet:"counter_03,id(4),int(64)"`
	Counter04      int64   `parquet:"counter_04,id(5),int(64)"`
	Counter05      int64   `parquet:"counter_05,id(6),int(64)"`
	Counter06      int64   `parquet:"counter_06,id(7),int(64)"`
	Counter07      int64   `parquet:"counter_07,id(8),int(64)"`
	Counter08      int64   `parquet:"counter_08,id(9),int(64)"`
	Counter09      int64   `parquet:"counter_09,id(10),int(64)"`
	Gauge00        float64 `parquet:"gauge_00,id(11)"`
	Gauge01        float64 `parquet:"gauge_01,id(12)"`
	Gauge02        float64 `parquet:"gauge_02,id(13)"`
	Gauge03        float64 `parquet:"gauge_03,id(14)"`
	Gauge04        float64 `parquet:"gauge_04,id(15)"`
	Gauge05        float64 `parquet:"gauge_05,id(16)"`
	Gauge06        float64 `parquet:"gauge_06,id(17)"`
	Gauge07        float64 `parquet:"gauge_07,id(18)"`
	Gauge08        float64 `parquet:"gauge_08,id(19)"`
	Gauge09        float64 `parquet:"gauge_09,id(20)"`
	Flag00         bool    `parquet:"flag_00,id(21)"`
	Flag01         bool    `parquet:"flag_01,id(22)"`
	Flag02         bool    `parquet:"flag_02,id(23)"`
	Flag03         bool    `parquet:"flag_03,id(24)"`
	Flag04         bool    `parquet:"flag_04,id(25)"`
	Attr00         string  `parquet:"attr_00,id(26)"`
	Attr01         string  `parquet:"attr_01,id(27)"`
	Attr02         string  `parquet:"attr_02,id(28)"`
	Attr03         string  `parquet:"attr_03,id(29)"`
	Attr04         string  `parquet:"attr_04,id(30)"`
	Attr05         string  `parquet:"attr_05,id(31)"`
	Attr06         string  `parquet:"attr_06,id(32)"`
	Attr07         string  `parquet:"attr_07,id(33)"`
	Attr08         string  `parquet:"attr_08,id(34)"`
	Attr09         string  `parquet:"attr_09,id(35)"`
	TS00           int64   `parquet:"ts_00,id(36),timestamp(microsecond:utc)"`
	TS01           int64   `parquet:"ts_01,id(37),timestamp(microsecond:utc)"`
	TS02           int64   `parquet:"ts_02,id(38),timestamp(microsecond:utc)"`
	Note00         *string `parquet:"note_00,id(39),optional"`
	Note01         *string `parquet:"note_01,id(40),optional"`
	KafkaTopic     string  `parquet:"_kafka_topic,id(41)"`
	KafkaPartition int32   `parquet:"_kafka_partition,id(42),int(32)"`
	KafkaOffset    int64   `parquet:"_kafka_offset,id(43),int(64)"`
	KafkaTimestamp int64   `parquet:"_kafka_timestamp,id(44),timestamp(microsecond:utc)"`
	KafkaKey       *[]byte `parquet:"_kafka_key,id(45),optional"`
	IngestedAt     int64   `parquet:"_ingested_at,id(46),timestamp(microsecond:utc)"`
}

func fillWideRows(dst []pqWideRow, side *pqlibSide, rec arrow.RecordBatch) []pqWideRow {
	n := int(rec.NumRows())
	side.reset(n)
	dst = grow(dst, n)
	var (
		c [10][]int64
		g [10][]float64
		f [5]*array.Boolean
		a [10]*array.String
		t [3][]arrow.Timestamp
	)
	for k := range c {
		c[k], g[k], a[k] = colI64(rec, k), colF64(rec, 10+k), colStr(rec, 25+k)
	}
	for k := range f {
		f[k] = colBool(rec, 20+k)
	}
	for k := range t {
		t[k] = colTS(rec, 35+k)
	}
	n0, n1 := colStr(rec, 38), colStr(rec, 39)
	topic, part, off, kts, key, ing := colStr(rec, 40), colI32(rec, 41), colI64(rec, 42), colTS(rec, 43), colBin(rec, 44), colTS(rec, 45)
	for i := range dst {
		r := &dst[i]
		r.Counter00, r.Counter01, r.Counter02, r.Counter03, r.Counter04 = c[0][i], c[1][i], c[2][i], c[3][i], c[4][i]
		r.Counter05, r.Counter06, r.Counter07, r.Counter08, r.Counter09 = c[5][i], c[6][i], c[7][i], c[8][i], c[9][i]
		r.Gauge00, r.Gauge01, r.Gauge02, r.Gauge03, r.Gauge04 = g[0][i], g[1][i], g[2][i], g[3][i], g[4][i]
		r.Gauge05, r.Gauge06, r.Gauge07, r.Gauge08, r.Gauge09 = g[5][i], g[6][i], g[7][i], g[8][i], g[9][i]
		r.Flag00, r.Flag01, r.Flag02, r.Flag03, r.Flag04 = f[0].Value(i), f[1].Value(i), f[2].Value(i), f[3].Value(i), f[4].Value(i)
		r.Attr00, r.Attr01, r.Attr02, r.Attr03, r.Attr04 = a[0].Value(i), a[1].Value(i), a[2].Value(i), a[3].Value(i), a[4].Value(i)
		r.Attr05, r.Attr06, r.Attr07, r.Attr08, r.Attr09 = a[5].Value(i), a[6].Value(i), a[7].Value(i), a[8].Value(i), a[9].Value(i)
		r.TS00, r.TS01, r.TS02 = int64(t[0][i]), int64(t[1][i]), int64(t[2][i])
		r.Note00, r.Note01 = optString(n0, i, side.str[0]), optString(n1, i, side.str[1])
		r.KafkaTopic, r.KafkaPartition, r.KafkaOffset, r.KafkaTimestamp = topic.Value(i), part[i], off[i], int64(kts[i])
		r.KafkaKey, r.IngestedAt = optBinary(key, i, side.bin), int64(ing[i])
	}
	return dst
}

// pqlibCounter counts and discards the file's bytes.
type pqlibCounter struct{ n int64 }

func (c *pqlibCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// pqlibFileSummary is what TestParquetLibrariesAgree compares.
type pqlibFileSummary struct {
	rows      int64
	rowGroups int
	leaves    []string          // per leaf: path, type, optional, field id
	dict      map[string]bool   // columns with dictionary-encoded data pages only
	encodings map[string]string // per column: the encodings of its pages
	cols      map[string]*pqlibColumnSummary
}

type pqlibColumnSummary struct {
	values, nulls int64
	hash          uint64 // FNV-1a over the values in order, nulls included
	intSum        int64
	byteLen       int64
	first, last   string
}

// diff describes how o differs from s, page encodings included if asked.
func (s *pqlibFileSummary) diff(o *pqlibFileSummary, encodings bool) string {
	var d []string
	if s.rows != o.rows || s.rowGroups != o.rowGroups {
		d = append(d, fmt.Sprintf("rows %d in %d row groups, want %d in %d", o.rows, o.rowGroups, s.rows, s.rowGroups))
	}
	if !reflect.DeepEqual(s.leaves, o.leaves) {
		d = append(d, fmt.Sprintf("columns\n%s\nwant\n%s", strings.Join(o.leaves, "\n"), strings.Join(s.leaves, "\n")))
	}
	if !reflect.DeepEqual(s.dict, o.dict) {
		d = append(d, fmt.Sprintf("dictionary columns %v, want %v", o.dict, s.dict))
	}
	names := make([]string, 0, len(s.cols))
	for name := range s.cols {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if encodings && o.encodings[name] != s.encodings[name] {
			d = append(d, fmt.Sprintf("column %s: page encodings %s, want %s", name, o.encodings[name], s.encodings[name]))
		}
		if c, oc := s.cols[name], o.cols[name]; oc == nil || *oc != *c {
			d = append(d, fmt.Sprintf("column %s: %+v, want %+v", name, oc, c))
		}
	}
	return strings.Join(d, "; ")
}

func summarizeParquet(file []byte) (*pqlibFileSummary, error) {
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		return nil, err
	}
	s := &pqlibFileSummary{rows: f.NumRows(), rowGroups: len(f.RowGroups()),
		dict: map[string]bool{}, encodings: map[string]string{}, cols: map[string]*pqlibColumnSummary{}}
	for _, path := range f.Schema().Columns() {
		leaf, _ := f.Schema().Lookup(path...)
		s.leaves = append(s.leaves, fmt.Sprintf("%s %s optional=%t id=%d",
			strings.Join(path, "."), leaf.Node.Type(), leaf.Node.Optional(), leaf.Node.ID()))
	}
	md := f.Metadata()
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			name := strings.Join(cc.MetaData.PathInSchema, ".")
			dictOnly, dataPages := true, 0
			var encs []string
			for _, es := range cc.MetaData.EncodingStats {
				encs = append(encs, es.PageType.String()+":"+es.Encoding.String())
				if es.PageType == format.DataPage || es.PageType == format.DataPageV2 {
					dataPages++
					dictOnly = dictOnly && (es.Encoding == format.RLEDictionary || es.Encoding == format.PlainDictionary)
				}
			}
			if dictOnly && dataPages > 0 {
				s.dict[name] = true
			}
			slices.Sort(encs)
			s.encodings[name] += strings.Join(slices.Compact(encs), ",") + ";"
		}
	}
	names := f.Schema().Columns()
	vals := make([]parquet.Value, 1024)
	for _, rg := range f.RowGroups() {
		for ci, chunk := range rg.ColumnChunks() {
			name := strings.Join(names[ci], ".")
			cs := s.cols[name]
			if cs == nil {
				cs = &pqlibColumnSummary{hash: 14695981039346656037}
				s.cols[name] = cs
			}
			if err := summarizeChunk(chunk, vals, cs); err != nil {
				return nil, fmt.Errorf("column %s: %w", name, err)
			}
		}
	}
	return s, nil
}

func summarizeChunk(chunk parquet.ColumnChunk, vals []parquet.Value, cs *pqlibColumnSummary) error {
	pages := chunk.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r := p.Values()
		for {
			n, err := r.ReadValues(vals)
			for _, v := range vals[:n] {
				cs.add(v)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		parquet.Release(p)
	}
}

func (cs *pqlibColumnSummary) add(v parquet.Value) {
	cs.values++
	var text string
	switch {
	case v.IsNull():
		cs.nulls++
		text = "\x00null"
	case v.Kind() == parquet.Int64:
		cs.intSum += v.Int64()
		text = strconv.FormatInt(v.Int64(), 10)
	case v.Kind() == parquet.Int32:
		cs.intSum += int64(v.Int32())
		text = strconv.FormatInt(int64(v.Int32()), 10)
	case v.Kind() == parquet.Double:
		text = strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case v.Kind() == parquet.Boolean:
		text = strconv.FormatBool(v.Boolean())
	default: // byte arrays
		cs.byteLen += int64(len(v.ByteArray()))
		text = string(v.ByteArray())
	}
	for i := range len(text) {
		cs.hash = (cs.hash ^ uint64(text[i])) * 1099511628211
	}
	cs.hash = (cs.hash ^ 0xff) * 1099511628211 // value separator
	if cs.values == 1 {
		cs.first = text
	}
	cs.last = text
}

// checkAgainstArrow checks the pqarrow file's summary against the Arrow
// input: row count, the sum of a long column, the total length and the
// first and last value of a string column, the nulls of a nullable one.
func checkAgainstArrow(t *testing.T, d *pqlibData, s *pqlibFileSummary, long, str, nullable string) {
	t.Helper()
	var (
		sum, strLen, nulls int64
		first, last        string
	)
	li, si, ni := d.arrow.FieldIndices(long)[0], d.arrow.FieldIndices(str)[0], d.arrow.FieldIndices(nullable)[0]
	for bi, rec := range d.batches {
		for _, v := range rec.Column(li).(*array.Int64).Int64Values() {
			sum += v
		}
		sa := rec.Column(si).(*array.String)
		for i := range sa.Len() {
			strLen += int64(sa.ValueLen(i))
		}
		if bi == 0 {
			first = sa.Value(0)
		}
		last = sa.Value(sa.Len() - 1)
		nulls += int64(rec.Column(ni).NullN())
	}
	if s.rows != d.rows {
		t.Errorf("pqarrow file has %d rows, want %d", s.rows, d.rows)
	}
	if c := s.cols[long]; c == nil || c.intSum != sum || c.values != d.rows {
		t.Errorf("pqarrow %s: %+v, want sum %d over %d values", long, c, sum, d.rows)
	}
	if c := s.cols[str]; c == nil || c.byteLen != strLen || c.first != first || c.last != last {
		t.Errorf("pqarrow %s: %+v, want %d bytes, first %q, last %q", str, c, strLen, first, last)
	}
	if c := s.cols[nullable]; c == nil || c.nulls != nulls || nulls == 0 || nulls == d.rows {
		t.Errorf("pqarrow %s: %+v, want %d nulls (of %d rows)", nullable, c, nulls, d.rows)
	}
}
