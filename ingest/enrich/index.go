package enrich

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/transform"
)

// index is one immutable load of the reference data. All keys share one
// string and all encoded rows one byte arena, so a million rows are a
// handful of heap objects for the garbage collector instead of two
// million (see BenchmarkGCWithIndex).
type index struct {
	m     map[string]span // key → its row's encoded fields in vals
	vals  []byte
	types []colType // the resolved type of each added column

	rows, bytes, dups, nullKeys int64
	dupExample                  string
	loadedAt                    time.Time
	version                     string // the data's version, where the source has one
}

type span struct{ off, end uint32 }

// mapBytes approximates the memory of a map[string]span made with hint:
// Go's swiss tables keep at most 7/8 of their slots full and grow in
// powers of two, and each slot is a string header and a span plus a
// control byte. Within 10% of the heap growth measured for 10k–1M rows.
func mapBytes(hint int) int64 {
	if hint == 0 {
		return 0
	}
	slots := 8
	for slots*7/8 < hint {
		slots *= 2
	}
	return int64(slots) * (16 + 8 + 1)
}

// builder accumulates rows: each row appends its key parts, then one
// encoded value per added column, then ends.
type builder struct {
	key   transform.LookupKeyBuilder // key.Key: every row's key, end to end
	kEnds []int                      // end of each indexed row's key in key.Key
	vals  []byte
	vEnds []int // end of each indexed row's fields in vals

	rowK, rowV int // where the current row started
	nullKey    bool
	nullKeys   int64
}

// The key parts of a row, in the format an enrich step looks up
// (transform.LookupKeyBuilder).
func (b *builder) keyString(s string) { b.key.String(s) }
func (b *builder) keyBytes(s []byte)  { b.key.Text(s) }
func (b *builder) keyInt(v int64)     { b.key.Int(v) }
func (b *builder) keyUint(v uint64)   { b.key.Uint(v) }
func (b *builder) keyBool(v bool)     { b.key.Bool(v) }
func (b *builder) keyNull()           { b.key.Null(); b.nullKey = true }

// Avro binary of a ["null", T] union: the branch index as a zig-zag long
// (0 → 0x00, 1 → 0x02), then the value.

func (b *builder) null()        { b.vals = append(b.vals, 0) }
func (b *builder) long(v int64) { b.vals = transform.AppendAvroLong(append(b.vals, 2), v) }
func (b *builder) float(v float32) {
	b.vals = binary.LittleEndian.AppendUint32(append(b.vals, 2), math.Float32bits(v))
}
func (b *builder) double(v float64) {
	b.vals = binary.LittleEndian.AppendUint64(append(b.vals, 2), math.Float64bits(v))
}

func (b *builder) boolean(v bool) {
	c := byte(0)
	if v {
		c = 1
	}
	b.vals = append(b.vals, 2, c)
}

func (b *builder) str(s string) {
	b.vals = append(transform.AppendAvroLong(append(b.vals, 2), int64(len(s))), s...)
}

func (b *builder) strBytes(s []byte) {
	b.vals = append(transform.AppendAvroLong(append(b.vals, 2), int64(len(s))), s...)
}

// endRow indexes the current row, or drops it if a key column was null.
func (b *builder) endRow() {
	if b.nullKey {
		b.key.Key, b.vals = b.key.Key[:b.rowK], b.vals[:b.rowV]
		b.nullKeys++
	} else {
		b.kEnds = append(b.kEnds, len(b.key.Key))
		b.vEnds = append(b.vEnds, len(b.vals))
	}
	b.key.Reset(b.key.Key)
	b.rowK, b.rowV, b.nullKey = len(b.key.Key), len(b.vals), false
}

// finish builds the index. Later rows win over earlier ones with the same
// key; the earlier rows' bytes stay in the arenas unreferenced.
func (b *builder) finish(types []colType, version string) (*index, error) {
	if len(b.vals) > math.MaxUint32 {
		return nil, fmt.Errorf("encoded reference data is %d bytes, above the 4 GiB an index holds", len(b.vals))
	}
	all := string(b.key.Key) // one allocation; every map key is a substring of it
	idx := &index{
		m:        make(map[string]span, len(b.kEnds)),
		vals:     bytes.Clone(b.vals), // drop append's spare capacity
		types:    types,
		nullKeys: b.nullKeys,
		version:  version,
	}
	ks, vs := 0, 0
	for i, ke := range b.kEnds {
		k, ve := all[ks:ke], b.vEnds[i]
		if _, dup := idx.m[k]; dup {
			idx.dups++
			if idx.dupExample == "" {
				idx.dupExample = k
			}
		}
		idx.m[k] = span{off: uint32(vs), end: uint32(ve)}
		ks, vs = ke, ve
	}
	idx.rows = int64(len(idx.m))
	idx.bytes = int64(len(all)) + int64(len(idx.vals)) + mapBytes(len(b.kEnds))
	return idx, nil
}

// text appends a CSV field converted to t. An empty field is null.
func (b *builder) text(t colType, s string) error {
	if s == "" {
		b.null()
		return nil
	}
	if t == typeString {
		b.str(s)
		return nil
	}
	n := strings.TrimSpace(s)
	var err error
	switch t {
	case typeInt, typeLong:
		var v int64
		if v, err = strconv.ParseInt(n, 10, intBits(t)); err == nil {
			b.long(v)
		}
	case typeFloat:
		var v float64
		if v, err = strconv.ParseFloat(n, 32); err == nil {
			b.float(float32(v))
		}
	case typeDouble:
		var v float64
		if v, err = strconv.ParseFloat(n, 64); err == nil {
			b.double(v)
		}
	case typeBoolean:
		var v bool
		if v, err = strconv.ParseBool(n); err == nil {
			b.boolean(v)
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not a valid %s", s, t)
	}
	return nil
}

// keyText appends a CSV key field canonicalised as t. An empty field is a
// null key.
func (b *builder) keyText(t colType, s string) error {
	if s == "" {
		b.keyNull()
		return nil
	}
	n := strings.TrimSpace(s)
	switch t {
	case typeInt, typeLong:
		v, err := strconv.ParseInt(n, 10, intBits(t))
		if err != nil {
			return fmt.Errorf("%q is not a valid %s", s, t)
		}
		b.keyInt(v)
	case typeBoolean:
		v, err := strconv.ParseBool(n)
		if err != nil {
			return fmt.Errorf("%q is not a valid %s", s, t)
		}
		b.keyBool(v)
	default:
		b.keyString(s)
	}
	return nil
}

func intBits(t colType) int {
	if t == typeInt {
		return 32
	}
	return 64
}

// avroFields are the ["null", T] fields of the added columns, with null
// defaults so that records gaining them stay readable by older schemas.
func avroFields(cols []column) ([]*avro.Field, error) {
	fields := make([]*avro.Field, 0, len(cols))
	for _, c := range cols {
		u, err := avro.NewUnionSchema([]avro.Schema{avro.NewNullSchema(), avro.NewPrimitiveSchema(avro.Type(c.typ.String()), nil)})
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		f, err := avro.NewField(c.as, u, avro.WithDefault(nil))
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		fields = append(fields, f)
	}
	return fields, nil
}
