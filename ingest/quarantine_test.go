package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/tabletest"
)

var testRejects = icebergtable.Identifier{"music", "tracks__rejects"}

// withQuarantine routes the test topic's rejects to testRejects.
func withQuarantine(o ingest.Options) ingest.Options {
	o.Tables[0].Rejects = testRejects
	return o
}

// rejectRow is what the test reads back from the quarantine table.
type rejectRow struct {
	tp       table.TP
	offset   int64
	value    []byte
	headers  map[string]string
	schemaID *int32
	stage    string
	reason   string
	message  string
}

// rejectAt names a quarantine row by its Kafka coordinates.
type rejectAt struct {
	partition int32
	offset    int64
}

func (e *testEnv) readRejects() map[rejectAt]rejectRow { return e.readRejectsOf(testRejects) }

// readRejectsOf reads the quarantine table id back.
func (e *testEnv) readRejectsOf(id icebergtable.Identifier) map[rejectAt]rejectRow {
	e.t.Helper()
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[rejectAt]rejectRow{}
	if tbl.CurrentSnapshot() == nil {
		return out
	}
	_, recs, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for rec, err := range recs {
		if err != nil {
			e.t.Fatal(err)
		}
		col := func(name string) int { return rec.Schema().FieldIndices(name)[0] }
		offs := rec.Column(col(schema.ColKafkaOffset)).(*array.Int64)
		parts := rec.Column(col(schema.ColKafkaPartition)).(*array.Int32)
		vals := rec.Column(col(schema.ColRawValue)).(*array.Binary)
		hdrs := rec.Column(col(schema.ColRawHeaders)).(*array.List)
		ids := rec.Column(col(schema.ColSchemaID)).(*array.Int32)
		stages := rec.Column(col(schema.ColStage)).(*array.String)
		reasons := rec.Column(col(schema.ColReason)).(*array.String)
		msgs := rec.Column(col(schema.ColMessage)).(*array.String)
		hs := hdrs.ListValues().(*array.Struct)
		hk, hv := hs.Field(0).(*array.String), hs.Field(1).(*array.Binary)
		for i := 0; i < int(rec.NumRows()); i++ {
			row := rejectRow{tp: table.TP{Topic: testTopic, Partition: parts.Value(i)}, offset: offs.Value(i), stage: stages.Value(i), reason: reasons.Value(i), message: msgs.Value(i), headers: map[string]string{}}
			if !vals.IsNull(i) {
				row.value = bytes.Clone(vals.Value(i))
			}
			if !ids.IsNull(i) {
				id := ids.Value(i)
				row.schemaID = &id
			}
			if !hdrs.IsNull(i) {
				from, to := hdrs.ValueOffsets(i)
				for j := from; j < to; j++ {
					row.headers[hk.Value(int(j))] = string(hv.Value(int(j)))
				}
			}
			at := rejectAt{row.tp.Partition, row.offset}
			if _, dup := out[at]; dup {
				e.t.Fatalf("%s offset %d twice in the quarantine table", row.tp, row.offset)
			}
			out[at] = row
		}
		rec.Release()
	}
	return out
}

func (e *testEnv) verifyRoute() *table.Report {
	e.t.Helper()
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, testTable)
	if err != nil {
		e.t.Fatal(err)
	}
	rej, err := e.cat.LoadTable(ctx, testRejects)
	if err != nil {
		e.t.Fatal(err)
	}
	rep, err := table.VerifyRoute(ctx, tbl, rej, testPipeline, ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}), table.FromLogStart())
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Fatalf("verify: %v", rep.Violations)
	}
	return rep
}

func rejectsIn(rep *table.Report) (n int64) {
	for _, p := range rep.Partitions {
		n += p.Rejects
	}
	return n
}

// Every poison pill lands in quarantine once, with its raw bytes, headers
// and a reason; the good records around it land in the table; EO holds
// across both.
func TestPoisonPillsGoToQuarantine(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(50, 1)
	good := produceOneWire(t, e) // offset 50
	huge := append(append([]byte{}, good...), bytes.Repeat([]byte{'x'}, 200<<10)...)
	cases := []struct {
		value  []byte
		reason string
		hasID  bool
	}{
		{[]byte{1, 0, 0, 0, 1, 2, 3}, "wire", false},
		{[]byte{0, 0, 0, 0x7f, 0x7f, 2, 3}, "unknown-schema", true},
		{good[:len(good)/2], "malformed", true},
		{[]byte{0, 0}, "wire", false},
		{append(append([]byte{}, good[:5]...), 0xff), "malformed", true},
		{nil, "wire", false}, // a tombstone has no schema to decode
		{huge, "too-large", false},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i, c := range cases {
		r := &kgo.Record{Key: []byte("k"), Value: c.value, Headers: []kgo.RecordHeader{{Key: "case", Value: []byte(c.reason)}, {Key: "n", Value: []byte{byte('0' + i)}}}}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	e.produce(50, 2)
	total := int64(50 + 1 + len(cases) + 50)

	reg := prometheus.NewRegistry()
	opts := withQuarantine(e.options())
	opts.Registerer = reg
	opts.MaxRecordBytes = 100 << 10
	r := e.start(opts)
	e.waitWatermarks(total)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 101 || rejectsIn(rep) != int64(len(cases)) || skippedIn(rep) != 0 {
		t.Fatalf("rows %d rejects %d skipped %d, want 101, %d, 0", rowsIn(rep), rejectsIn(rep), skippedIn(rep), len(cases))
	}
	if p := rep.Partitions[0]; p.RejectsWatermark == nil || *p.RejectsWatermark != total || p.CheckedTo != total {
		t.Fatalf("after a clean stop both watermarks are %d: %+v", total, p)
	}
	rows := e.readRejects()
	for i, c := range cases {
		off := int64(51 + i)
		row, ok := rows[rejectAt{0, off}]
		if !ok {
			t.Fatalf("case %d (%s): offset %d not in quarantine", i, c.reason, off)
		}
		if row.stage != schema.StageDecode || row.reason != c.reason || row.message == "" {
			t.Errorf("offset %d: stage %q reason %q message %q, want decode/%s with a message", off, row.stage, row.reason, row.message, c.reason)
		}
		if c.hasID != (row.schemaID != nil) {
			t.Errorf("offset %d: schema id %v, want present=%v", off, row.schemaID, c.hasID)
		}
		if row.headers["case"] != c.reason || row.headers["n"] != string(rune('0'+i)) {
			t.Errorf("offset %d: headers %v", off, row.headers)
		}
		switch {
		case c.reason == "too-large":
			if len(row.value) != 64<<10 || !bytes.Equal(row.value, c.value[:64<<10]) || !strings.Contains(row.message, "first 65536 bytes") {
				t.Errorf("oversized record: kept %d bytes, message %q", len(row.value), row.message)
			}
		case c.value == nil:
			if row.value != nil {
				t.Errorf("tombstone stored as %q, want null", row.value)
			}
		case !bytes.Equal(row.value, c.value):
			t.Errorf("offset %d: raw value %x, want %x", off, row.value, c.value)
		}
	}
	if got := counterValue(t, reg, "bigfather_ingest_rejected_records_total", nil); got != float64(len(cases)) {
		t.Fatalf("rejected counter %v, want %d", got, len(cases))
	}
}

// The quarantine table commits after the data table. When the quarantine
// table's commit fails after the data table's succeeded, the batch is
// dropped and re-read: the data table keeps its records once, the
// quarantine table gets the rejects, and EO holds across both.
func TestQuarantineCommitsAfterTheTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	faulty := &tabletest.FaultyCatalog{Catalog: e.cat}
	e.produce(30, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for range 3 {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte{9, 9, 9}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	e.produce(30, 2)
	opts := withQuarantine(e.options())
	opts.Catalog = faulty
	opts.FlushMaxLatency = 2 * time.Second // the first flush at the record limit, then the re-read quarantine batch on time
	opts.FlushMaxRecords = 60              // the table's 60 good records fill the batch at the last offset
	// Commits in order: the table's goes through, then every attempt of the
	// quarantine table's (the route's anchor) fails unapplied until the
	// committer gives up (it retries an unknown outcome up to 10 times
	// after reconciling).
	faulty.PassFirst.Store(1)
	faulty.FailBefore.Store(11)
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if e.watermarksOf(testRejects)[table.TP{Topic: testTopic, Partition: 0}] != 63 {
			return errors.New("the quarantine table never committed")
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := faulty.Commits.Load(); n < 13 {
		t.Fatalf("%d commits: the quarantine table's commit was not tried again after the re-seek", n)
	}
	if rw := e.watermarksOf(testRejects); rw[table.TP{Topic: testTopic, Partition: 0}] != 63 {
		t.Fatalf("quarantine watermark %v, want 63", rw)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 60 || rejectsIn(rep) != 3 {
		t.Fatalf("rows %d rejects %d, want 60 and 3", rowsIn(rep), rejectsIn(rep))
	}
}

// A registry outage is no reason to reject anything: the pipeline waits it
// out (lag grows, the stall counter says why), nothing lands in quarantine,
// and ingestion catches up once the registry answers again.
func TestRegistryOutageQuarantinesNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(500, 1)
	var outage atomic.Bool
	outage.Store(true)
	e.cluster.Registry().Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !outage.Load() || !strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	reg := prometheus.NewRegistry()
	opts := withQuarantine(e.options())
	opts.Registerer = reg
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if counterValue(t, reg, "bigfather_ingest_registry_stalls_total", nil) < 2 {
			return errors.New("the pipeline never reported waiting for the registry")
		}
		return nil
	})
	for tp, w := range e.watermarks() {
		if w != 0 {
			t.Fatalf("%s committed up to %d while the registry was down", tp, w)
		}
	}
	outage.Store(false)
	e.waitWatermarks(500)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 500 || rejectsIn(rep) != 0 {
		t.Fatalf("rows %d rejects %d, want 500 and 0", rowsIn(rep), rejectsIn(rep))
	}
	if got := counterValue(t, reg, "bigfather_ingest_rejected_records_total", nil); got != 0 {
		t.Fatalf("%v records rejected during a registry outage", got)
	}
}

// With a DLQ topic, every reject is also produced there with headers
// naming its origin, stage and error; the quarantine table still holds each
// once. A DLQ topic that does not exist fails the start.
func TestRejectsAlsoGoToTheDLQ(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	const dlq = "tracks.dlq"
	e.produce(20, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bad := [][]byte{{1, 2, 3}, {0, 0, 0, 0x7f, 0x7f, 1}}
	for i, v := range bad {
		r := &kgo.Record{Key: []byte{'k', byte('0' + i)}, Value: v, Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	e.produce(20, 2)

	opts := withQuarantine(e.options())
	opts.DLQTopic = dlq
	exited, err := e.start(opts).exited(30 * time.Second)
	if !exited || !errors.Is(err, ingest.ErrConfig) || !strings.Contains(err.Error(), dlq) {
		t.Fatalf("start with a missing DLQ topic: %v, want an ErrConfig naming it", err)
	}
	if err := e.cluster.Kafka().CreateTopic(dlq, 1, nil); err != nil {
		t.Fatal(err)
	}
	r := e.start(opts)
	e.waitWatermarks(42)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if rep := e.verifyRoute(); rejectsIn(rep) != 2 || rowsIn(rep) != 40 {
		t.Fatalf("rows %d rejects %d, want 40 and 2", rowsIn(rep), rejectsIn(rep))
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < len(bad) && ctx.Err() == nil {
		got = append(got, cons.PollFetches(ctx).Records()...)
	}
	if len(got) != len(bad) {
		t.Fatalf("DLQ has %d records, want %d", len(got), len(bad))
	}
	for i, rec := range got {
		h := map[string]string{}
		for _, kv := range rec.Headers {
			h[kv.Key] = string(kv.Value)
		}
		wantOff := strconv.Itoa(20 + i)
		if !bytes.Equal(rec.Value, bad[i]) || string(rec.Key) != "k"+string(rune('0'+i)) || h["origin"] != "test" ||
			h[ingest.HeaderDLQTopic] != testTopic || h[ingest.HeaderDLQPartition] != "0" || h[ingest.HeaderDLQOffset] != wantOff ||
			h[ingest.HeaderDLQStage] != "decode" || h[ingest.HeaderDLQReason] == "" || h[ingest.HeaderDLQError] == "" {
			t.Errorf("DLQ record %d: key %q value %x headers %v", i, rec.Key, rec.Value, h)
		}
	}
}

// Switching quarantine on for a route that already ran creates the
// quarantine table, which owes nothing: the restart resumes from the data
// table's watermarks rather than re-reading everything since its origin.
func TestQuarantineAddedLaterResumesFromTheTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(100, 1)
	r := e.start(e.options())
	e.waitWatermarks(100)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.produce(50, 2)
	r = e.start(withQuarantine(e.options()))
	e.waitWatermarks(150)
	eventually.Within(t, 60*time.Second, func() error {
		if e.watermarksOf(testRejects)[table.TP{Topic: testTopic, Partition: 0}] != 150 {
			return errors.New("the new quarantine table never reached the end")
		}
		return nil
	})
	consumed := r.p.Stats().Consumed
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if consumed != 50 {
		t.Fatalf("the restart consumed %d records, want the 50 new ones: it re-read from the origin", consumed)
	}
	e.verifyRoute()
}
