package bench

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/bigfather/bigfather/ingest/transform"
)

// The small and wide workloads are encoded by hand, field by field, rather
// than through reflection: generating hundreds of thousands of records
// before timing starts should take a fraction of the run, not dominate it.
// Their schemas are built from the same field lists the encoders walk, and
// a test decodes the output with hamba/avro against the registered text.

// fieldKind is an Avro field type the hand encoder can write.
type fieldKind uint8

const (
	kindLong fieldKind = iota
	kindInt
	kindDouble
	kindBool
	kindString
	kindUUID        // string, logicalType uuid
	kindTimestampMs // long, logicalType timestamp-millis
	kindTimestampUs // long, logicalType timestamp-micros
	kindEnum        // an enum over fieldSpec.symbols
	kindNullString  // ["null", "string"]
	kindNullDouble  // ["null", "double"]
)

// fieldSpec is one field of a generated record schema.
type fieldSpec struct {
	name    string
	kind    fieldKind
	symbols []string // kindEnum
	doc     string
}

// recordSchema renders the Avro schema text of a record of fields.
func recordSchema(name, namespace, doc string, fields []fieldSpec) string {
	type jfield struct {
		Name    string `json:"name"`
		Type    any    `json:"type"`
		Default any    `json:"default,omitempty"`
		Doc     string `json:"doc,omitempty"`
	}
	nullDefault := json.RawMessage("null")
	out := make([]jfield, 0, len(fields))
	for _, f := range fields {
		jf := jfield{Name: f.name, Doc: f.doc}
		switch f.kind {
		case kindLong:
			jf.Type = "long"
		case kindInt:
			jf.Type = "int"
		case kindDouble:
			jf.Type = "double"
		case kindBool:
			jf.Type = "boolean"
		case kindString:
			jf.Type = "string"
		case kindUUID:
			jf.Type = map[string]string{"type": "string", "logicalType": "uuid"}
		case kindTimestampMs:
			jf.Type = map[string]string{"type": "long", "logicalType": "timestamp-millis"}
		case kindTimestampUs:
			jf.Type = map[string]string{"type": "long", "logicalType": "timestamp-micros"}
		case kindEnum:
			jf.Type = map[string]any{"type": "enum", "name": enumName(f.name), "symbols": f.symbols}
		case kindNullString:
			jf.Type, jf.Default = []any{"null", "string"}, nullDefault
		case kindNullDouble:
			jf.Type, jf.Default = []any{"null", "double"}, nullDefault
		}
		out = append(out, jf)
	}
	b, err := json.Marshal(map[string]any{"type": "record", "name": name, "namespace": namespace, "doc": doc, "fields": out})
	if err != nil {
		// Only maps, slices and strings above: Marshal cannot fail.
		return ""
	}
	return string(b)
}

// enumName turns a field name like event_type into EventType.
func enumName(field string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(field, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// Avro binary primitives (https://avro.apache.org/docs/1.11.1/specification/#binary-encoding).

func appendString(dst []byte, s string) []byte {
	return append(transform.AppendAvroLong(dst, int64(len(s))), s...)
}

func appendBytesAsString(dst, s []byte) []byte {
	return append(transform.AppendAvroLong(dst, int64(len(s))), s...)
}

func appendDouble(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendUUID appends a random version-4 UUID in its 36-character text form.
func appendUUID(dst []byte, r *rand.Rand) []byte {
	var id [16]byte
	binary.LittleEndian.PutUint64(id[:8], r.Uint64())
	binary.LittleEndian.PutUint64(id[8:], r.Uint64())
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexd[c>>4], hexd[c&0xf]
		j += 2
	}
	return appendBytesAsString(dst, s[:])
}

// words is the vocabulary generated text draws from: real-looking text
// that compresses like text, neither random bytes nor one repeated value.
var words = strings.Fields(`alpha amber anchor apple arch arrow aspen atlas autumn badge baker
bamboo banner basil beacon birch blade bloom border breeze bridge bronze brook cactus
canal candle canyon carbon cedar chalk charm cherry cider cinder citrus clay cliff clover
cobalt comet copper coral cotton crane crystal cypress dawn delta desert dune eagle ember
falcon fern field flint forest fossil frost garnet glacier granite harbor hazel heron
indigo island ivory jade jasper juniper kettle lagoon lantern lava lemon linen lotus maple
marble meadow mesa mint mist moss nectar north oak ocean olive onyx orchid pearl pebble
pepper pine plum prairie quartz raven reef ridge river robin ruby sage sand sapphire shadow
shore silver slate snow sparrow spruce stone summit thistle thunder timber topaz tulip
valley velvet violet walnut willow winter zephyr`)

// appendWords appends n words separated by sep, as an Avro string.
func appendWords(dst []byte, r *rand.Rand, n int, sep byte, scratch []byte) ([]byte, []byte) {
	scratch = scratch[:0]
	for i := range n {
		if i > 0 {
			scratch = append(scratch, sep)
		}
		scratch = append(scratch, words[r.IntN(len(words))]...)
	}
	return appendBytesAsString(dst, scratch), scratch
}

// appendDigits appends v as decimal text to an Avro string body built in
// scratch by the caller.
func appendDigits(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }
