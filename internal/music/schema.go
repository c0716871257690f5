// Package music is Big Father's sample domain: a music catalog of tracks.
// It provides the Avro schema registered for the tracks topic, a
// deterministic generator of realistic Track records, Confluent wire
// framing, and a rate-limited producer. `bigfather dev`, tests and
// benchmarks use it as a workload that exercises every Avro feature the
// ingester must map to Iceberg: nested and nullable records, enums,
// arrays of records, decimals, dates and both timestamp precisions.
package music

// TracksSubject is the schema registry subject of the tracks topic's values
// (TopicNameStrategy for a topic named "tracks").
const TracksSubject = "tracks-value"

// trackSchema is kept as one literal so that the text registered is the
// same byte for byte on every run, which keeps registry ids stable.
const trackSchema = `{
  "type": "record",
  "name": "Track",
  "namespace": "com.bigfather.music",
  "doc": "A recording in the catalog, as published by the catalog service whenever the track is created or its metadata changes.",
  "fields": [
    {"name": "track_id", "type": {"type": "string", "logicalType": "uuid"},
     "doc": "Catalog-assigned identifier of the track; stable across metadata updates and used as the Kafka key."},
    {"name": "isrc", "type": "string",
     "doc": "International Standard Recording Code (ISO 3901) without hyphens: country code, registrant code, two-digit reference year, five-digit designation, e.g. USRC17607839."},
    {"name": "title", "type": "string",
     "doc": "Track title as printed on the release, including version suffixes such as (Live) or (Remastered)."},
    {"name": "artist", "doc": "Primary artist the track is credited to.", "type": {
      "type": "record", "name": "Artist",
      "fields": [
        {"name": "artist_id", "type": "long", "doc": "Catalog-assigned artist identifier."},
        {"name": "name", "type": "string", "doc": "Artist or band name as credited."},
        {"name": "country", "type": ["null", "string"], "default": null,
         "doc": "ISO 3166-1 alpha-2 country of origin, null when unknown."}
      ]}},
    {"name": "album", "default": null,
     "doc": "Release the track appears on; null for standalone singles not yet assigned to a release.",
     "type": ["null", {
      "type": "record", "name": "Album",
      "fields": [
        {"name": "album_id", "type": "long", "doc": "Catalog-assigned release identifier."},
        {"name": "title", "type": "string", "doc": "Release title."},
        {"name": "release_date", "type": {"type": "int", "logicalType": "date"},
         "doc": "Original release date of the album (days since the Unix epoch)."},
        {"name": "label", "type": ["null", "string"], "default": null,
         "doc": "Record label that released the album; null for self-released albums."}
      ]}]},
    {"name": "duration_ms", "type": "int", "doc": "Playing time in milliseconds."},
    {"name": "explicit", "type": "boolean", "doc": "True when the recording carries a parental advisory."},
    {"name": "popularity", "type": ["null", "double"], "default": null,
     "doc": "Streaming popularity score from 0 to 100 over the last 28 days; null until enough plays are counted."},
    {"name": "genre", "doc": "Primary genre chosen by the label.", "type": {
      "type": "enum", "name": "Genre",
      "symbols": ["ROCK", "POP", "JAZZ", "CLASSICAL", "HIP_HOP", "ELECTRONIC", "COUNTRY", "RNB", "REGGAE", "FOLK", "METAL", "BLUES"],
      "default": "POP"}},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": [],
     "doc": "Free-form editorial tags such as moods and eras, lower case."},
    {"name": "credits", "default": [], "doc": "Contributors to the recording other than the primary artist.",
     "type": {"type": "array", "items": {
      "type": "record", "name": "Credit",
      "fields": [
        {"name": "name", "type": "string", "doc": "Contributor name as credited."},
        {"name": "role", "doc": "Contribution made to the recording.", "type": {
          "type": "enum", "name": "CreditRole",
          "symbols": ["composer", "lyricist", "producer", "performer", "engineer"]}}
      ]}}},
    {"name": "royalty_rate", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 4},
     "doc": "Share of net receipts paid to rights holders per stream, as a fraction (0.1500 = 15%)."},
    {"name": "released_at", "type": {"type": "long", "logicalType": "timestamp-millis"},
     "doc": "Instant the track was first made available, UTC."},
    {"name": "updated_at", "type": {"type": "long", "logicalType": "timestamp-micros"},
     "doc": "Instant the catalog last changed this track's metadata, UTC; the event time of this record."}
  ]
}`

// TrackSchema returns the Avro schema of a Track, as registered under
// TracksSubject.
func TrackSchema() string { return trackSchema }
