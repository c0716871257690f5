package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/music"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
)

// fuzzRuleSets are the rule sets FuzzRulesEval evaluates. Each rule gets an
// evaluator of its own, so that a payload failing one early still reaches
// the others, and one set reads value whole, for the materialising path.
func fuzzRuleSets() [][]Rule {
	single := []Rule{
		{Name: "positive_duration", Expr: "value.duration_ms > 0"},
		{Name: "isrc_format", Expr: "value.isrc.matches('^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$')"},
		{Name: "known_country", Expr: "!has(value.artist.country) || value.artist.country in ['KR', 'JP', 'US']"},
		{Name: "has_album", Expr: "has(value.album) && has(value.album.label)"},
		{Name: "album_before_release", Expr: "value.album == null || value.album.release_date <= value.released_at"},
		{Name: "royalty_fraction", Expr: "value.royalty_rate >= 0.0 && value.royalty_rate <= 1.0"},
		{Name: "popularity", Expr: "!has(value.popularity) || value.popularity <= 100.0"},
		{Name: "credits", Expr: "value.credits.all(c, c.role in ['composer', 'producer'] && size(c.name) > 0)"},
		{Name: "tags", Expr: "value.tags.exists_one(t, t == 'night') || size(value.tags) == 0"},
		{Name: "genre", Expr: "value.genre != 'METAL' || value.explicit == true"},
		{Name: "updated", Expr: "value.updated_at >= value.released_at && size(value.track_id) == 36"},
		{Name: "meta", Expr: "topic == 'tracks' && !('x' in headers) && key != null"},
	}
	sets := make([][]Rule, 0, len(single)+2)
	for _, r := range single {
		sets = append(sets, []Rule{r})
	}
	sets = append(sets, single, []Rule{{Name: "whole", Expr: "size(value) == 14 && value.artist.name != '' && value != {}"}})
	return sets
}

// FuzzRulesEval feeds arbitrary payloads to rule evaluators bound to the
// music track schema. None may panic; a malformed payload must fail with
// ErrMalformed and not be blamed on a rule; and a payload the decoder's
// Check accepts must not be found malformed, as the ingester calls Eval
// only on those.
func FuzzRulesEval(f *testing.F) {
	w := avrotest.MustParse(f, music.TrackSchema())
	var evs []*RuleEvaluator
	for _, rules := range fuzzRuleSets() {
		evs = append(evs, mustRuleEvaluator(f, w, rules...))
	}
	sc, err := schema.ToIceberg(w)
	if err != nil {
		f.Fatal(err)
	}
	dec, err := decode.NewDecoder(w, sc)
	if err != nil {
		f.Fatal(err)
	}
	meta := &schema.Meta{Topic: "tracks", Partition: 1, Offset: 7, Timestamp: time.UnixMilli(1_730_000_000_000), Key: []byte("k")}
	headers := []schema.Header{{Key: "trace", Value: []byte("t")}}
	// Seeds beyond testdata/fuzz/FuzzRulesEval: generated tracks.
	g := music.NewGenerator(7)
	for range 4 {
		p, err := g.Next(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add(avrotest.MustMarshal(f, w, musicTrack("KR")))
	f.Fuzz(func(t *testing.T, payload []byte) {
		checked := dec.Check(payload) == nil
		for _, ev := range evs {
			failed, err := ev.Eval(payload, meta, headers)
			if err == nil {
				continue
			}
			if failed == "" && !errors.Is(err, schema.ErrMalformed) {
				t.Fatalf("error %v names no rule and does not wrap ErrMalformed", err)
			}
			if failed != "" && errors.Is(err, schema.ErrMalformed) {
				t.Fatalf("rule %q blamed for a malformed payload: %v", failed, err)
			}
			if checked && failed == "" {
				t.Fatalf("Decoder.Check accepts the payload but Eval finds it malformed: %v", err)
			}
		}
	})
}
