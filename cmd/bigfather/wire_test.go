package main

import (
	"strings"
	"testing"

	"github.com/bigfather/bigfather/internal/config"
)

// A rule that does not compile stops the start with the route, the rule
// and the position in its expression.
func TestRuleCompileErrorNamesRuleAndPosition(t *testing.T) {
	cfg, err := config.Parse([]byte(`pipeline: p
kafka: {brokers: ["127.0.0.1:9092"]}
schema_registry: {url: "http://127.0.0.1:8081"}
warehouse: {url: "file:///tmp/bigfather-wire-test"}
tables:
  - topic: tracks
    table: music.tracks
    rules:
      - {name: ok, expr: "value.duration_ms > 0"}
      - {name: broken, expr: "value.duration_ms >"}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = tableOptions(cfg)
	if err == nil {
		t.Fatal("a rule that does not parse compiled")
	}
	for _, want := range []string{"tables[0].rules", `rule "broken"`, "1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `rule "ok"`) {
		t.Errorf("error %q blames the valid rule", err)
	}
}
