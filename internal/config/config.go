// Package config reads the configuration file of `bigfather run`. Each
// section is the Config type of the package it configures (objstore.Config
// for warehouse, table.CatalogConfig for catalog, ingest.KafkaConfig for
// kafka, ...), with that package's defaults and Validate; this package
// composes them, expands the environment, applies overrides, checks what
// spans sections, and reports every problem with its key path and line.
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

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// Config is the whole configuration file of `bigfather run`.
type Config struct {
	// Pipeline is the stable pipeline id P of DESIGN §3: it names the
	// watermark property bigfather.offsets.<P> in every table, so changing it
	// restarts consumption from kafka.start. Required; [a-zA-Z0-9._-]+.
	Pipeline string `yaml:"pipeline"`
	// Kafka is the source cluster.
	Kafka ingest.KafkaConfig `yaml:"kafka"`
	// SchemaRegistry is the Confluent-compatible registry the records'
	// schema ids refer to.
	SchemaRegistry registry.Config `yaml:"schema_registry"`
	// Catalog is the Iceberg catalog that commits table metadata.
	Catalog table.CatalogConfig `yaml:"catalog"`
	// Warehouse is where data and metadata files are stored.
	Warehouse objstore.Config `yaml:"warehouse"`
	// Tables routes topics to Iceberg tables. Required, at least one. A
	// topic may feed several tables when each but the last has a route.
	Tables []ingest.TableRoute `yaml:"tables"`
	// Routing configures topics that feed several tables.
	Routing ingest.RoutingConfig `yaml:"routing"`
	// Enrichment lists the reference data enrich transform steps join
	// records with, held in memory and refreshed in the background.
	// Default none.
	Enrichment []enrich.Source `yaml:"enrichment"`
	// Quarantine configures the rejects tables.
	Quarantine ingest.QuarantineConfig `yaml:"quarantine"`
	// Validation configures the checks records must pass.
	Validation ingest.ValidationConfig `yaml:"validation"`
	// Flush decides when buffered records become a Parquet file and a commit.
	Flush ingest.FlushConfig `yaml:"flush"`
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
// set: each section's from the package that owns it (the S3 region is read
// from the AWS config chain, like the SDK's). It is not valid by itself:
// pipeline, kafka.brokers, schema_registry.url and tables have no default.
// Defaults that depend on other keys (kafka.group, catalog.sql.dsn,
// tables[].rejects) and the absolute warehouse path are filled by Parse.
func Default() Config {
	return Config{
		Kafka:           ingest.DefaultKafkaConfig(),
		SchemaRegistry:  registry.DefaultConfig(),
		Catalog:         table.DefaultCatalogConfig(),
		Warehouse:       objstore.DefaultConfig(context.Background()),
		Quarantine:      ingest.DefaultQuarantineConfig(),
		Routing:         ingest.DefaultRoutingConfig(),
		Validation:      ingest.DefaultValidationConfig(),
		Flush:           ingest.DefaultFlushConfig(),
		Parquet:         table.DefaultParquetConfig(),
		MemoryBudget:    ingest.DefaultMemoryBudget,
		ShutdownTimeout: ingest.DefaultShutdownTimeout,
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
