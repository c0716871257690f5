package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/internal/config"
)

// Review r1 (issue 12): a schema_registry.tls file that cannot be read
// stops the start with an error naming the key path. At cb51c76 it said
// "schema_registry.tls: ca_file: ..." (as kafka.tls still does); on main
// registry.Config.Open wraps it as "tls: ..." and wire.go as
// "schema_registry: ...", so the path is "schema_registry: tls: ca_file".
func TestReviewR1RegistryTLSErrorNamesKeyPath(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`pipeline: p
kafka: {brokers: ["127.0.0.1:1"]}
schema_registry: {url: "https://127.0.0.1:8081", tls: {enabled: true, ca_file: "` + filepath.Join(dir, "missing.pem") + `"}}
warehouse: {url: "file://` + dir + `"}
tables: [{topic: tracks, table: music.tracks}]
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEnv(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.pipelineOptions(context.Background(), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "schema_registry.tls: ca_file") {
		t.Fatalf("err = %v, want it to name schema_registry.tls: ca_file", err)
	}
}
