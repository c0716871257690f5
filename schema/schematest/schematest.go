package schematest

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/schema"
)

// NewTarget maps a writer schema to a table schema and a builder for it.
func NewTarget(t testing.TB, w avro.Schema) (*iceberg.Schema, *array.RecordBuilder) {
	t.Helper()
	sc, err := schema.ToIceberg(w)
	if err != nil {
		t.Fatalf("ToIceberg: %v", err)
	}
	return sc, NewBuilder(t, sc)
}

func NewBuilder(t testing.TB, sc *iceberg.Schema) *array.RecordBuilder {
	t.Helper()
	as, err := schema.ArrowSchema(sc)
	if err != nil {
		t.Fatalf("ArrowSchema: %v", err)
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), as)
	t.Cleanup(b.Release)
	return b
}
