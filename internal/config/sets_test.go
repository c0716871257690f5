package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/table"
)

func TestSetsOverrideFile(t *testing.T) {
	t.Setenv("BF_TEST_SASL_PW", "from-env")
	file := minimal + `
flush:
  max_latency: 5s
catalog:
  rest:
    properties: {warehouse: old}
`
	cfg, err := Parse([]byte(file),
		"flush.max_latency=2s",
		"kafka.brokers=a:1, b:2",
		"warehouse.url=s3://bucket/prefix",
		"catalog.type=objectstore",
		"tables[0].table=music.tracks_v2",
		"tables[1].topic=plays",
		"tables[1].table=music.plays",
		"catalog.rest.properties.s3.endpoint=http://127.0.0.1:7070",
		"catalog.rest.properties.warehouse=new",
		"kafka.sasl.mechanism=PLAIN",
		"kafka.sasl.username=u",
		"kafka.sasl.password=${BF_TEST_SASL_PW}",
		"kafka.client_id=null",
		"metrics.addr=",
		"memory_budget=1GiB",
		"kafka.start=2024-01-02T03:04:05Z",
		"kafka.tls.enabled=true",
		"pipeline=p2",
	)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"flush.max_latency", cfg.Flush.MaxLatency, 2 * time.Second},
		{"kafka.brokers", strings.Join(cfg.Kafka.Brokers, "|"), "a:1|b:2"},
		{"warehouse.url", cfg.Warehouse.URL, "s3://bucket/prefix"},
		{"catalog.type", cfg.Catalog.Type, table.CatalogObjectStore},
		{"tables[0].topic kept from the file", cfg.Tables[0].Topic, "tracks"},
		{"tables[0].table", cfg.Tables[0].Table, "music.tracks_v2"},
		{"tables[1] appended", cfg.Tables[1], ingest.TableRoute{Topic: "plays", Table: "music.plays", Rejects: "music.plays__rejects", Format: "avro"}},
		{"dotted map key", cfg.Catalog.REST.Properties["s3.endpoint"], "http://127.0.0.1:7070"},
		{"map value overridden", cfg.Catalog.REST.Properties["warehouse"], "new"},
		{"expanded set value", cfg.Kafka.SASL.Password, "from-env"},
		{"string field takes text literally", cfg.Kafka.ClientID, "null"},
		{"empty string disables metrics", cfg.Metrics.Addr, ""},
		{"memory_budget", cfg.MemoryBudget, GiB},
		{"kafka.start", cfg.Kafka.Start.At, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"bool", cfg.Kafka.TLS.Enabled, true},
		{"pipeline and derived group", cfg.Kafka.Group, "bigfather-p2"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(cfg.Catalog.REST.Properties) != 2 {
		t.Errorf("properties = %v, want 2 entries", cfg.Catalog.REST.Properties)
	}
}

func TestSetsWithoutFile(t *testing.T) {
	cfg, err := Parse(nil,
		"pipeline=p", "kafka.brokers=127.0.0.1:9092", "schema_registry.url=http://127.0.0.1:8081",
		"tables[0].topic=t", "tables[0].table=ns.t")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Tables[0], ingest.TableRoute{Topic: "t", Table: "ns.t", Rejects: "ns.t__rejects", Format: "avro"}) || cfg.Kafka.Brokers[0] != "127.0.0.1:9092" {
		t.Fatalf("got %+v", cfg)
	}
}

// A set must not reach another key through a shared YAML anchor.
func TestSetDoesNotChangeAnchoredValue(t *testing.T) {
	file := strings.Replace(minimal, "  url: http://127.0.0.1:8081\n",
		"  url: https://127.0.0.1:8081\n  tls: *tls\n", 1)
	file = strings.Replace(file, "  brokers: [\"127.0.0.1:9092\"]\n",
		"  brokers: [\"127.0.0.1:9092\"]\n  tls: &tls {enabled: true, ca_file: a.pem}\n", 1)
	cfg, err := Parse([]byte(file), "kafka.tls.ca_file=b.pem", "schema_registry.tls.server_name=sr")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.TLS.CAFile != "b.pem" || cfg.SchemaRegistry.TLS.CAFile != "a.pem" {
		t.Errorf("ca files = %q, %q; want b.pem, a.pem", cfg.Kafka.TLS.CAFile, cfg.SchemaRegistry.TLS.CAFile)
	}
	if cfg.SchemaRegistry.TLS.ServerName != "sr" || cfg.Kafka.TLS.ServerName != "" {
		t.Errorf("server names = %q, %q; want sr only on the registry", cfg.SchemaRegistry.TLS.ServerName, cfg.Kafka.TLS.ServerName)
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		set      string
		path     string
		contains string
	}{
		{"nope=1", "nope", "unknown key (valid top-level keys:"},
		{"kafka.nope=1", "kafka.nope", "unknown key (valid keys in kafka:"},
		{"kafka.nope.deeper=1", "kafka.nope.deeper", `unknown key "nope" (valid keys in kafka:`},
		{"kafka.brokers.x=1", "kafka.brokers.x", "kafka.brokers is a list of values, not a section"},
		{"kafka=1", "kafka", "kafka is a section; set one of its keys: brokers,"},
		{"pipeline.x=1", "pipeline.x", "pipeline is a single value"},
		{"tables.topic=x", "tables.topic", "tables is a list of sections; set one item's key"},
		{"tables=x", "tables", "list of sections; set one item's key, like tables[0].topic"},
		{"tables[5].topic=x", "tables[5].topic", "index 5 is past the end of tables (length 1"},
		{"tables[-1].topic=x", "tables[-1].topic", "invalid index"},
		{"tables[x].topic=x", "tables[x].topic", "invalid index"},
		{"pipeline[0]=x", "pipeline[0]", "pipeline is not a list"},
		{"catalog.rest.properties=x", "catalog.rest.properties", "set catalog.rest.properties.<name>=value"},
		{"noequals", "noequals", "want key.path=value"},
		{"=x", "=x", "want key.path=value"},
		{"flush.max_latency=", "flush.max_latency", "want a duration"},
		{"flush.max_records=many", "flush.max_records", "want an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			_, err := Parse([]byte(minimal), tt.set)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			e := errorAt(err, tt.path)
			if e == nil {
				t.Fatalf("no error at %q in %v", tt.path, err)
			}
			if !strings.Contains(e.Msg, tt.contains) {
				t.Errorf("message %q does not contain %q", e.Msg, tt.contains)
			}
		})
	}
}

// A set through a key the file holds as a scalar cannot descend into it.
func TestSetIntoScalarSection(t *testing.T) {
	_, err := Parse([]byte(minimal+"flush: fast\n"), "flush.max_records=1")
	if e := errorAt(err, "flush.max_records"); e == nil || !strings.Contains(e.Msg, "flush in the file is not a mapping") {
		t.Fatalf("got %v", err)
	}
}
