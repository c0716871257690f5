package config

import (
	"os"
	"path/filepath"
	"regexp"
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

// docsYAMLBase completes a config fragment of the docs (a tables: example,
// say) with the keys every file needs, where the fragment lacks them.
var docsYAMLBase = []struct{ key, text string }{
	{"pipeline", "pipeline: docs"},
	{"kafka", "kafka: {brokers: [\"127.0.0.1:9092\"]}"},
	{"schema_registry", "schema_registry: {url: \"http://127.0.0.1:8081\"}"},
	// The transforms example's enrich step names the Enrichment example's source.
	{"enrichment", "enrichment: [{name: artists, location: artists.csv, key: [artist_id], columns: [{name: name, as: artist_name}]}]"},
}

// Every yaml block of the README and docs/ is a config this parser accepts
// (completed with pipeline, kafka, schema_registry and the enrichment
// example's source where it is a fragment), so no example shows a key or a
// value that start would refuse.
func TestDocsYAMLExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	t.Setenv("KAFKA_PASSWORD", "")
	t.Setenv("PII_KEY", "docs-example-key")
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:9092")
	blocks := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rest := string(b)
		for {
			_, after, ok := strings.Cut(rest, "```yaml\n")
			if !ok {
				break
			}
			block, next, closed := strings.Cut(after, "```")
			if !closed {
				t.Fatalf("%s: a yaml block is not closed", f)
			}
			rest = next
			blocks++
			line := strings.Count(string(b[:len(b)-len(after)]), "\n") + 1
			var top []string
			for _, base := range docsYAMLBase {
				if !regexp.MustCompile(`(?m)^` + base.key + `:`).MatchString(block) {
					top = append(top, base.text)
				}
			}
			if _, err := Parse([]byte(strings.Join(append(top, block), "\n"))); err != nil {
				t.Errorf("%s:%d: the yaml block does not parse: %v", filepath.Base(f), line, err)
			}
		}
	}
	if blocks < 5 {
		t.Fatalf("found %d yaml blocks in the README and docs/, want the examples (5 or more)", blocks)
	}
}
