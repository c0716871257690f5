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
