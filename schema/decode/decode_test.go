package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/schematest"
)

func TestDecodeRoundTrip(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	sc, b := schematest.NewTarget(t, w)
	d, err := NewDecoder(w, sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMicro(1_700_000_000_000_001).UTC()
	ingested := time.UnixMicro(1_800_000_000_000_002).UTC()
	metas := []schema.Meta{
		{Topic: "orders", Partition: 3, Offset: 99, Timestamp: ts, Key: []byte("k1"), IngestedAt: ingested},
		{Topic: "orders", Partition: 4, Offset: 100, Timestamp: ts, Key: nil, IngestedAt: ingested},
	}
	for i, ev := range []avrotest.RichEvent{avrotest.FullEvent(), avrotest.SparseEvent()} {
		if err := d.Decode(avrotest.MustMarshal(t, w, ev), b); err != nil {
			t.Fatalf("decode event %d: %v", i, err)
		}
		schema.AppendMeta(b, &metas[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if rec.NumRows() != 2 {
		t.Fatalf("rows = %d, want 2", rec.NumRows())
	}

	// Values as Arrow renders them (ValueStr): binary is base64, decimals
	// apply the scale, times and timestamps are in microseconds.
	want := []struct{ col, full, sparse string }{
		{"id", "1099511627776", "0"},
		{"name", "héllo", ""},
		{"age", "-42", "0"},
		{"score", "1.5", "0"},
		{"ratio", "-2.25", "0"},
		{"active", "true", "false"},
		{"blob", "AAEC/w==", ""},
		{"hash", "CQgHBg==", "AAAAAA=="},
		{"color", "BLUE", "RED"},
		{"uid", "123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000"},
		{"day", "2024-02-29", "1970-01-01"},
		{"tmillis", "13:00:01.234000", "00:00:00.000000"},
		{"tmicros", "05:00:01.234567", "00:00:00.000000"},
		{"tsmillis", "2023-11-14T22:13:20.123Z", "1970-01-01T00:00:00Z"},
		{"tsmicros", "2023-11-14T22:13:20.123456Z", "1970-01-01T00:00:00Z"},
		{"ltsmillis", "1969-12-31T23:43:19.999", "1970-01-01T00:00:00"},
		{"ltsmicros", "1970-01-01T00:00:00.000042", "1970-01-01T00:00:00"},
		{"price", "-123.45", "0"},
		{"amount", "98765.4321", "-0.0001"},
		{"nick", "nicky", array.NullValueStr},
		{"maybe_age", "7", array.NullValueStr},
		{"address", `{"street":"Main St","zip":12345}`, `{"street":"","zip":null}`},
		{"maybe_addr", `{"street":"Side St","zip":null}`, array.NullValueStr},
		{"tags", `["a","","ccc"]`, "[]"},
		{"scores", "[5,null,-6]", "[]"},
		{"attrs", `[{"key":"k","value":"v"}]`, "[]"},
		{"series", `[{"key":"s","value":[1,2,3]}]`, "[]"},
		{"items", `[{"qty":1,"sku":"x"},{"qty":2,"sku":"y"}]`, "[]"},
		{schema.ColKafkaTopic, "orders", "orders"},
		{schema.ColKafkaPartition, "3", "4"},
		{schema.ColKafkaOffset, "99", "100"},
		{schema.ColKafkaTimestamp, "2023-11-14T22:13:20.000001Z", "2023-11-14T22:13:20.000001Z"},
		{schema.ColKafkaKey, "azE=", array.NullValueStr},
		{schema.ColIngestedAt, "2027-01-15T08:00:00.000002Z", "2027-01-15T08:00:00.000002Z"},
	}
	if len(want) != int(rec.NumCols()) {
		t.Fatalf("table has %d columns, test checks %d", rec.NumCols(), len(want))
	}
	for i, w := range want {
		if got := rec.ColumnName(i); got != w.col {
			t.Fatalf("column %d = %q, want %q", i, got, w.col)
		}
		col := rec.Column(i)
		if got := col.ValueStr(0); got != w.full {
			t.Errorf("%s[full] = %s, want %s", w.col, got, w.full)
		}
		if got := col.ValueStr(1); got != w.sparse {
			t.Errorf("%s[sparse] = %s, want %s", w.col, got, w.sparse)
		}
	}
	// Exact binary values, beyond their rendering.
	if got := rec.Column(6).(*array.Binary).Value(0); !bytes.Equal(got, []byte{0, 1, 2, 255}) {
		t.Errorf("blob = %v", got)
	}
	if got := rec.Column(17).(*array.Decimal128).Value(0); got.LowBits() != uint64(1<<64-12345) || got.HighBits() != -1 {
		t.Errorf("price = %v, want -12345 unscaled", got)
	}
}

func TestDecodeRebindsNewBuilder(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	sc, b1 := schematest.NewTarget(t, w)
	d, err := NewDecoder(w, sc)
	if err != nil {
		t.Fatal(err)
	}
	p := avrotest.MustMarshal(t, w, avrotest.FullEvent())
	if err := d.Decode(p, b1); err != nil {
		t.Fatal(err)
	}
	b2 := schematest.NewBuilder(t, sc)
	for range 2 {
		if err := d.Decode(p, b2); err != nil {
			t.Fatal(err)
		}
	}
	if got := b1.Field(0).Len(); got != 1 {
		t.Errorf("first builder id len = %d, want 1", got)
	}
	if got := b2.Field(0).Len(); got != 2 {
		t.Errorf("second builder id len = %d, want 2", got)
	}
}

func TestDecodeResolution(t *testing.T) {
	tableAvro := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"a","type":"long"},
		{"name":"f","type":"double"},
		{"name":"added","type":["null","string"]},
		{"name":"rec","type":{"type":"record","name":"S","fields":[
			{"name":"x","type":"int"},
			{"name":"y","type":["null","string"]}]}}]}`)
	target, err := schema.ToIceberg(tableAvro)
	if err != nil {
		t.Fatal(err)
	}
	// The writer is older (lacks "added" and rec.y), narrower (int, float)
	// and carries fields the table dropped, of types the table could not
	// even hold (a multi-type union, a recursive record).
	writer := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"dropped_union","type":["null","string","int"]},
		{"name":"a","type":"int"},
		{"name":"dropped_map","type":{"type":"map","values":{"type":"array","items":"string"}}},
		{"name":"f","type":"float"},
		{"name":"rec","type":{"type":"record","name":"S","fields":[
			{"name":"gone","type":"string"},
			{"name":"x","type":"int"}]}},
		{"name":"chain","type":{"type":"record","name":"Node","fields":[
			{"name":"next","type":["null","Node"]}]}}]}`)
	d, err := NewDecoder(writer, target)
	if err != nil {
		t.Fatal(err)
	}
	b := schematest.NewBuilder(t, target)
	type node struct {
		Next *node `avro:"next"`
	}
	type s struct {
		Gone string `avro:"gone"`
		X    int    `avro:"x"`
	}
	type rec struct {
		DroppedUnion any                 `avro:"dropped_union"`
		A            int                 `avro:"a"`
		DroppedMap   map[string][]string `avro:"dropped_map"`
		F            float32             `avro:"f"`
		Rec          s                   `avro:"rec"`
		Chain        node                `avro:"chain"`
	}
	p := avrotest.MustMarshal(t, writer, rec{
		DroppedUnion: 17, A: -5, DroppedMap: map[string][]string{"k": {"v1", "v2"}}, F: 0.5,
		Rec: s{Gone: "bye", X: 9}, Chain: node{Next: &node{Next: &node{}}},
	})
	if err := d.Decode(p, b); err != nil {
		t.Fatal(err)
	}
	schema.AppendMeta(b, &schema.Meta{Topic: "t"})
	r := b.NewRecordBatch()
	defer r.Release()
	want := map[string]string{
		"a":     "-5",
		"f":     "0.5",
		"added": array.NullValueStr,
		"rec":   `{"x":9,"y":null}`,
	}
	for name, w := range want {
		idx := r.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("column %q missing", name)
		}
		if got := r.Column(idx[0]).ValueStr(0); got != w {
			t.Errorf("%s = %s, want %s", name, got, w)
		}
	}
	if dt := r.Column(0).DataType(); dt.ID() != arrow.INT64 {
		t.Errorf("a promoted to %s, want int64", dt)
	}
}

func TestNewDecoderErrors(t *testing.T) {
	table := func(fields ...iceberg.NestedField) *iceberg.Schema { return iceberg.NewSchema(0, fields...) }
	cases := []struct {
		name, writer string
		target       *iceberg.Schema
		wantErr      string
	}{
		{
			name:    "required column missing from writer",
			writer:  `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`,
			target:  table(iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.PrimitiveTypes.Int32, Required: true}, iceberg.NestedField{ID: 2, Name: "b", Type: iceberg.PrimitiveTypes.String, Required: true}),
			wantErr: `field "b": table column is required`,
		},
		{
			name:    "narrowing long to int",
			writer:  `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`,
			target:  table(iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.PrimitiveTypes.Int32, Required: true}),
			wantErr: `field "a": writer type long cannot be read as table type int`,
		},
		{
			name:    "decimal scale change",
			writer:  `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}`,
			target:  table(iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.DecimalTypeOf(12, 3), Required: true}),
			wantErr: `field "a": writer type bytes cannot be read as table type decimal(12, 3)`,
		},
		{
			name:    "multi-type union bound to a column",
			writer:  `{"type":"record","name":"R","fields":[{"name":"a","type":["string","int"]}]}`,
			target:  table(iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.PrimitiveTypes.String}),
			wantErr: `field "a": union of several non-null types [string int] is not supported`,
		},
		{
			name:    "record where table has string",
			writer:  `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"S","fields":[]}}]}`,
			target:  table(iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.PrimitiveTypes.String}),
			wantErr: `field "a": writer type S cannot be read as table type string`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder(avrotest.MustParse(t, tc.writer), tc.target)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeDecimalWidening(t *testing.T) {
	w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}`)
	target := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "a", Type: iceberg.DecimalTypeOf(20, 2), Required: true})
	d, err := NewDecoder(w, target)
	if err != nil {
		t.Fatal(err)
	}
	b := schematest.NewBuilder(t, target)
	// 0x00 0x00 0xff 0x85: a sign-padded -123 in two's complement.
	if err := d.Decode([]byte{8, 0xff, 0xff, 0xff, 0x85}, b); err != nil {
		t.Fatal(err)
	}
	if got := b.Field(0).(*array.Decimal128Builder).NewArray().ValueStr(0); got != "-1.23" {
		t.Errorf("decimal = %s, want -1.23", got)
	}
}

// malformedCases are payloads for richSchema-like writers that must be
// rejected, with the field the error must name.
func TestDecodeMalformed(t *testing.T) {
	type tc struct {
		name, writer string
		target       *iceberg.Schema // nil: schema.ToIceberg(writer)
		payload      []byte
		wantPath     string
	}
	reqString := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "s", Type: iceberg.PrimitiveTypes.String, Required: true})
	chain := `{"type":"record","name":"R","fields":[{"name":"id","type":"int"},
		{"name":"chain","type":{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}}]}`
	idOnly := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int32, Required: true})
	deep := append([]byte{0}, bytes.Repeat([]byte{2}, 200)...)
	deep = append(deep, 0)
	shallow := append([]byte{0}, bytes.Repeat([]byte{2}, 20)...)
	shallow = append(shallow, 0)
	cases := []tc{
		{"empty", `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`, nil, nil, "a"},
		{"overlong varint", `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`, nil, bytes.Repeat([]byte{0xff}, 11), "a"},
		{"int out of range", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, "a"},
		{"negative length", `{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}`, nil, []byte{1}, "s"},
		{"length beyond payload", `{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}`, nil, []byte{0x80, 0x80, 0x80, 0x80, 0x08, 'a'}, "s"},
		{"invalid utf8", `{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}`, nil, []byte{2, 0xff}, "s"},
		{"bad union index", `{"type":"record","name":"R","fields":[{"name":"s","type":["null","string"]}]}`, nil, []byte{4}, "s"},
		{"bad enum index", `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]}`, nil, []byte{2}, "e"},
		{"bad boolean", `{"type":"record","name":"R","fields":[{"name":"b","type":"boolean"}]}`, nil, []byte{2}, "b"},
		{"null in required column", `{"type":"record","name":"R","fields":[{"name":"s","type":["null","string"]}]}`, reqString, []byte{0}, "s"},
		{"bad uuid", `{"type":"record","name":"R","fields":[{"name":"u","type":{"type":"string","logicalType":"uuid"}}]}`, nil, append([]byte{72}, "123e4567-e89b-12d3-a456-42661417400z"...), "u"},
		{"decimal beyond precision", `{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":2,"scale":0}}]}`, nil, []byte{4, 0x01, 0x00}, "d"},
		{"decimal beyond 128 bits", `{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":0}}]}`, nil, append([]byte{34, 0x01}, make([]byte, 16)...), "d"},
		{"timestamp overflow", `{"type":"record","name":"R","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]}`, nil, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "t"},
		{"array count beyond payload", `{"type":"record","name":"R","fields":[{"name":"l","type":{"type":"array","items":"long"}}]}`, nil, []byte{0x80, 0x80, 0x04, 0}, "l"},
		{"array too short for its count", `{"type":"record","name":"R","fields":[{"name":"l","type":{"type":"array","items":"double"}}]}`, nil, []byte{2, 1, 2, 3}, "l"},
		{"array item truncated", `{"type":"record","name":"R","fields":[{"name":"l","type":{"type":"array","items":"string"}}]}`, nil, []byte{2, 10, 'a', 'b'}, "l.element"},
		{"map key invalid utf8", `{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"int"}}]}`, nil, []byte{2, 2, 0xc0, 0, 0}, "m.key"},
		{"skipped field nests too deep", chain, idOnly, deep, "chain.next"},
		{"zero-size items beyond the budget", `{"type":"record","name":"R","fields":[{"name":"id","type":"int"},{"name":"junk","type":{"type":"array","items":"null"}}]}`,
			idOnly, zeroSizeBomb(), "junk"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := avrotest.MustParse(t, c.writer)
			target := c.target
			if target == nil {
				var err error
				if target, err = schema.ToIceberg(w); err != nil {
					t.Fatal(err)
				}
			}
			d, err := NewDecoder(w, target)
			if err != nil {
				t.Fatal(err)
			}
			b := schematest.NewBuilder(t, target)
			before := avrotest.Lengths(b)
			err = d.Decode(c.payload, b)
			if !errors.Is(err, schema.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), `field "`+c.wantPath+`"`) {
				t.Errorf("err = %v, want it to name field %q", err, c.wantPath)
			}
			if after := avrotest.Lengths(b); !equalInts(before, after) {
				t.Errorf("builder lengths changed from %v to %v", before, after)
			}
		})
	}
	// The same recursive writer within the depth limit decodes.
	d, err := NewDecoder(avrotest.MustParse(t, chain), idOnly)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(shallow, schematest.NewBuilder(t, idOnly)); err != nil {
		t.Errorf("shallow chain: %v", err)
	}
}

// TestDecodeTruncatedIsAllOrNothing cuts a rich payload at every length:
// each cut must fail as malformed without touching any builder, and the
// builder must still take a whole record afterwards.
func TestDecodeTruncatedIsAllOrNothing(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	sc, b := schematest.NewTarget(t, w)
	d, err := NewDecoder(w, sc)
	if err != nil {
		t.Fatal(err)
	}
	full := avrotest.MustMarshal(t, w, avrotest.FullEvent())
	before := avrotest.Lengths(b)
	for n := range len(full) {
		err := d.Decode(full[:n], b)
		if !errors.Is(err, schema.ErrMalformed) {
			t.Fatalf("cut at %d/%d: err = %v, want ErrMalformed", n, len(full), err)
		}
		if after := avrotest.Lengths(b); !equalInts(before, after) {
			t.Fatalf("cut at %d: builder lengths changed from %v to %v", n, before, after)
		}
	}
	if err := d.Decode(full, b); err != nil {
		t.Fatalf("whole record: %v", err)
	}
	schema.AppendMeta(b, &schema.Meta{Topic: "t"})
	r := b.NewRecordBatch()
	defer r.Release()
	if r.NumRows() != 1 {
		t.Fatalf("rows = %d, want 1", r.NumRows())
	}
}

// TestDecodeTrailingBytes: bytes after a whole record mean the payload is
// not what its schema says (a wrong schema id, two records glued together),
// so Decode and Check both reject it as malformed, naming the trailing
// bytes, and no builder is touched.
func TestDecodeTrailingBytes(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	sc, b := schematest.NewTarget(t, w)
	d, err := NewDecoder(w, sc)
	if err != nil {
		t.Fatal(err)
	}
	full := avrotest.MustMarshal(t, w, avrotest.FullEvent())
	for _, extra := range [][]byte{{0}, {0xde, 0xad}, full} {
		payload := append(append([]byte(nil), full...), extra...)
		before := avrotest.Lengths(b)
		err := d.Decode(payload, b)
		if !errors.Is(err, schema.ErrMalformed) || !strings.Contains(err.Error(), "trailing bytes") {
			t.Fatalf("Decode with %d trailing bytes: err = %v, want ErrMalformed naming trailing bytes", len(extra), err)
		}
		if after := avrotest.Lengths(b); !equalInts(before, after) {
			t.Fatalf("builder lengths changed from %v to %v", before, after)
		}
		if err := d.Check(payload); !errors.Is(err, schema.ErrMalformed) || !strings.Contains(err.Error(), "trailing bytes") {
			t.Fatalf("Check with %d trailing bytes: err = %v, want ErrMalformed naming trailing bytes", len(extra), err)
		}
	}
	if err := d.Check(full); err != nil {
		t.Fatalf("Check of the whole record: %v", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// zeroSizeBomb is id 0, then an array of nulls in 6000 blocks of 4000
// items each, then padding (bytes after a record are ignored) so that every
// block's count passes the bytes-left check: valid Avro of 20 KB that
// describes 24 million items, which the validating pass must refuse
// instead of stepping through.
func zeroSizeBomb() []byte {
	p := []byte{0}
	for range 6000 {
		p = binary.AppendVarint(p, 4000)
	}
	p = append(p, 0)
	return append(p, make([]byte, 8000)...)
}
