package music

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hamba/avro/v2"
)

// Time span of generated releases. The upper bound is fixed rather than
// time.Now so that a seed yields the same bytes on every run.
var (
	catalogStart = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	catalogEnd   = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
)

// rosterSize is how many artists a generator invents up front. Drawing
// tracks from a fixed roster makes artists recur, as in a real catalog.
const rosterSize = 512

type rosterArtist struct {
	id         int64
	name       string
	country    *string
	registrant string // ISRC registrant code of the artist's label
	genre      int    // index into genres
}

// Generator produces a deterministic stream of realistic Tracks. The same
// seed yields the same bytes. A Generator is not safe for concurrent use;
// give each goroutine its own.
type Generator struct {
	rng    *rand.Rand
	schema avro.Schema
	w      *avro.Writer
	roster []rosterArtist

	// Reused across Next calls so that encoding one record allocates only
	// the strings it invents.
	track      Track
	album      Album
	popularity float64
	rate       big.Rat
	title      strings.Builder
}

// NewGenerator returns a Generator seeded with seed.
func NewGenerator(seed int64) *Generator {
	// TrackSchema is a constant validated by the package tests, so a parse
	// error here is a programming error caught before release; it is still
	// reported through Next rather than by panicking.
	schema, err := avro.Parse(trackSchema)
	g := &Generator{
		rng:    rand.New(rand.NewPCG(uint64(seed), 0x6269676661746865)), // "bigfathe"
		schema: schema,
		w:      avro.NewWriter(nil, 1024),
	}
	if err != nil {
		g.w.Error = fmt.Errorf("parse track schema: %w", err)
	}
	g.roster = make([]rosterArtist, rosterSize)
	for i := range g.roster {
		g.roster[i] = g.newArtist(int64(100000 + i*37))
	}
	return g
}

// Next appends one Avro binary encoded Track (no wire header) to dst.
func (g *Generator) Next(dst []byte) ([]byte, error) {
	if g.schema == nil {
		return dst, g.w.Error
	}
	g.fill()
	g.w.Reset(nil)
	g.w.WriteVal(g.schema, &g.track)
	if err := g.w.Error; err != nil {
		g.w.Error = nil
		return dst, fmt.Errorf("encode track %s: %w", g.track.TrackID, err)
	}
	return append(dst, g.w.Buffer()...), nil
}

// LastTrackID returns the track_id of the record the last Next produced,
// which producers use as the Kafka key.
func (g *Generator) LastTrackID() string { return g.track.TrackID }

// fill overwrites g.track with the next random track.
func (g *Generator) fill() {
	r := g.rng
	t := &g.track
	a := &g.roster[g.skewed(len(g.roster))]

	var id uuid.UUID
	for i := 0; i < len(id); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	t.TrackID = id.String()

	released := g.releaseInstant()
	t.ReleasedAt = released
	t.ISRC = g.isrc(a, released.Year())
	t.Title = g.songTitle(true)
	t.Artist = Artist{ArtistID: a.id, Name: a.name, Country: a.country}

	t.Album = nil
	if r.IntN(100) < 85 {
		g.album = Album{
			AlbumID:     a.id*1000 + int64(released.Year()%100)*10 + int64(r.IntN(10)),
			Title:       g.songTitle(false),
			ReleaseDate: released.Truncate(24 * time.Hour),
		}
		if r.IntN(100) < 80 {
			g.album.Label = &labels[r.IntN(len(labels))]
		}
		t.Album = &g.album
	}

	genre := a.genre
	if r.IntN(100) < 15 { // artists stray from their usual genre now and then
		genre = r.IntN(len(genres))
	}
	t.Genre = genres[genre]
	t.DurationMS = g.duration(genres[genre])
	explicitPct := 8
	if t.Genre == "HIP_HOP" {
		explicitPct = 60
	}
	t.Explicit = r.IntN(100) < explicitPct

	t.Popularity = nil
	if r.IntN(100) < 90 {
		// Long tail: most tracks are obscure, few are hits.
		p := 100 * r.Float64() * r.Float64()
		g.popularity = float64(int(p*10)) / 10
		t.Popularity = &g.popularity
	}

	t.Tags = t.Tags[:0]
	for n := r.IntN(5); len(t.Tags) < n; {
		tag := tagPool[r.IntN(len(tagPool))]
		if !slices.Contains(t.Tags, tag) {
			t.Tags = append(t.Tags, tag)
		}
	}

	t.Credits = t.Credits[:0]
	t.Credits = append(t.Credits, Credit{Name: a.name, Role: "performer"})
	for n := r.IntN(4); n > 0; n-- {
		t.Credits = append(t.Credits, Credit{
			Name: g.personName(),
			Role: creditRoles[r.IntN(len(creditRoles))],
		})
	}

	// Between 4% and 25% with four decimals, matching decimal(9,4).
	g.rate.SetFrac64(400+r.Int64N(2101), 10000)
	t.RoyaltyRate = &g.rate

	// The catalog keeps editing metadata after release.
	span := catalogEnd.Sub(released)
	t.UpdatedAt = released.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Microsecond)
}

// skewed returns an index in [0, n) biased toward low indexes, so that a
// few artists account for many tracks.
func (g *Generator) skewed(n int) int {
	f := g.rng.Float64()
	return int(f * f * float64(n))
}

// releaseInstant picks a release time between catalogStart and catalogEnd,
// weighted toward recent years as catalogs are.
func (g *Generator) releaseInstant() time.Time {
	span := catalogEnd.Sub(catalogStart)
	f := 1 - g.rng.Float64()*g.rng.Float64()
	day := catalogStart.Add(time.Duration(f * float64(span))).Truncate(24 * time.Hour)
	if !day.Before(catalogEnd) {
		day = catalogEnd.Add(-24 * time.Hour)
	}
	// Digital releases go live at midnight somewhere; spread them over the day.
	return day.Add(time.Duration(g.rng.IntN(24*60)) * time.Minute)
}

// duration returns a playing time in ms within [MinDurationMS, MaxDurationMS].
func (g *Generator) duration(genre string) int32 {
	r := g.rng
	// Sum of two uniforms: a triangular distribution peaking near 3m45s.
	ms := 150_000 + r.IntN(75_000) + r.IntN(75_000)
	if genre == "CLASSICAL" || genre == "JAZZ" || r.IntN(100) < 5 {
		ms = MinDurationMS + r.IntN(MaxDurationMS-MinDurationMS+1)
	}
	return int32(min(max(ms, MinDurationMS), MaxDurationMS))
}

// isrc returns a code for a recording first released in year. ISRCs date
// from 1986: older recordings carry the year they were digitised.
func (g *Generator) isrc(a *rosterArtist, year int) string {
	country := "US"
	if a.country != nil {
		country = *a.country
	}
	if year < 1986 {
		year = 1990 + g.rng.IntN(20)
	}
	var b [12]byte
	out := append(append(b[:0], country...), a.registrant...)
	out = appendDigits(out, year%100, 2)
	out = appendDigits(out, g.rng.IntN(100000), 5)
	return string(out)
}

// appendDigits appends v zero-padded to width decimal digits; it replaces
// fmt.Sprintf on the per-record path.
func appendDigits(dst []byte, v, width int) []byte {
	start := len(dst)
	for range width {
		dst = append(dst, '0')
	}
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}

func (g *Generator) songTitle(allowSuffix bool) string {
	r := g.rng
	b := &g.title
	b.Reset()
	switch r.IntN(5) {
	case 0, 1:
		b.WriteString(adjectives[r.IntN(len(adjectives))])
		b.WriteByte(' ')
		b.WriteString(nouns[r.IntN(len(nouns))])
	case 2:
		b.WriteString(nouns[r.IntN(len(nouns))])
		b.WriteString(" of ")
		b.WriteString(nouns[r.IntN(len(nouns))])
	case 3:
		b.WriteString(gerunds[r.IntN(len(gerunds))])
		b.WriteByte(' ')
		b.WriteString(nouns[r.IntN(len(nouns))])
	default:
		b.WriteString(nouns[r.IntN(len(nouns))])
	}
	if allowSuffix && r.IntN(100) < 12 {
		b.WriteString(titleSuffixes[r.IntN(len(titleSuffixes))])
	}
	return b.String()
}

func (g *Generator) personName() string {
	return firstNames[g.rng.IntN(len(firstNames))] + " " + lastNames[g.rng.IntN(len(lastNames))]
}

func (g *Generator) newArtist(id int64) rosterArtist {
	r := g.rng
	a := rosterArtist{id: id, genre: r.IntN(len(genres))}
	switch n := r.IntN(100); {
	case n < 50:
		a.name = g.personName()
	case n < 80:
		a.name = "The " + adjectives[r.IntN(len(adjectives))] + " " + pluralNouns[r.IntN(len(pluralNouns))]
	case n < 90:
		a.name = strings.ToUpper(nouns[r.IntN(len(nouns))])
	default:
		a.name = nouns[r.IntN(len(nouns))] + " & " + firstNames[r.IntN(len(firstNames))]
	}
	if r.IntN(100) < 92 {
		a.country = &countries[r.IntN(len(countries))]
	}
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	reg := []byte{
		alnum[r.IntN(26)], // registrant codes start with a letter in practice
		alnum[r.IntN(len(alnum))],
		alnum[r.IntN(len(alnum))],
	}
	a.registrant = string(reg)
	return a
}
