package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/table"
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

// A partition_by term naming a column that does not exist stops the start
// when the columns are known: the table exists, or the topic's schema is
// declared (format json). Otherwise the pipeline halts on the first record.
func TestPartitionByUnknownColumnRefusedAtStart(t *testing.T) {
	const declared = `'{"type": "record", "name": "Play", "fields": [{"name": "track", "type": "string"}, {"name": "ms", "type": "long"}]}'`
	for _, tc := range []struct {
		name, table string
		existing    bool
		wantErr     bool
	}{
		{name: "existing table", table: "{topic: tracks, table: music.tracks, partition_by: [\"bucket(16, trak)\"]}", existing: true, wantErr: true},
		{name: "existing table fits", table: "{topic: tracks, table: music.tracks, partition_by: [\"bucket(16, track)\"]}", existing: true},
		{name: "declared schema", table: "{topic: tracks, table: music.tracks, format: json, value_schema: " + declared + ", partition_by: [\"ms\", \"bucket(16, trak)\"]}", wantErr: true},
		{name: "declared schema renamed by a transform", table: "{topic: tracks, table: music.tracks, format: json, value_schema: " + declared +
			", transforms: [{op: rename, renames: {track: title}}], partition_by: [\"bucket(16, track)\"]}", wantErr: true},
		{name: "declared schema fits", table: "{topic: tracks, table: music.tracks, format: json, value_schema: " + declared + ", partition_by: [\"truncate(4, track)\"]}"},
		{name: "schema unknown until the first record", table: "{topic: tracks, table: music.tracks, partition_by: [\"bucket(16, trak)\"]}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := config.Parse([]byte(`pipeline: p
kafka: {brokers: ["127.0.0.1:1"]}
schema_registry: {url: "http://127.0.0.1:8081"}
warehouse: {url: "file://` + dir + `"}
tables: [` + tc.table + `]
`))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			e, err := newEnv(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if tc.existing {
				sch := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "track", Type: iceberg.PrimitiveTypes.String})
				if _, err := table.EnsureTable(ctx, e.cat, icebergtable.Identifier{"music", "tracks"}, sch, nil); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err = e.pipelineOptions(ctx, prometheus.NewRegistry())
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("start refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the start was not refused")
			}
			for _, want := range []string{"tables[0].partition_by", `"bucket(16, `, "no top-level column"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
}
