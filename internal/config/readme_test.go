package config

import (
	"os"
	"strings"
	"testing"
)

// The configuration reference (docs/configuration.md, linked from the
// README) is a file this parser accepts, so the documentation cannot drift
// from the keys.
func TestREADMEConfigurationReferenceParses(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(b), "## Configuration reference")
	if !ok {
		t.Fatal("docs/configuration.md has no configuration reference section")
	}
	_, block, ok := strings.Cut(ref, "```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("the configuration reference has no yaml block")
	}
	t.Setenv("KAFKA_PASSWORD", "") // the example expands it; empty keeps SASL off
	cfg, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("docs/configuration.md configuration reference: %v", err)
	}
	if cfg.Pipeline == "" || len(cfg.Tables) == 0 {
		t.Fatalf("parsed %+v", cfg)
	}
}

// The README's minimal config is a file this parser accepts, with the
// defaults the README says it gets. .ci/readme.sh also runs it against Kafka.
func TestREADMEMinimalConfigParses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "<!-- readme-test: minimal-config -->\n```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("README has no yaml block marked <!-- readme-test: minimal-config -->")
	}
	cfg, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("README minimal config: %v", err)
	}
	// What the README says of it: one table, its rejects table, ./warehouse
	// (made absolute from the working directory) with a SQLite catalog in it.
	if len(cfg.Tables) != 1 || cfg.Tables[0].Table != "music.tracks" || cfg.Tables[0].Rejects != "music.tracks__rejects" ||
		!strings.HasSuffix(cfg.Warehouse.URL, "/warehouse") || !strings.HasSuffix(cfg.Catalog.SQL.DSN, "/warehouse/catalog.db") {
		t.Fatalf("parsed %+v", cfg)
	}
}
