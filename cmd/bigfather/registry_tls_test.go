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

// A schema_registry.tls file that cannot be read stops the start with an
// error naming its key path, "schema_registry.tls: ca_file: ...", as
// kafka.tls's does.
func TestRegistryTLSErrorNamesKeyPath(t *testing.T) {
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
