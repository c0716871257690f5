package decode

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/schematest"
)

// fuzzTarget decodes with one decoder and checks the all-or-nothing
// contract on its builder.
type fuzzTarget struct {
	d *Decoder
	b *array.RecordBuilder
}

func (ft fuzzTarget) run(t *testing.T, payload []byte) {
	before := avrotest.Lengths(ft.b)
	err := ft.d.Decode(payload, ft.b)
	after := avrotest.Lengths(ft.b)
	if err != nil {
		if !errors.Is(err, schema.ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if !equalInts(before, after) {
			t.Fatalf("failed decode changed builder lengths from %v to %v", before, after)
		}
		return
	}
	schema.AppendMeta(ft.b, &schema.Meta{Topic: "t"})
	after = avrotest.Lengths(ft.b)
	for i := range before {
		if after[i] != before[i]+1 {
			t.Fatalf("column %d grew from %d to %d, want one row", i, before[i], after[i])
		}
	}
	if after[0] >= 256 {
		// Cut the batch: this proves the builders are coherent (it panics
		// on mismatched child lengths) and bounds memory.
		rec := ft.b.NewRecordBatch()
		for _, c := range rec.Columns() {
			_ = c.ValueStr(c.Len() - 1)
		}
		rec.Release()
	}
}

// FuzzDecode feeds arbitrary payloads to a decoder for richSchema bound to
// its own table, and to one bound to a narrower table (so the skip and
// missing-column paths run too). Neither may panic, and a failure must
// leave the builders untouched.
func FuzzDecode(f *testing.F) {
	w := avrotest.MustParse(f, avrotest.RichSchema)
	full, fb := schematest.NewTarget(f, w)
	fd, err := NewDecoder(w, full)
	if err != nil {
		f.Fatal(err)
	}
	narrow := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "nick", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: "not_in_writer", Type: iceberg.PrimitiveTypes.Int64},
		iceberg.NestedField{ID: 4, Name: "items", Type: &iceberg.ListType{ElementID: 5, ElementRequired: true,
			Element: &iceberg.StructType{FieldList: []iceberg.NestedField{
				{ID: 6, Name: "qty", Type: iceberg.PrimitiveTypes.Int64, Required: true},
				{ID: 7, Name: "extra", Type: iceberg.PrimitiveTypes.String},
			}}}},
	)
	nd, err := NewDecoder(w, narrow)
	if err != nil {
		f.Fatal(err)
	}
	targets := []fuzzTarget{{fd, fb}, {nd, schematest.NewBuilder(f, narrow)}}
	// Seeds beyond testdata/fuzz/FuzzDecode: the two fixture records.
	f.Add(avrotest.MustMarshal(f, w, avrotest.FullEvent()))
	f.Add(avrotest.MustMarshal(f, w, avrotest.SparseEvent()))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, ft := range targets {
			ft.run(t, payload)
		}
	})
}
