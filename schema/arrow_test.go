package schema

import (
	"testing"
	"time"

	"github.com/apache/iceberg-go"
)

// TestAppendMetaFindsColumnsAnywhere covers tables whose metadata columns
// are not last (a column added after creation lands at the end).
func TestAppendMetaFindsColumnsAnywhere(t *testing.T) {
	fields := metaFields()
	for i := range fields {
		fields[i].ID = i + 2
	}
	fields = append([]iceberg.NestedField{{ID: 1, Name: "a", Type: iceberg.PrimitiveTypes.Int32}}, fields...)
	fields = append(fields, iceberg.NestedField{ID: 8, Name: "added_later", Type: iceberg.PrimitiveTypes.String})
	b := newBuilder(t, iceberg.NewSchema(0, fields...))
	if err := ValidateMetaColumns(b.Schema()); err != nil {
		t.Fatal(err)
	}
	AppendMeta(b, &Meta{Topic: "tp", Partition: 2, Offset: 3, Timestamp: time.UnixMicro(4), Key: []byte{}, IngestedAt: time.UnixMicro(5)})
	want := []string{"", "tp", "2", "3", "1970-01-01T00:00:00.000004Z", "", "1970-01-01T00:00:00.000005Z", ""}
	for i, f := range b.Fields() {
		if i == 0 || i == len(want)-1 {
			if f.Len() != 0 {
				t.Errorf("non-metadata column %d touched", i)
			}
			continue
		}
		arr := f.NewArray()
		if arr.Len() != 1 || arr.ValueStr(0) != want[i] || arr.IsNull(0) {
			t.Errorf("column %d = %d rows %q null=%v, want %q", i, arr.Len(), arr.ValueStr(0), arr.IsNull(0), want[i])
		}
		arr.Release()
	}
}

func TestValidateMetaColumnsRejects(t *testing.T) {
	b := newBuilder(t, iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: ColKafkaTopic, Type: iceberg.PrimitiveTypes.Int32, Required: true}))
	if err := ValidateMetaColumns(b.Schema()); err == nil {
		t.Fatal("want an error for a schema without proper metadata columns")
	}
}
