package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/table"
)

// lineCounter is a log destination that counts lines and keeps the last
// ones, so a test can bound how much a fault makes the daemon log.
type lineCounter struct {
	mu    sync.Mutex
	lines int
	bytes int
	tail  []string
}

func (c *lineCounter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines += bytes.Count(b, []byte{'\n'})
	c.bytes += len(b)
	c.tail = append(c.tail, string(b))
	if len(c.tail) > 20 {
		c.tail = c.tail[len(c.tail)-20:]
	}
	if testing.Verbose() {
		os.Stderr.Write(b)
	}
	return len(b), nil
}

func (c *lineCounter) count() (lines, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines, c.bytes
}

// recreateTopic deletes the test topic and creates it again with as many
// partitions: the new topic has a new topic id and starts at offset 0.
func (e *testEnv) recreateTopic(partitions int32) {
	e.t.Helper()
	k := e.cluster.Kafka()
	if err := k.DeleteTopic(testTopic); err != nil {
		e.t.Fatal(err)
	}
	if err := k.CreateTopic(testTopic, partitions, nil); err != nil {
		e.t.Fatal(err)
	}
}

// topicIDsOf reads the topic ids the test pipeline stored in the table.
func (e *testEnv) topicIDsOf() map[string]string {
	e.t.Helper()
	ids, err := table.TopicIDs(e.loadTable(testTable).Metadata(), testPipeline)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// verifyReport runs verify against Kafka, topic ids included, and returns
// the report without judging it.
func (e *testEnv) verifyReport() *table.Report {
	e.t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}
	rep, err := table.Verify(context.Background(), e.loadTable(testTable), testPipeline, ingest.Delivered(base),
		table.FromLogStart(), table.WithTopicIDs(ingest.CurrentTopicIDs(base)))
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func assertTopicRecreatedHalt(t *testing.T, h map[table.TP]error) {
	t.Helper()
	for tp, err := range h {
		if !errors.Is(err, ingest.ErrTopicRecreated) {
			t.Fatalf("%s halted with %v, want ErrTopicRecreated", tp, err)
		}
		if !strings.Contains(err.Error(), "watermark") {
			t.Fatalf("%s: halt message %q does not name the watermark", tp, err)
		}
	}
}

func assertVerifyTopicIDViolation(t *testing.T, rep *table.Report) {
	t.Helper()
	if rep.OK() {
		t.Fatal("verify reports OK although the topic was recreated under the table's watermarks")
	}
	for _, v := range rep.Violations {
		if strings.Contains(v, "topic id") {
			return
		}
	}
	t.Fatalf("verify violations %v name no topic id mismatch", rep.Violations)
}

// Issue 11 item 4, while running: the topic is deleted and recreated
// under a running pipeline. Every partition halts with ErrTopicRecreated,
// the fetch errors stop (no log flood), nothing of the new topic is
// ingested, and verify reports the mismatch.
func TestTopicRecreatedWhileRunning(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	logs := &lineCounter{}
	opts := e.options()
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The client surfaces the fetch errors after its metadata refreshes.
	opts.KafkaOpts = append(opts.KafkaOpts, kgo.MetadataMinAge(200*time.Millisecond))
	e.produce(200, 1)
	r := e.start(opts)
	e.waitWatermarks(200)
	old := e.topicIDsOf()[testTopic]
	wm := e.watermarks()

	e.recreateTopic(2)
	e.produce(500, 2)
	h := waitHalted(t, r.p, 2, 30*time.Second)
	assertTopicRecreatedHalt(t, h)
	if old == "" {
		t.Fatalf("no topic id stored with the watermarks: %v", e.topicIDsOf())
	}
	if msg := h[table.TP{Topic: testTopic, Partition: 0}].Error(); !strings.Contains(msg, old) {
		t.Fatalf("halt message %q does not name the old topic id %s", msg, old)
	}

	// Halted partitions are paused: the log stays quiet.
	lines0, _ := logs.count()
	time.Sleep(3 * time.Second)
	lines1, size := logs.count()
	if lines1-lines0 > 20 {
		t.Fatalf("%d log lines (%d bytes so far) in 3s after the halt; last: %v", lines1-lines0, size, logs.tail)
	}
	r.stop()
	if got := e.watermarks(); sumOf(got) != sumOf(wm) {
		t.Fatalf("watermarks moved from %v to %v: records of the new topic were ingested", wm, got)
	}
	if got := e.topicIDsOf()[testTopic]; got != old {
		t.Fatalf("stored topic id changed from %s to %s", old, got)
	}
	assertVerifyTopicIDViolation(t, e.verifyReport())
}

// Issue 11 item 4, across a restart: the new topic is already longer than
// the old watermark, so only the topic id tells it apart. Resuming would
// skip the new topic's first records.
func TestTopicRecreatedAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(200, 1)
	r := e.start(e.options())
	e.waitWatermarks(200)
	r.stop()
	wm := e.watermarks()

	e.recreateTopic(2)
	e.produce(1000, 2)
	r = e.start(e.options())
	h := waitHalted(t, r.p, 2, 30*time.Second)
	assertTopicRecreatedHalt(t, h)
	time.Sleep(time.Second)
	r.stop()
	if got := e.watermarks(); sumOf(got) != sumOf(wm) {
		t.Fatalf("watermarks moved from %v to %v: records of the new topic were ingested", wm, got)
	}
	if rows := rowsIn(e.verifyReport()); rows != 200 {
		t.Fatalf("table holds %d rows, want the old topic's 200", rows)
	}
	assertVerifyTopicIDViolation(t, e.verifyReport())
}

// A table committed before topic ids were stored has none: the pipeline
// does not halt for a missing id and records it with its next commit.
func TestTopicIDRecordedOnTablesWithout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(100, 1)
	r := e.start(e.options())
	e.waitWatermarks(100)
	r.stop()
	ctx := context.Background()
	tx := e.loadTable(testTable).NewTransaction()
	if err := tx.RemoveProperties([]string{table.PropTopicIDsPrefix + testPipeline}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := e.topicIDsOf(); len(ids) != 0 {
		t.Fatalf("topic ids %v after removing the property", ids)
	}
	e.produce(100, 2)
	r = e.start(e.options())
	e.waitWatermarks(200)
	noneHalted(t, r.p)
	r.stop()
	if ids := e.topicIDsOf(); ids[testTopic] == "" {
		t.Fatalf("no topic id recorded by the next commit: %v", ids)
	}
	if rep := e.verifyReport(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Violations)
	}
}

// A topic deleted under a running pipeline (and not recreated) halts its
// partitions once it stays missing, and the fetch errors stop.
func TestTopicDeletedWhileRunning(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	logs := &lineCounter{}
	opts := e.options()
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.produce(100, 1)
	r := e.start(opts)
	e.waitWatermarks(100)
	if err := e.cluster.Kafka().DeleteTopic(testTopic); err != nil {
		t.Fatal(err)
	}
	h := waitHalted(t, r.p, 1, 60*time.Second)
	for tp, err := range h {
		if !errors.Is(err, ingest.ErrTopicDeleted) {
			t.Fatalf("%s halted with %v, want ErrTopicDeleted", tp, err)
		}
	}
	lines0, _ := logs.count()
	time.Sleep(3 * time.Second)
	if lines1, size := logs.count(); lines1-lines0 > 20 {
		t.Fatalf("%d log lines (%d bytes so far) in 3s after the halt; last: %v", lines1-lines0, size, logs.tail)
	}
	r.stop()
}
