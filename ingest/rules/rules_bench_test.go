package rules

import (
	"math/big"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/music"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
)

// musicRules are the typical rules of the README: a comparison, a regular
// expression and a membership test, over a nested nullable field.
func musicRules() []Rule {
	return []Rule{
		{Name: "positive_duration", Expr: "value.duration_ms > 0"},
		{Name: "isrc_format", Expr: "value.isrc.matches('^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$')"},
		{Name: "known_country", Expr: "value.artist.country in ['KR', 'JP', 'US', 'GB', 'SE', 'DE', 'FR']"},
	}
}

// musicTrack is a complete track by an artist from country.
func musicTrack(country string) music.Track {
	return music.Track{
		TrackID: "3f0c2a54-9d1e-4b7a-8c55-0e6f1d2b9a71", ISRC: "KRA382400123", Title: "Midnight Ferry (Live)",
		Artist: music.Artist{ArtistID: 100037, Name: "The Harbour Lights", Country: avrotest.Ptr(country)},
		Album: &music.Album{AlbumID: 5001, Title: "Tides", ReleaseDate: time.Date(2024, 5, 17, 0, 0, 0, 0, time.UTC),
			Label: avrotest.Ptr("Seaside Records")},
		DurationMS: 241_000, Explicit: false, Popularity: avrotest.Ptr(71.5), Genre: "POP",
		Tags:        []string{"summer", "night", "2020s"},
		Credits:     []music.Credit{{Name: "Min-ji Park", Role: "composer"}, {Name: "Jae Lee", Role: "producer"}},
		RoyaltyRate: big.NewRat(1500, 10000),
		ReleasedAt:  time.UnixMilli(1_715_904_000_000).UTC(),
		UpdatedAt:   time.UnixMicro(1_730_000_000_123_456).UTC(),
	}
}

// BenchmarkRulesEval is the validation hot path: three rules over a
// 14-field track. "fail" fails the last rule, so it, too, runs all three.
func BenchmarkRulesEval(b *testing.B) {
	w := avrotest.MustParse(b, music.TrackSchema())
	ev := mustRuleEvaluator(b, w, musicRules()...)
	meta := &schema.Meta{Topic: "tracks", Partition: 3, Offset: 1_000_000, Timestamp: time.UnixMilli(1_730_000_000_000), Key: []byte("k")}
	for _, bc := range []struct {
		name, country, want string
	}{
		{"pass", "KR", ""},
		{"fail", "ZZ", "known_country"},
	} {
		p := avrotest.MustMarshal(b, w, musicTrack(bc.country))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				failed, err := ev.Eval(p, meta, nil)
				if failed != bc.want || err != nil {
					b.Fatalf("failed = %q, err = %v; want %q", failed, err, bc.want)
				}
			}
		})
	}
}

// BenchmarkRulesEvalWhole prices the fallback: a rule that uses value
// whole makes every record be read into CEL values.
func BenchmarkRulesEvalWhole(b *testing.B) {
	w := avrotest.MustParse(b, music.TrackSchema())
	ev := mustRuleEvaluator(b, w, append(musicRules(), Rule{Name: "fields", Expr: "size(value) > 3"})...)
	p := avrotest.MustMarshal(b, w, musicTrack("KR"))
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if failed, err := ev.Eval(p, nil, nil); failed != "" || err != nil {
			b.Fatalf("failed = %q, err = %v", failed, err)
		}
	}
}
