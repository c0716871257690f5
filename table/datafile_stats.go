package table

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	iceberg "github.com/apache/iceberg-go"
	"github.com/google/uuid"
)

// fileStats are the Iceberg column metrics of one Parquet file, keyed by
// Iceberg field ID, with bounds in Iceberg single-value serialization.
type fileStats struct {
	recordCount  int64
	colSizes     map[int]int64
	valueCounts  map[int]int64
	nullCounts   map[int]int64
	lower, upper map[int][]byte
	splitOffsets []int64
}

// columnBounds accumulates one leaf column's min/max across row groups.
type columnBounds struct {
	typ      iceberg.PrimitiveType
	min, max iceberg.Literal
	unknown  bool // some row group had values but no usable min/max
}

// statsFromParquet derives Iceberg metrics from the footer the writer just
// produced. Leaves are matched to the schema by the field ID each Parquet
// column carries, not by name. Counts and sizes are reported for every leaf;
// bounds only for leaves outside lists and maps, as Iceberg does, since a
// predicate can only reference those.
func statsFromParquet(meta *metadata.FileMetaData, sch *iceberg.Schema, truncate int) (*fileStats, error) {
	s := &fileStats{
		recordCount: meta.GetNumRows(),
		colSizes:    make(map[int]int64),
		valueCounts: make(map[int]int64),
		nullCounts:  make(map[int]int64),
		lower:       make(map[int][]byte),
		upper:       make(map[int][]byte),
	}
	ncols := meta.Schema.NumColumns()
	ids := make([]int, ncols)
	bounds := make([]*columnBounds, ncols)
	nullsUnknown := make([]bool, ncols)
	for i := range ncols {
		col := meta.Schema.Column(i)
		id := int(col.SchemaNode().FieldID())
		ids[i] = -1
		if id < 0 {
			// Only variant sub-columns lack IDs (the spec forbids them);
			// they get no metrics.
			continue
		}
		field, ok := sch.FindFieldByID(id)
		if !ok {
			return nil, fmt.Errorf("parquet column %s has field id %d, not in the schema", col.Path(), id)
		}
		typ, ok := field.Type.(iceberg.PrimitiveType)
		if !ok {
			return nil, fmt.Errorf("parquet column %s maps to non-primitive field %d", col.Path(), id)
		}
		ids[i] = id
		if col.MaxRepetitionLevel() == 0 {
			bounds[i] = &columnBounds{typ: typ}
		}
	}

	for rg := range meta.NumRowGroups() {
		rgMeta := meta.RowGroup(rg)
		for i := range ncols {
			chunk, err := rgMeta.ColumnChunk(i)
			if err != nil {
				return nil, fmt.Errorf("row group %d column %d: %w", rg, i, err)
			}
			if i == 0 {
				// A split starts at the row group's first page, which is the
				// dictionary page when there is one.
				start := chunk.DataPageOffset()
				if chunk.HasDictionaryPage() && chunk.DictionaryPageOffset() < start {
					start = chunk.DictionaryPageOffset()
				}
				s.splitOffsets = append(s.splitOffsets, start)
			}
			id := ids[i]
			if id < 0 {
				continue
			}
			s.colSizes[id] += chunk.TotalCompressedSize()
			s.valueCounts[id] += chunk.NumValues()
			if err := addChunkStats(chunk, s, id, bounds[i], &nullsUnknown[i]); err != nil {
				return nil, fmt.Errorf("row group %d column %s: %w", rg, meta.Schema.Column(i).Path(), err)
			}
		}
	}

	for i := range ncols {
		if ids[i] < 0 {
			continue
		}
		if nullsUnknown[i] {
			delete(s.nullCounts, ids[i])
		}
		b := bounds[i]
		if b == nil || b.unknown || b.min == nil {
			continue
		}
		lo, err := lowerBoundBytes(b.min, truncate)
		if err != nil {
			return nil, fmt.Errorf("lower bound of field %d: %w", ids[i], err)
		}
		// An empty string or binary serializes to zero bytes, which some
		// readers take for a missing bound; "" as a lower bound prunes
		// nothing anyway, and an empty upper bound is merely omitted.
		if len(lo) > 0 {
			s.lower[ids[i]] = lo
		}
		hi, err := upperBoundBytes(b.max, truncate)
		if err != nil {
			return nil, fmt.Errorf("upper bound of field %d: %w", ids[i], err)
		}
		if len(hi) > 0 {
			s.upper[ids[i]] = hi
		}
	}
	slices.Sort(s.splitOffsets)
	return s, nil
}

// addChunkStats folds one column chunk's statistics into s and b (nil for
// leaves without bounds). Missing statistics make the null count or bounds
// unknown for the whole file rather than wrong.
func addChunkStats(chunk *metadata.ColumnChunkMetaData, s *fileStats, id int, b *columnBounds, nullsUnknown *bool) error {
	set, err := chunk.StatsSet()
	if err != nil {
		return err
	}
	var st metadata.TypedStatistics
	if set {
		if st, err = chunk.Statistics(); err != nil {
			return err
		}
	}
	if st == nil || !st.HasNullCount() {
		*nullsUnknown = true
		if b != nil {
			b.unknown = true
		}
		return nil
	}
	s.nullCounts[id] += st.NullCount()
	if b == nil || b.unknown {
		return nil
	}
	if !st.HasMinMax() {
		// All-null chunks have no min/max and need none; a chunk with values
		// but no min/max (all NaN, or values over the stats size limit)
		// leaves the file's bounds unknown.
		if chunk.NumValues() > st.NullCount() {
			b.unknown = true
		}
		return nil
	}
	lo, hi, err := chunkLiterals(st, b.typ)
	if err != nil {
		return err
	}
	if lo == nil {
		b.unknown = true
		return nil
	}
	if b.min == nil {
		b.min, b.max = lo, hi
		return nil
	}
	if c, err := compareBoundLiterals(lo, b.min); err != nil {
		return err
	} else if c < 0 {
		b.min = lo
	}
	if c, err := compareBoundLiterals(hi, b.max); err != nil {
		return err
	} else if c > 0 {
		b.max = hi
	}
	return nil
}

// chunkLiterals converts a chunk's physical min/max to Iceberg literals of
// typ. It returns nil literals for physical/logical pairs it does not know,
// so those columns simply get no bounds.
func chunkLiterals(st metadata.TypedStatistics, typ iceberg.PrimitiveType) (lo, hi iceberg.Literal, err error) {
	switch st := st.(type) {
	case *metadata.BooleanStatistics:
		if _, ok := typ.(iceberg.BooleanType); ok {
			return iceberg.BoolLiteral(st.Min()), iceberg.BoolLiteral(st.Max()), nil
		}
	case *metadata.Int32Statistics:
		switch t := typ.(type) {
		case iceberg.Int32Type:
			return iceberg.Int32Literal(st.Min()), iceberg.Int32Literal(st.Max()), nil
		case iceberg.DateType:
			return iceberg.DateLiteral(st.Min()), iceberg.DateLiteral(st.Max()), nil
		case iceberg.DecimalType:
			return decimalLit(decimal128.FromI64(int64(st.Min())), t),
				decimalLit(decimal128.FromI64(int64(st.Max())), t), nil
		}
	case *metadata.Int64Statistics:
		switch t := typ.(type) {
		case iceberg.Int64Type:
			return iceberg.Int64Literal(st.Min()), iceberg.Int64Literal(st.Max()), nil
		case iceberg.TimeType:
			return iceberg.TimeLiteral(st.Min()), iceberg.TimeLiteral(st.Max()), nil
		case iceberg.TimestampType, iceberg.TimestampTzType:
			return iceberg.TimestampLiteral(st.Min()), iceberg.TimestampLiteral(st.Max()), nil
		case iceberg.TimestampNsType, iceberg.TimestampTzNsType:
			return iceberg.TimestampNsLiteral(st.Min()), iceberg.TimestampNsLiteral(st.Max()), nil
		case iceberg.DecimalType:
			return decimalLit(decimal128.FromI64(st.Min()), t), decimalLit(decimal128.FromI64(st.Max()), t), nil
		}
	case *metadata.Float32Statistics:
		if _, ok := typ.(iceberg.Float32Type); ok {
			return iceberg.Float32Literal(st.Min()), iceberg.Float32Literal(st.Max()), nil
		}
	case *metadata.Float64Statistics:
		if _, ok := typ.(iceberg.Float64Type); ok {
			return iceberg.Float64Literal(st.Min()), iceberg.Float64Literal(st.Max()), nil
		}
	case *metadata.ByteArrayStatistics:
		// Min/Max alias the footer's buffers: copy before keeping them.
		switch t := typ.(type) {
		case iceberg.StringType:
			return iceberg.StringLiteral(string(st.Min())), iceberg.StringLiteral(string(st.Max())), nil
		case iceberg.BinaryType:
			return iceberg.BinaryLiteral(slices.Clone(st.Min())), iceberg.BinaryLiteral(slices.Clone(st.Max())), nil
		case iceberg.DecimalType:
			return bigEndianDecimalLits(st.Min(), st.Max(), t)
		}
	case *metadata.FixedLenByteArrayStatistics:
		switch t := typ.(type) {
		case iceberg.UUIDType:
			mn, err1 := uuid.FromBytes(st.Min())
			mx, err2 := uuid.FromBytes(st.Max())
			if err1 != nil || err2 != nil {
				return nil, nil, fmt.Errorf("uuid statistics of %d and %d bytes", len(st.Min()), len(st.Max()))
			}
			return iceberg.UUIDLiteral(mn), iceberg.UUIDLiteral(mx), nil
		case iceberg.FixedType:
			return iceberg.FixedLiteral(slices.Clone(st.Min())), iceberg.FixedLiteral(slices.Clone(st.Max())), nil
		case iceberg.DecimalType:
			return bigEndianDecimalLits(st.Min(), st.Max(), t)
		}
	}
	return nil, nil, nil
}

func decimalLit(v decimal128.Num, t iceberg.DecimalType) iceberg.Literal {
	return iceberg.DecimalLiteral(iceberg.Decimal{Val: v, Scale: t.Scale()})
}

func bigEndianDecimalLits(mn, mx []byte, t iceberg.DecimalType) (iceberg.Literal, iceberg.Literal, error) {
	lo, err := bigEndianDecimal(mn)
	if err != nil {
		return nil, nil, err
	}
	hi, err := bigEndianDecimal(mx)
	if err != nil {
		return nil, nil, err
	}
	return decimalLit(lo, t), decimalLit(hi, t), nil
}

// bigEndianDecimal decodes Parquet's two's-complement big-endian unscaled
// decimal of 1 to 16 bytes.
func bigEndianDecimal(b []byte) (decimal128.Num, error) {
	if len(b) == 0 || len(b) > 16 {
		return decimal128.Num{}, fmt.Errorf("decimal statistics of %d bytes", len(b))
	}
	var full [16]byte
	if b[0]&0x80 != 0 {
		for i := range full {
			full[i] = 0xff
		}
	}
	copy(full[16-len(b):], b)
	return decimal128.New(int64(binary.BigEndian.Uint64(full[:8])), binary.BigEndian.Uint64(full[8:])), nil
}

// compareBoundLiterals orders two literals of the same Iceberg type the way
// Iceberg does (strings and binary as unsigned bytes, decimals by value).
func compareBoundLiterals(a, b iceberg.Literal) (int, error) {
	switch a := a.(type) {
	case iceberg.BoolLiteral:
		return compareTyped(a, b)
	case iceberg.Int32Literal:
		return compareTyped(a, b)
	case iceberg.Int64Literal:
		return compareTyped(a, b)
	case iceberg.Float32Literal:
		return compareTyped(a, b)
	case iceberg.Float64Literal:
		return compareTyped(a, b)
	case iceberg.DateLiteral:
		return compareTyped(a, b)
	case iceberg.TimeLiteral:
		return compareTyped(a, b)
	case iceberg.TimestampLiteral:
		return compareTyped(a, b)
	case iceberg.TimestampNsLiteral:
		return compareTyped(a, b)
	case iceberg.StringLiteral:
		return compareTyped(a, b)
	case iceberg.BinaryLiteral:
		return compareTyped(a, b)
	case iceberg.FixedLiteral:
		return compareTyped(a, b)
	case iceberg.UUIDLiteral:
		return compareTyped(a, b)
	case iceberg.DecimalLiteral:
		return compareTyped(a, b)
	}
	return 0, fmt.Errorf("cannot compare %T literals", a)
}

func compareTyped[T iceberg.LiteralType](a iceberg.TypedLiteral[T], b iceberg.Literal) (int, error) {
	bv, ok := b.(iceberg.TypedLiteral[T])
	if !ok {
		return 0, fmt.Errorf("cannot compare %T with %T", a, b)
	}
	return a.Comparator()(a.Value(), bv.Value()), nil
}

// lowerBoundBytes serializes a lower bound, truncating strings to truncate code
// points and binary to truncate bytes: a prefix is never greater than the
// value, so it stays a valid lower bound.
func lowerBoundBytes(v iceberg.Literal, truncate int) ([]byte, error) {
	if truncate > 0 {
		switch v := v.(type) {
		case iceberg.StringLiteral:
			s := string(v)
			if cut, ok := prefixRunes(s, truncate); ok {
				return []byte(s[:cut]), nil
			}
		case iceberg.BinaryLiteral:
			if len(v) > truncate {
				return slices.Clone(v[:truncate]), nil
			}
		}
	}
	return v.MarshalBinary()
}

// upperBoundBytes serializes an upper bound. A truncated prefix is smaller than
// the value, so the last code point (byte, for binary) is incremented to
// make it greater again; when no position can be incremented the bound is
// omitted (nil), as the Iceberg spec requires.
func upperBoundBytes(v iceberg.Literal, truncate int) ([]byte, error) {
	if truncate > 0 {
		switch v := v.(type) {
		case iceberg.StringLiteral:
			return truncateUpperString(string(v), truncate), nil
		case iceberg.BinaryLiteral:
			return truncateUpperBinary(v, truncate), nil
		}
	}
	return v.MarshalBinary()
}

// prefixRunes returns the byte length of the first n code points of s and
// whether s is longer than that.
func prefixRunes(s string, n int) (int, bool) {
	for i := range s {
		if n == 0 {
			return i, true
		}
		n--
	}
	return len(s), false
}

func truncateUpperString(s string, n int) []byte {
	cut, truncated := prefixRunes(s, n)
	if !truncated {
		return []byte(s)
	}
	prefix := s[:cut]
	// Invalid UTF-8 has no well-defined "next code point"; omitting the
	// bound is always safe.
	if !utf8.ValidString(prefix) {
		return nil
	}
	for len(prefix) > 0 {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		next := r + 1
		if next >= 0xD800 && next <= 0xDFFF { // surrogates are not code points
			next = 0xE000
		}
		if next <= utf8.MaxRune {
			return utf8.AppendRune([]byte(prefix), next)
		}
	}
	return nil
}

func truncateUpperBinary(b []byte, n int) []byte {
	if len(b) <= n {
		return slices.Clone(b)
	}
	out := slices.Clone(b[:n])
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] < 0xff {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}
