package music_test

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"regexp"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/music"
	"github.com/google/uuid"
	"github.com/hamba/avro/v2"
)

var isrcRE = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)

func parseSchema(t testing.TB) avro.Schema {
	t.Helper()
	s, err := avro.Parse(music.TrackSchema())
	if err != nil {
		t.Fatalf("parse TrackSchema: %v", err)
	}
	return s
}

// checkTrack asserts that tr is plausible catalog data.
func checkTrack(t *testing.T, tr *music.Track) {
	t.Helper()
	if _, err := uuid.Parse(tr.TrackID); err != nil {
		t.Errorf("track_id %q: %v", tr.TrackID, err)
	}
	if !isrcRE.MatchString(tr.ISRC) {
		t.Errorf("isrc %q does not match %s", tr.ISRC, isrcRE)
	}
	if tr.DurationMS < music.MinDurationMS || tr.DurationMS > music.MaxDurationMS {
		t.Errorf("duration_ms %d out of [%d, %d]", tr.DurationMS, music.MinDurationMS, music.MaxDurationMS)
	}
	if tr.Title == "" || tr.Artist.Name == "" || tr.Genre == "" {
		t.Errorf("empty title/artist/genre: %+v", tr)
	}
	lo := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if tr.ReleasedAt.Before(lo) || !tr.ReleasedAt.Before(hi) {
		t.Errorf("released_at %v outside 1960-2026", tr.ReleasedAt)
	}
	if tr.UpdatedAt.Before(tr.ReleasedAt) {
		t.Errorf("updated_at %v before released_at %v", tr.UpdatedAt, tr.ReleasedAt)
	}
	if tr.RoyaltyRate == nil || tr.RoyaltyRate.Cmp(big.NewRat(4, 100)) < 0 || tr.RoyaltyRate.Cmp(big.NewRat(25, 100)) > 0 {
		t.Errorf("royalty_rate %v outside [0.04, 0.25]", tr.RoyaltyRate)
	}
	if tr.Popularity != nil && (*tr.Popularity < 0 || *tr.Popularity > 100) {
		t.Errorf("popularity %v outside [0, 100]", *tr.Popularity)
	}
	if len(tr.Credits) == 0 {
		t.Errorf("no credits")
	}
	if a := tr.Album; a != nil {
		if a.ReleaseDate.Year() != tr.ReleasedAt.Year() {
			t.Errorf("album release_date %v vs released_at %v", a.ReleaseDate, tr.ReleasedAt)
		}
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	gen := func(seed int64) []byte {
		g := music.NewGenerator(seed)
		var out []byte
		for range 200 {
			var err error
			if out, err = g.Next(out); err != nil {
				t.Fatalf("Next: %v", err)
			}
		}
		return out
	}
	a, b := gen(42), gen(42)
	if !bytes.Equal(a, b) {
		t.Fatalf("same seed produced different bytes (%d vs %d bytes)", len(a), len(b))
	}
	if bytes.Equal(a, gen(43)) {
		t.Fatalf("different seeds produced identical bytes")
	}
}

func TestGeneratorProducesValidTracks(t *testing.T) {
	schema := parseSchema(t)
	g := music.NewGenerator(7)
	var (
		albums, nullAlbums int
		genres             = map[string]int{}
		artists            = map[int64]bool{}
	)
	for i := range 2000 {
		payload, err := g.Next(nil)
		if err != nil {
			t.Fatalf("Next %d: %v", i, err)
		}
		var tr music.Track
		if err := avro.Unmarshal(schema, payload, &tr); err != nil {
			t.Fatalf("decode %d: %v", i, err)
		}
		if tr.TrackID != g.LastTrackID() {
			t.Fatalf("LastTrackID %q, decoded %q", g.LastTrackID(), tr.TrackID)
		}
		checkTrack(t, &tr)
		if tr.Album != nil {
			albums++
		} else {
			nullAlbums++
		}
		genres[tr.Genre]++
		artists[tr.Artist.ArtistID] = true
	}
	// Both branches of each union and a spread of enum symbols must be
	// exercised, or the workload would not test the ingester's mapping.
	if albums == 0 || nullAlbums == 0 {
		t.Errorf("album union not exercised: %d albums, %d nulls", albums, nullAlbums)
	}
	if len(genres) < 10 {
		t.Errorf("only %d genres generated: %v", len(genres), genres)
	}
	if len(artists) < 50 || len(artists) > 1000 {
		t.Errorf("%d distinct artists in 2000 tracks, want a recurring roster", len(artists))
	}
}

func TestAppendWire(t *testing.T) {
	tests := []struct {
		name    string
		dst     []byte
		id      int32
		payload []byte
		want    []byte
	}{
		{"empty", nil, 1, nil, []byte{0, 0, 0, 0, 1}},
		{"payload", nil, 0x01020304, []byte{9, 8}, []byte{0, 1, 2, 3, 4, 9, 8}},
		{"appends", []byte{0xff}, 258, []byte{7}, []byte{0xff, 0, 0, 0, 1, 2, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := music.AppendWire(tt.dst, tt.id, tt.payload)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
			off := len(tt.dst)
			if id := int32(binary.BigEndian.Uint32(got[off+1:])); id != tt.id {
				t.Fatalf("id %d, want %d", id, tt.id)
			}
		})
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	g := music.NewGenerator(1)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		var err error
		if buf, err = g.Next(buf[:0]); err != nil {
			b.Fatal(err)
		}
		n += len(buf)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}
