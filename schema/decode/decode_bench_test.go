package decode

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/schematest"
)

// benchSchema is a typical event: about 10 fields, about 250 bytes encoded.
const benchSchema = `{
  "type": "record", "name": "Order", "namespace": "bench",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "user", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "country", "type": {"type": "enum", "name": "Country", "symbols": ["DE", "FR", "US", "JP"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "score", "type": "double"},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "device", "type": {"type": "record", "name": "Device", "fields": [
      {"name": "os", "type": "string"}, {"name": "version", "type": "string"}]}}
  ]
}`

type benchDevice struct {
	OS      string `avro:"os"`
	Version string `avro:"version"`
}

type benchOrder struct {
	ID      int64       `avro:"id"`
	User    string      `avro:"user"`
	Email   string      `avro:"email"`
	Amount  *big.Rat    `avro:"amount"`
	TS      time.Time   `avro:"ts"`
	Country string      `avro:"country"`
	Tags    []string    `avro:"tags"`
	Note    *string     `avro:"note"`
	Score   float64     `avro:"score"`
	UID     string      `avro:"uid"`
	Device  benchDevice `avro:"device"`
}

func benchPayload(tb testing.TB) ([]byte, *Decoder, *array.RecordBuilder) {
	w := avrotest.MustParse(tb, benchSchema)
	sc, b := schematest.NewTarget(tb, w)
	d, err := NewDecoder(w, sc)
	if err != nil {
		tb.Fatal(err)
	}
	p := avrotest.MustMarshal(tb, w, benchOrder{
		ID: 9_876_543_210, User: "user-000000012345678", Email: "someone.special@example.com",
		Amount: big.NewRat(1234599, 100), TS: time.UnixMilli(1_700_000_000_000).UTC(), Country: "JP",
		Tags:  []string{"priority", "gift-wrap", "express"},
		Note:  avrotest.Ptr("leave the parcel at the back door, next to the blue bin please"),
		Score: 0.8125, UID: "123e4567-e89b-12d3-a456-426614174000",
		Device: benchDevice{OS: "android", Version: "14.0.2-build.8812"},
	})
	return p, d, b
}

// flushEvery bounds builder memory in benchmarks the way ingestion does:
// it cuts a batch and releases it.
const flushEvery = 8192

func BenchmarkDecode(b *testing.B) {
	p, d, rb := benchPayload(b)
	meta := &schema.Meta{Topic: "orders", Partition: 7, Timestamp: time.Unix(1_700_000_000, 0), Key: []byte("key-1"), IngestedAt: time.Unix(1_700_000_001, 0)}
	b.Run("decode+meta", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(p)))
		for i := 0; b.Loop(); i++ {
			if err := d.Decode(p, rb); err != nil {
				b.Fatal(err)
			}
			meta.Offset = int64(i)
			schema.AppendMeta(rb, meta)
			if i%flushEvery == flushEvery-1 {
				schema.NewRecordBatch(rb).Release()
			}
		}
	})
	// The validating pass alone: the price of all-or-nothing.
	b.Run("validate-only", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			r := avrobin.Reader{B: p}
			if err := d.check(d.root, &r, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("malformed", func(b *testing.B) {
		bad := p[:len(p)/2]
		b.ReportAllocs()
		for b.Loop() {
			if err := d.Decode(bad, rb); !errors.Is(err, schema.ErrMalformed) {
				b.Fatal(err)
			}
		}
	})
}

func TestDecodeSteadyStateAllocs(t *testing.T) {
	p, d, rb := benchPayload(t)
	meta := &schema.Meta{Topic: "orders", Key: []byte("k")}
	// Warm the builders so their buffers have grown past what one run adds.
	for range 64 {
		if err := d.Decode(p, rb); err != nil {
			t.Fatal(err)
		}
		schema.AppendMeta(rb, meta)
	}
	rb.NewRecordBatch().Release()
	rb.Reserve(2048)
	for range 1024 {
		if err := d.Decode(p, rb); err != nil {
			t.Fatal(err)
		}
		schema.AppendMeta(rb, meta)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if err := d.Decode(p, rb); err != nil {
			t.Fatal(err)
		}
		schema.AppendMeta(rb, meta)
	})
	if allocs != 0 {
		t.Errorf("Decode+AppendMeta allocates %.2f times per record, want 0", allocs)
	}
	t.Logf("payload %d bytes", len(p))
}
