package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/tabletest"
)

var (
	rockTable = icebergtable.Identifier{"music", "rock"}
	popTable  = icebergtable.Identifier{"music", "pop"}
	jazzTable = icebergtable.Identifier{"music", "jazz"}
	rockRej   = icebergtable.Identifier{"music", "rock__rejects"}
)

func mustRoute(t *testing.T, expr string) *rules.Rules {
	t.Helper()
	r, err := rules.CompileRules([]rules.Rule{{Name: "route", Expr: expr}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// genreRoutes sends the test topic's ROCK, POP and JAZZ tracks to three
// tables; only the first has a quarantine table, which also takes the
// records no route takes.
func genreRoutes(t *testing.T, o ingest.Options) ingest.Options {
	o.Tables = []ingest.TableOptions{
		{ID: rockTable, Topics: []string{testTopic}, Rejects: rockRej, Route: mustRoute(t, `value.genre == "ROCK"`)},
		{ID: popTable, Topics: []string{testTopic}, Route: mustRoute(t, `value.genre == "POP"`)},
		{ID: jazzTable, Topics: []string{testTopic}, Route: mustRoute(t, `value.genre == "JAZZ"`)},
	}
	return o
}

// verifyTables checks EO across tables and their quarantine tables.
func (e *testEnv) verifyTables(data, rejects []icebergtable.Identifier) *table.Report {
	e.t.Helper()
	ctx := context.Background()
	load := func(ids []icebergtable.Identifier) []*icebergtable.Table {
		var out []*icebergtable.Table
		for _, id := range ids {
			tbl, err := e.cat.LoadTable(ctx, id)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, tbl)
		}
		return out
	}
	rep, err := table.VerifyTables(ctx, load(data), load(rejects), testPipeline, ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}), table.FromLogStart())
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Fatalf("verify: %v", rep.Violations)
	}
	return rep
}

func rowsOf(t *testing.T, e *testEnv, id icebergtable.Identifier) int64 {
	t.Helper()
	rep, err := table.Verify(context.Background(), e.loadTable(id), testPipeline, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rowsIn(rep)
}

func (e *testEnv) loadTable(id icebergtable.Identifier) *icebergtable.Table {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return tbl
}

// One topic feeds three tables by a field. A crash after the first two
// tables of a flush committed, before the third and the quarantine table
// (the route's anchor, committed last), must not lose the third table's
// records: the restart resumes from the origins, and each table takes only
// what it lacks. Afterwards every offset is in exactly one table.
func TestRoutingOneTopicManyTablesSurvivesPartialFlush(t *testing.T) {
	t.Parallel()
	const n = 400
	e := newTestEnv(t, 2)
	// Undecodable records first: only the quarantine table covers them,
	// since no data table exists yet. The data tables are created later,
	// in the same batch, and their first commit must still start where
	// the batch does, or a restart would resume past these.
	const garbage = 6
	for i := range garbage {
		e.send(&kgo.Record{Key: []byte{byte(i)}, Value: []byte("not avro")})
	}
	e.produce(n, 7)
	faulty := &tabletest.FaultyCatalog{Catalog: e.cat}
	opts := genreRoutes(t, e.options())
	opts.Catalog = faulty
	opts.FlushMaxRecords = 1 << 20
	opts.FlushMaxLatency = 500 * time.Millisecond
	// Commit order: jazz, pop, rock, rock__rejects. The first two go
	// through; rock's fails, and every commit after it.
	faulty.PassFirst.Store(2)
	faulty.FailBefore.Store(1 << 30)
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if faulty.Commits.Load() < 3 {
			return errors.New("no flush reached the third commit")
		}
		return nil
	})
	r.stop() //nolint:errcheck // its shutdown flush fails too: that is the crash
	if len(e.watermarksOf(jazzTable)) == 0 || len(e.watermarksOf(popTable)) == 0 {
		t.Fatal("the first two tables did not commit")
	}
	if len(e.watermarksOf(rockTable)) != 0 {
		t.Fatal("the third table committed: the fault missed")
	}

	r = e.start(genreRoutes(t, e.options()))
	want := int64(n + garbage)
	eventually.Within(t, 90*time.Second, func() error {
		if sum := sumOf(e.watermarksOf(rockRej)); sum != want {
			return fmt.Errorf("quarantine watermarks at %d of %d", sum, want)
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyTables([]icebergtable.Identifier{rockTable, popTable, jazzTable}, []icebergtable.Identifier{rockRej})
	byGenre := map[string]int64{}
	for _, tr := range producedTracks(t, n, 7) {
		byGenre[tr.Genre]++
	}
	for id, g := range map[string]icebergtable.Identifier{"ROCK": rockTable, "POP": popTable, "JAZZ": jazzTable} {
		if got := rowsOf(t, e, g); got != byGenre[id] {
			t.Errorf("%v holds %d rows, want the %d %s tracks", g, got, byGenre[id], id)
		}
	}
	unrouted := n - byGenre["ROCK"] - byGenre["POP"] - byGenre["JAZZ"]
	if got := rejectsIn(rep); got != unrouted+garbage {
		t.Errorf("quarantine holds %d, want %d unrouted tracks and %d undecodable records", got, unrouted, garbage)
	}
	reasons := map[string]int{}
	for _, row := range e.readRejectsOf(rockRej) {
		reasons[row.stage+"/"+row.reason]++
	}
	if reasons["route/unrouted"] != int(unrouted) || reasons["decode/wire"] != garbage {
		t.Errorf("quarantine reasons %v, want %d route/unrouted and %d decode/wire", reasons, unrouted, garbage)
	}
}

// With unrouted: drop, a record no route takes is passed over: counted,
// listed in the anchor's bigfather.skipped, and in no table.
func TestRoutingDropsUnrouted(t *testing.T) {
	t.Parallel()
	const n = 200
	e := newTestEnv(t, 1)
	e.produce(n, 3)
	opts := genreRoutes(t, e.options())
	opts.Unrouted = ingest.UnroutedDrop
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if e.watermarksOf(rockRej)[table.TP{Topic: testTopic, Partition: 0}] != n {
			return errors.New("quarantine watermark never reached the end")
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyTables([]icebergtable.Identifier{rockTable, popTable, jazzTable}, []icebergtable.Identifier{rockRej})
	byGenre := map[string]int64{}
	for _, tr := range producedTracks(t, n, 3) {
		byGenre[tr.Genre]++
	}
	unrouted := n - byGenre["ROCK"] - byGenre["POP"] - byGenre["JAZZ"]
	if rejectsIn(rep) != 0 || skippedIn(rep) != unrouted || rowsIn(rep) != n-unrouted {
		t.Fatalf("rows %d rejects %d skipped %d; want %d, 0, %d", rowsIn(rep), rejectsIn(rep), skippedIn(rep), n-unrouted, unrouted)
	}
}

// A header route: the record's "kind" header picks the table; the last
// table, with no route, takes the rest.
func TestRoutingByHeader(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	j, err := registry.NewJSONRecords(`{"type": "record", "name": "Event", "fields": [{"name": "id", "type": "long"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 50 {
		kind := "b"
		if i < 20 {
			kind = "a"
		}
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"id": %d}`, i), Headers: []kgo.RecordHeader{{Key: "kind", Value: []byte(kind)}}})
	}
	e.send(recs...)
	aID, bID, rej := icebergtable.Identifier{"music", "a"}, icebergtable.Identifier{"music", "b"}, icebergtable.Identifier{"music", "a__rejects"}
	opts := e.options()
	opts.JSON = map[string]*registry.JSONRecords{testTopic: j}
	opts.Tables = []ingest.TableOptions{
		{ID: aID, Topics: []string{testTopic}, Rejects: rej, Route: mustRoute(t, `"kind" in headers && string(headers["kind"]) == "a"`)},
		{ID: bID, Topics: []string{testTopic}},
	}
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if e.watermarksOf(rej)[table.TP{Topic: testTopic, Partition: 0}] != 50 {
			return errors.New("quarantine watermark never reached the end")
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.verifyTables([]icebergtable.Identifier{aID, bID}, []icebergtable.Identifier{rej})
	if a, b := rowsOf(t, e, aID), rowsOf(t, e, bID); a != 20 || b != 30 {
		t.Fatalf("a %d b %d, want 20 and 30", a, b)
	}
}

// A table fed by a topic pattern picks up a matching topic created while
// the pipeline runs, and leaves others alone.
func TestTopicPatternPicksUpNewTopics(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(40, 1)
	opts := e.options()
	opts.Tables[0].TopicPatterns = []*regexp.Regexp{regexp.MustCompile(`^tracks\.region-[a-z]+$`)}
	opts.MetadataMaxAge = 500 * time.Millisecond
	r := e.start(opts)
	e.waitWatermarks(40)
	for _, topic := range []string{"tracks.region-eu", "tracks.other"} {
		if err := e.cluster.Kafka().CreateTopic(topic, 2, nil); err != nil {
			t.Fatal(err)
		}
		p, err := music.NewProducer(music.ProducerOptions{
			Brokers: e.cluster.Brokers(), RegistryURL: e.cluster.RegistryURL(), Topic: topic, Total: 60, Seed: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.waitWatermarks(100)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verify()
	for _, p := range rep.Partitions {
		if p.Topic == "tracks.other" {
			t.Fatalf("a topic matching no pattern was ingested: %+v", p)
		}
	}
	if rowsIn(rep) != 100 {
		t.Fatalf("%d rows, want 100", rowsIn(rep))
	}
}

// A route whose expression fails on a record (here: a field the records
// lack) does not take it; with no other route the record is unrouted, and
// its quarantine message names the failing route.
func TestRoutingExpressionErrorDoesNotTake(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(20, 1)
	opts := e.options()
	opts.Tables = []ingest.TableOptions{
		{ID: rockTable, Topics: []string{testTopic}, Rejects: rockRej, Route: mustRoute(t, `value.no_such_field == "x"`)},
		{ID: popTable, Topics: []string{testTopic}, Route: mustRoute(t, `value.genre == "NONE"`)},
	}
	r := e.start(opts)
	eventually.Within(t, 60*time.Second, func() error {
		if e.watermarksOf(rockRej)[table.TP{Topic: testTopic, Partition: 0}] != 20 {
			return errors.New("quarantine watermark never reached the end")
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rows := e.readRejectsOf(rockRej)
	if len(rows) != 20 {
		t.Fatalf("%d rejects, want all 20 records unrouted", len(rows))
	}
	for _, row := range rows {
		if row.reason != "unrouted" || !strings.Contains(row.message, "route of music.rock") {
			t.Fatalf("reject %s %q, want unrouted naming the failing route", row.reason, row.message)
		}
	}
}

// A stop signal that arrives while a flush commits its tables does not
// cut the flush between two commits: every table of the route ends level.
func TestStopDuringFlushCommitsEveryTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(100, 4)
	e.send(&kgo.Record{Value: []byte("not avro")})
	opts := genreRoutes(t, e.options())
	var (
		r     *running
		calls atomic.Int32
	)
	ready := make(chan struct{})
	opts.Hooks.At = func(point string) {
		if point == "before-commit" && calls.Add(1) == 2 {
			<-ready
			r.cancel() // the stop signal, between the first and second commit
		}
	}
	r = e.start(opts)
	close(ready)
	eventually.Within(t, 60*time.Second, func() error {
		if calls.Load() < 2 {
			return errors.New("no flush reached its second commit")
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	want := e.watermarksOf(jazzTable)[table.TP{Topic: testTopic, Partition: 0}]
	if want == 0 {
		t.Fatal("the first table did not commit")
	}
	for _, id := range []icebergtable.Identifier{popTable, rockTable, rockRej} {
		if got := e.watermarksOf(id)[table.TP{Topic: testTopic, Partition: 0}]; got != want {
			t.Errorf("%v at %d, %v at %d: the stop cut the flush", jazzTable, want, id, got)
		}
	}
}
