package music

import (
	"math/big"
	"time"
)

// Track is the Go form of the Track Avro record, tagged for hamba/avro. The
// generator encodes it and tests decode into it.
type Track struct {
	TrackID     string    `avro:"track_id"`
	ISRC        string    `avro:"isrc"`
	Title       string    `avro:"title"`
	Artist      Artist    `avro:"artist"`
	Album       *Album    `avro:"album"`
	DurationMS  int32     `avro:"duration_ms"`
	Explicit    bool      `avro:"explicit"`
	Popularity  *float64  `avro:"popularity"`
	Genre       string    `avro:"genre"`
	Tags        []string  `avro:"tags"`
	Credits     []Credit  `avro:"credits"`
	RoyaltyRate *big.Rat  `avro:"royalty_rate"`
	ReleasedAt  time.Time `avro:"released_at"`
	UpdatedAt   time.Time `avro:"updated_at"`
}

// Artist is the nested Artist record.
type Artist struct {
	ArtistID int64   `avro:"artist_id"`
	Name     string  `avro:"name"`
	Country  *string `avro:"country"`
}

// Album is the nested, nullable Album record.
type Album struct {
	AlbumID     int64     `avro:"album_id"`
	Title       string    `avro:"title"`
	ReleaseDate time.Time `avro:"release_date"`
	Label       *string   `avro:"label"`
}

// Credit is one entry of the credits array.
type Credit struct {
	Name string `avro:"name"`
	Role string `avro:"role"`
}

// Bounds of generated values, exported for tests and benchmarks that check
// plausibility.
const (
	MinDurationMS = 90 * 1000
	MaxDurationMS = 9 * 60 * 1000
)

// genres lists the Genre enum symbols in schema order.
var genres = [...]string{"ROCK", "POP", "JAZZ", "CLASSICAL", "HIP_HOP", "ELECTRONIC", "COUNTRY", "RNB", "REGGAE", "FOLK", "METAL", "BLUES"}

// creditRoles lists the CreditRole enum symbols in schema order.
var creditRoles = [...]string{"composer", "lyricist", "producer", "performer", "engineer"}
