package schema

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// ArrowSchema converts an Iceberg schema to the Arrow schema the writers
// use: field IDs in the PARQUET:field_id metadata, small (32-bit offset)
// string/binary/list types, uuid as the arrow.uuid extension type over
// fixed_size_binary(16), time as time64[us], timestamps as timestamp[us]
// (UTC for timestamptz), decimals as decimal128.
func ArrowSchema(s *iceberg.Schema) (*arrow.Schema, error) {
	as, err := table.SchemaToArrowSchema(s, nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("iceberg to arrow schema: %w", err)
	}
	return as, nil
}

// Meta holds the Kafka coordinates of one record, written to the metadata
// columns.
type Meta struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	// Key is the record key; nil is written as null, empty as empty.
	Key        []byte
	IngestedAt time.Time
}

var metaNames = [...]string{ColKafkaTopic, ColKafkaPartition, ColKafkaOffset, ColKafkaTimestamp, ColKafkaKey, ColIngestedAt}

// ValidateMetaColumns checks that s has every metadata column with the
// Arrow type AppendMeta writes. Call it once per table schema: AppendMeta
// itself has no error return and skips columns it cannot write.
func ValidateMetaColumns(s *arrow.Schema) error {
	want := [...]arrow.Type{arrow.STRING, arrow.INT32, arrow.INT64, arrow.TIMESTAMP, arrow.BINARY, arrow.TIMESTAMP}
	for i, name := range metaNames {
		idx := s.FieldIndices(name)
		if len(idx) != 1 {
			return fmt.Errorf("metadata column %q: found %d times, want once", name, len(idx))
		}
		if got := s.Field(idx[0]).Type.ID(); got != want[i] {
			return fmt.Errorf("metadata column %q: arrow type %s, want %s", name, got, want[i])
		}
	}
	return nil
}

// AppendMeta appends one row of metadata columns to b. The columns are found
// by name; the common layout (metadata columns last, as ToIceberg emits them)
// is recognised without a map lookup. It does not allocate.
func AppendMeta(b *array.RecordBuilder, m *Meta) {
	sc := b.Schema()
	n := sc.NumFields()
	for i, name := range metaNames {
		idx := n - len(metaNames) + i
		if idx < 0 || sc.Field(idx).Name != name {
			idx = -1
			if ix := sc.FieldIndices(name); len(ix) > 0 {
				idx = ix[0]
			}
		}
		if idx < 0 {
			continue
		}
		fb := b.Field(idx)
		switch i {
		case 0:
			if sb, ok := fb.(*array.StringBuilder); ok {
				sb.BinaryBuilder.Append(unsafe.Slice(unsafe.StringData(m.Topic), len(m.Topic)))
			}
		case 1:
			if ib, ok := fb.(*array.Int32Builder); ok {
				ib.Append(m.Partition)
			}
		case 2:
			if ib, ok := fb.(*array.Int64Builder); ok {
				ib.Append(m.Offset)
			}
		case 3:
			if tb, ok := fb.(*array.TimestampBuilder); ok {
				tb.Append(arrow.Timestamp(m.Timestamp.UnixMicro()))
			}
		case 4:
			if bb, ok := fb.(*array.BinaryBuilder); ok {
				if m.Key == nil {
					bb.AppendNull()
				} else {
					bb.Append(m.Key)
				}
			}
		case 5:
			if tb, ok := fb.(*array.TimestampBuilder); ok {
				tb.Append(arrow.Timestamp(m.IngestedAt.UnixMicro()))
			}
		}
	}
}

// NewRecordBatch cuts the rows in b into a record batch, as
// b.NewRecordBatch does, and reserves room in b for a next batch the size
// of this one (values included, with an eighth to spare). A builder that
// starts every batch empty grows each buffer by doubling: the final size
// allocated about twice over and copied once. Ingest cuts batches of a
// steady row count, so the size of the last one is a good guess.
func NewRecordBatch(b *array.RecordBuilder) arrow.RecordBatch {
	rec := b.NewRecordBatch()
	for i, f := range b.Fields() {
		reserveLike(f, rec.Column(i))
	}
	return rec
}

// reserveLike reserves room in b for as many elements as a holds, and for
// variable-length types as many value bytes, recursively.
func reserveLike(b array.Builder, a arrow.Array) {
	n := a.Len()
	if n == 0 {
		return
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Reserve(n)
		b.ReserveData(spare(valueBytes(a)))
	case *array.BinaryBuilder:
		b.Reserve(n)
		b.ReserveData(spare(valueBytes(a)))
	case *array.StructBuilder:
		b.Reserve(n)
		if s, ok := a.(*array.Struct); ok {
			for i := range b.NumField() {
				reserveLike(b.FieldBuilder(i), s.Field(i))
			}
		}
	case *array.MapBuilder:
		b.Reserve(n)
		if m, ok := a.(*array.Map); ok {
			// The entries struct, and through it the keys and items.
			reserveLike(b.ValueBuilder(), m.ListValues())
		}
	case *array.ListBuilder:
		b.Reserve(n)
		if l, ok := a.(*array.List); ok {
			reserveLike(b.ValueBuilder(), l.ListValues())
		}
	default:
		b.Reserve(n)
	}
}

// valueBytes is the length of a binary or string array's value buffer.
func valueBytes(a arrow.Array) int {
	bufs := a.Data().Buffers()
	if len(bufs) < 3 || bufs[2] == nil {
		return 0
	}
	return bufs[2].Len()
}

func spare(n int) int { return n + n/8 }
