package config

import (
	"errors"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "DOLLAR": "$X"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want string
		errHas   string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${UNSET:-dflt}", want: "dflt"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${A:-dflt}", want: "alpha"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-a:b/c}", want: "a:b/c"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "pa$word", want: "pa$word"},
		{in: "end$", want: "end$"},
		{in: "${DOLLAR}", want: "$X"}, // values are not expanded again
		{in: "${A}${A}", want: "alphaalpha"},
		{in: "${UNSET}", errHas: "environment variable UNSET is not set"},
		{in: "${A", errHas: "unterminated"},
		{in: "${1A}", errHas: "invalid variable reference"},
		{in: "${}", errHas: "invalid variable reference"},
		{in: "${A-B}", errHas: "invalid variable reference"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, lookup)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("expand(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestEnvInFile(t *testing.T) {
	t.Setenv("BF_TEST_PW", "s3cr3t")
	t.Setenv("BF_TEST_BROKERS", "k1:9092, k2:9092")
	t.Setenv("BF_TEST_RECORDS", "42")
	t.Setenv("BF_TEST_NULL", "null")
	t.Setenv("BF_TEST_YAML", "x\nkafka: {brokers: [evil:1]}")
	t.Setenv("BF_TEST_EMPTY", "")
	data := minimal + `
flush:
  max_records: ${BF_TEST_RECORDS}
  max_latency: "${BF_TEST_LATENCY:-3s}"
warehouse:
  s3:
    secret_access_key: ${BF_TEST_PW}
    session_token: ${BF_TEST_NULL}
    access_key_id: "$$literal-${BF_TEST_EMPTY:-id}"
schema_registry:
  url: http://127.0.0.1:8081
  username: u
  password: &pw ${BF_TEST_PW}
kafka:
  brokers: ${BF_TEST_BROKERS}
  client_id: "$${NOT_EXPANDED}"
  group: *pw
`
	// minimal already has schema_registry and kafka; drop those lines so the
	// keys are not duplicated.
	data = strings.Replace(data, "kafka:\n  brokers: [\"127.0.0.1:9092\"]\nschema_registry:\n  url: http://127.0.0.1:8081\n", "", 1)
	cfg, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"flush.max_records re-resolved as a number", cfg.Flush.MaxRecords, int64(42)},
		{"default in a quoted duration", cfg.Flush.MaxLatency.String(), "3s"},
		{"secret", cfg.Warehouse.S3.SecretAccessKey, "s3cr3t"},
		{"a null-looking value stays a string", cfg.Warehouse.S3.SessionToken, "null"},
		{"escape and empty default", cfg.Warehouse.S3.AccessKeyID, "$literal-id"},
		{"comma list from one variable", strings.Join(cfg.Kafka.Brokers, "|"), "k1:9092|k2:9092"},
		{"escaped reference", cfg.Kafka.ClientID, "${NOT_EXPANDED}"},
		{"alias of an expanded value", cfg.Kafka.Group, "s3cr3t"},
		{"anchor itself", cfg.SchemaRegistry.Password, "s3cr3t"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// A value can never inject YAML: the newline and mapping stay inside
	// the pipeline string, which validation then rejects.
	_, err = Parse([]byte(strings.Replace(minimal, "pipeline: p1", "pipeline: ${BF_TEST_YAML}", 1)))
	if e := errorAt(err, "pipeline"); e == nil || !strings.Contains(e.Msg, "is invalid") {
		t.Errorf("injected YAML: got %v, want an invalid pipeline", err)
	}
}

func TestEnvUnsetNamesVariableAndKey(t *testing.T) {
	_, err := Parse([]byte(minimal + "log:\n  level: ${BF_TEST_SURELY_UNSET}\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	e := errorAt(err, "log.level")
	if e == nil || e.Line != 11 || !strings.Contains(e.Msg, "BF_TEST_SURELY_UNSET") {
		t.Fatalf("got %v, want an error at line 11, log.level, naming BF_TEST_SURELY_UNSET", err)
	}
	want := "config: line 11: log.level: environment variable BF_TEST_SURELY_UNSET is not set"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message %q, want prefix %q", err.Error(), want)
	}
}

// An unknown key is reported as unknown, not as an unset variable: only
// values the config reads are expanded.
func TestEnvNotExpandedInUnknownKeys(t *testing.T) {
	_, err := Parse([]byte(minimal + "extra: ${BF_TEST_SURELY_UNSET}\n"))
	if e := errorAt(err, "extra"); e == nil || !strings.Contains(e.Msg, "unknown key") {
		t.Fatalf("got %v, want unknown key extra", err)
	}
	if strings.Contains(err.Error(), "BF_TEST_SURELY_UNSET") {
		t.Errorf("unknown key's value was expanded: %v", err)
	}
}
