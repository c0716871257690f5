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
