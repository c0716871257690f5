package main

import (
	"context"
	"fmt"
	"os"
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
	"github.com/bigfather/bigfather/internal/faultproxy"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/objstore/objstoretest"
	"github.com/bigfather/bigfather/table"
)

// TestObjectStoreCatalogUnderS3Faults runs the real binary on the
// object-store catalog in gofakes3 behind a fault proxy: 30 % of metadata
// PUTs are applied and their responses lost, 5 % applied and answered
// 500, and 5 % of every request is answered 503 before forwarding. The
// SDK's retries of a commit meet its own applied first attempt; a single
// writer must never take that for another writer (issue 11 item 3: it
// fenced and dropped committed batches), and every record must land once.
func TestObjectStoreCatalogUnderS3Faults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	ctx := context.Background()
	const records = 2000
	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{"tracks": 3},
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

	s3cfg, proxy := objstoretest.FaultyS3(t, []faultproxy.Rule{
		{Name: "metadata-put", Method: "PUT", Path: regexp.MustCompile(`/metadata/v[0-9]+\.metadata\.json$`), Fail: 0.05, Drop: 0.3, FailAfter: 0.05},
		{Name: "other", Fail: 0.05},
	}, "warehouse")
	cfg := fmt.Sprintf(`pipeline: faults
kafka: {brokers: [%q]}
schema_registry: {url: %q}
catalog: {type: objectstore}
warehouse:
  url: "s3://warehouse/wh"
  s3: {endpoint: %q, region: us-east-1, path_style: true, access_key_id: test, secret_access_key: test}
tables: [{topic: tracks, table: music.tracks}]
flush: {max_latency: 300ms, max_records: 250}
metrics: {addr: ""}
shutdown_timeout: 20s
log: {level: info}
`, cluster.Brokers()[0], cluster.RegistryURL(), s3cfg.Endpoint)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	direct := table.CatalogOptions{Type: "objectstore", Warehouse: "s3://warehouse/wh", S3: s3cfg}
	direct.S3.Endpoint = proxy.Target().String()
	cat, err := table.OpenCatalog(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	load := func(id icebergtable.Identifier) *icebergtable.Table {
		tbl, err := cat.LoadTable(ctx, id)
		if err != nil {
			return nil
		}
		return tbl
	}
	committed := func() int64 {
		tbl := load(icebergtable.Identifier{"music", "tracks"})
		if tbl == nil {
			return 0
		}
		wm, err := table.Watermarks(tbl.Metadata(), "faults")
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, w := range wm {
			sum += w
		}
		return sum
	}

	cmd, log := (&crashEnv{cfgPath: cfgPath}).child(t, bin, "")
	deadline := time.Now().Add(120 * time.Second)
	for committed() < records {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of %d under faults\n%s", committed(), records, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 60*time.Second); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, log)
	}
	out := log.String()
	st := proxy.Stats()["metadata-put"]
	t.Logf("proxy: %+v", proxy.Stats())
	if st.Dropped+st.FailedAfter == 0 {
		t.Fatalf("no metadata PUT lost its response (%+v): the test proved nothing", st)
	}
	if n := strings.Count(out, "fenced"); n > 0 {
		t.Fatalf("%d batches fenced with a single writer: the catalog took its own commit for a conflict\n%s", n, out)
	}
	rejects := load(icebergtable.Identifier{"music", "tracks__rejects"})
	if rejects == nil {
		t.Fatal("no quarantine table music.tracks__rejects")
	}
	rep, err := table.VerifyRoute(ctx, load(icebergtable.Identifier{"music", "tracks"}), rejects, "faults",
		ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(cluster.Brokers()...)}), table.FromLogStart())
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
		t.Fatalf("%d rows, want %d\n%s", rows, records, out)
	}
}
