package ingest_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/table"
)

// sendTo produces the values to one partition of topic, with the given
// record timestamps when ts is set.
func (e *testEnv) sendTo(topic string, partition int32, ts []time.Time, values ...string) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}
		if ts != nil {
			recs[i].Timestamp = ts[i]
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// deleteRecords moves the log start of tp to offset, as retention does.
func (e *testEnv) deleteRecords(topic string, partition int32, offset int64) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var os kadm.Offsets
	os.AddOffset(topic, partition, offset, -1)
	res, err := kadm.NewClient(cl).DeleteRecords(context.Background(), os)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// VerifyPartitions lists what the pipeline subscribes to: named topics,
// every existing topic a pattern matches (and no other), each partition's
// log bounds, and where a never-committed partition starts for each
// kafka.start.
func TestVerifyPartitionsListsTheSubscription(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	for topic, n := range map[string]int32{"logs.a": 3, "logs.b": 1, "other": 1} {
		if err := e.cluster.Kafka().CreateTopic(topic, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	base := time.UnixMilli(1_700_000_000_000)
	e.sendTo(testTopic, 0, []time.Time{base, base.Add(time.Second), base.Add(2 * time.Second), base.Add(3 * time.Second)}, "a", "b", "c", "d")
	e.sendTo("logs.a", 2, []time.Time{base, base.Add(3 * time.Second)}, "x", "y")
	e.deleteRecords(testTopic, 0, 1)
	brokers := []kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}
	ctx := context.Background()
	sub := ingest.Subscription{Topics: []string{testTopic, "missing.topic"}, Patterns: []*regexp.Regexp{regexp.MustCompile(`^(?:logs\..*)$`)}}

	for _, tc := range []struct {
		kind string
		at   time.Time
		// starts are the expected Start of tracks/0, tracks/1, logs.a/2.
		starts [3]int64
	}{
		{ingest.StartEarliest, time.Time{}, [3]int64{1, 0, 0}},
		{ingest.StartLatest, time.Time{}, [3]int64{-1, -1, -1}},
		// At the third record's time: offset 2 on tracks/0; the log end on
		// a partition with no record that late.
		{ingest.StartTimestamp, base.Add(2 * time.Second), [3]int64{2, 0, 1}},
	} {
		sub.StartKind, sub.StartAt = tc.kind, tc.at
		parts, absent, err := ingest.VerifyPartitions(ctx, brokers, sub)
		if err != nil {
			t.Fatal(err)
		}
		var tps []table.TP
		for tp := range parts {
			tps = append(tps, tp)
		}
		slices.SortFunc(tps, func(a, b table.TP) int {
			if a.Topic != b.Topic {
				if a.Topic < b.Topic {
					return -1
				}
				return 1
			}
			return int(a.Partition - b.Partition)
		})
		want := []table.TP{{Topic: "logs.a", Partition: 0}, {Topic: "logs.a", Partition: 1}, {Topic: "logs.a", Partition: 2},
			{Topic: "logs.b", Partition: 0}, {Topic: testTopic, Partition: 0}, {Topic: testTopic, Partition: 1}}
		if !reflect.DeepEqual(tps, want) || !reflect.DeepEqual(absent, []string{"missing.topic"}) {
			t.Fatalf("%s: partitions %v absent %v", tc.kind, tps, absent)
		}
		t0 := parts[table.TP{Topic: testTopic, Partition: 0}]
		if t0.LogStart != 1 || t0.LogEnd != 4 || t0.Stable != 4 {
			t.Fatalf("%s: tracks/0 %+v", tc.kind, t0)
		}
		got := [3]int64{t0.Start, parts[table.TP{Topic: testTopic, Partition: 1}].Start, parts[table.TP{Topic: "logs.a", Partition: 2}].Start}
		if got != tc.starts {
			t.Errorf("%s: starts %v, want %v", tc.kind, got, tc.starts)
		}
	}
}

// A library caller that passes no partition list still gets past
// retention: Delivered says where the log starts, and Verify reports the
// range below it instead of failing with out of range.
func TestVerifyWithoutPartitionListStartsAtTheLogStart(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(5, 1)
	r := e.start(e.options())
	e.waitWatermarks(5)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.deleteRecords(testTopic, 0, 3)
	deliver := ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)})
	ctx := context.Background()
	tp := table.TP{Topic: testTopic, Partition: 0}
	var below *table.BelowLogStartError
	if _, err := deliver(ctx, tp, 0, 5); !errors.As(err, &below) || below.LogStart != 3 {
		t.Fatalf("reading below the log start: %v", err)
	}
	if got, err := deliver(ctx, tp, 3, 5); err != nil || !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("delivered %v, %v", got, err)
	}
	rep := e.verify()
	p := rep.Partitions[0]
	// The three deleted records are in the table: held, nothing
	// unverifiable, and rows below the log start are not unexpected.
	if d := p.Deleted; d == nil || d.From != 0 || d.To != 3 || d.Held != 3 || d.Unverifiable != 0 || p.Rows != 5 {
		t.Fatalf("partition %+v deleted %+v", p, p.Deleted)
	}
}

// A transaction marker retention deleted is in no table, and Kafka no
// longer says it was a marker: it is counted unverifiable, not missing,
// and the rows below the log start are not unexpected.
func TestVerifyCountsDeletedMarkersUnverifiable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	wire := produceOneWire(t, e) // offset 0
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.TransactionalID("v1"), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, n := range []int{5, 3} { // records 1..5, marker 6, records 7..9, marker 10
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: wire}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	r := e.start(e.options())
	e.waitWatermarks(10)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.deleteRecords(testTopic, 0, 8)
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, testTable)
	if err != nil {
		t.Fatal(err)
	}
	brokers := []kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}
	parts, _, err := ingest.VerifyPartitions(ctx, brokers, ingest.Subscription{Topics: []string{testTopic}, StartKind: ingest.StartEarliest})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := table.Verify(ctx, tbl, testPipeline, ingest.Delivered(brokers), table.FromLogStart(), table.WithKafkaPartitions(parts))
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Partitions[0]
	if !rep.OK() || p.Rows != 9 || p.Deleted == nil || *p.Deleted != (table.DeletedRange{From: 0, To: 8, Held: 7, Unverifiable: 1}) {
		t.Fatalf("violations %v notes %v partition %+v deleted %+v", rep.Violations, rep.Notes, p, p.Deleted)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "0..7 (7 in the tables; 1 unverifiable") {
		t.Fatalf("notes %v", rep.Notes)
	}
}
