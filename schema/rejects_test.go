package schema

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
)

// The quarantine layout's ids are the ones a catalog assigns to a new
// table, so the schema we compare against after loading is the same.
func TestRejectsSchemaIDsAreFresh(t *testing.T) {
	sc := RejectsSchema()
	fresh, err := iceberg.AssignFreshSchemaIDs(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.Equals(fresh) {
		t.Fatalf("ids are not the fresh assignment:\n%s\nvs\n%s", sc, fresh)
	}
	if f := sc.Fields(); f[0].Name != ColRawValue || f[len(f)-1].Name != ColIngestedAt {
		t.Fatalf("column order %v", f)
	}
}

func TestAppendRejectRow(t *testing.T) {
	arr, err := ArrowSchema(RejectsSchema())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer b.Release()
	long := strings.Repeat("é", MaxRejectMessage) // 2 bytes a rune: cut mid-way
	meta := &Meta{Topic: "t", Partition: 2, Offset: 7, Timestamp: time.UnixMilli(5), Key: nil, IngestedAt: time.UnixMilli(6)}
	AppendReject(b, meta, &Reject{
		Value: []byte{0xff, 0}, Headers: []Header{{Key: "bad\xffkey", Value: nil}, {Key: "ok", Value: []byte("v")}},
		Stage: StageDecode, Reason: "wire", Message: long,
	})
	AppendReject(b, meta, &Reject{Value: nil, SchemaID: 9, HasID: true, Stage: StageDecode, Reason: "malformed", Message: "m"})
	rec := b.NewRecordBatch()
	defer rec.Release()
	if rec.NumRows() != 2 {
		t.Fatalf("%d rows", rec.NumRows())
	}
	col := func(name string) int { return rec.Schema().FieldIndices(name)[0] }
	msg := rec.Column(col(ColMessage)).(*array.String).Value(0)
	if len(msg) > MaxRejectMessage+len("…") || !utf8.ValidString(msg) || !strings.HasSuffix(msg, "…") {
		t.Errorf("message of %d bytes, valid %v, not cut on a rune boundary with a marker", len(msg), utf8.ValidString(msg))
	}
	hdrs := rec.Column(col(ColRawHeaders)).(*array.List)
	keys := hdrs.ListValues().(*array.Struct).Field(0).(*array.String)
	if !utf8.ValidString(keys.Value(0)) || keys.Value(1) != "ok" {
		t.Errorf("header keys %q, %q", keys.Value(0), keys.Value(1))
	}
	if !hdrs.IsNull(1) {
		t.Error("a reject without headers has a non-null header list")
	}
	vals := rec.Column(col(ColRawValue)).(*array.Binary)
	if vals.IsNull(0) || !vals.IsNull(1) {
		t.Error("raw_value nullness wrong: a tombstone must be null, bytes must not")
	}
	ids := rec.Column(col(ColSchemaID)).(*array.Int32)
	if !ids.IsNull(0) || ids.Value(1) != 9 {
		t.Errorf("schema ids %v", ids)
	}
	if key := rec.Column(col(ColKafkaKey)); !key.IsNull(0) {
		t.Error("a nil key must be null")
	}
	if off := rec.Column(col(ColKafkaOffset)).(*array.Int64).Value(1); off != 7 {
		t.Errorf("offset %d", off)
	}
}
