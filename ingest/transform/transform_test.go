package transform

import (
	"bytes"
	"errors"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
)

// trackSchema is the writer schema of the transform tests: every type the
// ops handle, nullable and not, an enum, nested and nullable records.
const trackSchema = `{"type": "record", "name": "Track", "namespace": "test.music", "doc": "a track",
 "fields": [
  {"name": "id", "type": "long", "doc": "track id", "aliases": ["track_no"]},
  {"name": "title", "type": "string"},
  {"name": "year", "type": ["null", "string"], "default": null},
  {"name": "plays", "type": "int"},
  {"name": "score", "type": "double"},
  {"name": "ratio", "type": "float"},
  {"name": "explicit", "type": "boolean"},
  {"name": "genre", "type": {"type": "enum", "name": "Genre", "symbols": ["POP", "ROCK", "JAZZ"]}},
  {"name": "email", "type": ["null", "string"], "default": null},
  {"name": "released", "type": ["null", "string"], "default": null},
  {"name": "epoch", "type": ["null", "long"], "default": null},
  {"name": "event_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null},
  {"name": "day", "type": {"type": "int", "logicalType": "date"}},
  {"name": "blob", "type": "bytes"},
  {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
  {"name": "artist", "type": {"type": "record", "name": "Artist", "fields": [
    {"name": "name", "type": "string", "doc": "credited name"},
    {"name": "country", "type": ["null", "string"], "default": null},
    {"name": "label", "type": ["null", {"type": "record", "name": "Label", "fields": [
      {"name": "name", "type": "string"},
      {"name": "id", "type": "int"}]}], "default": null}]}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "attrs", "type": {"type": "map", "values": "string"}}
 ]}`

// baseTrack is a record of trackSchema with every nullable field set.
func baseTrack() map[string]any {
	return map[string]any{
		"id": int64(7), "title": "  Midnight \t Ferry  (Live) ", "year": "1999", "plays": 1200,
		"score": 4.5, "ratio": float32(0.25), "explicit": false, "genre": "ROCK",
		"email": "min.ji@example.com", "released": "2024-05-17T10:20:30.123456Z", "epoch": int64(1_700_000_000),
		"event_ts": time.UnixMilli(1_715_904_000_123).UTC(), "day": time.Date(2024, 5, 17, 0, 0, 0, 0, time.UTC),
		"blob": []byte("héllo"), "price": big.NewRat(-12345, 100),
		"artist": map[string]any{"name": "The Harbour Lights", "country": "KR",
			"label": map[string]any{"test.music.Label": map[string]any{"name": "Seaside", "id": 5}}},
		"tags": []any{"summer", "night"}, "attrs": map[string]any{"k": "v"},
	}
}

// track is baseTrack with some fields replaced.
func track(over map[string]any) map[string]any {
	m := baseTrack()
	maps.Copy(m, over)
	return m
}

var testMeta = &schema.Meta{Topic: "tracks", Partition: 3, Offset: 42, Timestamp: time.UnixMilli(1_730_000_000_456).UTC(), Key: []byte("k")}

func mustTransforms(t testing.TB, steps ...Transform) *Transforms {
	t.Helper()
	ts, err := CompileTransforms(steps)
	if err != nil {
		t.Fatalf("CompileTransforms: %v", err)
	}
	return ts
}

func mustProgram(t testing.TB, writer avro.Schema, steps ...Transform) *TransformProgram {
	t.Helper()
	p, err := mustTransforms(t, steps...).Bind(writer)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return p
}

// applyDecode applies p to rec, encoded under writer, and decodes the
// output with hamba/avro under p.Schema(), independently of the chain.
func applyDecode(t testing.TB, p *TransformProgram, writer avro.Schema, rec map[string]any) map[string]any {
	t.Helper()
	out, keep, err := p.Apply(nil, avrotest.MustMarshal(t, writer, rec), testMeta, nil)
	if err != nil || !keep {
		t.Fatalf("Apply: keep = %v, err = %v", keep, err)
	}
	return decodeOutput(t, p, out)
}

func decodeOutput(t testing.TB, p *TransformProgram, out []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := avro.Unmarshal(p.Schema(), out, &m); err != nil {
		t.Fatalf("decode the output under %s: %v", p.Schema(), err)
	}
	// The output must be exactly one record: re-encoding it gives the same
	// length (hamba/avro ignores trailing bytes).
	again, err := avro.Marshal(p.Schema(), m)
	if err != nil {
		t.Fatalf("re-encode the output: %v", err)
	}
	if len(again) != len(out) {
		t.Fatalf("the output is %d bytes, its record %d", len(out), len(again))
	}
	return m
}

func fieldNames(s avro.Schema) []string {
	var names []string
	for _, f := range s.(*avro.RecordSchema).Fields() {
		names = append(names, f.Name())
	}
	return names
}

// icebergTypes maps the output schema with schema.ToIceberg and returns each data
// column's type, with "?" appended to optional ones.
func icebergTypes(t testing.TB, s avro.Schema) map[string]string {
	t.Helper()
	sc, err := schema.ToIceberg(s)
	if err != nil {
		t.Fatalf("ToIceberg(%s): %v", s, err)
	}
	out := map[string]string{}
	for _, f := range sc.Fields() {
		typ := f.Type.String()
		if !f.Required {
			typ += "?"
		}
		out[f.Name] = typ
	}
	return out
}

// equalValue compares a decoded value with a wanted one; times by instant.
func equalValue(got, want any) bool {
	if wt, ok := want.(time.Time); ok {
		gt, ok := got.(time.Time)
		return ok && gt.Equal(wt)
	}
	return reflect.DeepEqual(got, want)
}

func TestCompileTransformsErrors(t *testing.T) {
	key := []byte("s3cr3t-hash-key")
	cases := []struct {
		name string
		step Transform
		want string
	}{
		{"unknown op", Transform{Op: "explode"}, `transform "explode" (step 0): unknown op "explode"`},
		{"empty op", Transform{}, `(step 0): op is empty`},
		{"parameter of another op", Transform{Op: OpDrop, Columns: []string{"a"}, To: "long"}, `to does not apply to drop`},
		{"no columns", Transform{Op: OpTrim}, `transform "trim" (step 0): columns is required`},
		{"column twice", Transform{Op: OpLower, Columns: []string{"a", "a"}}, `columns names "a" twice`},
		{"empty column", Transform{Op: OpLower, Columns: []string{""}}, `columns has an empty name`},
		{"bad cast target", Transform{Op: OpCast, Name: "year", Columns: []string{"a"}, To: "integer"},
			`transform "year" (step 0, cast): to "integer" is not one of string, int, long`},
		{"no renames", Transform{Op: OpRename}, `renames is required`},
		{"rename to an invalid name", Transform{Op: OpRename, Renames: map[string]string{"a": "b-c"}}, `renames "a" to "b-c", which is not a valid field name`},
		{"two renames to one name", Transform{Op: OpRename, Renames: map[string]string{"a": "c", "b": "c"}}, `renames both "a" and "b" to "c"`},
		{"default without value", Transform{Op: OpDefault, Columns: []string{"a"}}, `value or from is required`},
		{"default with both", Transform{Op: OpDefault, Columns: []string{"a"}, Value: 1, From: "kafka_timestamp"}, `value and from are exclusive`},
		{"default from elsewhere", Transform{Op: OpDefault, Columns: []string{"a"}, From: "wall_clock"}, `from "wall_clock" is not kafka_timestamp`},
		{"default of a composite value", Transform{Op: OpDefault, Columns: []string{"a"}, Value: []string{"x"}}, `value of type []string is not a string`},
		{"timestamp layout without a date", Transform{Op: OpParseTimestamp, Columns: []string{"a"}, Formats: []string{"YYYY-MM-DD"}}, `format "YYYY-MM-DD" is neither`},
		{"unknown zone", Transform{Op: OpParseTimestamp, Columns: []string{"a"}, Zone: "Mars/Olympus"}, `zone "Mars/Olympus"`},
		{"hash without key", Transform{Op: OpHash, Columns: []string{"a"}}, `key is required`},
		{"negative keep_last", Transform{Op: OpMask, Columns: []string{"a"}, KeepLast: -1}, `keep_last -1 is negative`},
		{"derive into an invalid name", Transform{Op: OpDerive, Column: "a b", Expr: "1", Type: "long"}, `column "a b" is not a valid field name`},
		{"derive type", Transform{Op: OpDerive, Column: "a", Expr: "1", Type: "int"}, `type "int" is not one of string, long`},
		{"derive syntax", Transform{Op: OpDerive, Column: "a", Expr: "value.x +", Type: "long"}, `(step 0): 1:10: Syntax error`},
		{"derive static type", Transform{Op: OpDerive, Column: "a", Expr: "'x' + topic", Type: "long"}, `expression type is string, want int (type long)`},
		{"derive empty expression", Transform{Op: OpDerive, Column: "a", Type: "long"}, `expression is empty`},
		{"filter not bool", Transform{Op: OpFilter, Expr: "value.x"}, `expression type is dyn, want bool (compare it`},
		{"filter bad regex", Transform{Op: OpFilter, Expr: "topic.matches('[')"}, `missing closing ]`},
		{"flatten separator", Transform{Op: OpFlatten, Separator: "."}, `separator "." has characters a field name cannot hold`},
		{"enrich without lookup", Transform{Op: OpEnrich, KeyColumns: []string{"a"}}, `lookup is required`},
		{"enrich without key", Transform{Op: OpEnrich, Lookup: labels()}, `key_columns is required`},
		{"enrich on_miss", Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"a"}, OnMiss: "skip"}, `on_miss "skip" is not one of null, default, quarantine`},
		{"enrich defaults without default", Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"a"}, Defaults: map[string]any{}}, `defaults apply only to on_miss default`},
		{"enrich default missing", Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"a"}, OnMiss: "default",
			Defaults: map[string]any{"label_name": "x"}}, `defaults has no value for lookup field "label_country"`},
		{"enrich default unknown", Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"a"}, OnMiss: "default",
			Defaults: map[string]any{"label_name": "x", "label_country": nil, "label_size": 3}}, `defaults names ["label_size"]`},
		{"enrich default null for required", Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"a"}, OnMiss: "default",
			Defaults: map[string]any{"label_name": nil, "label_country": nil}}, `defaults of lookup field "label_name": null for a field that is not nullable`},
		{"enrich default of the wrong type", Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"a"}, OnMiss: "default",
			Defaults: map[string]any{"label_name": 3, "label_country": nil}}, `value "3" (int) is not a string`},
		{"enrich lookup of records", Transform{Op: OpEnrich, KeyColumns: []string{"a"}, Lookup: &mapLookup{fields: []*avro.Field{
			mustField("r", avrotest.MustParse(t, `{"type":"record","name":"R","fields":[]}`))}}}, `lookup field "r": type R is not a primitive`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			steps := []Transform{{Op: OpHash, Columns: []string{"x"}, Key: key}, tc.step}
			tc.want = strings.ReplaceAll(tc.want, "(step 0", "(step 1")
			_, err := CompileTransforms(steps)
			if err == nil {
				t.Fatal("CompileTransforms succeeded, want an error")
			}
			if !errors.Is(err, ErrTransform) {
				t.Errorf("error %v does not wrap ErrTransform", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), string(key)) {
				t.Errorf("error %q shows the hash key", err)
			}
		})
	}
	t.Run("every invalid step reported", func(t *testing.T) {
		_, err := CompileTransforms([]Transform{{Op: OpTrim}, {Op: OpDrop, Columns: []string{"a"}}, {Op: "nope"}})
		if err == nil || !strings.Contains(err.Error(), "(step 0)") || !strings.Contains(err.Error(), "(step 2)") ||
			strings.Contains(err.Error(), "(step 1)") {
			t.Errorf("err = %v, want steps 0 and 2 reported", err)
		}
	})
	if _, err := CompileTransforms(nil); err != nil {
		t.Errorf("no steps: %v", err)
	}
}

func TestTransformStringRedactsKey(t *testing.T) {
	step := Transform{Op: OpHash, Columns: []string{"email"}, Key: []byte("s3cr3t")}
	for _, s := range []string{step.String(), (&step).String(), step.GoString()} {
		if strings.Contains(s, "s3cr3t") || !strings.Contains(s, "REDACTED") || !strings.Contains(s, "email") {
			t.Errorf("String = %q, want the key redacted and the rest shown", s)
		}
	}
}

func TestTransformBindErrors(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	cases := []struct {
		name  string
		steps []Transform
		want  string
	}{
		{"missing column", []Transform{{Op: OpTrim, Columns: []string{"titel"}}}, `transform "trim" (step 0): column "titel" does not exist`},
		{"rename onto a field", []Transform{{Op: OpRename, Renames: map[string]string{"title": "id"}}}, `(step 0): two fields would be named "id"`},
		{"rename a missing column", []Transform{{Op: OpRename, Renames: map[string]string{"nope": "x"}}}, `column "nope" does not exist`},
		{"drop a missing column", []Transform{{Op: OpDrop, Columns: []string{"id", "nope"}}}, `column "nope" does not exist`},
		{"keep a missing column", []Transform{{Op: OpKeep, Columns: []string{"nope"}}}, `column "nope" does not exist`},
		{"later step sees earlier output", []Transform{{Op: OpDrop, Columns: []string{"title"}}, {Op: OpTrim, Name: "tidy", Columns: []string{"title"}}},
			`transform "tidy" (step 1, trim): column "title" does not exist`},
		{"cast a record", []Transform{{Op: OpCast, Columns: []string{"artist"}, To: "string"}}, `column "artist": test.music.Artist cannot be cast to string`},
		{"cast a boolean to a number", []Transform{{Op: OpCast, Columns: []string{"explicit"}, To: "long"}}, `column "explicit": boolean cannot be cast to long`},
		{"cast an array", []Transform{{Op: OpCast, Columns: []string{"tags"}, To: "string"}}, `column "tags": array cannot be cast`},
		{"trim a number", []Transform{{Op: OpTrim, Columns: []string{"plays"}}}, `column "plays": is int, want a string`},
		{"hash bytes", []Transform{{Op: OpHash, Columns: []string{"blob"}, Key: []byte("k3y")}}, `column "blob": is bytes, want a string`},
		{"default of the wrong type", []Transform{{Op: OpDefault, Columns: []string{"epoch"}, Value: "soon"}}, `column "epoch": value "soon" (string) is not an long`},
		{"default int out of range", []Transform{{Op: OpDefault, Columns: []string{"plays"}, Value: 1 << 40}}, `column "plays": value "1099511627776" (int) is not an int`},
		{"default enum symbol", []Transform{{Op: OpDefault, Columns: []string{"genre"}, Value: "METAL"}}, `is not a symbol of enum test.music.Genre`},
		{"default from kafka on a string", []Transform{{Op: OpDefault, Columns: []string{"year"}, From: "kafka_timestamp"}}, `column "year": is string; from kafka_timestamp needs a timestamp`},
		{"parse a record", []Transform{{Op: OpParseTimestamp, Columns: []string{"artist"}}}, `column "artist": is test.music.Artist, want a string or a number`},
		{"parse a long without unix format", []Transform{{Op: OpParseTimestamp, Columns: []string{"epoch"}}}, `column "epoch": is long, which needs a unix_* format`},
		{"flatten a string", []Transform{{Op: OpFlatten, Columns: []string{"title"}}}, `column "title" is string, not a record`},
		{"flatten collides", []Transform{{Op: OpRename, Renames: map[string]string{"title": "artist_name"}}, {Op: OpFlatten}},
			`transform "flatten" (step 1): two fields would be named "artist_name"`},
		{"enrich key of a double", []Transform{{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"score"}}}, `key column "score" is double, want a string`},
		{"enrich missing key", []Transform{{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"label"}}}, `key column: column "label" does not exist`},
		{"enrich collides", []Transform{{Op: OpRename, Renames: map[string]string{"title": "label_name"}},
			{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"genre"}}}, `lookup field "label_name" collides with a field of the record`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := mustTransforms(t, tc.steps...)
			_, err := ts.Bind(w)
			if err == nil {
				t.Fatal("Bind succeeded, want an error")
			}
			if !errors.Is(err, ErrTransform) {
				t.Errorf("error %v does not wrap ErrTransform", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "k3y") {
				t.Errorf("error %q shows the hash key", err)
			}
		})
	}
	t.Run("non-record writer", func(t *testing.T) {
		_, err := mustTransforms(t).Bind(avrotest.MustParse(t, `"string"`))
		if !errors.Is(err, ErrTransform) || !strings.Contains(err.Error(), "want a record") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("union of several types", func(t *testing.T) {
		w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[{"name":"u","type":["null","string","long"]}]}`)
		_, err := mustTransforms(t, Transform{Op: OpTrim, Columns: []string{"u"}}).Bind(w)
		if !errors.Is(err, ErrTransform) || !strings.Contains(err.Error(), `column "u" is a union of several types`) {
			t.Errorf("err = %v", err)
		}
	})
}

// TestTransformRecordErrors checks what a record a step cannot transform
// gives: a *TransformError naming the step, its index and the column, with
// the value truncated, and never ErrMalformed.
func TestTransformRecordErrors(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	long := strings.Repeat("é", 200)
	cases := []struct {
		name  string
		steps []Transform
		rec   map[string]any
		want  string
	}{
		{"cast", []Transform{{Op: OpTrim, Columns: []string{"title"}}, {Op: OpCast, Columns: []string{"year"}, To: "long"}},
			track(map[string]any{"year": "19x9"}), `transform "cast" (step 1): column "year": "19x9" is not a long`},
		{"cast long value truncated", []Transform{{Op: OpCast, Columns: []string{"year"}, To: "long"}},
			track(map[string]any{"year": long}), `column "year": "` + strings.Repeat("é", 32) + `"… is not a long`},
		{"cast overflow", []Transform{{Op: OpCast, Columns: []string{"id"}, To: "int"}},
			track(map[string]any{"id": int64(1) << 40}), `column "id": 1099511627776 overflows int`},
		{"cast fraction", []Transform{{Op: OpCast, Columns: []string{"score"}, To: "long"}},
			track(map[string]any{"score": 4.5}), `column "score": 4.5 is not integral`},
		{"cast to float overflows", []Transform{{Op: OpCast, Columns: []string{"score"}, To: "float"}},
			track(map[string]any{"score": 1e300}), `column "score": 1e+300 overflows float`},
		{"cast bytes not text", []Transform{{Op: OpCast, Columns: []string{"blob"}, To: "string"}},
			track(map[string]any{"blob": []byte{0xff, 0xfe}}), `column "blob": bytes are not valid UTF-8`},
		{"cast text timestamp", []Transform{{Op: OpCast, Columns: []string{"released"}, To: "timestamp"}},
			track(map[string]any{"released": "2024-05-17"}), `column "released": "2024-05-17" is not an RFC 3339 timestamp`},
		{"parse_timestamp", []Transform{{Op: OpParseTimestamp, Name: "event_time", Columns: []string{"released"}, Formats: []string{"rfc3339", "unix_millis"}}},
			track(map[string]any{"released": "yesterday"}), `transform "event_time" (step 0): column "released": "yesterday" matches none of the timestamp formats`},
		{"derive runtime error", []Transform{{Op: OpDerive, Column: "n", Type: "long", Expr: "value.nope + 1"}},
			baseTrack(), `transform "derive" (step 0): expression: no such key: nope`},
		{"derive wrong type", []Transform{{Op: OpDerive, Column: "n", Type: "long", Expr: "value.title"}},
			baseTrack(), `transform "derive" (step 0): result is string, want long`},
		{"filter runtime error", []Transform{{Op: OpFilter, Expr: "value.plays / 0 > 1"}}, baseTrack(), `transform "filter" (step 0): expression: division by zero`},
		{"enrich quarantine", []Transform{{Op: OpEnrich, Name: "label", Lookup: labels(), KeyColumns: []string{"genre", "id"}, OnMiss: "quarantine"}},
			track(map[string]any{"id": int64(99)}), `transform "label" (step 0): no lookup row for key "ROCK\x0099"`},
		{"enrich malformed row", []Transform{{Op: OpEnrich, Lookup: &mapLookup{fields: labels().fields, rows: map[string][]byte{"POP": {0x02}}},
			KeyColumns: []string{"genre"}}}, track(map[string]any{"genre": "POP"}), `lookup row for key "POP": `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProgram(t, w, tc.steps...)
			out, keep, err := p.Apply([]byte("prefix"), avrotest.MustMarshal(t, w, tc.rec), testMeta, nil)
			te, ok := errors.AsType[*TransformError](err)
			if !ok {
				t.Fatalf("err = %v, want a *TransformError", err)
			}
			if errors.Is(err, schema.ErrMalformed) {
				t.Errorf("record error %v wraps ErrMalformed", err)
			}
			if te.Step != p.steps[len(p.steps)-1].name || keep || string(out) != "prefix" {
				t.Errorf("Step = %q, keep = %v, out = %q", te.Step, keep, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long: %q", len(err.Error()), err)
			}
		})
	}
}

func TestTransformMalformedPayload(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpDerive, Column: "n", Type: "long", Expr: "1"})
	full := avrotest.MustMarshal(t, w, baseTrack())
	for _, payload := range [][]byte{nil, full[:len(full)/2], full[:len(full)-1], {0x01}} {
		out, keep, err := p.Apply([]byte("x"), payload, nil, nil)
		if !errors.Is(err, schema.ErrMalformed) || keep || string(out) != "x" {
			t.Errorf("Apply(%x): out = %q, keep = %v, err = %v; want ErrMalformed", payload, out, keep, err)
		}
		if _, ok := errors.AsType[*TransformError](err); ok {
			t.Errorf("a malformed payload is blamed on a step: %v", err)
		}
	}
	// Bytes after the record are ignored, as by the decoder.
	out, keep, err := p.Apply(nil, append(slices.Clone(full), 0xff, 0xff), nil, nil)
	if err != nil || !keep {
		t.Fatalf("trailing bytes: keep = %v, err = %v", keep, err)
	}
	if m := decodeOutput(t, p, out); m["n"] != int64(1) {
		t.Errorf("n = %v", m["n"])
	}
}

// TestTransformNoSteps passes records through unchanged.
func TestTransformNoSteps(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w)
	in := avrotest.MustMarshal(t, w, baseTrack())
	out, keep, err := p.Apply(nil, in, nil, nil)
	if err != nil || !keep || !bytes.Equal(out, in) {
		t.Fatalf("keep = %v, err = %v, out equal = %v", keep, err, bytes.Equal(out, in))
	}
	if got, want := p.Schema().(*avro.RecordSchema).FullName(), "test.music.Track"; got != want {
		t.Errorf("output name = %s, want %s", got, want)
	}
	if !slices.Equal(fieldNames(p.Schema()), fieldNames(w)) {
		t.Errorf("fields = %v", fieldNames(p.Schema()))
	}
	if p.Schema().(*avro.RecordSchema).Doc() != "a track" {
		t.Errorf("record doc lost")
	}
	want, err := schema.ToIceberg(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := schema.ToIceberg(p.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(want) {
		t.Errorf("ToIceberg of the output:\n%s\nwant\n%s", got, want)
	}
}

// mapLookup is reference data in a map, keyed as enrich keys records.
type mapLookup struct {
	fields []*avro.Field
	rows   map[string][]byte
}

func (l *mapLookup) Fields() []*avro.Field { return l.fields }

func (l *mapLookup) Lookup(dst, key []byte) ([]byte, bool) {
	row, ok := l.rows[string(key)]
	if !ok {
		return dst, false
	}
	return append(dst, row...), true
}

func mustField(name string, typ avro.Schema) *avro.Field {
	f, err := avro.NewField(name, typ)
	if err != nil {
		panic(err)
	}
	return f
}

// labels is a lookup from (genre, id) to a label name and country, with
// rows built the way reference data would: LookupKey and avro.Marshal of a
// record of the lookup's fields.
func labels() *mapLookup {
	fields := []*avro.Field{
		mustField("label_name", avro.NewPrimitiveSchema(avro.String, nil)),
		mustField("label_country", mustUnion(avro.NewNullSchema(), avro.NewPrimitiveSchema(avro.String, nil))),
	}
	rec, err := avro.NewRecordSchema("Row", "", fields)
	if err != nil {
		panic(err)
	}
	l := &mapLookup{fields: fields, rows: map[string][]byte{}}
	for _, r := range []struct {
		genre   string
		id      int64
		name    string
		country any
	}{
		{"ROCK", 7, "Seaside Records", "KR"},
		{"POP", 7, "Pop Factory", nil},
		{"JAZZ", -3, "Blue Note", "US"},
	} {
		key, err := LookupKey(r.genre, r.id)
		if err != nil {
			panic(err)
		}
		row, err := avro.Marshal(rec, map[string]any{"label_name": r.name, "label_country": r.country})
		if err != nil {
			panic(err)
		}
		l.rows[string(key)] = row
	}
	return l
}

func mustUnion(types ...avro.Schema) avro.Schema {
	u, err := avro.NewUnionSchema(types)
	if err != nil {
		panic(err)
	}
	return u
}

// TestTransformsConcurrentPrograms binds one compiled chain per goroutine,
// as the pipeline does: the programs share the compiled steps (CEL, hash
// keys, the lookup) and must not share scratch state. Run with -race.
func TestTransformsConcurrentPrograms(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	ts := mustTransforms(t,
		Transform{Op: OpHash, Columns: []string{"email"}, Key: []byte("k")},
		Transform{Op: OpTrim, Columns: []string{"title"}},
		Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"genre", "id"}},
		Transform{Op: OpDerive, Column: "n", Type: "long", Expr: "size(value.title)"},
	)
	payload := avrotest.MustMarshal(t, w, baseTrack())
	want, _, err := mustProgram(t, w, ts.steps[0].t, ts.steps[1].t, ts.steps[2].t, ts.steps[3].t).Apply(nil, payload, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			p, err := ts.Bind(w)
			if err == nil {
				for range 200 {
					var out []byte
					if out, _, err = p.Apply(nil, payload, nil, nil); err == nil && !bytes.Equal(out, want) {
						err = errors.New("outputs differ")
					}
					if err != nil {
						break
					}
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
