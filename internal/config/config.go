// Package config reads the configuration file of `bigfather run`.
//
// The file is YAML and is parsed strictly: an unknown key, a duplicate key or
// a value of the wrong type is an error naming the key path and its line, so a
// typo can never silently fall back to a default. Scalar values may reference
// the environment as ${VAR} or ${VAR:-default} ($$ is a literal $); expansion
// happens on the parsed node tree, so a variable's value is always one scalar
// and can never inject YAML structure. That is how secrets get in without
// being written to the file.
//
// Overrides ("key.path=value", from command-line flags) are applied to the
// node tree before decoding, so they win over the file and go through the same
// strict checks. Everything not given gets the default documented on its
// field, and Validate checks the result; every error it reports wraps
// ErrInvalid and names the key path.
package config

import (
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Catalog types accepted in catalog.type.
const (
	CatalogSQL         = "sql"
	CatalogREST        = "rest"
	CatalogObjectStore = "objectstore"
)

// SQL catalog drivers accepted in catalog.sql.driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Value formats accepted in tables[].format.
const (
	FormatAvro = "avro"
	FormatJSON = "json"
)

// Gap policies accepted in kafka.on_gap (DESIGN §3 rule 7).
const (
	OnGapHalt = "halt"
	OnGapSkip = "skip"
)

// SASL mechanisms accepted in kafka.sasl.mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// Config is the whole configuration file of `bigfather run`.
type Config struct {
	// Pipeline is the stable pipeline id P of DESIGN §3: it names the
	// watermark property bigfather.offsets.<P> in every table, so changing it
	// restarts consumption from kafka.start. Required; [a-zA-Z0-9._-]+.
	Pipeline string `yaml:"pipeline"`
	// Kafka is the source cluster.
	Kafka Kafka `yaml:"kafka"`
	// SchemaRegistry is the Confluent-compatible registry the records'
	// schema ids refer to.
	SchemaRegistry Registry `yaml:"schema_registry"`
	// Catalog is the Iceberg catalog that commits table metadata.
	Catalog Catalog `yaml:"catalog"`
	// Warehouse is where data and metadata files are stored.
	Warehouse Warehouse `yaml:"warehouse"`
	// Tables routes topics to Iceberg tables. Required, at least one. A
	// topic may feed several tables when each but the last has a route.
	Tables []TableRoute `yaml:"tables"`
	// Routing configures topics that feed several tables.
	Routing Routing `yaml:"routing"`
	// Enrichment lists the reference data enrich transform steps join
	// records with. Default none.
	Enrichment []Enrichment `yaml:"enrichment"`
	// Quarantine configures the rejects tables.
	Quarantine Quarantine `yaml:"quarantine"`
	// Validation configures the checks records must pass.
	Validation Validation `yaml:"validation"`
	// Flush decides when buffered records become a Parquet file and a commit.
	Flush Flush `yaml:"flush"`
	// Parquet is how data files are encoded.
	Parquet Parquet `yaml:"parquet"`
	// MemoryBudget bounds all record buffers together (column builders and
	// unflushed row groups); reaching it flushes. Default 256MiB.
	MemoryBudget ByteSize `yaml:"memory_budget"`
	// MemoryLimit is the Go runtime's soft memory limit for the process.
	// Default 0: 1.5 × memory_budget. The GOMEMLIMIT environment variable,
	// when set, takes precedence.
	MemoryLimit ByteSize `yaml:"memory_limit"`
	// GCPercent is the Go collector's target (GOGC) under that limit.
	// Default 0: 200. -1 collects only at the memory limit. The GOGC
	// environment variable, when set, takes precedence.
	GCPercent int `yaml:"gc_percent"`
	// ShutdownTimeout bounds how long in-flight batches may take to commit
	// or be dropped after a stop signal (DESIGN §3 rule 9). Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Metrics is the HTTP endpoint for /metrics, /healthz and /readyz.
	Metrics Metrics `yaml:"metrics"`
	// Log configures the process logger.
	Log Log `yaml:"log"`
}

// Kafka configures the source cluster and consumer group.
type Kafka struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group. Its committed offsets are advisory only
	// (DESIGN §3 rule 2). Default "bigfather-<pipeline>".
	Group string `yaml:"group"`
	// ClientID is the Kafka client id. Default "bigfather".
	ClientID string `yaml:"client_id"`
	// Start is where a partition that was never committed to any table
	// starts: earliest, latest, or an RFC 3339 timestamp. Default earliest.
	Start StartPosition `yaml:"start"`
	// OnGap is what happens when a watermark falls outside the partition's
	// log (DESIGN §3 rule 7): "halt" stops the partition, "skip" jumps the
	// gap and records it in the snapshot summary. Default "halt".
	OnGap string `yaml:"on_gap"`
	// MetadataMaxAge bounds how long a new topic matching a table's
	// topic_patterns waits to be picked up. Default 30s.
	MetadataMaxAge time.Duration `yaml:"metadata_max_age"`
	// FetchMaxBytes caps one fetch response. Default 16MiB: the consumer
	// holds up to two, decompressed, outside memory_budget.
	FetchMaxBytes ByteSize `yaml:"fetch_max_bytes"`
	// TLS secures broker connections. Default disabled.
	TLS TLS `yaml:"tls"`
	// SASL authenticates to the brokers. Default none.
	SASL SASL `yaml:"sasl"`
}

// TLS configures a TLS client. The file fields are PEM files.
type TLS struct {
	// Enabled turns TLS on; the other fields are rejected without it, so a
	// half-written TLS section cannot silently fall back to plaintext.
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server; default the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS; both
	// or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables server verification. Tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL configures broker authentication.
type SASL struct {
	// Mechanism is "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are required with a mechanism. Use ${VAR}
	// expansion for the password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Registry configures the schema registry client.
type Registry struct {
	// URL is the registry's base URL, http or https. Required.
	URL string `yaml:"url"`
	// Username and Password are HTTP basic auth; default none.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS secures the connection for https URLs. Default disabled.
	TLS TLS `yaml:"tls"`
}

// Catalog configures the Iceberg catalog.
type Catalog struct {
	// Type is sql, rest or objectstore. Default "sql". The hadoop catalog is
	// rejected: iceberg-go's is not atomic on S3 (DESIGN §3 rule 10).
	Type string `yaml:"type"`
	// Name is the catalog's name. Default "bigfather".
	Name string `yaml:"name"`
	// SQL configures the sql catalog.
	SQL SQLCatalog `yaml:"sql"`
	// REST configures the rest catalog.
	REST RESTCatalog `yaml:"rest"`
}

// SQLCatalog configures the SQL catalog.
type SQLCatalog struct {
	// Driver is sqlite or postgres. Default "sqlite".
	Driver string `yaml:"driver"`
	// DSN is the database. For sqlite it defaults to catalog.db in a file://
	// warehouse directory; postgres requires it.
	DSN string `yaml:"dsn"`
}

// RESTCatalog configures an Iceberg REST catalog.
type RESTCatalog struct {
	// URI is the catalog's base URL. Required for catalog.type rest.
	URI string `yaml:"uri"`
	// Properties are passed to the catalog unchanged (credential, token,
	// warehouse, ...). Default empty.
	Properties map[string]string `yaml:"properties"`
}

// Warehouse configures file storage.
type Warehouse struct {
	// URL is file://path or s3://bucket/prefix. A relative file:// path is
	// made absolute against the working directory when the config is
	// loaded. Default "file://./warehouse".
	URL string `yaml:"url"`
	// S3 configures the client for s3:// URLs.
	S3 S3 `yaml:"s3"`
}

// S3 configures the S3 client. Empty credentials mean the AWS SDK's default
// chain (environment, shared files, instance role).
type S3 struct {
	// Endpoint overrides the AWS endpoint (MinIO, versitygw, ...).
	Endpoint string `yaml:"endpoint"`
	// Region defaults to "us-east-1".
	Region string `yaml:"region"`
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint, which most non-AWS servers need.
	PathStyle bool `yaml:"path_style"`
	// AccessKeyID and SecretAccessKey are static credentials; both or
	// neither. SessionToken needs them.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`
}

// TableRoute sends every record of its topics to one table.
type TableRoute struct {
	// Topic is the Kafka topic. Required unless Topics is set.
	Topic string `yaml:"topic"`
	// Topics are more topics feeding the same table, with the same
	// settings; each keeps its own watermarks in the table. Default none.
	Topics []string `yaml:"topics"`
	// TopicPatterns are regular expressions (RE2) over whole topic names:
	// every matching topic feeds the table, including topics created while
	// the pipeline runs (picked up within kafka.metadata_max_age). Default
	// none.
	TopicPatterns []string `yaml:"topic_patterns"`
	// Route chooses which records of the topics go to this table, for a
	// topic feeding several tables. Tables sharing a topic are tried in
	// file order; the first whose route takes a record gets it. Default:
	// every record.
	Route Route `yaml:"route"`
	// Table is namespace.table; the last dot separates a (possibly nested)
	// namespace from the table name. Required.
	Table string `yaml:"table"`
	// Rejects is the route's quarantine table, namespace.table. Default
	// Table + quarantine.suffix; ignored when quarantine is disabled.
	Rejects string `yaml:"rejects"`
	// Format is how the topic's values are encoded: "avro" (Confluent wire
	// format, schemas from the registry) or "json" (plain JSON objects, no
	// registry, laid out by ValueSchema). Default "avro".
	Format string `yaml:"format"`
	// ValueSchema declares the fields of a json topic as an Avro record
	// schema (JSON text): names, types, logical types, nullability and
	// defaults. The table is created from it. Required for format json.
	ValueSchema string `yaml:"value_schema"`
	// Rules are validation rules, CEL predicates over the record (value,
	// key, topic, partition, offset, timestamp, headers), checked in order:
	// a record failing one is rejected at the validate stage, tagged with
	// the rule's name. Compiled at start; default none.
	Rules []Rule `yaml:"rules"`
	// Filter is a CEL predicate over the record, like a rule's: a record for
	// which it is false is dropped, neither in the table nor in quarantine
	// (counted, and its offset listed in the commit's bigfather.skipped).
	// Applied after the rules. Default "" (keep everything).
	Filter string `yaml:"filter"`
	// PartitionBy is the table's Iceberg partition spec, applied when the
	// table is created: terms like "day(released_at)", "hour(at)",
	// "month(at)", "year(at)", "bucket(16, isrc)", "truncate(4, title)" or a
	// column name (identity), over top-level columns. Default none.
	PartitionBy []string `yaml:"partition_by"`
	// Cleanse steps run in order on top-level string columns, after the
	// transforms (they are transform steps, kept as their own key).
	// Default none.
	Cleanse []CleanseStep `yaml:"cleanse"`
	// Transforms is the table's transform chain, applied in order to every
	// record routed here, after its rules and filter. The table is created
	// from the chain's output. Default none.
	Transforms []Transform `yaml:"transforms"`
}

// Transform is one step of a table's transform chain. Which keys apply
// depends on op; a key that does not apply is an error at start.
type Transform struct {
	// Op is rename, drop, keep, cast, default, parse_timestamp, trim,
	// lower, upper, empty_to_null, hash, mask, derive, flatten, filter or
	// enrich. Required.
	Op string `yaml:"op"`
	// Name is the step's name in errors, and the quarantine reason of the
	// records it rejects. Default: op.
	Name string `yaml:"name"`
	// Columns are the top-level columns the step applies to.
	Columns []string `yaml:"columns"`
	// Renames maps old column names to new ones (rename).
	Renames map[string]string `yaml:"renames"`
	// To is a cast's target type: string, int, long, float, double,
	// boolean, timestamp or date.
	To string `yaml:"to"`
	// Value is a default step's value (typed as YAML types it: 5, 2.5,
	// true, "text"; timestamps in RFC 3339, dates YYYY-MM-DD).
	Value Scalar `yaml:"value"`
	// From takes a default step's value from the record instead:
	// kafka_timestamp, for timestamp columns.
	From string `yaml:"from"`
	// Formats are parse_timestamp's formats, tried in order: rfc3339,
	// rfc3339nano, iso8601, unix_seconds, unix_millis, unix_micros, or Go
	// layouts ("2006-01-02 15:04:05"). Default [rfc3339].
	Formats []string `yaml:"formats"`
	// Zone is the IANA zone of parsed times that carry no offset. Default UTC.
	Zone string `yaml:"zone"`
	// KeyEnv names the environment variable holding a hash step's
	// HMAC-SHA256 key; the key never appears in the file or the logs.
	KeyEnv string `yaml:"key_env"`
	// KeepLast is how many trailing characters a mask step keeps.
	KeepLast int `yaml:"keep_last"`
	// Column is the column a derive step writes (replaced, or appended).
	Column string `yaml:"column"`
	// Expr is a derive step's CEL expression or a filter step's predicate,
	// over the record as the previous steps left it.
	Expr string `yaml:"expr"`
	// Type is a derive step's result type: string, long, double, boolean,
	// timestamp or date.
	Type string `yaml:"type"`
	// Separator joins parent and child names in flatten. Default "_".
	Separator string `yaml:"separator"`
	// Lookup names the enrichment source an enrich step joins with.
	Lookup string `yaml:"lookup"`
	// KeyColumns are the record's columns forming an enrich step's join
	// key, in the order of the source's key.
	KeyColumns []string `yaml:"key_columns"`
	// OnMiss is what an enrich step does when no row matches: null (the
	// added columns are null), default (defaults), or quarantine.
	// Default null.
	OnMiss string `yaml:"on_miss"`
	// Defaults are the added columns' values for on_miss default.
	Defaults map[string]Scalar `yaml:"defaults"`
}

// Enrichment is reference data enrich steps join records with, held in
// memory and refreshed in the background.
type Enrichment struct {
	// Name is how enrich steps refer to it. Required, unique.
	Name string `yaml:"name"`
	// Location is a local path, a file:// or s3:// URL (s3 with the
	// warehouse's S3 settings), or iceberg:namespace.table for a table in
	// the catalog. Required.
	Location string `yaml:"location"`
	// Format is csv, jsonl, parquet or iceberg. Default: from the
	// location's extension or prefix.
	Format string `yaml:"format"`
	// Key are the reference data's key columns. Required.
	Key []string `yaml:"key"`
	// Columns are the reference columns added to records. Required.
	Columns []EnrichColumn `yaml:"columns"`
	// Refresh is how often the data is reloaded (atomically: a lookup sees
	// the old or the new data, never a mix); 0 loads it once. Default 0.
	Refresh time.Duration `yaml:"refresh"`
}

// EnrichColumn is one reference column added to records.
type EnrichColumn struct {
	// Name is the column in the reference data. Required.
	Name string `yaml:"name"`
	// As is the added column's name. Default: Name.
	As string `yaml:"as"`
	// Type is string, int, long, float, double or boolean; required for
	// CSV, where it defaults to string, and taken from typed formats when
	// empty.
	Type string `yaml:"type"`
}

// Route chooses a table's records by a field, a header or a CEL
// expression; set one of field, header and when.
type Route struct {
	// Field is a record field (a dotted path for nested fields): the record
	// is taken when the field's value, as text, is one of Values.
	Field string `yaml:"field"`
	// Header is a Kafka header key: the record is taken when the header's
	// value is one of Values.
	Header string `yaml:"header"`
	// Values are the texts Field or Header must equal (enum symbols,
	// strings, integers in decimal, true or false).
	Values []string `yaml:"values"`
	// When is a CEL predicate over the record, like a rule's.
	When string `yaml:"when"`
}

// IsSet reports whether the route has a condition.
func (r Route) IsSet() bool { return r.Field != "" || r.Header != "" || r.When != "" }

// Routing configures topics that feed several tables.
type Routing struct {
	// Unrouted is what happens to a record no table's route takes:
	// "quarantine" puts it in the quarantine table of the topic's first
	// table that has one, with stage route and reason unrouted; "drop"
	// passes over it (counted in bigfather_ingest_unrouted_records_total,
	// listed in the commit's bigfather.skipped). Default quarantine.
	Unrouted string `yaml:"unrouted"`
}

// CleanseStep is one cleansing operation on some string columns.
type CleanseStep struct {
	// Op is trim (strip and fold white space), lower, upper, empty_to_null
	// (the columns must be optional), hash (hex HMAC-SHA256) or mask (keep
	// the last keep_last characters). Required.
	Op string `yaml:"op"`
	// Columns are top-level string columns. Required.
	Columns []string `yaml:"columns"`
	// KeyEnv names the environment variable holding a hash step's key; the
	// key itself never appears in the file or the logs. Required for hash.
	KeyEnv string `yaml:"key_env"`
	// KeepLast is how many trailing characters a mask step keeps.
	// Default 0.
	KeepLast int `yaml:"keep_last"`
}

// Rule is one validation rule.
type Rule struct {
	// Name tags the rejects the rule causes. Required, unique per route.
	Name string `yaml:"name"`
	// Expr is a CEL expression that is true for a valid record, e.g.
	// "value.duration_ms > 0". Required.
	Expr string `yaml:"expr"`
}

// Quarantine configures where records that cannot be ingested go.
type Quarantine struct {
	// Enabled sends every rejected record to its route's quarantine table,
	// exactly once, with the raw record and the reason. Disabled, such
	// records are passed over: counted, logged and listed in the commit's
	// bigfather.skipped summary. Default true.
	Enabled bool `yaml:"enabled"`
	// Suffix names a route's quarantine table when tables[].rejects is not
	// set. Default "__rejects".
	Suffix string `yaml:"suffix"`
	// DLQTopic, when set, also gets every rejected record (whether or not
	// quarantine is enabled), with bigfather.* headers naming its topic,
	// partition, offset, stage, reason and error. Delivery is at least once.
	// The topic must exist. Default "" (none).
	DLQTopic string `yaml:"dlq_topic"`
}

// Validation configures the checks every record must pass.
type Validation struct {
	// MaxRecordBytes rejects a record whose key plus value is larger, before
	// it is decoded. Default 10MiB.
	MaxRecordBytes ByteSize `yaml:"max_record_bytes"`
}

// Flush decides when a partition's buffered records are written and
// committed: whichever limit is reached first.
type Flush struct {
	// MaxLatency bounds how long a record waits to be committed. Default 10s.
	MaxLatency time.Duration `yaml:"max_latency"`
	// TargetFileSize is the Parquet file size to aim for. Default 128MiB.
	TargetFileSize ByteSize `yaml:"target_file_size"`
	// MaxRecords bounds the records in one file. Default 1000000.
	MaxRecords int64 `yaml:"max_records"`
	// IdleCommitInterval is how long a table of a route may go without
	// committing its watermark while the route's other table moves on (a
	// quarantine table while every record is good). A restart re-reads
	// from the lowest watermark, so this bounds the re-read. Default 1m.
	IdleCommitInterval time.Duration `yaml:"idle_commit_interval"`
	// MaxOpenFiles bounds the data files one table's batch writes at once
	// (a partitioned table opens one per partition value); past it, the
	// file holding the most unwritten bytes is closed. Default 64.
	MaxOpenFiles int `yaml:"max_open_files"`
	// ParallelFiles is how many data files one partition value may encode
	// at once, each on its own core, when records arrive faster than one
	// file encodes them; more files per commit for more throughput.
	// Default 0: the number of CPUs the process may use (GOMAXPROCS); 1
	// keeps one file per partition value.
	ParallelFiles int `yaml:"parallel_files"`
}

// Parquet configures the encoding of every data file the pipeline writes
// (quarantine tables included).
type Parquet struct {
	// Compression is the codec of every column: zstd (default), snappy,
	// gzip, brotli, lz4 (LZ4_RAW) or uncompressed.
	Compression string `yaml:"compression"`
	// ZstdLevel is the zstd level, 1-22. Default 1: the fastest encoder,
	// for files a few percent larger than level 3's (bench/RESULTS.md).
	ZstdLevel int `yaml:"zstd_level"`
	// RowGroupSize is the target uncompressed size of a row group. Default
	// 128MiB (Iceberg's write.parquet.row-group-size-bytes).
	RowGroupSize ByteSize `yaml:"row_group_size"`
	// PageSize is the target size of a data page before compression.
	// Default 1MiB (write.parquet.page-size-bytes).
	PageSize ByteSize `yaml:"page_size"`
	// Dictionary turns dictionary encoding on; a column whose dictionary
	// does not pay for itself still falls back to plain encoding. Default
	// true.
	Dictionary bool `yaml:"dictionary"`
}

// Metrics configures the HTTP endpoint.
type Metrics struct {
	// Addr serves /metrics, /healthz and /readyz; "" disables it.
	// Default "127.0.0.1:9464".
	Addr string `yaml:"addr"`
}

// Log configures the process logger.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is text or json. Default "text".
	Format string `yaml:"format"`
}

// Default returns the configuration used for every key the file does not
// set. It is not valid by itself: pipeline, kafka.brokers,
// schema_registry.url and tables have no default. Defaults that depend on
// other keys (kafka.group, catalog.sql.dsn) and the absolute warehouse path
// are filled by Parse.
func Default() Config {
	return Config{
		Kafka: Kafka{
			ClientID:       "bigfather",
			Start:          StartPosition{Kind: StartEarliest},
			OnGap:          OnGapHalt,
			FetchMaxBytes:  16 * MiB,
			MetadataMaxAge: 30 * time.Second,
		},
		Catalog: Catalog{
			Type: CatalogSQL,
			Name: "bigfather",
			SQL:  SQLCatalog{Driver: DriverSQLite},
		},
		Warehouse: Warehouse{
			URL: "file://./warehouse",
			S3:  S3{Region: "us-east-1"},
		},
		Quarantine: Quarantine{Enabled: true, Suffix: "__rejects"},
		Routing:    Routing{Unrouted: "quarantine"},
		Validation: Validation{MaxRecordBytes: 10 * MiB},
		Flush: Flush{
			MaxLatency:         10 * time.Second,
			TargetFileSize:     128 * MiB,
			MaxRecords:         1_000_000,
			IdleCommitInterval: time.Minute,
			MaxOpenFiles:       64,
		},
		Parquet: Parquet{
			Compression:  "zstd",
			ZstdLevel:    1,
			RowGroupSize: 128 * MiB,
			PageSize:     256 * KiB,
			Dictionary:   true,
		},
		MemoryBudget:    256 * MiB,
		ShutdownTimeout: 30 * time.Second,
		Metrics:         Metrics{Addr: "127.0.0.1:9464"},
		Log:             Log{Level: "info", Format: "text"},
	}
}

// LocalDir returns the directory of a file:// warehouse URL.
func (w Warehouse) LocalDir() (string, bool) {
	p, ok := strings.CutPrefix(w.URL, "file://")
	if !ok {
		return "", false
	}
	return filepath.FromSlash(p), true
}

// S3Location returns the bucket and key prefix (without slashes around it)
// of an s3:// warehouse URL.
func (w Warehouse) S3Location() (bucket, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(w.URL, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/"), true
}

// AllTopics returns Topic (when set) and Topics.
func (t TableRoute) AllTopics() []string {
	if t.Topic == "" {
		return t.Topics
	}
	return append([]string{t.Topic}, t.Topics...)
}

// Split returns the namespace levels and the table name of Table.
func (t TableRoute) Split() (namespace []string, name string) { return splitTable(t.Table) }

// SplitRejects returns the namespace levels and the table name of Rejects.
func (t TableRoute) SplitRejects() (namespace []string, name string) { return splitTable(t.Rejects) }

func splitTable(s string) ([]string, string) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return nil, s
	}
	return strings.Split(s[:i], "."), s[i+1:]
}

// SlogLevel returns Level as a slog level; an unknown level is info (Validate
// rejects it).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// resolveWarehouse makes a relative file:// warehouse absolute against the
// working directory, so every component (and every log line) sees the same
// location whatever directory it later runs from. The path is kept literal
// (not percent-decoded), as objstore builds its file:// URLs.
func resolveWarehouse(raw string) (string, error) {
	p, ok := strings.CutPrefix(raw, "file://")
	if !ok || p == "" {
		return raw, nil
	}
	abs, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return "", err
	}
	return "file://" + filepath.ToSlash(abs), nil
}
