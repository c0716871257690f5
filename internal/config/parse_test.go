package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/internal/tlsconf"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

const minimal = `
pipeline: p1
kafka:
  brokers: ["127.0.0.1:9092"]
schema_registry:
  url: http://127.0.0.1:8081
tables:
  - topic: tracks
    table: music.tracks
`

// noAWSRegion keeps the machine's AWS setup out of the test, so the S3
// region default is the documented fallback.
func noAWSRegion(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
}

// chdirTemp runs the test in a fresh working directory, so the relative
// default warehouse resolves somewhere known.
func chdirTemp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	// TempDir may sit behind a symlink; Abs sees the resolved cwd.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestMinimalGetsDefaults(t *testing.T) {
	wd := chdirTemp(t)
	noAWSRegion(t)
	got, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Pipeline = "p1"
	want.Kafka.Brokers = []string{"127.0.0.1:9092"}
	want.Kafka.Group = "bigfather-p1"
	want.SchemaRegistry.URL = "http://127.0.0.1:8081"
	want.Tables = []ingest.TableRoute{{Topic: "tracks", Table: "music.tracks", Rejects: "music.tracks__rejects", Format: "avro"}}
	want.Warehouse.URL = "file://" + filepath.ToSlash(filepath.Join(wd, "warehouse"))
	want.Catalog.SQL.DSN = filepath.Join(wd, "warehouse", "catalog.db")
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", *got, want)
	}
	// Spot-check the documented defaults, so a change to Default() shows up.
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"kafka.client_id", got.Kafka.ClientID, "bigfather"},
		{"kafka.start", got.Kafka.Start.String(), "earliest"},
		{"kafka.on_gap", got.Kafka.OnGap, "halt"},
		{"schema_registry.subject_name_strategy", got.SchemaRegistry.SubjectNameStrategy, "topic_name"},
		{"kafka.fetch_max_bytes", got.Kafka.FetchMaxBytes.String(), "16MiB"},
		{"catalog.type", got.Catalog.Type, "sql"},
		{"catalog.name", got.Catalog.Name, "bigfather"},
		{"catalog.sql.driver", got.Catalog.SQL.Driver, "sqlite"},
		{"warehouse.s3.region", got.Warehouse.S3.Region, "us-east-1"},
		{"flush.max_latency", got.Flush.MaxLatency, 10 * time.Second},
		{"flush.target_file_size", got.Flush.TargetFileSize.String(), "128MiB"},
		{"flush.max_records", got.Flush.MaxRecords, int64(1_000_000)},
		{"flush.idle_commit_interval", got.Flush.IdleCommitInterval, time.Minute},
		{"quarantine.enabled", got.Quarantine.Enabled, true},
		{"quarantine.suffix", got.Quarantine.Suffix, "__rejects"},
		{"validation.max_record_bytes", got.Validation.MaxRecordBytes.String(), "10MiB"},
		{"memory_budget", got.MemoryBudget.String(), "256MiB"},
		{"memory_limit", got.MemoryLimit.String(), "0B"},
		{"gc_percent", strconv.Itoa(got.GCPercent), "0"},
		{"shutdown_timeout", got.ShutdownTimeout, 30 * time.Second},
		{"metrics.addr", got.Metrics.Addr, "127.0.0.1:9464"},
		{"log.level", got.Log.Level, "info"},
		{"log.format", got.Log.Format, "text"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// fullWant is testdata/full.yaml as Go values.
func fullWant() Config {
	return Config{
		Pipeline: "music-staging",
		Kafka: ingest.KafkaConfig{
			Brokers:        []string{"10.0.0.1:9092", "10.0.0.2:9093"},
			Group:          "music-group",
			ClientID:       "bf-music",
			Start:          ingest.StartPosition{Kind: ingest.StartTimestamp, At: time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC)},
			OnGap:          ingest.OnGapSkip,
			MetadataMaxAge: 45 * time.Second,
			FetchMaxBytes:  24 * MiB,
			SessionTimeout: 10 * time.Second, RebalanceTimeout: 20 * time.Second, InstanceID: "bf-host-1",
			TLS: tlsconf.Config{Enabled: true, CAFile: "/etc/bf/kafka-ca.pem", CertFile: "/etc/bf/kafka.crt",
				KeyFile: "/etc/bf/kafka.key", ServerName: "kafka.internal", InsecureSkipVerify: true},
			SASL: ingest.SASLConfig{Mechanism: ingest.SASLSCRAMSHA512, Username: "music", Password: "kafka-secret"},
		},
		SchemaRegistry: registry.Config{
			URL: "https://registry.internal:8081", Username: "sr-user", Password: "sr-secret",
			TLS:                 tlsconf.Config{Enabled: true, CAFile: "/etc/bf/sr-ca.pem", ServerName: "registry.internal"},
			SubjectNameStrategy: registry.SubjectTopicRecordName,
		},
		Catalog: table.CatalogConfig{
			Type: table.CatalogREST,
			Name: "lake",
			SQL:  table.SQLCatalogConfig{Driver: table.SQLDriverPostgres, DSN: "postgres://bf:pg-secret@db.internal:5432/catalog?sslmode=require"},
			REST: table.RESTCatalogConfig{URI: "https://catalog.internal/api", Properties: map[string]string{
				"credential": "client:rest-secret", "token": "rest-token",
				"warehouse": "lake-wh", "s3.endpoint": "https://s3.internal",
			}},
		},
		Warehouse: objstore.Config{
			URL: "s3://lake-bucket/staging/music",
			S3: objstore.S3Config{Endpoint: "https://s3.internal", Region: "eu-west-1", PathStyle: true,
				AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3-secret", SessionToken: "s3-session"},
		},
		Tables: []ingest.TableRoute{
			{Topic: "tracks", Topics: []string{"tracks.backfill"}, TopicPatterns: []string{`tracks\.region-[a-z]+`},
				Route: ingest.Route{Field: "kind", Values: []string{"track"}}, Table: "music.tracks", Rejects: "music.tracks_quarantine", Format: "avro",
				Rules: []rules.Rule{{Name: "positive_duration", Expr: "value.duration_ms > 0"}}, Filter: "value.genre != 'SPOKEN'",
				PartitionBy: []string{"day(released_at)", "bucket(16, isrc)"},
				Cleanse:     []transform.CleanseStep{{Op: "trim", Columns: []string{"title"}}, {Op: "hash", Columns: []string{"isrc"}, KeyEnv: "PII_KEY"}},
				Transforms: []transform.Transform{
					{Op: "enrich", Name: "artist", Columns: []string{}, Renames: map[string]string{}, Formats: []string{}, LookupName: "artists",
						KeyColumns: []string{"artist_id"}, OnMiss: "default", Defaults: map[string]any{"artist_name": "unknown", "followers": int64(0)}},
					{Op: "parse_timestamp", Columns: []string{"released"}, Renames: map[string]string{"a": "b"}, Value: int64(7),
						Formats: []string{"rfc3339", "2006-01-02"}, Zone: "Europe/Paris", KeyColumns: []string{}, Defaults: map[string]any{}},
				}},
			{Topic: "plays.v2", Topics: []string{"plays.v1"}, TopicPatterns: []string{`plays\.v[0-9]+`}, Route: ingest.Route{Header: "type", Values: []string{"play"}},
				Table: "music.raw.plays", Rejects: "music.raw.plays_rejected", Format: "json",
				ValueSchema: `{"type": "record", "name": "Play", "fields": [{"name": "user_id", "type": "long"}]}`,
				Rules:       []rules.Rule{{Name: "has_user", Expr: "has(value.user_id)"}}, PartitionBy: []string{"user_id"},
				Cleanse: []transform.CleanseStep{{Op: "mask", Columns: []string{"phone"}, KeepLast: 4}}, Transforms: []transform.Transform{}},
			{Topic: "tracks", Topics: []string{}, TopicPatterns: []string{}, Route: ingest.Route{Values: []string{}, When: "value.kind == 'album'"},
				Table: "music.albums", Rejects: "music.albums_bad", Format: "avro", Rules: []rules.Rule{}, PartitionBy: []string{}, Cleanse: []transform.CleanseStep{}, Transforms: []transform.Transform{}},
		},
		Enrichment: []enrich.Source{{Name: "artists", Location: "s3://ref-bucket/artists.csv", Format: "csv", Key: []string{"artist_id"},
			Columns: []enrich.Column{{Name: "name", As: "artist_name", Type: "string"}, {Name: "followers", Type: "long"}}, Refresh: 5 * time.Minute}},
		Routing:         ingest.RoutingConfig{Unrouted: "drop"},
		Quarantine:      ingest.QuarantineConfig{Enabled: true, Suffix: "_bad", DLQTopic: "music.rejects"},
		Validation:      ingest.ValidationConfig{MaxRecordBytes: 4 * MiB},
		Flush:           ingest.FlushConfig{MaxLatency: 150 * time.Second, TargetFileSize: 256 * MiB, MaxRecords: 500_000, IdleCommitInterval: 5 * time.Minute, MaxOpenFiles: 32, ParallelFiles: 3},
		Parquet:         table.ParquetConfig{Compression: "snappy", ZstdLevel: 9, RowGroupSize: 64 * MiB, PageSize: 512 * KiB, Dictionary: false},
		MemoryBudget:    2 * GiB,
		MemoryLimit:     5 * GiB,
		GCPercent:       300,
		ShutdownTimeout: 45 * time.Second,
		Metrics:         Metrics{Addr: "0.0.0.0:9100"},
		Log:             Log{Level: "debug", Format: "json"},
	}
}

func TestFullFile(t *testing.T) {
	got, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := fullWant()
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", *got, want)
	}
	if ns, name := got.Tables[1].Split(); !reflect.DeepEqual(ns, []string{"music", "raw"}) || name != "plays" {
		t.Errorf("Split(%q) = %v, %q", got.Tables[1].Table, ns, name)
	}
	if b, p, ok := got.Warehouse.S3Location(); !ok || b != "lake-bucket" || p != "staging/music" {
		t.Errorf("S3Location = %q, %q, %v", b, p, ok)
	}

	// Printing a config and reading it back gives the same config, so the
	// YAML form of every type (sizes, durations, start) is its input form.
	out, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, got) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", *back, *got)
	}
}

// TestFullFileCoversEveryKey guards the example file: a key added to Config
// without being added to full.yaml fails here. Every key must appear in
// every list element; a list may be empty in some elements when another
// element shows it filled (a table routed by when has no values).
func TestFullFileCoversEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, perr := parseDocument(data)
	if perr != nil {
		t.Fatal(perr)
	}
	filled := map[string]bool{} // by path without list indexes
	unindexed := regexp.MustCompile(`\[\d+\]`)
	var walk func(n *yaml.Node, tp reflect.Type, path string)
	walk = func(n *yaml.Node, tp reflect.Type, path string) {
		if isLeaf(tp) || tp.Kind() == reflect.Map {
			return
		}
		if tp.Kind() == reflect.Slice {
			key := unindexed.ReplaceAllString(path, "[]")
			filled[key] = filled[key] || len(n.Content) > 0
			if !isLeaf(tp.Elem()) {
				for i, c := range n.Content {
					walk(c, tp.Elem(), indexPath(path, i))
				}
			}
			return
		}
		for _, name := range fieldNames(tp) {
			slot := -1
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					slot = i + 1
				}
			}
			if slot < 0 {
				t.Errorf("%s: missing from full.yaml", joinPath(path, name))
				continue
			}
			i, _ := fieldIndex(tp, name)
			walk(n.Content[slot], tp.Field(i).Type, joinPath(path, name))
		}
	}
	walk(root, reflect.TypeFor[Config](), "")
	for key, ok := range filled {
		if !ok {
			t.Errorf("%s: empty in every element of full.yaml", key)
		}
	}
}

func TestRelativeWarehouse(t *testing.T) {
	wd := chdirTemp(t)
	tests := []struct {
		url, want string
	}{
		{"file://./warehouse", "file://" + wd + "/warehouse"},
		{"file://data/wh/", "file://" + wd + "/data/wh"},
		{"file:///abs/wh", "file:///abs/wh"},
		{"s3://bkt/p", "s3://bkt/p"},
	}
	for _, tt := range tests {
		cfg, err := Parse([]byte(minimal), "warehouse.url="+tt.url, "catalog.type=objectstore")
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if cfg.Warehouse.URL != tt.want {
			t.Errorf("warehouse.url %q resolved to %q, want %q", tt.url, cfg.Warehouse.URL, tt.want)
		}
	}
}

// errorAt returns the *Error in err whose path is path.
func errorAt(err error, path string) *Error {
	for _, e := range Errors(err) {
		if e.Path == path {
			return e
		}
	}
	return nil
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		path     string
		line     int
		contains string
	}{
		{"unknown top-level key", minimal + "bogus: 1\n", "bogus", 10, "unknown key (valid top-level keys: pipeline, kafka,"},
		{"unknown nested key", "pipeline: p\nkafka:\n  tls:\n    enabld: true\n", "kafka.tls.enabld", 4, "unknown key (valid keys in kafka.tls: enabled,"},
		{"unknown key in list item", "tables:\n  - topic: a\n    tabel: b.c\n", "tables[0].tabel", 3, "unknown key"},
		{"duplicate key", "pipeline: a\npipeline: b\n", "pipeline", 2, "duplicate key (first at line 1)"},
		{"duplicate map key", "catalog:\n  rest:\n    properties:\n      a: 1\n      a: 2\n", "catalog.rest.properties.a", 5, "duplicate key"},
		{"merge key", "kafka:\n  <<: {group: g}\n", "kafka", 2, "merge keys"},
		{"integer", "flush:\n  max_records: lots\n", "flush.max_records", 2, `want an integer, got "lots"`},
		{"duration without unit", "flush: {max_latency: 10}\n", "flush.max_latency", 1, "want a duration"},
		{"bool", "kafka: {tls: {enabled: maybe}}\n", "kafka.tls.enabled", 1, "want true or false"},
		{"size", "memory_budget: 12XB\n", "memory_budget", 1, `unknown unit "XB"`},
		{"start", "kafka: {start: yesterday}\n", "kafka.start", 1, "want earliest, latest or an RFC 3339 timestamp"},
		{"mapping for a list", "kafka:\n  brokers: {a: b}\n", "kafka.brokers", 2, "want a list, got a mapping"},
		{"list for a section", "kafka: [a]\n", "kafka", 1, "want a mapping of keys, got a list"},
		{"mapping for a string", "pipeline: {a: 1}\n", "pipeline", 1, "want a string, got a mapping"},
		{"list of lists for tables", "tables: [[a]]\n", "tables[0]", 1, "want a mapping of keys, got a list"},
		{"top level list", "- a\n", "", 1, "want a mapping of keys at the top level"},
		{"syntax", "pipeline: p\n  bad: x\n", "", 2, "invalid YAML: mapping values are not allowed"},
		{"second document", minimal + "---\npipeline: q\n", "", 10, "second YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("want error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			e := errorAt(err, tt.path)
			if e == nil {
				t.Fatalf("no error at path %q in:\n%v", tt.path, err)
			}
			if e.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", e.Line, tt.line, e)
			}
			if !strings.Contains(e.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", e.Error(), tt.contains)
			}
		})
	}
}

func TestUnknownKeyMessage(t *testing.T) {
	_, err := Parse([]byte("pipeline: p\nkafka:\n  brokers: [a:1]\n  grup: g\n"))
	want := `config: line 4: kafka.grup: unknown key (valid keys in kafka: brokers, group, client_id,`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want prefix %q", err, want)
	}
}

func TestLoadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bf.yaml")
	if err := os.WriteFile(path, []byte(minimal+"flush: {max_records: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := "config: " + path + ": line 10: flush.max_records: must be > 0"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: got %v, want a not-exist error that is not ErrInvalid", err)
	}
}

func TestSeveralErrorsReported(t *testing.T) {
	_, err := Parse([]byte("kafka: {bogus: 1}\nflush: {max_records: x}\n"))
	if n := len(Errors(err)); n != 2 {
		t.Fatalf("got %d errors, want 2: %v", n, err)
	}
	// Validation reports everything missing at once.
	_, err = Parse(nil)
	for _, p := range []string{"pipeline", "kafka.brokers", "schema_registry.url", "tables"} {
		if errorAt(err, p) == nil {
			t.Errorf("empty config: no error for %s in %v", p, err)
		}
	}
}

func TestQuarantineDisabledLeavesNoRejectsTable(t *testing.T) {
	chdirTemp(t)
	cfg, err := Parse([]byte(minimal), "quarantine.enabled=false", "tables[0].rejects=music.kept_anyway")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tables[0].Rejects != "" {
		t.Fatalf("rejects %q with quarantine disabled, want none", cfg.Tables[0].Rejects)
	}
}
