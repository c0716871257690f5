package enrich

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	icebergtable "github.com/apache/iceberg-go/table"
)

// parquetBatchRows is how many rows are decoded at a time.
const parquetBatchRows = 64 << 10

// loadParquet indexes a Parquet file, reading only the needed columns.
func (s *loadSpec) loadParquet(ctx context.Context) (*index, error) {
	ra, closeFn, err := s.readerAt(ctx)
	if err != nil {
		return nil, err
	}
	defer closeFn() //nolint:errcheck // read-only
	pf, err := file.NewParquetReader(ra)
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", s.location, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: parquetBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", s.location, err)
	}
	sch, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", s.location, err)
	}
	x, err := s.newArrowIndexer(sch)
	if err != nil {
		return nil, err
	}
	if pf.NumRows() == 0 {
		return x.b.finish(x.types, "")
	}
	// The indexer accepts only primitive types, so each needed field is
	// one leaf column.
	var leaves []int
	for _, n := range s.names() {
		if leaf := fr.Manifest.Fields[sch.FieldIndices(n)[0]].ColIndex; !slices.Contains(leaves, leaf) {
			leaves = append(leaves, leaf)
		}
	}
	slices.Sort(leaves)
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", s.location, err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := x.add(rr.RecordBatch()); err != nil {
			return nil, fmt.Errorf("parquet %s: %w", s.location, err)
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fmt.Errorf("parquet %s: %w", s.location, err)
	}
	return x.b.finish(x.types, "")
}

// loadIceberg indexes the current snapshot of an Iceberg table. The
// version is the metadata file and snapshot: any commit, data or schema,
// makes a refresh re-read and re-check the table.
func (s *loadSpec) loadIceberg(ctx context.Context, prev string) (*index, error) {
	tbl, err := s.cat.LoadTable(ctx, s.ident)
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", s.location, err)
	}
	snap := tbl.CurrentSnapshot()
	version := tbl.MetadataLocation()
	if snap != nil {
		version = fmt.Sprintf("%s@%d", version, snap.SnapshotID)
	}
	if version == prev {
		return nil, errUnchanged
	}
	for _, n := range s.names() {
		if _, ok := tbl.Schema().FindFieldByName(n); !ok {
			if slices.Contains(s.key, n) {
				return nil, missing("key column", n)
			}
			return nil, missing("column", n)
		}
	}
	if snap == nil {
		// No data yet; the schema still has to fit.
		sch, err := icebergtable.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", s.location, err)
		}
		x, err := s.newArrowIndexer(sch)
		if err != nil {
			return nil, err
		}
		return x.b.finish(x.types, version)
	}
	sch, recs, err := tbl.Scan(icebergtable.WithSelectedFields(s.names()...)).ToArrowRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.location, err)
	}
	x, err := s.newArrowIndexer(sch)
	if err != nil {
		return nil, err
	}
	for rec, err := range recs {
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", s.location, err)
		}
		err := x.add(rec)
		rec.Release()
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", s.location, err)
		}
	}
	return x.b.finish(x.types, version)
}

// names are the key columns, then the added columns, each once.
func (s *loadSpec) names() []string {
	var out []string
	for _, n := range append(slices.Clone(s.key), colNames(s.cols)...) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// arrowIndexer indexes Arrow record batches.
type arrowIndexer struct {
	s     *loadSpec
	types []colType
	b     builder
	// Per batch, reused.
	keys []func(*builder, int)
	vals []func(*builder, int) error
}

// newArrowIndexer checks the data's schema against the configuration and
// resolves the types left to the data.
func (s *loadSpec) newArrowIndexer(sch *arrow.Schema) (*arrowIndexer, error) {
	x := &arrowIndexer{s: s, types: make([]colType, len(s.cols))}
	for _, k := range s.key {
		f, ok := field(sch, k)
		if !ok {
			return nil, missing("key column", k)
		}
		if t := arrowType(f.Type); t == typeUnknown || t == typeFloat || t == typeDouble {
			return nil, mismatch("key column %q: type %s cannot be a key", k, f.Type)
		}
	}
	for i, c := range s.cols {
		f, ok := field(sch, c.name)
		if !ok {
			return nil, missing("column", c.name)
		}
		data := arrowType(f.Type)
		if data == typeUnknown {
			return nil, mismatch("column %q: type %s is not supported (want an integer, floating-point, boolean or string type)", c.name, f.Type)
		}
		x.types[i] = data
		if c.typ != typeUnknown {
			if !fits(data, c.typ) {
				return nil, mismatch("column %q: type %s in the data does not fit %s", c.name, f.Type, c.typ)
			}
			x.types[i] = c.typ
		}
	}
	return x, nil
}

func field(sch *arrow.Schema, name string) (arrow.Field, bool) {
	i := sch.FieldIndices(name)
	if len(i) == 0 {
		return arrow.Field{}, false
	}
	return sch.Field(i[0]), true
}

// arrowType is the column type an Arrow type maps to, or typeUnknown.
func arrowType(dt arrow.DataType) colType {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.UINT8, arrow.UINT16:
		return typeInt
	case arrow.INT64, arrow.UINT32, arrow.UINT64:
		return typeLong
	case arrow.FLOAT32:
		return typeFloat
	case arrow.FLOAT64:
		return typeDouble
	case arrow.BOOL:
		return typeBoolean
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return typeString
	}
	return typeUnknown
}

// fits reports whether values of type data can be stored as want without
// loss.
func fits(data, want colType) bool {
	return data == want || (data == typeInt && want == typeLong) || (data == typeFloat && want == typeDouble)
}

// add indexes every row of rec.
func (x *arrowIndexer) add(rec arrow.RecordBatch) error {
	sch := rec.Schema()
	x.keys, x.vals = x.keys[:0], x.vals[:0]
	for _, k := range x.s.key {
		i := sch.FieldIndices(k)
		if len(i) == 0 {
			return missing("key column", k)
		}
		fn, ok := keyAppender(rec.Column(i[0]))
		if !ok {
			return mismatch("key column %q: type %s cannot be a key", k, rec.Column(i[0]).DataType())
		}
		x.keys = append(x.keys, fn)
	}
	for ci, c := range x.s.cols {
		i := sch.FieldIndices(c.name)
		if len(i) == 0 {
			return missing("column", c.name)
		}
		fn, ok := valueAppender(rec.Column(i[0]), x.types[ci])
		if !ok {
			return mismatch("column %q: type %s in the data does not fit %s", c.name, rec.Column(i[0]).DataType(), x.types[ci])
		}
		x.vals = append(x.vals, fn)
	}
	for row := range int(rec.NumRows()) {
		for _, fn := range x.keys {
			fn(&x.b, row)
		}
		for ci, fn := range x.vals {
			if err := fn(&x.b, row); err != nil {
				return fmt.Errorf("column %q: %w", x.s.cols[ci].name, err)
			}
		}
		x.b.endRow()
	}
	return nil
}

type valuer[T any] interface {
	IsNull(int) bool
	Value(int) T
}

type signed interface {
	~int8 | ~int16 | ~int32 | ~int64
}
type unsigned interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

func keySigned[T signed](a valuer[T]) func(*builder, int) {
	return func(b *builder, i int) {
		if a.IsNull(i) {
			b.keyNull()
		} else {
			b.keyInt(int64(a.Value(i)))
		}
	}
}

func keyUnsigned[T unsigned](a valuer[T]) func(*builder, int) {
	return func(b *builder, i int) {
		if a.IsNull(i) {
			b.keyNull()
		} else {
			b.keyUint(uint64(a.Value(i)))
		}
	}
}

func keyOf[T any](a valuer[T], put func(*builder, T)) func(*builder, int) {
	return func(b *builder, i int) {
		if a.IsNull(i) {
			b.keyNull()
		} else {
			put(b, a.Value(i))
		}
	}
}

// keyAppender returns the function that appends row i's canonical key
// text, or false for a type that cannot be a key.
func keyAppender(arr arrow.Array) (func(*builder, int), bool) {
	switch a := arr.(type) {
	case *array.Int8:
		return keySigned(a), true
	case *array.Int16:
		return keySigned(a), true
	case *array.Int32:
		return keySigned(a), true
	case *array.Int64:
		return keySigned(a), true
	case *array.Uint8:
		return keyUnsigned(a), true
	case *array.Uint16:
		return keyUnsigned(a), true
	case *array.Uint32:
		return keyUnsigned(a), true
	case *array.Uint64:
		return keyUnsigned(a), true
	case *array.Boolean:
		return keyOf(a, (*builder).keyBool), true
	case *array.String:
		return keyOf(a, (*builder).keyString), true
	case *array.LargeString:
		return keyOf(a, (*builder).keyString), true
	case *array.StringView:
		return keyOf(a, (*builder).keyString), true
	}
	return nil, false
}

func valueOf[T any](a valuer[T], put func(*builder, T)) func(*builder, int) error {
	return func(b *builder, i int) error {
		if a.IsNull(i) {
			b.null()
		} else {
			put(b, a.Value(i))
		}
		return nil
	}
}

func valueInt[T signed | ~uint8 | ~uint16 | ~uint32](a valuer[T]) func(*builder, int) error {
	return valueOf(a, func(b *builder, v T) { b.long(int64(v)) })
}

var errUint64Range = errors.New("value above the largest long")

// valueAppender returns the function that appends row i's value encoded
// as t, or false if the array's type does not fit t.
func valueAppender(arr arrow.Array, t colType) (func(*builder, int) error, bool) {
	if !fits(arrowType(arr.DataType()), t) {
		return nil, false
	}
	// int and long share their encoding, so widening needs no conversion.
	switch a := arr.(type) {
	case *array.Int8:
		return valueInt(a), true
	case *array.Int16:
		return valueInt(a), true
	case *array.Int32:
		return valueInt(a), true
	case *array.Int64:
		return valueInt(a), true
	case *array.Uint8:
		return valueInt(a), true
	case *array.Uint16:
		return valueInt(a), true
	case *array.Uint32:
		return valueInt(a), true
	case *array.Uint64:
		return func(b *builder, i int) error {
			if a.IsNull(i) {
				b.null()
				return nil
			}
			v := a.Value(i)
			if v > 1<<63-1 {
				return fmt.Errorf("%d: %w", v, errUint64Range)
			}
			b.long(int64(v))
			return nil
		}, true
	case *array.Float32:
		if t == typeDouble {
			return valueOf(a, func(b *builder, v float32) { b.double(float64(v)) }), true
		}
		return valueOf(a, (*builder).float), true
	case *array.Float64:
		return valueOf(a, (*builder).double), true
	case *array.Boolean:
		return valueOf(a, (*builder).boolean), true
	case *array.String:
		return valueOf(a, (*builder).str), true
	case *array.LargeString:
		return valueOf(a, (*builder).str), true
	case *array.StringView:
		return valueOf(a, (*builder).str), true
	}
	return nil, false
}
