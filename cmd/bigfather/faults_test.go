package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/faultproxy"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/objstore/objstoretest"
	"github.com/bigfather/bigfather/table"
)

// s3FaultRun is the real binary ingesting records already in Kafka into
// the object-store catalog, in gofakes3 behind a fault proxy.
type s3FaultRun struct {
	t       *testing.T
	cluster *devkafka.Cluster
	proxy   *faultproxy.Proxy
	cat     interface {
		LoadTable(context.Context, icebergtable.Identifier) (*icebergtable.Table, error)
	}
	cmd *exec.Cmd
	log *bytes.Buffer
}

// startS3FaultRun produces records over partitions, then starts the
// binary with flush (a YAML flow mapping) through a proxy applying rules.
func startS3FaultRun(t *testing.T, partitions int32, records int64, flush string, rules []faultproxy.Rule) *s3FaultRun {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	ctx := context.Background()
	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{"tracks": partitions},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: cluster.Brokers(), RegistryURL: cluster.RegistryURL(), Topic: "tracks", Total: records, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s3cfg, proxy := objstoretest.FaultyS3(t, rules, "warehouse")
	cfg := fmt.Sprintf(`pipeline: faults
kafka: {brokers: [%q]}
schema_registry: {url: %q}
catalog: {type: objectstore}
warehouse:
  url: "s3://warehouse/wh"
  s3: {endpoint: %q, region: us-east-1, path_style: true, access_key_id: test, secret_access_key: test}
tables: [{topic: tracks, table: music.tracks}]
flush: %s
metrics: {addr: ""}
shutdown_timeout: 20s
log: {level: info}
`, cluster.Brokers()[0], cluster.RegistryURL(), s3cfg.Endpoint, flush)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	direct := table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "objectstore"}, Warehouse: "s3://warehouse/wh", S3: s3cfg}
	direct.S3.Endpoint = proxy.Target().String()
	cat, err := table.OpenCatalog(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	r := &s3FaultRun{t: t, cluster: cluster, proxy: proxy, cat: cat}
	r.cmd, r.log = (&crashEnv{cfgPath: cfgPath}).child(t, bin, "")
	return r
}

func (r *s3FaultRun) load(id icebergtable.Identifier) *icebergtable.Table {
	tbl, err := r.cat.LoadTable(context.Background(), id)
	if err != nil {
		return nil
	}
	return tbl
}

// committed is the sum of the data table's watermarks, read past the proxy.
func (r *s3FaultRun) committed() int64 {
	tbl := r.load(icebergtable.Identifier{"music", "tracks"})
	if tbl == nil {
		return 0
	}
	wm, err := table.Watermarks(tbl.Metadata(), "faults")
	if err != nil {
		r.t.Fatal(err)
	}
	var sum int64
	for _, w := range wm {
		sum += w
	}
	return sum
}

// finish waits until the watermarks sum to records, stops the binary with
// SIGTERM, verifies the route against Kafka and checks that it holds
// exactly records rows. It returns the binary's log.
func (r *s3FaultRun) finish(records int64, within time.Duration) string {
	t := r.t
	eventually.Within(t, within, func() error {
		if got := r.committed(); got < records {
			return fmt.Errorf("committed %d of %d under faults\n%s", got, records, r.log)
		}
		return nil
	})
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(r.cmd, 60*time.Second); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, r.log)
	}
	t.Logf("proxy: %+v", r.proxy.Stats())
	rejects := r.load(icebergtable.Identifier{"music", "tracks__rejects"})
	if rejects == nil {
		t.Fatal("no quarantine table music.tracks__rejects")
	}
	rep, err := table.VerifyRoute(context.Background(), r.load(icebergtable.Identifier{"music", "tracks"}), rejects, "faults",
		ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(r.cluster.Brokers()...)}), table.FromLogStart())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify against Kafka: %v", rep.Violations)
	}
	var rows int64
	for _, p := range rep.Partitions {
		rows += p.Rows
	}
	if rows != records {
		t.Fatalf("%d rows, want %d\n%s", rows, records, r.log)
	}
	return r.log.String()
}

// TestObjectStoreCatalogUnderS3Faults runs the real binary on the
// object-store catalog in gofakes3 behind a fault proxy: 30 % of metadata
// PUTs are applied and their responses lost, 5 % applied and answered
// 500, and 5 % of every request is answered 503 before forwarding. The
// SDK's retries of a commit meet its own applied first attempt; a single
// writer must never take that for another writer (issue 11 item 3: it
// fenced and dropped committed batches), and every record must land once.
func TestObjectStoreCatalogUnderS3Faults(t *testing.T) {
	t.Parallel() // its own Kafka, S3, proxy and child; mostly waiting on retries
	const records = 2000
	r := startS3FaultRun(t, 3, records, "{max_latency: 300ms, max_records: 250}", []faultproxy.Rule{
		{Name: "metadata-put", Method: "PUT", Path: regexp.MustCompile(`/metadata/v[0-9]+\.metadata\.json$`), Fail: 0.05, Drop: 0.3, FailAfter: 0.05},
		{Name: "other", Fail: 0.05},
	})
	out := r.finish(records, 120*time.Second)
	st := r.proxy.Stats()["metadata-put"]
	if st.Dropped+st.FailedAfter == 0 {
		t.Fatalf("no metadata PUT lost its response (%+v): the test proved nothing", st)
	}
	if n := strings.Count(out, "fenced"); n > 0 {
		t.Fatalf("%d batches fenced with a single writer: the catalog took its own commit for a conflict\n%s", n, out)
	}
}

// TestEveryMetadataPutFailingLosesNothing is issue 11 item 1 as it was
// found: the real binary, four partitions, 4,400 records all in the log
// before it starts, and every metadata PUT of a commit answered 503 for a
// while, so flushes fail in the middle of polls that span partitions not
// processed yet. Those partitions must be re-seeked too: before the fix,
// whole partitions' first records were never ingested (1,399 of 4,400
// rows). The tables are created first (v1 is let through), since a table
// that cannot be created stops the process by design.
func TestEveryMetadataPutFailingLosesNothing(t *testing.T) {
	t.Parallel() // its own Kafka, S3, proxy and child; mostly waiting on retries
	const records = 4400
	r := startS3FaultRun(t, 4, records, "{max_latency: 2s, max_records: 300}", []faultproxy.Rule{
		{Name: "commit-put", Method: "PUT", Path: regexp.MustCompile(`/metadata/v([2-9]|[1-9][0-9]+)\.metadata\.json$`), Fail: 1, Max: 60},
	})
	r.finish(records, 150*time.Second)
	if st := r.proxy.Stats()["commit-put"]; st.Failed < 60 {
		t.Fatalf("only %d commit PUTs failed (%+v): the test proved nothing", st.Failed, st)
	}
}
