package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestRedacted(t *testing.T) {
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The file's URLs carry no passwords; add some so they are covered too.
	cfg.SchemaRegistry.URL = "https://sr-user:sr-url-secret@registry.internal:8081"
	cfg.Catalog.REST.URI = "https://rest:rest-url-secret@catalog.internal/api"
	cfg.Catalog.REST.Properties["s3.secret-access-key"] = "prop-secret"
	cfg.Catalog.REST.Properties["oauth2-server-uri"] = "https://u:prop-url-secret@idp/token"
	before := fullWant()
	before.SchemaRegistry.URL = cfg.SchemaRegistry.URL
	before.Catalog.REST.URI = cfg.Catalog.REST.URI
	before.Catalog.REST.Properties["s3.secret-access-key"] = "prop-secret"
	before.Catalog.REST.Properties["oauth2-server-uri"] = "https://u:prop-url-secret@idp/token"

	r := cfg.Redacted()

	secrets := []string{"kafka-secret", "sr-secret", "sr-url-secret", "pg-secret", "rest-secret",
		"rest-token", "rest-url-secret", "prop-secret", "prop-url-secret", "s3-secret", "s3-session"}
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(out), s) {
			t.Errorf("redacted config still contains %q:\n%s", s, out)
		}
	}
	checks := []struct {
		name, got, want string
	}{
		{"kafka.sasl.password", r.Kafka.SASL.Password, "***"},
		{"schema_registry.password", r.SchemaRegistry.Password, "***"},
		{"schema_registry.url", r.SchemaRegistry.URL, "https://sr-user:***@registry.internal:8081"},
		{"catalog.sql.dsn", r.Catalog.SQL.DSN, "postgres://bf:***@db.internal:5432/catalog?sslmode=require"},
		{"catalog.rest.uri", r.Catalog.REST.URI, "https://rest:***@catalog.internal/api"},
		{"properties.credential", r.Catalog.REST.Properties["credential"], "***"},
		{"properties.token", r.Catalog.REST.Properties["token"], "***"},
		{"properties.s3.secret-access-key", r.Catalog.REST.Properties["s3.secret-access-key"], "***"},
		{"properties.warehouse kept", r.Catalog.REST.Properties["warehouse"], "lake-wh"},
		{"warehouse.s3.secret_access_key", r.Warehouse.S3.SecretAccessKey, "***"},
		{"warehouse.s3.session_token", r.Warehouse.S3.SessionToken, "***"},
		{"warehouse.s3.access_key_id kept", r.Warehouse.S3.AccessKeyID, "AKIAEXAMPLE"},
		{"kafka.sasl.username kept", r.Kafka.SASL.Username, "music"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}

	// The original is untouched, including the map and slices the copy owns.
	r.Kafka.Brokers[0] = "changed:1"
	r.Tables[0].Topic = "changed"
	r.Catalog.REST.Properties["warehouse"] = "changed"
	if !reflect.DeepEqual(*cfg, before) {
		t.Fatalf("Redacted changed the original:\n%+v\nwant\n%+v", *cfg, before)
	}
}

func TestRedactedKeepsEmptySecretsEmpty(t *testing.T) {
	c := Default()
	r := c.Redacted()
	if r.Kafka.SASL.Password != "" || r.Warehouse.S3.SecretAccessKey != "" || r.SchemaRegistry.Password != "" {
		t.Fatalf("empty secrets became %+v", r)
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"host=db user=bf password=pw dbname=c", "host=db user=bf password=*** dbname=c"},
		{"host=db password='p w\\'x' dbname=c", "host=db password=*** dbname=c"},
		{"PASSWORD = pw", "PASSWORD = ***"},
		{"postgres://bf@db/c?password=pw&sslmode=off", "postgres://bf@db/c?password=***&sslmode=off"},
		{"postgres://bf:pw@db/c?sslmode=off&token=t", "postgres://bf:***@db/c?sslmode=off&token=***"},
		{"postgres://bf:pw@db/c", "postgres://bf:***@db/c"},
		{"/var/lib/bf/catalog.db", "/var/lib/bf/catalog.db"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactDSN(tt.in); got != tt.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Secrets lists every secret the config holds, in its own keys and inside
// URLs and DSNs, so that a scrubber made of them hides each one.
func TestSecretsCoverEverySecret(t *testing.T) {
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SchemaRegistry.URL = "https://sr-user:sr-url-secret@registry.internal:8081/?token=sr-query-secret, https://b:sr-url2-secret@r2"
	cfg.Catalog.REST.URI = "https://rest:rest-url-secret@catalog.internal/api"
	cfg.Catalog.REST.Properties["credential"] = "client-id:rest-cred-secret"
	cfg.Catalog.REST.Properties["oauth2-server-uri"] = "https://u:prop-url-secret@idp/token"
	cfg.Catalog.SQL.DSN = "host=db user=bf password='pg kv secret' dbname=c"
	got := strings.Join(cfg.Secrets(), "\n")
	for _, s := range []string{"kafka-secret", "sr-secret", "sr-url-secret", "sr-query-secret", "sr-url2-secret",
		"rest-url-secret", "rest-cred-secret", "rest-token", "prop-url-secret", "pg kv secret", "s3-secret", "s3-session"} {
		if !strings.Contains(got, s) {
			t.Errorf("Secrets() lacks %q:\n%s", s, got)
		}
	}
	for _, s := range cfg.Secrets() {
		if s == "" || s == "AKIAEXAMPLE" || s == "music" {
			t.Errorf("Secrets() holds %q, which is not a secret", s)
		}
	}
}
