package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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

// The group keys reach the Kafka client the pipeline builds: the session
// and rebalance timeouts, a heartbeat short enough for the session, and
// the static member id.
func TestGroupKeysReachTheKafkaClient(t *testing.T) {
	dir := t.TempDir()
	base := []byte(`pipeline: p
kafka: {brokers: ["127.0.0.1:1"]}
schema_registry: {url: "http://127.0.0.1:8081"}
warehouse: {url: "file://` + dir + `"}
tables: [{topic: tracks, table: music.tracks}]
`)
	for _, tc := range []struct {
		sets                          []string
		session, rebalance, heartbeat time.Duration
		instance                      string
	}{
		{nil, 45 * time.Second, 60 * time.Second, 3 * time.Second, ""},
		{[]string{"kafka.session_timeout=1500ms", "kafka.rebalance_timeout=4s", "kafka.instance_id=host-1"},
			1500 * time.Millisecond, 4 * time.Second, 500 * time.Millisecond, "host-1"},
	} {
		cfg, err := config.Parse(base, tc.sets...)
		if err != nil {
			t.Fatal(err)
		}
		e, err := newEnv(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ConsumerGroup("g"),
			kgo.ConsumeTopics("tracks")}, e.opts.KafkaOpts...)...)
		if err != nil {
			t.Fatal(err)
		}
		got := []any{cl.OptValue(kgo.SessionTimeout), cl.OptValue(kgo.RebalanceTimeout), cl.OptValue(kgo.HeartbeatInterval)}
		want := []any{tc.session, tc.rebalance, tc.heartbeat}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%v: option %d = %v, want %v", tc.sets, i, got[i], want[i])
			}
		}
		if id := cl.OptValue(kgo.InstanceID); id != tc.instance {
			t.Errorf("%v: instance id %v, want %q", tc.sets, id, tc.instance)
		}
		cl.Close()
	}
}
