package ingest_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/table/tabletest"
)

// waitProblem polls until the pipeline reports a problem of kind whose
// reason holds want, and the problem gauge says so; it returns the reason.
func waitProblem(t *testing.T, r *running, reg *prometheus.Registry, kind, want string, within time.Duration) string {
	t.Helper()
	var reason string
	eventually.Within(t, within, func() error {
		problems := r.p.Problems()
		gauge := gaugeValues(t, reg, "bigfather_ingest_problem", "kind")
		for _, pr := range problems {
			if pr.Kind == kind && strings.Contains(pr.Reason, want) && gauge[kind] >= 1 {
				reason = pr.Reason
				return nil
			}
		}
		return fmt.Errorf("no %s problem saying %q; problems: %v, gauge: %v", kind, want, problems, gauge)
	})
	return reason
}

// waitNoProblem polls until no problem of kind is reported, gauge included.
func waitNoProblem(t *testing.T, r *running, reg *prometheus.Registry, kind string, within time.Duration) {
	t.Helper()
	eventually.Within(t, within, func() error {
		problems := r.p.Problems()
		found := gaugeValues(t, reg, "bigfather_ingest_problem", "kind")[kind] != 0
		for _, pr := range problems {
			found = found || pr.Kind == kind
		}
		if found {
			return fmt.Errorf("the %s problem did not clear: %v", kind, problems)
		}
		return nil
	})
}

// A registry outage is a problem named as such (the WARN line, the gauge,
// Problems for /readyz), and the lag keeps counting new records while the
// pipeline waits; it clears when the registry answers.
func TestRegistryOutageIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(500, 1) // registers the schema: id 1
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
	opts := e.options()
	opts.Registerer = reg
	logs := &logCount{}
	opts.Logger = slog.New(logs.wrap(opts.Logger.Handler()))
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemRegistry, "schema registry unavailable", 30*time.Second)
	gen := music.NewGenerator(2)
	recs := make([]*kgo.Record, 300)
	for i := range recs {
		payload, err := gen.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &kgo.Record{Value: music.AppendWire(nil, 1, payload)}
	}
	e.send(recs...)
	eventually.Within(t, 30*time.Second, func() error {
		if r.p.Stats().Lag != 800 {
			return fmt.Errorf("lag %d while waiting for the registry, want 800 (every record produced)", r.p.Stats().Lag)
		}
		return nil
	})
	stalls := counterValue(t, reg, "bigfather_ingest_registry_stalls_total", nil)
	if n := logs.count("schema registry unavailable, ingestion paused"); n != 1 || stalls < 2 {
		t.Fatalf("%d log lines for %v registry stalls, want 1 (rate-limited) for at least 2", n, stalls)
	}
	outage.Store(false)
	e.waitWatermarks(800)
	waitNoProblem(t, r, reg, ingest.ProblemRegistry, 10*time.Second)
	waitLag(t, r, reg, 2, 0)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// A topic the tables name that does not exist is a problem until it is
// created.
func TestMissingTopicIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	opts.Tables[0].Topics = []string{"not-yet"}
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemTopic, "topic not-yet does not exist", 20*time.Second)
	if err := e.cluster.Kafka().CreateTopic("not-yet", 1, nil); err != nil {
		t.Fatal(err)
	}
	waitNoProblem(t, r, reg, ingest.ProblemTopic, 20*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// A broker that accepts connections and never answers is a problem that
// says so.
func TestSilentBrokerIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, never answered
		}
	}()
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	opts.Brokers = []string{ln.Addr().String()}
	opts.KafkaOpts = append(opts.KafkaOpts, kgo.RequestTimeoutOverhead(300*time.Millisecond))
	r := e.start(opts)
	reason := waitProblem(t, r, reg, ingest.ProblemBroker, "accepted the connection but did not answer", 20*time.Second)
	if !strings.Contains(reason, ln.Addr().String()) {
		t.Fatalf("reason %q does not name the broker %s", reason, ln.Addr())
	}
	if r.p.Ready() {
		t.Fatal("ready without a broker")
	}
	r.stop()

	// And one where nothing listens at all.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	reg = prometheus.NewRegistry()
	opts.Registerer = reg
	opts.Brokers = []string{addr}
	r = e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemBroker, "cannot connect to broker "+addr, 20*time.Second)
	r.stop()
}

// A broker that refuses the SASL login is a problem that says so.
func TestSASLFailureIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	k, err := kfake.NewCluster(kfake.Ports(0), kfake.EnableSASL(), kfake.Superuser("PLAIN", "bigfather", "right"), kfake.SeedTopics(1, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	opts.Brokers = k.ListenAddrs()
	opts.SASL = plain.Auth{User: "bigfather", Pass: "wrong"}.AsMechanism()
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemAuth, "refused the SASL login", 20*time.Second)
	r.stop()
}

// A warehouse the data files cannot be written to is a problem that says
// so, rather than only batches dropped and partitions lost.
func TestUnwritableWarehouseIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	// A file where the table's data directory goes: no data file can be
	// written, while the catalog still writes the table's metadata.
	data := filepath.Join(e.dir, "warehouse", "music", "tracks", "data")
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.produce(100, 1)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemWarehouse, "cannot write data files to the warehouse", 30*time.Second)
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	e.waitWatermarks(100)
	waitNoProblem(t, r, reg, ingest.ProblemWarehouse, 10*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// A fetch error that repeats on every poll (here an ACL the group lacks)
// is one problem per partition, logged at most every 30 s, not a WARN per
// poll; it clears once the partition fetches again.
func TestRepeatedFetchErrorIsOneProblem(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(100, 1)
	var denied atomic.Bool
	denied.Store(true)
	var answered atomic.Int32
	k := e.cluster.Kafka()
	k.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		k.KeepControl()
		if !denied.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.FetchRequest)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = req.GetVersion()
		for _, rt := range req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if len(resp.Topics) > 0 {
			answered.Add(1)
		}
		return resp, nil, true
	})
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	logs := &logCount{}
	opts.Logger = slog.New(logs.wrap(opts.Logger.Handler()))
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemFetch, "TOPIC_AUTHORIZATION_FAILED", 20*time.Second)
	before := answered.Load()
	// Not Within: too few polls is the failure the check below describes.
	_ = eventually.Wait(10*time.Second, func() error {
		if n := answered.Load(); n < before+5 {
			return fmt.Errorf("%d denied fetches", n)
		}
		return nil
	})
	if n, polls := logs.count("fetching a partition fails"), answered.Load(); n != 1 || polls < 5 {
		t.Fatalf("%d log lines for %d denied fetches, want 1 (rate-limited) for at least 5", n, polls)
	}
	denied.Store(false)
	e.waitWatermarks(100)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// A catalog that fails while the first record's table is created (an S3
// 503 storm, a connection reset) is waited out like a failing commit: a
// catalog problem for /readyz and the metric, then the table is created
// and every record lands. It used to stop the process.
func TestCatalogOutageAtTableCreationIsWaitedOut(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	const n = 200
	e.produce(n, 1)
	faulty := &tabletest.FaultyCatalog{Catalog: e.cat}
	faulty.FailCreate.Store(6)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Catalog = faulty
	opts.Registerer = reg
	r := e.start(opts)
	if done, err := r.exited(2 * time.Second); done {
		t.Fatalf("the pipeline stopped on a transient catalog failure at table creation: %v", err)
	}
	waitProblem(t, r, reg, ingest.ProblemCatalog, "cannot create or load table music.tracks", 20*time.Second)
	eventually.Within(t, 60*time.Second, func() error {
		if sum := sumOf(e.watermarks()); sum < n {
			if done, err := r.exited(time.Millisecond); done {
				t.Fatalf("the pipeline stopped on a transient catalog failure at table creation: %v", err)
			}
			return fmt.Errorf("watermarks reached %d of %d", sum, n)
		}
		return nil
	})
	waitNoProblem(t, r, reg, ingest.ProblemCatalog, 10*time.Second)
	if faulty.FailCreate.Load() >= 0 {
		t.Fatalf("only %d of the 6 armed create failures happened", 6-faulty.FailCreate.Load()-1)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != n {
		t.Fatalf("rows %d, want %d", got, n)
	}
}

// A table that cannot be loaded when partitions are assigned (the
// warehouse bucket deleted, then restored) is the catalog problem, named
// for /readyz and the metric, not only "waiting for a group assignment"
// with a WARN per retry; it clears once the table loads.
func TestUnloadableTableAtAssignmentIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	const n = 200
	e.produce(n, 1)
	faulty := &tabletest.FaultyCatalog{Catalog: e.cat}
	faulty.FailLoad.Store(6)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Catalog = faulty
	opts.Registerer = reg
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemCatalog, "cannot load table music.tracks", 20*time.Second)
	e.waitWatermarks(n)
	waitNoProblem(t, r, reg, ingest.ProblemCatalog, 10*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := rowsIn(e.verify()); got != n {
		t.Fatalf("rows %d, want %d", got, n)
	}
}

// substrCounter is a log destination that counts the lines holding sub.
type substrCounter struct {
	sub string
	n   atomic.Int32
}

func (c *substrCounter) Write(b []byte) (int, error) {
	c.n.Add(int32(strings.Count(string(b), c.sub)))
	return len(b), nil
}

// A warehouse problem whose error text differs on every failure (each
// attempt names a new data file, and S3 errors carry a request id) is
// still logged at most once per 30 s, as documented, not on every
// failed flush.
func TestChangingProblemReasonIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	data := filepath.Join(e.dir, "warehouse", "music", "tracks", "data")
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.produce(100, 1)
	logs := &substrCounter{sub: `msg="cannot write data files to the warehouse"`}
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemWarehouse, "cannot write data files to the warehouse", 30*time.Second)
	first := r.p.Problems()[0].Reason
	// Backoff 250ms doubling: several more failed flushes within 6 s.
	// Not Within: an unchanged reason is the failure the check below names.
	_ = eventually.Wait(20*time.Second, func() error {
		if r.p.Problems()[0].Reason == first {
			return errors.New("the reason has not changed")
		}
		return nil
	})
	if r.p.Problems()[0].Reason == first {
		t.Fatal("the problem's reason never changed: the test proves nothing")
	}
	time.Sleep(4 * time.Second)
	if n := logs.n.Load(); n != 1 {
		t.Fatalf("%d warehouse problem lines within seconds, want 1 (at most every 30 s)", n)
	}
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	e.waitWatermarks(100)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
