package transform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
)

// opCase applies steps to a track and checks the output, decoded by
// hamba/avro, and the Iceberg types of its columns.
type opCase struct {
	name  string
	steps []Transform
	rec   map[string]any    // overrides of baseTrack
	want  map[string]any    // output values
	gone  []string          // fields the output must not have
	types map[string]string // Iceberg column types of the output, "?" for optional
	order []string          // the output's first fields, in order
}

func runOpCases(t *testing.T, cases []opCase) {
	t.Helper()
	w := avrotest.MustParse(t, trackSchema)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProgram(t, w, tc.steps...)
			got := applyDecode(t, p, w, track(tc.rec))
			for k, want := range tc.want {
				v, ok := got[k]
				if !ok {
					t.Errorf("output lacks %q; it has %v", k, fieldNames(p.Schema()))
					continue
				}
				if !equalValue(v, want) {
					t.Errorf("%s = %#v, want %#v", k, v, want)
				}
			}
			for _, k := range tc.gone {
				if _, ok := got[k]; ok {
					t.Errorf("output has %q", k)
				}
			}
			types := icebergTypes(t, p.Schema())
			for k, want := range tc.types {
				if types[k] != want {
					t.Errorf("column %s is %q, want %q", k, types[k], want)
				}
			}
			if names := fieldNames(p.Schema()); len(tc.order) > 0 && !slices.Equal(names[:min(len(names), len(tc.order))], tc.order) {
				t.Errorf("fields = %v, want them to start %v", names, tc.order)
			}
		})
	}
}

func utc(y int, mo time.Month, d, h, mi, s, us int) time.Time {
	return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
}

func TestTransformRename(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "one field", steps: []Transform{{Op: OpRename, Renames: map[string]string{"title": "name"}}},
			want: map[string]any{"name": "  Midnight \t Ferry  (Live) "}, gone: []string{"title"},
			order: []string{"id", "name", "year"}, types: map[string]string{"name": "string"}},
		{name: "swap", steps: []Transform{{Op: OpRename, Renames: map[string]string{"title": "year", "year": "title"}}},
			want: map[string]any{"year": "  Midnight \t Ferry  (Live) ", "title": "1999"}, order: []string{"id", "year", "title"},
			types: map[string]string{"year": "string", "title": "string?"}},
		{name: "nullable", steps: []Transform{{Op: OpRename, Renames: map[string]string{"year": "release_year"}}},
			rec: map[string]any{"year": nil}, want: map[string]any{"release_year": nil}, types: map[string]string{"release_year": "string?"}},
	})
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpRename, Renames: map[string]string{"id": "track_id"}})
	f := p.Schema().(*avro.RecordSchema).Fields()[0]
	if f.Name() != "track_id" || f.Doc() != "track id" || len(f.Aliases()) != 0 {
		t.Errorf("renamed field: name %q, doc %q, aliases %v; want the doc kept and the aliases dropped", f.Name(), f.Doc(), f.Aliases())
	}
	if f := p.Schema().(*avro.RecordSchema).Fields()[2]; f.Name() != "year" || !f.HasDefault() || f.Default() != nil {
		t.Errorf("untouched field year lost its default")
	}
}

func TestTransformDropKeep(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "drop", steps: []Transform{{Op: OpDrop, Columns: []string{"title", "artist", "attrs"}}},
			gone: []string{"title", "artist", "attrs"}, want: map[string]any{"id": int64(7), "tags": []any{"summer", "night"}},
			order: []string{"id", "year", "plays"}},
		{name: "keep in record order", steps: []Transform{{Op: OpKeep, Columns: []string{"genre", "id"}}},
			want: map[string]any{"id": int64(7), "genre": "ROCK"}, gone: []string{"title", "artist"}, order: []string{"id", "genre"}},
		{name: "keep after drop", steps: []Transform{{Op: OpDrop, Columns: []string{"id"}}, {Op: OpKeep, Columns: []string{"title"}}},
			want: map[string]any{"title": "  Midnight \t Ferry  (Live) "}, gone: []string{"id"}, order: []string{"title"}},
	})
}

func TestTransformCast(t *testing.T) {
	cast := func(col, to string) []Transform { return []Transform{{Op: OpCast, Columns: []string{col}, To: to}} }
	runOpCases(t, []opCase{
		{name: "string to long", steps: cast("year", "long"), want: map[string]any{"year": int64(1999)}, types: map[string]string{"year": "long?"}},
		{name: "null stays null", steps: cast("year", "long"), rec: map[string]any{"year": nil}, want: map[string]any{"year": nil},
			types: map[string]string{"year": "long?"}},
		{name: "string to int", steps: cast("year", "int"), rec: map[string]any{"year": "-12"}, want: map[string]any{"year": -12}},
		{name: "string to double", steps: cast("year", "double"), rec: map[string]any{"year": "1e3"}, want: map[string]any{"year": 1000.0}},
		{name: "string to float", steps: cast("year", "float"), rec: map[string]any{"year": "0.5"}, want: map[string]any{"year": float32(0.5)}},
		{name: "string to boolean", steps: cast("year", "boolean"), rec: map[string]any{"year": "TRUE"}, want: map[string]any{"year": true},
			types: map[string]string{"year": "boolean?"}},
		{name: "string to timestamp", steps: cast("released", "timestamp"), rec: map[string]any{"released": "2024-05-17T10:20:30.5+09:00"},
			want: map[string]any{"released": utc(2024, 5, 17, 1, 20, 30, 500000)}, types: map[string]string{"released": "timestamptz?"}},
		{name: "string to date", steps: cast("released", "date"), rec: map[string]any{"released": "1969-12-31"},
			want: map[string]any{"released": utc(1969, 12, 31, 0, 0, 0, 0)}, types: map[string]string{"released": "date?"}},
		{name: "int to string", steps: cast("plays", "string"), want: map[string]any{"plays": "1200"}, types: map[string]string{"plays": "string"}},
		{name: "int to long", steps: cast("plays", "long"), want: map[string]any{"plays": int64(1200)}, types: map[string]string{"plays": "long"}},
		{name: "int to double", steps: cast("plays", "double"), want: map[string]any{"plays": 1200.0}},
		{name: "long to int", steps: cast("id", "int"), want: map[string]any{"id": 7}, types: map[string]string{"id": "int"}},
		{name: "long to long", steps: cast("id", "long"), want: map[string]any{"id": int64(7)}, types: map[string]string{"id": "long"}},
		{name: "integral double to long", steps: cast("score", "long"), rec: map[string]any{"score": -4.0}, want: map[string]any{"score": int64(-4)}},
		{name: "double to float", steps: cast("score", "float"), want: map[string]any{"score": float32(4.5)}, types: map[string]string{"score": "float"}},
		{name: "float to double", steps: cast("ratio", "double"), want: map[string]any{"ratio": 0.25}},
		{name: "double to string", steps: cast("score", "string"), rec: map[string]any{"score": 0.1}, want: map[string]any{"score": "0.1"}},
		{name: "float to string", steps: cast("ratio", "string"), rec: map[string]any{"ratio": float32(0.1)}, want: map[string]any{"ratio": "0.1"}},
		{name: "boolean to string", steps: cast("explicit", "string"), want: map[string]any{"explicit": "false"}},
		{name: "enum to string", steps: cast("genre", "string"), want: map[string]any{"genre": "ROCK"}, types: map[string]string{"genre": "string"}},
		{name: "bytes to string", steps: cast("blob", "string"), want: map[string]any{"blob": "héllo"}},
		{name: "date to string", steps: cast("day", "string"), want: map[string]any{"day": "2024-05-17"}},
		{name: "date to timestamp", steps: cast("day", "timestamp"), want: map[string]any{"day": utc(2024, 5, 17, 0, 0, 0, 0)},
			types: map[string]string{"day": "timestamptz"}},
		{name: "millis to timestamp", steps: cast("event_ts", "timestamp"), want: map[string]any{"event_ts": utc(2024, 5, 17, 0, 0, 0, 123000)}},
		{name: "millis to string", steps: cast("event_ts", "string"), want: map[string]any{"event_ts": "2024-05-17T00:00:00.123Z"}},
		{name: "millis to date", steps: cast("event_ts", "date"), rec: map[string]any{"event_ts": time.UnixMilli(-1).UTC()},
			want: map[string]any{"event_ts": utc(1969, 12, 31, 0, 0, 0, 0)}},
		{name: "decimal to string", steps: cast("price", "string"), want: map[string]any{"price": "-123.45"}},
		{name: "small decimal to string", steps: cast("price", "string"), rec: map[string]any{"price": big.NewRat(5, 100)}, want: map[string]any{"price": "0.05"}},
		{name: "decimal to double", steps: cast("price", "double"), want: map[string]any{"price": -123.45}},
		{name: "several columns", steps: []Transform{{Op: OpCast, Columns: []string{"plays", "id"}, To: "string"}},
			want: map[string]any{"plays": "1200", "id": "7"}},
	})
}

func TestTransformDefault(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "null to value", steps: []Transform{{Op: OpDefault, Columns: []string{"year", "email"}, Value: "unknown"}},
			rec: map[string]any{"year": nil}, want: map[string]any{"year": "unknown", "email": "min.ji@example.com"},
			types: map[string]string{"year": "string", "email": "string"}},
		{name: "set stays", steps: []Transform{{Op: OpDefault, Columns: []string{"year"}, Value: "unknown"}}, want: map[string]any{"year": "1999"}},
		{name: "integer", steps: []Transform{{Op: OpDefault, Columns: []string{"epoch"}, Value: 0}}, rec: map[string]any{"epoch": nil},
			want: map[string]any{"epoch": int64(0)}, types: map[string]string{"epoch": "long"}},
		{name: "integral float from YAML", steps: []Transform{{Op: OpDefault, Columns: []string{"epoch"}, Value: 3.0}}, rec: map[string]any{"epoch": nil},
			want: map[string]any{"epoch": int64(3)}},
		{name: "timestamp text", steps: []Transform{{Op: OpDefault, Columns: []string{"event_ts"}, Value: "2000-01-01T00:00:00Z"}},
			rec: map[string]any{"event_ts": nil}, want: map[string]any{"event_ts": utc(2000, 1, 1, 0, 0, 0, 0)}, types: map[string]string{"event_ts": "timestamptz"}},
		{name: "kafka timestamp", steps: []Transform{{Op: OpDefault, Columns: []string{"event_ts"}, From: "kafka_timestamp"}},
			rec: map[string]any{"event_ts": nil}, want: map[string]any{"event_ts": testMeta.Timestamp}, types: map[string]string{"event_ts": "timestamptz"}},
		{name: "kafka timestamp not needed", steps: []Transform{{Op: OpDefault, Columns: []string{"event_ts"}, From: "kafka_timestamp"}},
			want: map[string]any{"event_ts": time.UnixMilli(1_715_904_000_123).UTC()}},
		{name: "required column unchanged", steps: []Transform{{Op: OpDefault, Columns: []string{"score"}, Value: 1}},
			want: map[string]any{"score": 4.5}, types: map[string]string{"score": "double"}},
	})
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpDefault, Columns: []string{"year"}, Value: "unknown"})
	if f := p.Schema().(*avro.RecordSchema).Fields()[2]; !f.HasDefault() || f.Default() != "unknown" {
		t.Errorf("year's Avro default = %v, want the configured value", f.Default())
	}
}

func TestTransformParseTimestamp(t *testing.T) {
	parse := func(col string, formats ...string) []Transform {
		return []Transform{{Op: OpParseTimestamp, Columns: []string{col}, Formats: formats}}
	}
	runOpCases(t, []opCase{
		{name: "rfc3339 by default", steps: parse("released"), want: map[string]any{"released": utc(2024, 5, 17, 10, 20, 30, 123456)},
			types: map[string]string{"released": "timestamptz?"}},
		{name: "offset normalised", steps: parse("released", "rfc3339nano"), rec: map[string]any{"released": "2024-05-17T10:20:30.123456789-02:30"},
			want: map[string]any{"released": utc(2024, 5, 17, 12, 50, 30, 123456)}},
		{name: "null stays null", steps: parse("released"), rec: map[string]any{"released": nil}, want: map[string]any{"released": nil}},
		{name: "iso8601 in a zone", steps: []Transform{{Op: OpParseTimestamp, Columns: []string{"released"}, Formats: []string{"rfc3339", "iso8601"}, Zone: "Asia/Seoul"}},
			rec: map[string]any{"released": "2024-05-17 10:20:30.25"}, want: map[string]any{"released": utc(2024, 5, 17, 1, 20, 30, 250000)}},
		{name: "iso8601 date", steps: parse("released", "iso8601"), rec: map[string]any{"released": "2024-02-29"},
			want: map[string]any{"released": utc(2024, 2, 29, 0, 0, 0, 0)}},
		{name: "iso8601 minutes", steps: parse("released", "iso8601"), rec: map[string]any{"released": "2024-02-29T23:59"},
			want: map[string]any{"released": utc(2024, 2, 29, 23, 59, 0, 0)}},
		{name: "formats in order", steps: parse("released", "unix_millis", "rfc3339"), rec: map[string]any{"released": "1700000000123"},
			want: map[string]any{"released": time.UnixMilli(1_700_000_000_123).UTC()}},
		{name: "unix seconds with a fraction", steps: parse("released", "rfc3339", "unix_seconds"), rec: map[string]any{"released": "-1.5"},
			want: map[string]any{"released": time.UnixMilli(-1500).UTC()}},
		{name: "go layout", steps: parse("released", "rfc3339", "02/01/2006 15:04"), rec: map[string]any{"released": "17/05/2024 10:20"},
			want: map[string]any{"released": utc(2024, 5, 17, 10, 20, 0, 0)}},
		{name: "unix seconds of a long", steps: parse("epoch", "rfc3339", "unix_seconds"), want: map[string]any{"epoch": time.Unix(1_700_000_000, 0).UTC()},
			types: map[string]string{"epoch": "timestamptz?"}},
		{name: "unix micros of a long", steps: parse("epoch", "unix_micros"), want: map[string]any{"epoch": time.UnixMicro(1_700_000_000).UTC()}},
		{name: "unix millis of an int", steps: parse("plays", "unix_millis"), want: map[string]any{"plays": time.UnixMilli(1200).UTC()},
			types: map[string]string{"plays": "timestamptz"}},
		{name: "unix seconds of a double", steps: parse("score", "unix_seconds"), want: map[string]any{"score": time.UnixMilli(4500).UTC()}},
	})
	w := avrotest.MustParse(t, trackSchema)
	for _, tc := range []struct {
		formats []string
		text    string
	}{
		{[]string{"rfc3339"}, "2024-05-17T10:20Z"},           // RFC 3339 needs seconds
		{[]string{"rfc3339"}, "2024-05-17T10:20:30"},         // and an offset
		{[]string{"iso8601"}, "2024-05-17T10:20:30Z"},        // iso8601 is without one
		{[]string{"iso8601"}, "2024-02-30"},                  // no such day
		{[]string{"iso8601"}, "2024-05-17T24:00"},            // no such hour
		{[]string{"rfc3339"}, "2024-05-17T10:20:30.Z"},       // an empty fraction
		{[]string{"rfc3339"}, "2024-05-17T10:20:30+0900"},    // an offset without colon
		{[]string{"unix_micros"}, "1.5"},                     // micros are whole
		{[]string{"unix_seconds"}, "99999999999999999999"},   // out of range
		{[]string{"unix_seconds"}, "12a"},                    // not a number
		{[]string{"2006-01-02"}, "2024-05-17 and more text"}, // a layout matches whole
		{[]string{"rfc3339"}, ""},
	} {
		p := mustProgram(t, w, Transform{Op: OpParseTimestamp, Columns: []string{"released"}, Formats: tc.formats})
		_, _, err := p.Apply(nil, avrotest.MustMarshal(t, w, track(map[string]any{"released": tc.text})), nil, nil)
		if err == nil || !strings.Contains(err.Error(), "matches none of the timestamp formats") {
			t.Errorf("%v of %q: err = %v, want no format to match", tc.formats, tc.text, err)
		}
	}
}

func TestTransformStringOps(t *testing.T) {
	one := func(op, col string) []Transform { return []Transform{{Op: op, Columns: []string{col}}} }
	mixed := "Ǆemo ÉCOLE Straße İstanbul ΣΊΣΥΦΟΣ"
	runOpCases(t, []opCase{
		{name: "trim", steps: one(OpTrim, "title"), want: map[string]any{"title": "Midnight Ferry (Live)"}},
		{name: "trim unicode space", steps: one(OpTrim, "title"), rec: map[string]any{"title": "\u00a0ÉCOLE\u3000\u3000primaire\n\r"},
			want: map[string]any{"title": "ÉCOLE primaire"}},
		{name: "trim only space", steps: one(OpTrim, "title"), rec: map[string]any{"title": " \t "}, want: map[string]any{"title": ""}},
		{name: "trim nullable", steps: one(OpTrim, "email"), rec: map[string]any{"email": " a@b "}, want: map[string]any{"email": "a@b"},
			types: map[string]string{"email": "string?"}},
		{name: "trim null", steps: one(OpTrim, "email"), rec: map[string]any{"email": nil}, want: map[string]any{"email": nil}},
		{name: "lower", steps: one(OpLower, "title"), rec: map[string]any{"title": mixed}, want: map[string]any{"title": strings.ToLower(mixed)}},
		{name: "upper", steps: one(OpUpper, "title"), rec: map[string]any{"title": mixed}, want: map[string]any{"title": strings.ToUpper(mixed)}},
		{name: "lower enum", steps: one(OpLower, "genre"), want: map[string]any{"genre": "rock"}, types: map[string]string{"genre": "string"}},
		{name: "empty to null", steps: one(OpEmptyToNull, "title"), rec: map[string]any{"title": ""}, want: map[string]any{"title": nil},
			types: map[string]string{"title": "string?"}},
		{name: "non-empty stays", steps: one(OpEmptyToNull, "title"), rec: map[string]any{"title": " "}, want: map[string]any{"title": " "}},
		{name: "empty to null nullable", steps: one(OpEmptyToNull, "email"), rec: map[string]any{"email": ""}, want: map[string]any{"email": nil}},
		{name: "trim then empty to null", steps: []Transform{{Op: OpTrim, Columns: []string{"title"}}, {Op: OpEmptyToNull, Columns: []string{"title"}}},
			rec: map[string]any{"title": " \u2003 "}, want: map[string]any{"title": nil}},
		{name: "mask", steps: []Transform{{Op: OpMask, Columns: []string{"email"}, KeepLast: 4}}, want: map[string]any{"email": "**************.com"}},
		{name: "mask unicode", steps: []Transform{{Op: OpMask, Columns: []string{"title"}, KeepLast: 2}}, rec: map[string]any{"title": "한국어전화번호"},
			want: map[string]any{"title": "*****번호"}},
		{name: "mask all", steps: []Transform{{Op: OpMask, Columns: []string{"title"}}}, rec: map[string]any{"title": "né"}, want: map[string]any{"title": "**"}},
		{name: "mask short", steps: []Transform{{Op: OpMask, Columns: []string{"title"}, KeepLast: 4}}, rec: map[string]any{"title": "ab"},
			want: map[string]any{"title": "ab"}},
		{name: "mask empty", steps: []Transform{{Op: OpMask, Columns: []string{"title"}, KeepLast: 4}}, rec: map[string]any{"title": ""},
			want: map[string]any{"title": ""}},
		{name: "mask null", steps: []Transform{{Op: OpMask, Columns: []string{"email"}, KeepLast: 4}}, rec: map[string]any{"email": nil},
			want: map[string]any{"email": nil}},
	})
}

func hmacHex(key []byte, s string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func TestTransformHash(t *testing.T) {
	key := []byte("pepper")
	hash := []Transform{{Op: OpHash, Columns: []string{"email", "genre"}, Key: key}}
	runOpCases(t, []opCase{
		{name: "string and enum", steps: hash, want: map[string]any{"email": hmacHex(key, "min.ji@example.com"), "genre": hmacHex(key, "ROCK")},
			types: map[string]string{"email": "string?", "genre": "string"}},
		{name: "null stays null", steps: hash, rec: map[string]any{"email": nil}, want: map[string]any{"email": nil}},
		{name: "empty", steps: hash, rec: map[string]any{"email": ""}, want: map[string]any{"email": hmacHex(key, "")}},
		{name: "another key", steps: []Transform{{Op: OpHash, Columns: []string{"email"}, Key: []byte("salt")}},
			want: map[string]any{"email": hmacHex([]byte("salt"), "min.ji@example.com")}},
	})
}

func TestTransformDerive(t *testing.T) {
	derive := func(col, typ, expr string) []Transform {
		return []Transform{{Op: OpDerive, Column: col, Type: typ, Expr: expr}}
	}
	runOpCases(t, []opCase{
		{name: "appended", steps: derive("title_len", "long", "size(value.title)"), want: map[string]any{"title_len": int64(27)},
			types: map[string]string{"title_len": "long?"}},
		{name: "replaced in place", steps: derive("plays", "long", "value.plays * 2"), want: map[string]any{"plays": int64(2400)},
			order: []string{"id", "title", "year", "plays", "score"}, types: map[string]string{"plays": "long?"}},
		{name: "null result", steps: derive("contact", "string", "value.email"), rec: map[string]any{"email": nil}, want: map[string]any{"contact": nil}},
		{name: "string", steps: derive("where", "string", "topic + ':' + string(partition) + ':' + string(offset)"),
			want: map[string]any{"where": "tracks:3:42"}, types: map[string]string{"where": "string?"}},
		{name: "double", steps: derive("s2", "double", "value.score * 2.0"), want: map[string]any{"s2": 9.0}, types: map[string]string{"s2": "double?"}},
		{name: "boolean", steps: derive("hit", "boolean", "value.plays > 1000 && !value.explicit"), want: map[string]any{"hit": true},
			types: map[string]string{"hit": "boolean?"}},
		{name: "timestamp", steps: derive("kafka_ts", "timestamp", "timestamp"), want: map[string]any{"kafka_ts": testMeta.Timestamp},
			types: map[string]string{"kafka_ts": "timestamptz?"}},
		{name: "date", steps: derive("d", "date", "value.event_ts"), want: map[string]any{"d": utc(2024, 5, 17, 0, 0, 0, 0)},
			types: map[string]string{"d": "date?"}},
		{name: "value whole", steps: derive("n", "long", "size(value)"), want: map[string]any{"n": int64(18)}},
		{name: "nested field", steps: derive("label", "string", "value.artist.label.name"), want: map[string]any{"label": "Seaside"}},
	})
	t.Run("headers", func(t *testing.T) {
		w := avrotest.MustParse(t, trackSchema)
		p := mustProgram(t, w, derive("trace", "string", "'trace' in headers ? string(headers.trace) : 'none'")...)
		out, _, err := p.Apply(nil, avrotest.MustMarshal(t, w, baseTrack()), nil, []schema.Header{{Key: "trace", Value: []byte("t-1")}})
		if err != nil {
			t.Fatal(err)
		}
		if m := decodeOutput(t, p, out); m["trace"] != "t-1" {
			t.Errorf("trace = %v", m["trace"])
		}
	})
}

func TestTransformFlatten(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "every record", steps: []Transform{{Op: OpFlatten}},
			want:  map[string]any{"artist_name": "The Harbour Lights", "artist_country": "KR", "artist_label_name": "Seaside", "artist_label_id": 5},
			gone:  []string{"artist", "artist_label"},
			types: map[string]string{"artist_name": "string", "artist_country": "string?", "artist_label_name": "string?", "artist_label_id": "int?"}},
		{name: "null parent", steps: []Transform{{Op: OpFlatten}},
			rec:  map[string]any{"artist": map[string]any{"name": "Solo", "country": nil, "label": nil}},
			want: map[string]any{"artist_name": "Solo", "artist_country": nil, "artist_label_name": nil, "artist_label_id": nil}},
		{name: "named, with a separator", steps: []Transform{{Op: OpFlatten, Columns: []string{"artist"}, Separator: "__"}},
			want: map[string]any{"artist__name": "The Harbour Lights", "artist__label__id": 5}, gone: []string{"artist_name"}},
	})
	t.Run("order", func(t *testing.T) {
		w := avrotest.MustParse(t, trackSchema)
		p := mustProgram(t, w, Transform{Op: OpFlatten})
		names := fieldNames(p.Schema())
		i := slices.Index(names, "price")
		if !slices.Equal(names[i:i+6], []string{"price", "artist_name", "artist_country", "artist_label_name", "artist_label_id", "tags"}) {
			t.Errorf("fields = %v, want the leaves where artist was", names)
		}
	})
	t.Run("nullable parent of unions", func(t *testing.T) {
		w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
			{"name":"opt","type":["null",{"type":"record","name":"O","fields":[
				{"name":"u","type":["string","long"]},
				{"name":"n","type":["long","null"]},
				{"name":"s","type":"string"}]}]},
			{"name":"after","type":"int"}]}`)
		p := mustProgram(t, w, Transform{Op: OpFlatten})
		for _, tc := range []struct {
			in   map[string]any
			want map[string]any
		}{
			{map[string]any{"opt": map[string]any{"O": map[string]any{"u": map[string]any{"long": int64(5)}, "n": int64(6), "s": "x"}}, "after": 1},
				map[string]any{"opt_u": int64(5), "opt_n": int64(6), "opt_s": "x", "after": 1}},
			{map[string]any{"opt": map[string]any{"O": map[string]any{"u": map[string]any{"string": "t"}, "n": nil, "s": "y"}}, "after": 2},
				map[string]any{"opt_u": "t", "opt_n": nil, "opt_s": "y", "after": 2}},
			{map[string]any{"opt": nil, "after": 3}, map[string]any{"opt_u": nil, "opt_n": nil, "opt_s": nil, "after": 3}},
		} {
			got := applyDecode(t, p, w, tc.in)
			for k, v := range tc.want {
				if !equalValue(got[k], v) {
					t.Errorf("%v: %s = %#v, want %#v", tc.in, k, got[k], v)
				}
			}
		}
		if got := p.Schema().String(); !strings.Contains(got, `{"name":"opt_u","type":["null","string","long"]}`) ||
			!strings.Contains(got, `{"name":"opt_n","type":["long","null"]}`) || !strings.Contains(got, `{"name":"opt_s","type":["null","string"]}`) {
			t.Errorf("schema = %s", got)
		}
	})
	t.Run("recursive record", func(t *testing.T) {
		w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[{"name":"n","type":{"type":"record","name":"Node","fields":[
			{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}}]}`)
		_, err := mustTransforms(t, Transform{Op: OpFlatten}).Bind(w)
		if err == nil || !strings.Contains(err.Error(), "recursive record Node cannot be flattened") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestTransformFilter(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpFilter, Expr: "value.plays > 1000 && topic == 'tracks'"}, Transform{Op: OpDrop, Columns: []string{"title"}})
	for _, tc := range []struct {
		plays int
		keep  bool
	}{{1200, true}, {10, false}} {
		out, keep, err := p.Apply([]byte("dst"), avrotest.MustMarshal(t, w, track(map[string]any{"plays": tc.plays})), testMeta, nil)
		if err != nil || keep != tc.keep {
			t.Fatalf("plays %d: keep = %v, err = %v; want keep %v", tc.plays, keep, err, tc.keep)
		}
		if !keep && string(out) != "dst" {
			t.Errorf("a dropped record appended %q", out[3:])
		}
		if keep {
			if m := decodeOutput(t, p, out[3:]); m["plays"] != tc.plays || m["title"] != nil {
				t.Errorf("kept record = %v", m)
			}
		}
	}
}

func TestTransformEnrich(t *testing.T) {
	enrich := func(onMiss string, defaults map[string]any, keys ...string) []Transform {
		return []Transform{{Op: OpEnrich, Lookup: labels(), KeyColumns: keys, OnMiss: onMiss, Defaults: defaults}}
	}
	byGenreID := enrich("", nil, "genre", "id")
	runOpCases(t, []opCase{
		{name: "hit", steps: byGenreID, want: map[string]any{"label_name": "Seaside Records", "label_country": "KR"},
			types: map[string]string{"label_name": "string?", "label_country": "string?"}},
		{name: "hit with a null", steps: byGenreID, rec: map[string]any{"genre": "POP"},
			want: map[string]any{"label_name": "Pop Factory", "label_country": nil}},
		{name: "negative key", steps: byGenreID, rec: map[string]any{"genre": "JAZZ", "id": int64(-3)},
			want: map[string]any{"label_name": "Blue Note", "label_country": "US"}},
		{name: "miss is null", steps: byGenreID, rec: map[string]any{"id": int64(8)}, want: map[string]any{"label_name": nil, "label_country": nil}},
		{name: "miss gets defaults", steps: enrich("default", map[string]any{"label_name": "indie", "label_country": "ZZ"}, "genre", "id"),
			rec: map[string]any{"id": int64(8)}, want: map[string]any{"label_name": "indie", "label_country": "ZZ"},
			types: map[string]string{"label_name": "string", "label_country": "string?"}},
		{name: "null default", steps: enrich("default", map[string]any{"label_name": "indie", "label_country": nil}, "genre", "id"),
			rec: map[string]any{"id": int64(8)}, want: map[string]any{"label_name": "indie", "label_country": nil}},
		{name: "hit under defaults", steps: enrich("default", map[string]any{"label_name": "indie", "label_country": nil}, "genre", "id"),
			want: map[string]any{"label_name": "Seaside Records", "label_country": "KR"}},
	})
	t.Run("null key is a miss", func(t *testing.T) {
		w := avrotest.MustParse(t, trackSchema)
		l := labels()
		l.rows["1999"] = l.rows["ROCK\x007"]
		p := mustProgram(t, w, Transform{Op: OpEnrich, Lookup: l, KeyColumns: []string{"year"}, OnMiss: "quarantine"})
		if m := applyDecode(t, p, w, baseTrack()); m["label_name"] != "Seaside Records" {
			t.Errorf("label_name = %v", m["label_name"])
		}
		_, _, err := p.Apply(nil, avrotest.MustMarshal(t, w, track(map[string]any{"year": nil})), nil, nil)
		if err == nil || !strings.Contains(err.Error(), "no lookup row") {
			t.Errorf("err = %v, want a miss", err)
		}
	})
	t.Run("boolean and int keys", func(t *testing.T) {
		w := avrotest.MustParse(t, trackSchema)
		l := labels()
		l.rows["false\x001200"] = l.rows["ROCK\x007"]
		if key, _ := LookupKey(false, 1200); string(key) != "false\x001200" {
			t.Fatalf("LookupKey = %q", key)
		}
		p := mustProgram(t, w, Transform{Op: OpEnrich, Lookup: l, KeyColumns: []string{"explicit", "plays"}})
		if m := applyDecode(t, p, w, baseTrack()); m["label_country"] != "KR" {
			t.Errorf("label_country = %v", m["label_country"])
		}
	})
}

func TestLookupKey(t *testing.T) {
	for _, tc := range []struct {
		vals []any
		want string
	}{
		{[]any{"ROCK", int64(-7)}, "ROCK\x00-7"},
		{[]any{[]byte("b"), true, uint64(18446744073709551615), int32(0)}, "b\x00true\x0018446744073709551615\x000"},
		{[]any{""}, ""},
	} {
		got, err := LookupKey(tc.vals...)
		if err != nil || string(got) != tc.want {
			t.Errorf("LookupKey(%v) = %q, %v; want %q", tc.vals, got, err, tc.want)
		}
	}
	if _, err := LookupKey(1.5); err == nil {
		t.Error("LookupKey(1.5) succeeded, want an error")
	}
}
