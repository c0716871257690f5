package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/tabletest"
)

// Scenario a: N records in, exactly N rows out, each offset once.
func TestIngestExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 3)
	const n = 5000
	e.produce(n, 1)
	r := e.start(e.options())
	e.waitWatermarks(n)
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	rep := e.verify()
	if got := rowsIn(rep); got != n {
		t.Fatalf("table has %d rows, want %d", got, n)
	}
	if !rep.KafkaChecked {
		t.Fatal("verify did not compare against Kafka")
	}
}

// A second run resumes from the table's watermarks: nothing is re-ingested.
func TestRestartResumesFromTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(1000, 1)
	r := e.start(e.options())
	e.waitWatermarks(1000)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.produce(700, 2)
	opts := e.options()
	opts.Group = "another-group" // group offsets are advisory: seeking must come from the table
	r = e.start(opts)
	e.waitWatermarks(1700)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != 1700 {
		t.Fatalf("rows %d, want 1700", got)
	}
}

// Scenario c: three members of one group, joining and leaving mid-stream.
// Each member has its own catalog connection, as separate instances would;
// on PostgreSQL too, the catalog meant for several instances.
func TestGroupMembersJoinAndLeave(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { groupMembersJoinAndLeave(t, newTestEnv(t, 6)) })
	t.Run("postgres", func(t *testing.T) {
		e := newTestEnv(t, 6)
		e.usePostgres()
		groupMembersJoinAndLeave(t, e)
	})
}

func groupMembersJoinAndLeave(t *testing.T, e *testEnv) {
	member := func() ingest.Options {
		o := e.options()
		o.Catalog = e.openCatalog()
		return o
	}
	e.produce(3000, 1)
	w1 := e.start(member())
	waitAbove(t, e, 500)
	w2 := e.start(member())
	e.produce(3000, 2)
	w3 := e.start(member())
	waitAbove(t, e, 4000)
	if err := w1.stop(); err != nil {
		t.Fatalf("w1: %v", err)
	}
	e.produce(3000, 3)
	e.waitWatermarks(9000)
	for i, w := range []*running{w2, w3} {
		if err := w.stop(); err != nil {
			t.Fatalf("w%d: %v", i+2, err)
		}
	}
	if got := rowsIn(e.verify()); got != 9000 {
		t.Fatalf("rows %d, want 9000", got)
	}
}

func waitAbove(t *testing.T, e *testEnv, n int64) {
	t.Helper()
	eventually.Within(t, 60*time.Second, func() error {
		if sum := sumOf(e.watermarks()); sum <= n {
			return fmt.Errorf("watermarks at %d never passed %d", sum, n)
		}
		return nil
	})
}

// Scenario d: a worker pauses before its commit, is kicked from the group,
// its partitions move to another member which commits them; when the
// zombie wakes up its commit is fenced and nothing is duplicated.
func TestZombieIsFenced(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(1000, 1)

	paused, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	zreg := prometheus.NewRegistry()
	zopts := e.options()
	zopts.Registerer = zreg
	logs := &logCount{}
	zopts.Logger = slog.New(logs.wrap(zopts.Logger.Handler()))
	zopts.Hooks.At = func(point string) {
		if point == "before-commit" && once.CompareAndSwap(false, true) {
			close(paused)
			<-release
		}
	}
	zombie := e.start(zopts)
	<-paused

	healthy := e.start(e.options())
	e.waitWatermarks(1000) // the healthy member owns everything now
	close(release)

	eventually.Within(t, 30*time.Second, func() error {
		if counterValue(t, zreg, "bigfather_commit_fenced_batches_total", nil) < 1 {
			return errors.New("the zombie's commit was never fenced")
		}
		return nil
	})
	zombie.stop()
	// Fencing is normal in a group: a warning with the reason, not an error.
	if logs.count("batch fenced: another writer moved the watermark; dropped, re-seeking from the tables") < 1 ||
		logs.count("batch dropped, re-seeking from the tables") != 0 {
		t.Fatalf("the fenced batch was not logged as fenced: %v", logs.messages())
	}
	if err := healthy.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != 1000 {
		t.Fatalf("rows %d, want 1000", got)
	}
}

// counterValue sums the counter family name in reg over the series whose
// labels include match.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range match {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// Scenario e: the metadata swap happened but the response was lost (and,
// separately, a request that failed before reaching the catalog). No
// duplicate, no false failure.
func TestAmbiguousCommit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(3000, 1)
	lossy := &tabletest.FaultyCatalog{Catalog: e.cat}
	lossy.LoseAfterApply.Store(2)
	lossy.FailBefore.Store(1)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.FlushMaxRecords = 500 // several commits, so both lost responses happen
	opts.Catalog = lossy
	opts.Registerer = reg
	r := e.start(opts)
	e.waitWatermarks(3000)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != 3000 {
		t.Fatalf("rows %d, want 3000", got)
	}
	found := counterValue(t, reg, "bigfather_commit_unknown_outcomes_total", map[string]string{"outcome": "found-committed"})
	if found != 2 {
		t.Fatalf("reconciled-as-committed outcomes = %v, want 2", found)
	}
}

// Undecodable records are passed over, counted, and accounted for by
// verify: the watermark moves past them and EO still holds.
func TestUndecodableRecordsArePassedOver(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(100, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	good := produceOneWire(t, e)
	bad := [][]byte{
		{1, 0, 0, 0, 1, 2, 3},       // wrong magic byte
		{0, 0, 0, 0x7f, 0x7f, 2, 3}, // unknown schema id
		good[:len(good)/2],          // truncated payload
		{0, 0},                      // shorter than the header
		append(append([]byte{}, good[:5]...), 0xff), // garbage after the header
	}
	for _, v := range bad {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	e.produce(100, 2)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	r := e.start(opts)
	total := int64(100 + 1 + len(bad) + 100)
	e.waitWatermarks(total)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verify()
	if rowsIn(rep) != 201 || skippedIn(rep) != int64(len(bad)) {
		t.Fatalf("rows %d skipped %d, want 201 and %d", rowsIn(rep), skippedIn(rep), len(bad))
	}
	if got := counterValue(t, reg, "bigfather_ingest_undecodable_records_total", nil); got != float64(len(bad)) {
		t.Fatalf("undecodable counter %v, want %d", got, len(bad))
	}
}

// produceOneWire produces one valid record through the sample producer and
// returns its wire bytes, for building malformed variants.
func produceOneWire(t *testing.T, e *testEnv) []byte {
	t.Helper()
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: e.cluster.Brokers(), RegistryURL: e.cluster.RegistryURL(), Topic: testTopic, Total: 1, Seed: 99,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	payload, err := music.NewGenerator(99).Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	return music.AppendWire(nil, p.SchemaID(), payload)
}

// Scenario f: aborted transactions and compaction leave offset holes; they
// are no reason to halt, and verify raises no false alarm.
func TestOffsetGapsFromTransactionsAndCompaction(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	wire := produceOneWire(t, e) // offset 0
	const compacted = "tracks-compacted"
	if err := e.cluster.Kafka().CreateTopic(compacted, 1, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	// The same schema, under the other topic's subject too.
	registerUnder(t, e, compacted+"-value", music.TrackSchema())
	txn := func(id string, commit bool, n int, topic string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: wire}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn("t1", true, 30, testTopic)
	txn("t2", false, 20, testTopic)
	txn("t3", true, 30, testTopic)
	txn("t4", true, 50, compacted) // 7 distinct keys: compaction leaves holes
	txn("t5", false, 10, compacted)
	e.cluster.Kafka().Compact()

	opts := e.options()
	opts.Tables = append(opts.Tables, ingest.TableOptions{ID: icebergtable.Identifier{"music", "compacted"}, Topics: []string{compacted}})
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	r := e.start(opts)
	compactedID := icebergtable.Identifier{"music", "compacted"}
	eventually.Within(t, 60*time.Second, func() error {
		wm, cwm := e.watermarks(), e.watermarksOf(compactedID)
		// Offsets: 0 (one record), 1-30 committed, 31 marker, 32-51 aborted,
		// 52 marker, 53-82 committed, 83 marker. The last record is 82.
		// The compacted topic: 0-49 committed (its last key at 49), 50
		// marker, 51-60 aborted, 61 marker.
		if wm[table.TP{Topic: testTopic, Partition: 0}] < 83 || cwm[table.TP{Topic: compacted, Partition: 0}] < 50 {
			return fmt.Errorf("watermarks stuck at %v and %v (halted: %v)", wm, cwm, r.p.Halted())
		}
		return nil
	})
	// Both topics ingested to their last record: neither halted on a hole.
	noneHalted(t, r.p)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != 61 {
		t.Fatalf("rows %d, want 61 (1 + two committed transactions of 30)", got)
	}
	ctab, err := e.cat.LoadTable(context.Background(), icebergtable.Identifier{"music", "compacted"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := table.Verify(context.Background(), ctab, testPipeline, ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("compacted topic: %v", rep.Violations)
	}
	if got := rowsIn(rep); got < 7 || got >= 50 {
		t.Fatalf("compacted table has %d rows, want the surviving keys only (7..49)", got)
	}
}

// waitHalted waits until want partitions (at least one) are halted and
// returns them with their reasons.
func waitHalted(t *testing.T, p *ingest.Pipeline, want int, within time.Duration) map[table.TP]error {
	t.Helper()
	if want < 1 {
		t.Fatal("waitHalted waits for a halt; assert that none happened with noneHalted once the records are in")
	}
	var h map[table.TP]error
	eventually.Within(t, within, func() error {
		if h = p.Halted(); len(h) != want {
			return fmt.Errorf("halted partitions %v, want %d", h, want)
		}
		return nil
	})
	return h
}

// noneHalted fails when a partition is halted. Call it once the
// watermarks show every record committed: a partition halts on the record
// or offset it cannot take and then moves no further, so a partition that
// reached its end did not halt on the way, and this need not wait.
func noneHalted(t *testing.T, p *ingest.Pipeline) {
	t.Helper()
	if h := p.Halted(); len(h) != 0 {
		t.Fatalf("halted partitions %v, want none", h)
	}
}

// Scenario g: the log start moved past the watermark (retention deleted
// unconsumed data), or the topic was recreated (watermark above the log
// end). The partition halts with a clear error; the others go on.
func TestHaltOnDataLossAndRecreatedTopic(t *testing.T) {
	t.Parallel()
	t.Run("log start past watermark", func(t *testing.T) {
		e := newTestEnv(t, 2)
		e.produce(400, 1)
		r := e.start(e.options())
		e.waitWatermarks(400)
		r.stop()
		wm := e.watermarks()
		e.produce(400, 2)
		lost := table.TP{Topic: testTopic, Partition: 1}
		if err := e.cluster.Kafka().DeleteRecords(testTopic, 1, wm[lost]+5); err != nil {
			t.Fatal(err)
		}
		r = e.start(e.options())
		h := waitHalted(t, r.p, 1, 30*time.Second)
		if !errors.Is(h[lost], ingest.ErrDataLoss) {
			t.Fatalf("halt reason %v, want ErrDataLoss", h[lost])
		}
		// The healthy partition keeps flowing.
		other := table.TP{Topic: testTopic, Partition: 0}
		eventually.Within(t, 30*time.Second, func() error {
			if e.watermarks()[other] <= wm[other] {
				return errors.New("healthy partition made no progress")
			}
			return nil
		})
		r.stop()
		if got := e.watermarks()[lost]; got != wm[lost] {
			t.Fatalf("halted partition's watermark moved from %d to %d", wm[lost], got)
		}
	})
	t.Run("topic recreated", func(t *testing.T) {
		e := newTestEnv(t, 2)
		e.produce(300, 1)
		r := e.start(e.options())
		e.waitWatermarks(300)
		r.stop()
		k := e.cluster.Kafka()
		if err := k.DeleteTopic(testTopic); err != nil {
			t.Fatal(err)
		}
		if err := k.CreateTopic(testTopic, 2, nil); err != nil {
			t.Fatal(err)
		}
		e.produce(10, 2)
		r = e.start(e.options())
		h := waitHalted(t, r.p, 2, 30*time.Second)
		for tp, err := range h {
			// The topic id tells the recreated topic apart before the
			// watermark above the log end does.
			if !errors.Is(err, ingest.ErrTopicRecreated) {
				t.Fatalf("%s halted with %v, want ErrTopicRecreated", tp, err)
			}
		}
		r.stop()
	})
}

// A stop signal while a batch has an open data file (more rows than one
// chunk) commits that batch at shutdown instead of dropping it: its
// upload does not die with the stopped context.
func TestShutdownCommitsBatchWithOpenFile(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	const n = 20_000
	e.produce(n, 4)
	opts := e.options()
	opts.FlushMaxRecords = 1_000_000
	opts.FlushMaxLatency = time.Hour
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if r.p.Stats().Consumed < n {
			return fmt.Errorf("consumed %d of %d", r.p.Stats().Consumed, n)
		}
		return nil
	})
	if sum := sumOf(e.watermarks()); sum != 0 {
		t.Fatalf("committed %d before the stop: the test would not cover the shutdown flush", sum)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if sum := sumOf(e.watermarks()); sum != n {
		t.Fatalf("shutdown committed up to %d of %d", sum, n)
	}
	if got := rowsIn(e.verify()); got != n {
		t.Fatalf("rows %d, want %d", got, n)
	}
}

func sumOf(o table.Offsets) (s int64) {
	for _, w := range o {
		s += w
	}
	return s
}

// Two topics feeding one table share its batches and commits; each
// topic's partitions keep their own watermarks, and EO holds for both.
func TestTwoTopicsFeedOneTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	const other = "tracks-backfill"
	if err := e.cluster.Kafka().CreateTopic(other, 3, nil); err != nil {
		t.Fatal(err)
	}
	e.produce(700, 1)
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: e.cluster.Brokers(), RegistryURL: e.cluster.RegistryURL(), Topic: other, Total: 500, Seed: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	opts := withQuarantine(e.options())
	opts.Tables[0].Topics = append(opts.Tables[0].Topics, other)
	r := e.start(opts)
	e.waitWatermarks(1200)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 1200 || len(rep.Partitions) != 5 {
		t.Fatalf("rows %d over %d partitions, want 1200 over 5", rowsIn(rep), len(rep.Partitions))
	}
	topics := map[string]int64{}
	for _, p := range rep.Partitions {
		topics[p.Topic] += p.Rows
	}
	if topics[testTopic] != 700 || topics[other] != 500 {
		t.Fatalf("rows by topic %v", topics)
	}
}
