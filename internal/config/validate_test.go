package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/table"
)

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string // default: minimal
		sets     []string
		path     string
		contains string
	}{
		{name: "pipeline required", sets: []string{"pipeline="}, path: "pipeline", contains: "required"},
		{name: "rejects is the table", sets: []string{"tables[0].rejects=music.tracks"}, path: "tables[0].rejects", contains: "the route's own table"},
		{name: "rejects name", sets: []string{"tables[0].rejects=bad name"}, path: "tables[0].rejects", contains: "want namespace.table"},
		{name: "rejects shared", sets: []string{"tables[1].topic=plays", "tables[1].table=music.plays", "tables[1].rejects=music.tracks__rejects"},
			path: "tables[1].rejects", contains: `"music.tracks__rejects" is already used by tables[0].rejects`},
		{name: "rejects is another route's table", sets: []string{"tables[1].topic=plays", "tables[1].table=music.plays", "tables[1].rejects=music.tracks"},
			path: "tables[1].rejects", contains: "already used by tables[0].table"},
		{name: "topics entry", sets: []string{"tables[0].topics=a b"}, path: "tables[0].topics[0]", contains: "not a valid Kafka topic name"},
		{name: "topic pattern", sets: []string{"tables[0].topic_patterns=tracks("}, path: "tables[0].topic_patterns[0]", contains: "not a regular expression"},
		{name: "route two kinds", sets: []string{"tables[0].route.field=kind", "tables[0].route.values=a", "tables[0].route.when=true"}, path: "tables[0].route", contains: "set one of"},
		{name: "route field path", sets: []string{"tables[0].route.field=a..b", "tables[0].route.values=a"}, path: "tables[0].route.field", contains: "not a field name"},
		{name: "route values", sets: []string{"tables[0].route.header=type"}, path: "tables[0].route.values", contains: "required with field or header"},
		{name: "route values alone", sets: []string{"tables[0].route.values=a"}, path: "tables[0].route.values", contains: "only with field or header"},
		{name: "transform op", sets: []string{"tables[0].transforms[0].op=reverse"}, path: "tables[0].transforms[0].op", contains: "want one of"},
		{name: "transform hash key", sets: []string{"tables[0].transforms[0].op=hash"}, path: "tables[0].transforms[0].key_env", contains: "required for op hash"},
		{name: "transform lookup", sets: []string{"tables[0].transforms[0].op=enrich", "tables[0].transforms[0].lookup=artists"}, path: "tables[0].transforms[0].lookup", contains: "not the name of an enrichment source"},
		{name: "enrichment location", sets: []string{"enrichment[0].name=a", "enrichment[0].key=id", "enrichment[0].columns[0].name=x"}, path: "enrichment[0].location", contains: "required"},
		{name: "enrichment key", sets: []string{"enrichment[0].name=a", "enrichment[0].location=/x.csv", "enrichment[0].columns[0].name=x"}, path: "enrichment[0].key", contains: "required"},
		{name: "unrouted", sets: []string{"routing.unrouted=keep"}, path: "routing.unrouted", contains: "want quarantine or drop"},
		{name: "session_timeout low", sets: []string{"kafka.session_timeout=500ms"}, path: "kafka.session_timeout", contains: "between 1s and 1h, got 500ms"},
		{name: "session_timeout high", sets: []string{"kafka.session_timeout=2h"}, path: "kafka.session_timeout", contains: "between 1s and 1h"},
		{name: "rebalance_timeout", sets: []string{"kafka.rebalance_timeout=0s"}, path: "kafka.rebalance_timeout", contains: "between 1s and 1h"},
		{name: "instance_id", sets: []string{"kafka.instance_id=host 1"}, path: "kafka.instance_id", contains: "want 1-249 characters"},
		{name: "metadata_max_age", sets: []string{"kafka.metadata_max_age=0s"}, path: "kafka.metadata_max_age", contains: "must be > 0"},
		{name: "format", sets: []string{"tables[0].format=xml"}, path: "tables[0].format", contains: "want avro or json"},
		{name: "json needs a schema", sets: []string{"tables[0].format=json"}, path: "tables[0].value_schema", contains: "required for format json"},
		{name: "avro takes no schema", sets: []string{"tables[0].value_schema={}"}, path: "tables[0].value_schema", contains: "only for format json"},
		{name: "rule name required", sets: []string{"tables[0].rules[0].expr=true"}, path: "tables[0].rules[0].name", contains: "required"},
		{name: "rule expr required", sets: []string{"tables[0].rules[0].name=r"}, path: "tables[0].rules[0].expr", contains: "required"},
		{name: "rule name unique", sets: []string{"tables[0].rules[0].name=r", "tables[0].rules[0].expr=true", "tables[0].rules[1].name=r", "tables[0].rules[1].expr=false"},
			path: "tables[0].rules[1].name", contains: "already the name of tables[0].rules[0]"},
		{name: "dlq topic name", sets: []string{"quarantine.dlq_topic=a b"}, path: "quarantine.dlq_topic", contains: "not a valid Kafka topic name"},
		{name: "dlq topic consumed", sets: []string{"quarantine.dlq_topic=tracks"}, path: "quarantine.dlq_topic", contains: "consumed by tables[0]"},
		{name: "quarantine suffix", sets: []string{"quarantine.suffix=rejects"}, path: "quarantine.suffix", contains: "must start with _ or -"},
		{name: "max record bytes", sets: []string{"validation.max_record_bytes=0"}, path: "validation.max_record_bytes", contains: "must be > 0"},
		{name: "cleanse op", sets: []string{"tables[0].cleanse[0].op=reverse", "tables[0].cleanse[0].columns=a"}, path: "tables[0].cleanse[0].op", contains: "want trim, lower"},
		{name: "cleanse hash key", sets: []string{"tables[0].cleanse[0].op=hash", "tables[0].cleanse[0].columns=a"}, path: "tables[0].cleanse[0].key_env", contains: "required for op hash"},
		{name: "cleanse columns", sets: []string{"tables[0].cleanse[0].op=trim"}, path: "tables[0].cleanse[0].columns", contains: "required"},
		{name: "parquet codec", sets: []string{"parquet.compression=lzo"}, path: "parquet.compression", contains: `"lzo" is not a codec: want one of zstd, snappy`},
		{name: "parquet zstd level", sets: []string{"parquet.zstd_level=23"}, path: "parquet.zstd_level", contains: "want 1-22"},
		{name: "parquet row group", sets: []string{"parquet.row_group_size=0"}, path: "parquet.row_group_size", contains: "must be > 0"},
		{name: "parquet page", sets: []string{"parquet.page_size=2MiB", "parquet.row_group_size=1MiB"}, path: "parquet.page_size", contains: "at most parquet.row_group_size"},
		{name: "parallel files", sets: []string{"flush.parallel_files=-1"}, path: "flush.parallel_files", contains: "must be >= 0"},
		{name: "max open files", sets: []string{"flush.max_open_files=0"}, path: "flush.max_open_files", contains: "must be > 0"},
		{name: "idle commit interval", sets: []string{"flush.idle_commit_interval=0s"}, path: "flush.idle_commit_interval", contains: "must be > 0"},
		{name: "pipeline charset", sets: []string{"pipeline=a b"}, path: "pipeline", contains: "[a-zA-Z0-9._-]"},
		{name: "brokers required", sets: []string{"kafka.brokers="}, path: "kafka.brokers", contains: "required"},
		{name: "broker host:port", sets: []string{"kafka.brokers=a:1,nohost"}, path: "kafka.brokers[1]", contains: "want host:port"},
		{name: "broker port", sets: []string{"kafka.brokers=a:http"}, path: "kafka.brokers[0]", contains: "numeric port"},
		{name: "client id", sets: []string{"kafka.client_id="}, path: "kafka.client_id", contains: "required"},
		{name: "on_gap", sets: []string{"kafka.on_gap=ignore"}, path: "kafka.on_gap", contains: "want halt or skip"},
		{name: "subject strategy", sets: []string{"schema_registry.subject_name_strategy=TopicNameStrategy"},
			path: "schema_registry.subject_name_strategy", contains: "want topic_name, record_name or topic_record_name"},
		{name: "fetch zero", sets: []string{"kafka.fetch_max_bytes=0"}, path: "kafka.fetch_max_bytes", contains: "must be > 0"},
		{name: "fetch int32", sets: []string{"kafka.fetch_max_bytes=3GiB"}, path: "kafka.fetch_max_bytes", contains: "< 2GiB"},
		{name: "tls off with files", sets: []string{"kafka.tls.ca_file=ca.pem"}, path: "kafka.tls.enabled", contains: "must be true"},
		{name: "tls cert without key", sets: []string{"kafka.tls.enabled=true", "kafka.tls.cert_file=c.pem"}, path: "kafka.tls.cert_file", contains: "set both or neither"},
		{name: "sasl mechanism", sets: []string{"kafka.sasl.mechanism=GSSAPI", "kafka.sasl.username=u", "kafka.sasl.password=p"}, path: "kafka.sasl.mechanism", contains: "not supported"},
		{name: "sasl username", sets: []string{"kafka.sasl.mechanism=PLAIN", "kafka.sasl.password=p"}, path: "kafka.sasl.username", contains: "required"},
		{name: "sasl password", sets: []string{"kafka.sasl.mechanism=SCRAM-SHA-256", "kafka.sasl.username=u"}, path: "kafka.sasl.password", contains: "required"},
		{name: "sasl without mechanism", sets: []string{"kafka.sasl.username=u"}, path: "kafka.sasl.mechanism", contains: "required when"},
		{name: "registry required", sets: []string{"schema_registry.url="}, path: "schema_registry.url", contains: "required"},
		{name: "registry scheme", sets: []string{"schema_registry.url=ftp://x"}, path: "schema_registry.url", contains: "http:// or https://"},
		{name: "registry tls on http", sets: []string{"schema_registry.tls.enabled=true"}, path: "schema_registry.tls.enabled", contains: "https"},
		{name: "registry password alone", sets: []string{"schema_registry.password=p"}, path: "schema_registry.username", contains: "required"},
		{name: "registry tls files", sets: []string{"schema_registry.tls.insecure_skip_verify=true"}, path: "schema_registry.tls.enabled", contains: "must be true"},
		{name: "hadoop", sets: []string{"catalog.type=hadoop"}, path: "catalog.type", contains: `"hadoop" is not supported: iceberg-go's hadoop catalog is not atomic on S3`},
		{name: "catalog type", sets: []string{"catalog.type=glue"}, path: "catalog.type", contains: "want sql, rest or objectstore"},
		{name: "catalog name", sets: []string{"catalog.name="}, path: "catalog.name", contains: "required"},
		{name: "sql driver", sets: []string{"catalog.sql.driver=mysql"}, path: "catalog.sql.driver", contains: "want sqlite or postgres"},
		{name: "postgres dsn", sets: []string{"catalog.sql.driver=postgres"}, path: "catalog.sql.dsn", contains: "required for postgres"},
		{name: "sqlite dsn on s3", sets: []string{"warehouse.url=s3://bucket/p"}, path: "catalog.sql.dsn", contains: "required for sqlite"},
		{name: "rest uri", sets: []string{"catalog.type=rest"}, path: "catalog.rest.uri", contains: "required"},
		{name: "rest uri scheme", sets: []string{"catalog.type=rest", "catalog.rest.uri=catalog:8181"}, path: "catalog.rest.uri", contains: "http"},
		{name: "warehouse scheme", sets: []string{"warehouse.url=gs://b/p"}, path: "warehouse.url", contains: "want file://path or s3://bucket/prefix"},
		{name: "warehouse empty path", sets: []string{"warehouse.url=file://"}, path: "warehouse.url", contains: "needs a path"},
		{name: "bucket name", sets: []string{"warehouse.url=s3://Bad_Bucket/p", "catalog.type=objectstore"}, path: "warehouse.url", contains: "bucket name"},
		{name: "s3 region", sets: []string{"warehouse.url=s3://bucket/p", "catalog.type=objectstore", "warehouse.s3.region="}, path: "warehouse.s3.region", contains: "required"},
		{name: "s3 keys pair", sets: []string{"warehouse.s3.access_key_id=AK"}, path: "warehouse.s3.access_key_id", contains: "set both or neither"},
		{name: "s3 session alone", sets: []string{"warehouse.s3.session_token=t"}, path: "warehouse.s3.session_token", contains: "needs access_key_id"},
		{name: "s3 endpoint", sets: []string{"warehouse.s3.endpoint=minio:9000"}, path: "warehouse.s3.endpoint", contains: "http"},
		{name: "tables required", yaml: strings.Replace(minimal, "tables:\n  - topic: tracks\n    table: music.tracks\n", "tables: []\n", 1), path: "tables", contains: "required"},
		{name: "table namespace", sets: []string{"tables[0].table=tracks"}, path: "tables[0].table", contains: "want namespace.table"},
		{name: "table required", sets: []string{"tables[0].table="}, path: "tables[0].table", contains: "required"},
		{name: "topic required", sets: []string{"tables[1].table=a.b"}, path: "tables[1].topic", contains: "required"},
		{name: "topic charset", sets: []string{"tables[0].topic=bad topic"}, path: "tables[0].topic", contains: "not a valid Kafka topic"},
		{name: "shared topic needs a route", sets: []string{"tables[1].topic=tracks", "tables[1].table=music.other"}, path: "tables[0].route", contains: `also feeds tables[1]`},
		{name: "shared topic one format", sets: []string{"tables[1].topic=tracks", "tables[1].table=music.other", "tables[0].route.when=true", "tables[1].format=json", "tables[1].value_schema={}"}, path: "tables[1].format", contains: "one topic has one encoding"},
		{name: "shared topic needs quarantine", sets: []string{"tables[1].topic=tracks", "tables[1].table=music.other", "tables[0].route.when=true", "quarantine.enabled=false"}, path: "quarantine.enabled", contains: "needs quarantine tables"},
		{name: "max_latency", sets: []string{"flush.max_latency=0s"}, path: "flush.max_latency", contains: "must be > 0"},
		{name: "target_file_size", sets: []string{"flush.target_file_size=0"}, path: "flush.target_file_size", contains: "must be > 0"},
		{name: "max_records", sets: []string{"flush.max_records=-1"}, path: "flush.max_records", contains: "must be > 0"},
		{name: "memory_budget", sets: []string{"memory_budget=0"}, path: "memory_budget", contains: "must be > 0"},
		{name: "gc_percent below -1", sets: []string{"gc_percent=-2"}, path: "gc_percent", contains: "must be -1"},
		{name: "memory_limit below budget", sets: []string{"memory_budget=1GiB", "memory_limit=512MiB"}, path: "memory_limit", contains: "at least memory_budget (1GiB), got 512MiB"},
		{name: "shutdown_timeout", sets: []string{"shutdown_timeout=-1s"}, path: "shutdown_timeout", contains: "must be > 0"},
		{name: "metrics addr", sets: []string{"metrics.addr=9464"}, path: "metrics.addr", contains: "want host:port"},
		{name: "log level", sets: []string{"log.level=trace"}, path: "log.level", contains: "want debug, info, warn or error"},
		{name: "log format", sets: []string{"log.format=xml"}, path: "log.format", contains: "want text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.yaml
			if data == "" {
				data = minimal
			}
			_, err := Parse([]byte(data), tt.sets...)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			e := errorAt(err, tt.path)
			if e == nil {
				t.Fatalf("no error at %q in:\n%v", tt.path, err)
			}
			if !strings.Contains(e.Error(), tt.path+": ") || !strings.Contains(e.Msg, tt.contains) {
				t.Errorf("error %q: want path %q and message containing %q", e.Error(), tt.path, tt.contains)
			}
		})
	}
}

func TestValidateOnCodeBuiltConfig(t *testing.T) {
	c := Default()
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Default().Validate() = %v, want ErrInvalid", err)
	}
	// The joined message lists one problem per line, each with its path.
	for _, want := range []string{"config: pipeline: required", "config: kafka.brokers: required", "config: tables: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from:\n%v", want, err)
		}
	}
	c.Pipeline = "p"
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	c.Kafka.Group = "g"
	c.SchemaRegistry.URL = "http://127.0.0.1:8081"
	c.Catalog.Type = table.CatalogObjectStore
	c.Tables = []ingest.TableRoute{{Topic: "t", Table: "ns.t"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("completed config: %v", err)
	}
}

// Validation errors point at the line of the offending value.
func TestValidationErrorLine(t *testing.T) {
	_, err := Parse([]byte(minimal + "log:\n  level: loud\n"))
	e := errorAt(err, "log.level")
	if e == nil || e.Line != 11 {
		t.Fatalf("got %v, want log.level at line 11", err)
	}
}
