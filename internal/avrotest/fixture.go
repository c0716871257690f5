package avrotest

import (
	"math/big"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/hamba/avro/v2"
)

// RichSchema exercises every mapped type, nesting, nullability and named
// type references.
const RichSchema = `{
  "type": "record", "name": "Event", "namespace": "test",
  "fields": [
    {"name": "id", "type": "long", "doc": "event id"},
    {"name": "name", "type": "string"},
    {"name": "age", "type": "int"},
    {"name": "score", "type": "float"},
    {"name": "ratio", "type": "double"},
    {"name": "active", "type": "boolean"},
    {"name": "blob", "type": "bytes"},
    {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "tmillis", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tmicros", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "tsmillis", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tsmicros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "ltsmillis", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "ltsmicros", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "amount", "type": {"type": "fixed", "name": "Amount", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},
    {"name": "nick", "type": ["null", "string"], "default": null, "doc": "nickname"},
    {"name": "maybe_age", "type": ["null", "int"], "default": null},
    {"name": "address", "type": {"type": "record", "name": "Address", "fields": [
      {"name": "street", "type": "string"},
      {"name": "zip", "type": ["null", "int"], "default": null}
    ]}},
    {"name": "maybe_addr", "type": ["null", "Address"], "default": null},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "scores", "type": {"type": "array", "items": ["null", "long"]}},
    {"name": "attrs", "type": {"type": "map", "values": "string"}},
    {"name": "series", "type": {"type": "map", "values": {"type": "array", "items": "int"}}},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
      {"name": "sku", "type": "string"},
      {"name": "qty", "type": "int"}
    ]}}}
  ]
}`

type richAddress struct {
	Street string `avro:"street"`
	Zip    *int   `avro:"zip"`
}

type richItem struct {
	SKU string `avro:"sku"`
	Qty int    `avro:"qty"`
}

type RichEvent struct {
	ID        int64             `avro:"id"`
	Name      string            `avro:"name"`
	Age       int               `avro:"age"`
	Score     float32           `avro:"score"`
	Ratio     float64           `avro:"ratio"`
	Active    bool              `avro:"active"`
	Blob      []byte            `avro:"blob"`
	Hash      [4]byte           `avro:"hash"`
	Color     string            `avro:"color"`
	UID       string            `avro:"uid"`
	Day       time.Time         `avro:"day"`
	TMillis   time.Duration     `avro:"tmillis"`
	TMicros   time.Duration     `avro:"tmicros"`
	TSMillis  time.Time         `avro:"tsmillis"`
	TSMicros  time.Time         `avro:"tsmicros"`
	LTSMillis time.Time         `avro:"ltsmillis"`
	LTSMicros time.Time         `avro:"ltsmicros"`
	Price     *big.Rat          `avro:"price"`
	Amount    *big.Rat          `avro:"amount"`
	Nick      *string           `avro:"nick"`
	MaybeAge  *int              `avro:"maybe_age"`
	Address   richAddress       `avro:"address"`
	MaybeAddr *richAddress      `avro:"maybe_addr"`
	Tags      []string          `avro:"tags"`
	Scores    []*int64          `avro:"scores"`
	Attrs     map[string]string `avro:"attrs"`
	Series    map[string][]int  `avro:"series"`
	Items     []richItem        `avro:"items"`
}

func Ptr[T any](v T) *T { return &v }

// FullEvent has every optional value set.
func FullEvent() RichEvent {
	return RichEvent{
		ID: 1 << 40, Name: "héllo", Age: -42, Score: 1.5, Ratio: -2.25, Active: true,
		Blob: []byte{0, 1, 2, 255}, Hash: [4]byte{9, 8, 7, 6}, Color: "BLUE",
		UID:       "123e4567-e89b-12d3-a456-426614174000",
		Day:       time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		TMillis:   13*time.Hour + 1234*time.Millisecond,
		TMicros:   5*time.Hour + 1234567*time.Microsecond,
		TSMillis:  time.UnixMilli(1_700_000_000_123).UTC(),
		TSMicros:  time.UnixMicro(1_700_000_000_123_456).UTC(),
		LTSMillis: time.UnixMilli(-1_000_001).UTC(),
		LTSMicros: time.UnixMicro(42).UTC(),
		Price:     big.NewRat(-12345, 100),
		Amount:    big.NewRat(987654321, 10000),
		Nick:      Ptr("nicky"),
		MaybeAge:  Ptr(7),
		Address:   richAddress{Street: "Main St", Zip: Ptr(12345)},
		MaybeAddr: &richAddress{Street: "Side St"},
		Tags:      []string{"a", "", "ccc"},
		Scores:    []*int64{Ptr[int64](5), nil, Ptr[int64](-6)},
		Attrs:     map[string]string{"k": "v"},
		Series:    map[string][]int{"s": {1, 2, 3}},
		Items:     []richItem{{SKU: "x", Qty: 1}, {SKU: "y", Qty: 2}},
	}
}

// SparseEvent leaves every optional value null and every collection empty.
func SparseEvent() RichEvent {
	return RichEvent{
		Day: time.Unix(0, 0).UTC(), TSMillis: time.Unix(0, 0).UTC(), TSMicros: time.Unix(0, 0).UTC(),
		LTSMillis: time.Unix(0, 0).UTC(), LTSMicros: time.Unix(0, 0).UTC(),
		Color: "RED", UID: "00000000-0000-0000-0000-000000000000",
		Price: big.NewRat(0, 1), Amount: big.NewRat(-1, 10000),
		Tags: []string{}, Scores: []*int64{}, Attrs: map[string]string{}, Series: map[string][]int{}, Items: []richItem{},
	}
}

func MustParse(t testing.TB, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("parse avro schema: %v", err)
	}
	return s
}

func MustMarshal(t testing.TB, s avro.Schema, v any) []byte {
	t.Helper()
	b, err := avro.Marshal(s, v)
	if err != nil {
		t.Fatalf("avro marshal: %v", err)
	}
	return b
}

// Lengths reports every column builder's length.
func Lengths(b *array.RecordBuilder) []int {
	out := make([]int, len(b.Fields()))
	for i, f := range b.Fields() {
		out[i] = f.Len()
	}
	return out
}
