package transform

import (
	"testing"

	"github.com/bigfather/bigfather/internal/avrotest"
)

// benchChains are the chains BenchmarkTransformApply measures.
func benchChains() (structural, flattenEnrich, derive []Transform) {
	structural = []Transform{
		{Op: OpRename, Renames: map[string]string{"id": "track_id", "title": "track_title"}},
		{Op: OpDrop, Columns: []string{"blob", "attrs"}},
		{Op: OpCast, Columns: []string{"year"}, To: "int"},
		{Op: OpTrim, Columns: []string{"track_title"}},
		{Op: OpHash, Columns: []string{"email"}, Key: []byte("pepper")},
		{Op: OpParseTimestamp, Columns: []string{"released"}},
	}
	flattenEnrich = append(structural[:len(structural):len(structural)],
		Transform{Op: OpDefault, Columns: []string{"released"}, From: "kafka_timestamp"},
		Transform{Op: OpFlatten},
		Transform{Op: OpMask, Columns: []string{"artist_name"}, KeepLast: 3},
		Transform{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"genre", "track_id"}},
	)
	derive = append(structural[:len(structural):len(structural)],
		Transform{Op: OpDerive, Column: "popular", Type: "boolean", Expr: "value.plays > 1000 && value.score >= 4.0"})
	return structural, flattenEnrich, derive
}

// BenchmarkTransformApply is the per-record cost of a table's transform
// chain over an 18-field track. "structural" is the usual clean-up
// (rename, drop, cast, trim, hash, parse_timestamp) and must not allocate;
// "flatten_enrich" adds the other non-CEL steps, also allocation-free;
// "derive" adds a CEL expression, which allocates for the values it reads.
func BenchmarkTransformApply(b *testing.B) {
	w := avrotest.MustParse(b, trackSchema)
	structural, flattenEnrich, derive := benchChains()
	payload := avrotest.MustMarshal(b, w, baseTrack())
	for _, bc := range []struct {
		name  string
		steps []Transform
	}{
		{"structural", structural},
		{"flatten_enrich", flattenEnrich},
		{"derive", derive},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustProgram(b, w, bc.steps...)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				var err error
				var keep bool
				out, keep, err = p.Apply(out[:0], payload, testMeta, nil)
				if err != nil || !keep {
					b.Fatalf("keep = %v, err = %v", keep, err)
				}
			}
		})
	}
}

// TestTransformApplyDoesNotAllocate pins that every step but derive and
// filter runs without allocating once the program's buffers have grown.
func TestTransformApplyDoesNotAllocate(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	structural, flattenEnrich, _ := benchChains()
	every := []Transform{
		{Op: OpCast, Columns: []string{"plays", "score", "ratio", "day", "event_ts", "price", "explicit"}, To: "string"},
		{Op: OpCast, Columns: []string{"year"}, To: "double"},
		{Op: OpParseTimestamp, Columns: []string{"released"}, Formats: []string{"unix_millis", "iso8601", "rfc3339"}, Zone: "Asia/Seoul"},
		{Op: OpParseTimestamp, Columns: []string{"epoch"}, Formats: []string{"unix_seconds"}},
		{Op: OpLower, Columns: []string{"title"}},
		{Op: OpUpper, Columns: []string{"genre"}},
		{Op: OpEmptyToNull, Columns: []string{"title"}},
		{Op: OpMask, Columns: []string{"title"}, KeepLast: 4},
		{Op: OpDefault, Columns: []string{"email"}, Value: "none"},
		{Op: OpEnrich, Lookup: labels(), KeyColumns: []string{"explicit", "id"}, OnMiss: "default",
			Defaults: map[string]any{"label_name": "indie", "label_country": nil}},
		{Op: OpKeep, Columns: []string{"title", "label_name", "released", "price"}},
	}
	nulls := track(map[string]any{"year": nil, "released": nil, "email": nil, "artist": map[string]any{"name": "Solo", "country": nil, "label": nil}})
	offset := track(map[string]any{"year": "2001", "released": "2024-05-17T10:20:30.5+09:00", "id": int64(8)})
	for _, tc := range []struct {
		name  string
		steps []Transform
		recs  []map[string]any
	}{
		{"structural", structural, []map[string]any{baseTrack(), nulls, offset}},
		{"flatten_enrich", flattenEnrich, []map[string]any{baseTrack(), nulls, offset}},
		{"every op", every, []map[string]any{baseTrack(), offset,
			track(map[string]any{"year": "1e3", "released": "2024-05-17 10:20:30", "email": nil, "explicit": true})}},
	} {
		name := tc.name
		p := mustProgram(t, w, tc.steps...)
		for _, rec := range tc.recs {
			payload := avrotest.MustMarshal(t, w, rec)
			var out []byte
			allocs := testing.AllocsPerRun(100, func() {
				var err error
				if out, _, err = p.Apply(out[:0], payload, testMeta, nil); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: Apply allocates %.1f times per record", name, allocs)
			}
		}
	}
}
