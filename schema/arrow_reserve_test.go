package schema

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// countingAlloc counts the allocator calls that grow memory.
type countingAlloc struct {
	memory.Allocator
	grows atomic.Int64
}

func (c *countingAlloc) Allocate(n int) []byte { c.grows.Add(1); return c.Allocator.Allocate(n) }
func (c *countingAlloc) Reallocate(n int, b []byte) []byte {
	c.grows.Add(1)
	return c.Allocator.Reallocate(n, b)
}

// TestNewRecordBatchReservesForTheNext checks that the batch NewRecordBatch
// cuts holds exactly the rows appended, and that appending the same rows
// again allocates nothing: every buffer, nested and variable-length ones
// included, was reserved.
func TestNewRecordBatchReservesForTheNext(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "blob", Type: arrow.BinaryTypes.Binary},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "attrs", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float64)},
		{Name: "dev", Type: arrow.StructOf(
			arrow.Field{Name: "os", Type: arrow.BinaryTypes.String},
			arrow.Field{Name: "ok", Type: arrow.FixedWidthTypes.Boolean})},
	}, nil)
	alloc := &countingAlloc{Allocator: memory.NewGoAllocator()}
	b := array.NewRecordBuilder(alloc, sch)
	defer b.Release()
	const rows = 3000
	fill := func() {
		for i := range rows {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			if i%7 == 0 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("name-%d", i))
			}
			b.Field(2).(*array.BinaryBuilder).Append([]byte(fmt.Sprintf("blob-%0*d", i%40, i)))
			lb := b.Field(3).(*array.ListBuilder)
			lb.Append(true)
			for j := range i % 4 {
				lb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("tag-%d-%d", i, j))
			}
			mb := b.Field(4).(*array.MapBuilder)
			mb.Append(true)
			for j := range i % 3 {
				mb.KeyBuilder().(*array.StringBuilder).Append(fmt.Sprintf("k%d", j))
				mb.ItemBuilder().(*array.Float64Builder).Append(float64(i * j))
			}
			sb := b.Field(5).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.StringBuilder).Append(fmt.Sprintf("os-%d", i%5))
			sb.FieldBuilder(1).(*array.BooleanBuilder).Append(i%2 == 0)
		}
	}
	fill()
	first := NewRecordBatch(b)
	defer first.Release()
	before := alloc.grows.Load()
	fill()
	if grew := alloc.grows.Load() - before; grew != 0 {
		t.Errorf("appending the same rows again allocated %d times; want 0", grew)
	}
	second := NewRecordBatch(b)
	defer second.Release()
	if first.NumRows() != rows || !array.RecordEqual(first, second) {
		t.Fatalf("batches differ: %d and %d rows", first.NumRows(), second.NumRows())
	}
	if got := first.Column(1).(*array.String).Value(1); got != "name-1" {
		t.Errorf("name[1] = %q", got)
	}
}
