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
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
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
	Catalog table.CatalogConfig `yaml:"catalog"`
	// Warehouse is where data and metadata files are stored.
	Warehouse objstore.Config `yaml:"warehouse"`
	// Tables routes topics to Iceberg tables. Required, at least one. A
	// topic may feed several tables when each but the last has a route.
	Tables []TableRoute `yaml:"tables"`
	// Routing configures topics that feed several tables.
	Routing Routing `yaml:"routing"`
	// Enrichment lists the reference data enrich transform steps join
	// records with, held in memory and refreshed in the background.
	// Default none.
	Enrichment []enrich.Source `yaml:"enrichment"`
	// Quarantine configures the rejects tables.
	Quarantine Quarantine `yaml:"quarantine"`
	// Validation configures the checks records must pass.
	Validation Validation `yaml:"validation"`
	// Flush decides when buffered records become a Parquet file and a commit.
	Flush Flush `yaml:"flush"`
	// Parquet is how data files are encoded.
	Parquet table.ParquetConfig `yaml:"parquet"`
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
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating (a crash, a frozen process) before giving its partitions
	// to the others: what one SIGKILL costs in stalled partitions. The
	// broker refuses values outside its group.min/max.session.timeout.ms
	// (6s-30m by default). Default 45s; 1s-1h.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long the group waits for every member to
	// rejoin during a rebalance (each first commits or drops its in-flight
	// batch). Default 60s; 1s-1h.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// InstanceID turns on static group membership (KIP-345): a member that
	// restarts within session_timeout with the same id gets its partitions
	// back without a rebalance. It must be unique per running instance
	// (e.g. ${HOSTNAME}); two live instances with one id fence each other.
	// Default "" (dynamic membership).
	InstanceID string `yaml:"instance_id"`
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
	// SubjectNameStrategy is how the producers name the subject a
	// topic's value schemas are registered under: topic_name ("<topic>-value",
	// the default), record_name ("<record full name>") or
	// topic_record_name ("<topic>-<record full name>"). A record whose
	// schema id is not registered under its subject is rejected as
	// foreign-schema.
	SubjectNameStrategy string `yaml:"subject_name_strategy"`
}

// Subject name strategies accepted in schema_registry.subject_name_strategy
// (the names of the schema package's constants).
const (
	SubjectTopicName       = "topic_name"
	SubjectRecordName      = "record_name"
	SubjectTopicRecordName = "topic_record_name"
)

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
// set. The S3 region is read from the AWS config chain, like the SDK's. It is not valid by itself: pipeline, kafka.brokers,
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
			// franz-go's own defaults, stated so the README can show them.
			SessionTimeout:   45 * time.Second,
			RebalanceTimeout: 60 * time.Second,
		},
		SchemaRegistry: Registry{SubjectNameStrategy: SubjectTopicName},
		Catalog:        table.DefaultCatalogConfig(),
		Warehouse:      objstore.DefaultConfig(context.Background()),
		Quarantine:     Quarantine{Enabled: true, Suffix: "__rejects"},
		Routing:        Routing{Unrouted: "quarantine"},
		Validation:     Validation{MaxRecordBytes: 10 * MiB},
		Flush: Flush{
			MaxLatency:         10 * time.Second,
			TargetFileSize:     128 * MiB,
			MaxRecords:         1_000_000,
			IdleCommitInterval: time.Minute,
			MaxOpenFiles:       64,
		},
		Parquet:         table.DefaultParquetConfig(),
		MemoryBudget:    256 * MiB,
		ShutdownTimeout: 30 * time.Second,
		Metrics:         Metrics{Addr: "127.0.0.1:9464"},
		Log:             Log{Level: "info", Format: "text"},
	}
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
