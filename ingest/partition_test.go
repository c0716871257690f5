package ingest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/schema/registry"
)

func plainJSONEvents(t *testing.T) *registry.JSONRecords {
	t.Helper()
	j, err := registry.NewJSONRecords(`{"type": "record", "name": "Play", "fields": [
	  {"name": "user_id", "type": "long"}, {"name": "track", "type": "string"}, {"name": "ms", "type": "int"},
	  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A table partitioned by day of release and genre: every data file holds
// one partition's rows, iceberg-go prunes a filtered scan to the matching
// files, late records sit in their own day, and EO holds.
func TestPartitionedTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	const n = 1200
	e.produce(n, 9)
	opts := withQuarantine(e.options())
	opts.Tables[0].PartitionBy = []string{"month(released_at)", "genre"}
	r := e.start(opts)
	e.waitWatermarks(n)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if rep := e.verifyRoute(); rowsIn(rep) != n {
		t.Fatalf("rows %d, want %d", rowsIn(rep), n)
	}
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, testTable)
	if err != nil {
		t.Fatal(err)
	}
	if spec := tbl.Spec(); spec.NumFields() != 2 {
		t.Fatalf("spec %v", spec)
	}
	all, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rock := tbl.Scan(icebergtable.WithRowFilter(iceberg.EqualTo(iceberg.Reference("genre"), "ROCK")))
	some, err := rock.PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(some) == 0 || len(some) >= len(all) {
		t.Fatalf("a filter on genre plans %d of %d files: no pruning", len(some), len(all))
	}
	// Each planned file holds ROCK rows only.
	got, err := rock.ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	var want int64
	for _, tr := range producedTracks(t, n, 9) {
		if tr.Genre == "ROCK" {
			want++
		}
	}
	if got.NumRows() != want {
		t.Fatalf("genre = ROCK reads %d rows, want %d", got.NumRows(), want)
	}
}

// Thousands of partition values with a small budget: the open files stay
// capped and the heap stays bounded. This asserts a heap peak, not time.
func TestManyPartitionValuesStayBounded(t *testing.T) {
	t.Parallel()
	if !inOwnProcess(t) {
		return
	}
	e := newTestEnv(t, 1)
	const n = 5000
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	j := plainJSONEvents(t)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"user_id": %d, "track": "t", "ms": 1, "at": %d}`, i, 1_700_000_000_000+int64(i)*3_600_000)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	opts := withQuarantine(e.options())
	opts.JSON = map[string]*registry.JSONRecords{testTopic: j}
	opts.Tables[0].PartitionBy = []string{"user_id"} // 5,000 distinct values
	opts.MaxOpenFiles = 16
	opts.MemoryBudget = 8 << 20
	opts.FlushMaxRecords = n
	opts.FlushMaxLatency = time.Hour

	r := e.start(opts)
	e.waitWatermarks(n)
	// HeapSys, the heap's address space, never shrinks and always holds
	// what is in use: read now, it bounds every HeapInuse this process has
	// had, where sampling HeapInuse could miss a peak between samples.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := ms.HeapSys
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	files, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != n {
		t.Fatalf("%d files for %d partition values", len(files), n)
	}
	if rep := e.verifyRoute(); rowsIn(rep) != n {
		t.Fatalf("rows %d, want %d", rowsIn(rep), n)
	}
	// Without the cap, 5,000 open Parquet writers hold well over 1 GiB.
	if peak > 512<<20 {
		t.Fatalf("heap peaked at %d MiB", peak>>20)
	}
	t.Logf("heap peak at most %d MiB (HeapSys) for %d partition values, 16 open files", peak>>20, n)
}

// ownProcessEnv names the one test a child test process runs, for
// inOwnProcess.
const ownProcessEnv = "BIGFATHER_TEST_OWN_PROCESS"

// inOwnProcess reports whether the calling test is running in a test
// process of its own. If not, it runs the test again in a fresh one,
// passes or fails with it, and returns false: the caller returns. A
// process-wide measure (the heap's high-water mark) is then the test's,
// not that of the tests that ran before it.
func inOwnProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(ownProcessEnv) == t.Name() {
		return true
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), ownProcessEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("%s in its own process:\n%s", t.Name(), out)
	if err != nil {
		t.Fatalf("%s in its own process: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("%s did not run in its own process", t.Name())
	}
	return false
}

// A partition_by term naming a column the writer schema lacks cannot
// create the table: each partition halts on its first record, with an
// error naming partition_by, the term and the column, instead of sending
// every record to quarantine as "schema".
func TestPartitionByUnknownColumnHalts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(40, 3)
	opts := withQuarantine(e.options())
	opts.Tables[0].PartitionBy = []string{"bucket(16, trak)"}
	r := e.start(opts)
	halted := waitHalted(t, r.p, 2, 20*time.Second)
	for tp, err := range halted {
		for _, want := range []string{"partition_by", `"bucket(16, trak)"`, `"trak"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v halted with %q, which does not name %s", tp, err, want)
			}
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if q, err := e.cat.LoadTable(context.Background(), testRejects); err == nil {
		got, err := q.Scan().ToArrowTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer got.Release()
		if got.NumRows() != 0 {
			t.Fatalf("%d records were quarantined", got.NumRows())
		}
	}
}
