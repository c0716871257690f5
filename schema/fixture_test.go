package schema

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
)

// newBuilder is schematest.NewBuilder for this package's own tests, which
// cannot import schematest: it imports schema.
func newBuilder(t testing.TB, sc *iceberg.Schema) *array.RecordBuilder {
	t.Helper()
	as, err := ArrowSchema(sc)
	if err != nil {
		t.Fatalf("ArrowSchema: %v", err)
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), as)
	t.Cleanup(b.Release)
	return b
}
