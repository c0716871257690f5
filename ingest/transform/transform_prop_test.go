package transform

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrotest"
)

// eventSchema is the writer of the property and fuzz tests: no decimals or
// uuids, whose content only the table decoder checks, so that every output
// Apply accepts must decode.
const eventSchema = `{"type": "record", "name": "Event", "namespace": "test.prop", "fields": [
  {"name": "id", "type": "long"},
  {"name": "name", "type": "string"},
  {"name": "note", "type": ["null", "string"]},
  {"name": "count", "type": "int"},
  {"name": "amount", "type": "double"},
  {"name": "flag", "type": "boolean"},
  {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "props", "type": {"type": "map", "values": ["null", "long"]}},
  {"name": "when", "type": ["null", "string"]},
  {"name": "email", "type": ["null", "string"]},
  {"name": "user", "type": {"type": "record", "name": "User", "fields": [
    {"name": "uname", "type": "string"},
    {"name": "age", "type": ["null", "int"]},
    {"name": "addr", "type": ["null", {"type": "record", "name": "Addr", "fields": [
      {"name": "city", "type": "string"},
      {"name": "zip", "type": ["null", "string"]}]}]}]}},
  {"name": "blob", "type": "bytes"},
  {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-micros"}}
]}`

var propKey = []byte("property-key")

// propChain names name, count, email, note, when, user and kind; id,
// amount, flag, tags, props, blob and seen it must leave as they are.
func propChain() []Transform {
	return []Transform{
		{Op: OpRename, Renames: map[string]string{"name": "title"}},
		{Op: OpTrim, Columns: []string{"title"}},
		{Op: OpCast, Columns: []string{"count"}, To: "string"},
		{Op: OpHash, Columns: []string{"email"}, Key: propKey},
		{Op: OpMask, Columns: []string{"note"}, KeepLast: 2},
		{Op: OpParseTimestamp, Columns: []string{"when"}, Formats: []string{"rfc3339", "unix_millis"}},
		{Op: OpDefault, Columns: []string{"when"}, From: "kafka_timestamp"},
		{Op: OpFlatten, Columns: []string{"user"}},
		{Op: OpLower, Columns: []string{"kind"}},
		{Op: OpDerive, Column: "title_len", Type: "long", Expr: "size(value.title)"},
	}
}

// runes to draw strings from: ASCII, white space of several kinds,
// accents, combining marks, CJK, Hangul, emoji and NUL.
var propRunes = []rune("aZ09 _-.@\t\n\u00a0\u2003\u3000éÉßǅΣσ\u0301中文한국어🎵😀\x00")

func randString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteRune(propRunes[r.IntN(len(propRunes))])
	}
	return b.String()
}

func randNullable[T any](r *rand.Rand, v T) any {
	if r.IntN(4) == 0 {
		return nil
	}
	return v
}

// randEvent makes a record of eventSchema; when is a valid timestamp (as
// RFC 3339 at some offset, or unix millis) or null.
func randEvent(r *rand.Rand) map[string]any {
	when := time.UnixMicro(r.Int64N(4_000_000_000_000_000) - 1_000_000_000_000_000)
	var whenText string
	if r.IntN(2) == 0 {
		whenText = when.In(time.FixedZone("", (r.IntN(48)-24)*1800)).Format(time.RFC3339Nano)
	} else {
		whenText = strconv.FormatInt(when.UnixMilli(), 10)
	}
	var addr any
	if r.IntN(3) > 0 {
		addr = map[string]any{"test.prop.Addr": map[string]any{"city": randString(r), "zip": randNullable(r, randString(r))}}
	}
	tags := []any{}
	for range r.IntN(4) {
		tags = append(tags, randString(r))
	}
	props := map[string]any{}
	for range r.IntN(3) {
		props[randString(r)] = randNullable(r, r.Int64())
	}
	blob := make([]byte, r.IntN(6))
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	return map[string]any{
		"id": r.Int64() - r.Int64(), "name": randString(r), "note": randNullable(r, randString(r)),
		"count": int(r.Int32()) - int(r.Int32()), "amount": r.NormFloat64() * 1e6, "flag": r.IntN(2) == 0,
		"kind": []string{"A", "B", "C"}[r.IntN(3)], "tags": tags, "props": props,
		"when": randNullable(r, whenText), "email": randNullable(r, randString(r)),
		"user": map[string]any{"uname": randString(r), "age": randNullable(r, int(r.Int32())), "addr": addr},
		"blob": blob, "seen": time.UnixMicro(r.Int64N(1 << 52)).UTC(),
	}
}

// TestTransformProperties applies a chain to many generated records: the
// same record always gives the same bytes, from one program or another;
// fields no step names pass through unchanged; and the named ones hold
// what an independent computation says.
func TestTransformProperties(t *testing.T) {
	w := avrotest.MustParse(t, eventSchema)
	p := mustProgram(t, w, propChain()...)
	other := mustProgram(t, w, propChain()...)
	r := rand.New(rand.NewPCG(1, 2))
	untouched := []string{"id", "amount", "flag", "tags", "props", "blob", "seen"}
	var buf []byte
	for i := range 3000 {
		rec := randEvent(r)
		payload := avrotest.MustMarshal(t, w, rec)
		var in map[string]any
		if err := avro.Unmarshal(w, payload, &in); err != nil {
			t.Fatal(err)
		}
		out, keep, err := p.Apply(buf[:0], payload, testMeta, nil)
		if err != nil || !keep {
			t.Fatalf("record %d: keep = %v, err = %v\n%v", i, keep, err, rec)
		}
		again, _, _ := p.Apply(nil, payload, testMeta, nil)
		fresh, _, _ := other.Apply(nil, payload, testMeta, nil)
		if !bytes.Equal(out, again) || !bytes.Equal(out, fresh) {
			t.Fatalf("record %d: outputs differ:\n%x\n%x\n%x", i, out, again, fresh)
		}
		buf = out
		m := decodeOutput(t, p, out)
		for _, k := range untouched {
			if !equalValue(m[k], in[k]) && !reflect.DeepEqual(m[k], in[k]) {
				t.Fatalf("record %d: %s = %#v, was %#v", i, k, m[k], in[k])
			}
		}
		checkPropNamed(t, i, in, m)
	}
}

// checkPropNamed checks the named fields against an independent model of
// each step.
func checkPropNamed(t *testing.T, i int, in, m map[string]any) {
	t.Helper()
	fail := func(k string, want any) { t.Fatalf("record %d: %s = %#v, want %#v (input %#v)", i, k, m[k], want, in) }
	title := strings.Join(strings.Fields(in["name"].(string)), " ")
	if m["title"] != title {
		fail("title", title)
	}
	if m["title_len"] != int64(utf8.RuneCountInString(title)) {
		fail("title_len", utf8.RuneCountInString(title))
	}
	if want := strconv.Itoa(in["count"].(int)); m["count"] != want {
		fail("count", want)
	}
	if e, ok := in["email"].(string); ok && m["email"] != hmacHex(propKey, e) || !ok && m["email"] != nil {
		fail("email", "its HMAC")
	}
	if n, ok := in["note"].(string); ok {
		rs := []rune(n)
		keep := min(len(rs), 2)
		if want := strings.Repeat("*", len(rs)-keep) + string(rs[len(rs)-keep:]); m["note"] != want {
			fail("note", want)
		}
	} else if m["note"] != nil {
		fail("note", nil)
	}
	want := testMeta.Timestamp
	if s, ok := in["when"].(string); ok {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			want = time.UnixMilli(ms)
		} else if want, err = time.Parse(time.RFC3339Nano, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := m["when"].(time.Time); !ok || !got.Equal(want.Truncate(time.Microsecond)) {
		fail("when", want)
	}
	if m["kind"] != strings.ToLower(in["kind"].(string)) {
		fail("kind", "lower case")
	}
	user := in["user"].(map[string]any)
	addr, _ := user["addr"].(map[string]any)
	if m["user_uname"] != user["uname"] || !reflect.DeepEqual(m["user_age"], user["age"]) {
		fail("user_uname", user)
	}
	if addr == nil {
		if m["user_addr_city"] != nil || m["user_addr_zip"] != nil {
			fail("user_addr_city", nil)
		}
	} else if a := addr["test.prop.Addr"].(map[string]any); m["user_addr_city"] != a["city"] || !reflect.DeepEqual(m["user_addr_zip"], a["zip"]) {
		fail("user_addr_city", a)
	}
}
