package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/table"
)

// verifyEnv is a kfake cluster with one 4-partition topic, a config
// ingesting it as plain JSON into a local warehouse, and the pipeline run
// in process.
type verifyEnv struct {
	cluster *devkafka.Cluster
	dir     string
	config  string
}

const verifyTopic = "events"

func newVerifyEnv(t *testing.T, start string) *verifyEnv {
	t.Helper()
	cluster, err := devkafka.Start(context.Background(), devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{verifyTopic: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	dir := t.TempDir()
	cfg := fmt.Sprintf(`pipeline: vtest
kafka:
  brokers: [%q]
  start: %s
schema_registry:
  url: %q
warehouse:
  url: %q
tables:
  - topic: %s
    table: ns.events
    format: json
    value_schema: '{"type": "record", "name": "E", "fields": [{"name": "n", "type": "long"}]}'
flush:
  max_latency: 200ms
metrics:
  addr: ""
log:
  level: warn
`, cluster.Brokers()[0], start, cluster.RegistryURL(), "file://"+filepath.Join(dir, "wh"), verifyTopic)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &verifyEnv{cluster: cluster, dir: dir, config: path}
}

// send produces n JSON records to one partition.
func (e *verifyEnv) send(t *testing.T, partition int32, n int) {
	e.sendAt(t, partition, n, time.Time{})
}

// sendAt produces n JSON records to one partition, timestamped ts (now
// when zero).
func (e *verifyEnv) sendAt(t *testing.T, partition int32, n int, ts time.Time) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: verifyTopic, Partition: partition, Value: fmt.Appendf(nil, `{"n": %d}`, i), Timestamp: ts}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// deleteRecords moves a partition's log start to offset, as retention does.
func (e *verifyEnv) deleteRecords(t *testing.T, partition int32, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var os kadm.Offsets
	os.AddOffset(verifyTopic, partition, offset, -1)
	res, err := kadm.NewClient(cl).DeleteRecords(context.Background(), os)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// ingest runs the pipeline in process until the watermarks of ns.events
// sum to want, then stops it gracefully.
func (e *verifyEnv) ingest(t *testing.T, want int64) { e.ingestFeeding(t, want, nil) }

// ingestFeeding is ingest calling feed, when set, while it waits.
func (e *verifyEnv) ingestFeeding(t *testing.T, want int64, feed func()) {
	t.Helper()
	cfg, err := config.Load(e.config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	}()
	if err := eventually.Wait(60*time.Second, func() error {
		if got := e.committed(t); got < want {
			if feed != nil {
				feed()
			}
			return fmt.Errorf("committed %d of %d", got, want)
		}
		return nil
	}); err != nil {
		cancel()
		t.Fatalf("%v: %v", err, <-done)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func (e *verifyEnv) committed(t *testing.T) int64 {
	t.Helper()
	if _, err := os.Stat(filepath.Join(e.dir, "wh", "catalog.db")); err != nil {
		return 0
	}
	cat, err := table.OpenCatalog(context.Background(), table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(e.dir, "wh", "catalog.db")}},
		Warehouse:     "file://" + filepath.Join(e.dir, "wh"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cat.(io.Closer); ok {
		defer c.Close()
	}
	tbl, err := cat.LoadTable(context.Background(), catalog.ToIdentifier("ns.events"))
	if err != nil {
		return 0
	}
	wm, err := table.Watermarks(tbl.Metadata(), "vtest")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, w := range wm {
		sum += w
	}
	return sum
}

// verify runs `bigfather verify --json` in process and decodes its report.
func (e *verifyEnv) verify(t *testing.T, args ...string) (report verifyJSON, text string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = cmdVerify(context.Background(), append([]string{"--config", e.config, "--json"}, args...), &out, &errb)
	if jerr := json.Unmarshal(out.Bytes(), &report); jerr != nil {
		t.Fatalf("verify output is not JSON (%v; err %v):\n%s\n%s", jerr, err, out.String(), errb.String())
	}
	var txt bytes.Buffer
	_ = cmdVerify(context.Background(), append([]string{"--config", e.config}, args...), &txt, io.Discard)
	return report, txt.String(), err
}

type verifyJSON struct {
	OK      bool            `json:"ok"`
	Reports []*table.Report `json:"reports"`
}

func (v verifyJSON) partition(t *testing.T, p int32) table.PartitionReport {
	t.Helper()
	for _, r := range v.Reports {
		for _, pr := range r.Partitions {
			if pr.Topic == verifyTopic && pr.Partition == p {
				return pr
			}
		}
	}
	t.Fatalf("no report for %s/%d in %+v", verifyTopic, p, v.Reports)
	return table.PartitionReport{}
}

// Issue 11 item 2: verify listed partitions from the tables' watermarks,
// so a partition the pipeline never committed was not checked at all and
// verify said OK while all of its records were missing.
func TestVerifyChecksPartitionsNeverCommitted(t *testing.T) {
	t.Parallel()
	e := newVerifyEnv(t, "earliest")
	e.send(t, 0, 5)
	e.send(t, 1, 5)
	e.ingest(t, 10)
	// Partitions 2 and 3 get records the table never saw.
	e.send(t, 2, 4)
	e.send(t, 3, 3)
	rep, text, err := e.verify(t)
	if !errors.Is(err, errViolations) || rep.OK {
		t.Fatalf("verify passed with two partitions never committed: %v\n%s", err, text)
	}
	for p, n := range map[int32]int64{2: 4, 3: 3} {
		pr := e.partitionOf(t, rep, p)
		if pr.MissingCount != n || len(pr.Missing) != int(n) || pr.Missing[0] != 0 || !pr.NeverCommitted {
			t.Errorf("%s/%d: %+v, want %d missing from 0, never committed", verifyTopic, p, pr, n)
		}
		want := fmt.Sprintf("%s/%d: never committed: missing %d offsets: 0..%d", verifyTopic, p, n, n-1)
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	for _, p := range []int32{0, 1} {
		if pr := e.partitionOf(t, rep, p); pr.MissingCount != 0 || pr.Rows != 5 {
			t.Errorf("%s/%d: %+v", verifyTopic, p, pr)
		}
	}
	// --no-kafka checks the tables alone, and says so.
	if rep, text, err := e.verify(t, "--no-kafka"); err != nil || !rep.OK || rep.Reports[0].KafkaChecked || len(rep.Reports[0].Partitions) != 2 {
		t.Fatalf("--no-kafka: %v\n%s", err, text)
	}
	// Once the pipeline has caught up, every partition holds.
	e.ingest(t, 17)
	if rep, text, err := e.verify(t); err != nil || !rep.OK {
		t.Fatalf("after catching up: %v\n%s", err, text)
	}
}

func (e *verifyEnv) partitionOf(t *testing.T, rep verifyJSON, p int32) table.PartitionReport {
	t.Helper()
	return rep.partition(t, p)
}

// Issue 11 item 7: verify read every partition from offset 0 with no
// reset, so on any topic whose retention had deleted records it failed
// with "out of range". It now starts at the log start and reports the
// deleted range: fine where the table holds it, unverifiable where it
// holds nothing, data loss where the watermark is below the log start.
func TestVerifyStartsAtTheLogStart(t *testing.T) {
	t.Parallel()
	e := newVerifyEnv(t, "earliest")
	e.send(t, 0, 6)
	e.send(t, 1, 6)
	e.ingest(t, 12)
	// Retention deletes offsets 0..3 of partition 0, all ingested.
	e.deleteRecords(t, 0, 4)
	rep, text, err := e.verify(t)
	if err != nil || !rep.OK {
		t.Fatalf("verify with records deleted after ingestion: %v\n%s", err, text)
	}
	p0 := rep.partition(t, 0)
	if d := p0.Deleted; d == nil || d.From != 0 || d.To != 4 || d.Held != 4 || d.Unverifiable != 0 || p0.Rows != 6 {
		t.Fatalf("partition 0: %+v deleted %+v", p0, p0.Deleted)
	}
	if want := "deleted by retention before verification: 0..3 (4 in the tables)"; !strings.Contains(text, want) {
		t.Fatalf("text report lacks %q:\n%s", want, text)
	}

	// Partition 1 gets records the pipeline never ran on, and retention
	// deletes two of them: they were never ingested and are gone.
	e.send(t, 1, 4) // offsets 6..9
	e.deleteRecords(t, 1, 8)
	// Partition 2, never committed, loses its first two records too:
	// whether the pipeline ever saw them cannot be told.
	e.send(t, 2, 3)
	e.deleteRecords(t, 2, 2)
	rep, text, err = e.verify(t)
	if !errors.Is(err, errViolations) || rep.OK {
		t.Fatalf("verify passed a watermark below the log start: %v\n%s", err, text)
	}
	want := "ns.events: events/1: watermark 6 is below the log start 8: records 6..7 were deleted by retention before they were ingested (data loss)"
	if !strings.Contains(text, want) {
		t.Errorf("text report lacks %q:\n%s", want, text)
	}
	if p1 := rep.partition(t, 1); p1.MissingCount != 0 || p1.Deleted == nil || p1.Deleted.Held != 6 {
		t.Errorf("partition 1: %+v deleted %+v", p1, p1.Deleted)
	}
	p2 := rep.partition(t, 2)
	if d := p2.Deleted; d == nil || d.From != 0 || d.To != 2 || d.Unverifiable != 2 || d.Held != 0 || p2.MissingCount != 1 || p2.Missing[0] != 2 {
		t.Errorf("partition 2: %+v deleted %+v", p2, p2.Deleted)
	}
	if want := "events/2: never committed: missing 1 offset: 2"; !strings.Contains(text, want) {
		t.Errorf("text report lacks %q:\n%s", want, text)
	}
	if want := "0..1 (2 unverifiable: deleted from Kafka, in no table)"; !strings.Contains(text, want) {
		t.Errorf("text report lacks %q:\n%s", want, text)
	}
}

// With kafka.start latest, where the pipeline began on a partition it
// never committed is not knowable: verify says so instead of calling its
// records missing or checking nothing in silence.
func TestVerifyStartLatestNeverCommittedIsUnverified(t *testing.T) {
	t.Parallel()
	e := newVerifyEnv(t, "latest")
	e.send(t, 1, 3) // before the pipeline starts: not for it to ingest
	// Records produced while it runs are ingested once it is assigned.
	e.ingestFeeding(t, 1, func() { e.send(t, 0, 1) })
	rep, text, err := e.verify(t)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v\n%s", err, text)
	}
	p1 := rep.partition(t, 1)
	if !p1.NeverCommitted || p1.Unverified == "" || p1.MissingCount != 0 || p1.Kafka == nil || p1.Kafka.LogEnd != 3 {
		t.Fatalf("partition 1: %+v", p1)
	}
	if want := "note: events/1: not checked against Kafka: never committed, and with kafka.start latest"; !strings.Contains(text, want) {
		t.Fatalf("text report lacks %q:\n%s", want, text)
	}
	if p0 := rep.partition(t, 0); p0.NeverCommitted || p0.Unverified != "" || p0.Rows == 0 {
		t.Fatalf("partition 0: %+v", p0)
	}
}

// With kafka.start a timestamp, a partition never committed is checked
// from the first offset at or after that time.
func TestVerifyStartTimestampChecksFromTheStartTime(t *testing.T) {
	t.Parallel()
	base := time.UnixMilli(1_700_000_000_000).UTC()
	e := newVerifyEnv(t, base.Add(2*time.Second).Format(time.RFC3339))
	for i := range 4 {
		e.sendAt(t, 0, 1, base.Add(time.Duration(i)*time.Second))
	}
	e.sendAt(t, 1, 2, base) // all before the start time
	e.ingest(t, 4)          // partition 0 from offset 2
	e.sendAt(t, 2, 2, base)
	e.sendAt(t, 2, 3, base.Add(5*time.Second))
	rep, text, err := e.verify(t)
	if !errors.Is(err, errViolations) {
		t.Fatalf("verify: %v\n%s", err, text)
	}
	if p0 := rep.partition(t, 0); p0.First != 2 || p0.Rows != 2 || p0.MissingCount != 0 {
		t.Errorf("partition 0: %+v", p0)
	}
	if p1 := rep.partition(t, 1); !p1.NeverCommitted || p1.MissingCount != 0 || p1.First != 2 {
		t.Errorf("partition 1: %+v", p1)
	}
	if want := "events/2: never committed: missing 3 offsets: 2..4"; len(rep.Reports[0].Violations) != 1 || !strings.Contains(text, want) {
		t.Errorf("violations %v, want only %q:\n%s", rep.Reports[0].Violations, want, text)
	}
}

// A topic deleted after ingestion leaves rows Kafka can no longer vouch
// for: verify runs the table-only checks on them and says what it could
// not check, instead of failing to read the topic.
func TestVerifyTopicDeletedAfterIngestion(t *testing.T) {
	t.Parallel()
	e := newVerifyEnv(t, "earliest")
	e.send(t, 0, 3)
	e.ingest(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).DeleteTopics(context.Background(), verifyTopic)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, text, err := e.verify(t)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v\n%s", err, text)
	}
	if p0 := rep.partition(t, 0); p0.Rows != 3 || p0.Unverified == "" || p0.Kafka != nil {
		t.Fatalf("partition 0: %+v", p0)
	}
	for _, want := range []string{"note: events/0: not checked against Kafka: Kafka does not have this partition",
		"note: topic events: not in Kafka"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}
