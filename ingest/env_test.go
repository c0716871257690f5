package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

const (
	testTopic    = "tracks"
	testPipeline = "test"
)

var testTable = icebergtable.Identifier{"music", "tracks"}

// testEnv is a real Kafka (kfake), schema registry (srfake), local
// warehouse and SQLite catalog, all in process.
type testEnv struct {
	t       *testing.T
	cluster *devkafka.Cluster
	dir     string
	bucket  objstore.Bucket
	cat     catalog.Catalog
	catOpts table.CatalogOptions
	log     *slog.Logger
}

func newTestEnv(t *testing.T, partitions int32) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
		Topics: map[string]int32{testTopic: partitions}, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	wh := filepath.Join(dir, "warehouse")
	bucket, err := objstore.NewFS(wh)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, cluster: cluster, dir: dir, bucket: bucket, log: log, catOpts: table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(dir, "catalog.db")}},
		Warehouse:     "file://" + wh,
	}}
	e.cat = e.openCatalog()
	return e
}

// usePostgres moves the env's catalog to the PostgreSQL database named by
// BIGFATHER_TEST_POSTGRES_DSN (CI starts one), under a catalog name of its
// own; it skips the test when none is configured.
func (e *testEnv) usePostgres() {
	e.t.Helper()
	dsn := os.Getenv("BIGFATHER_TEST_POSTGRES_DSN")
	if dsn == "" {
		e.t.Skip("set BIGFATHER_TEST_POSTGRES_DSN (.ci/run starts a PostgreSQL) to run this scenario on the multi-instance catalog")
	}
	e.catOpts.SQL.Driver, e.catOpts.SQL.DSN = "postgres", dsn
	e.catOpts.Name = fmt.Sprintf("ingest_%s_%d", strings.ReplaceAll(e.t.Name(), "/", "_"), time.Now().UnixNano())
	e.cat = e.openCatalog()
}

// openCatalog opens a new connection to the env's catalog, as another
// instance of the ingester would.
func (e *testEnv) openCatalog() catalog.Catalog {
	e.t.Helper()
	cat, err := table.OpenCatalog(context.Background(), e.catOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	if c, ok := cat.(io.Closer); ok {
		e.t.Cleanup(func() { c.Close() })
	}
	return cat
}

// options returns pipeline options with a fresh registry client and
// quick flushes.
func (e *testEnv) options() ingest.Options {
	e.t.Helper()
	reg, err := registry.NewRegistry(registry.RegistryOptions{URL: e.cluster.RegistryURL(), Logger: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	return ingest.Options{
		Pipeline:        testPipeline,
		Brokers:         e.cluster.Brokers(),
		Tables:          []ingest.TableOptions{{ID: testTable, Topics: []string{testTopic}}},
		FlushMaxLatency: 300 * time.Millisecond,
		FlushMaxRecords: 2000,
		ShutdownTimeout: 10 * time.Second,
		Catalog:         e.cat,
		Warehouse:       e.bucket,
		Registry:        reg,
		Logger:          e.log,
		KafkaOpts: []kgo.Opt{
			kgo.SessionTimeout(6 * time.Second),
			kgo.RebalanceTimeout(3 * time.Second),
			kgo.HeartbeatInterval(300 * time.Millisecond),
		},
	}
}

// send produces records to the test topic (a record's Topic, when set,
// wins) and waits for them to be acked.
func (e *testEnv) send(recs ...*kgo.Record) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// sendValues produces one keyless record per value to the test topic.
func (e *testEnv) sendValues(values ...string) {
	e.t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: []byte(v)}
	}
	e.send(recs...)
}

// producedTracks regenerates the n tracks produce(n, seed) published, for
// tests to compute what the pipeline should decide about them.
func producedTracks(t *testing.T, n int, seed int64) []music.Track {
	t.Helper()
	sch, err := avro.Parse(music.TrackSchema())
	if err != nil {
		t.Fatal(err)
	}
	gen := music.NewGenerator(seed)
	out := make([]music.Track, n)
	for i := range out {
		payload, err := gen.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := avro.Unmarshal(sch, payload, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// produce publishes n sample tracks and waits for them to be acked.
func (e *testEnv) produce(n int64, seed int64) {
	e.t.Helper()
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: e.cluster.Brokers(), RegistryURL: e.cluster.RegistryURL(), Topic: testTopic,
		Total: n, Seed: seed, Logger: e.log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	if p.Produced() != n {
		e.t.Fatalf("produced %d, want %d", p.Produced(), n)
	}
}

// running is a pipeline started in the background.
type running struct {
	p      *ingest.Pipeline
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func (e *testEnv) start(opts ingest.Options) *running {
	e.t.Helper()
	p, err := ingest.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	e.t.Cleanup(func() { r.stop() })
	return r
}

// exited waits up to d for Run to return by itself and reports its error.
func (r *running) exited(d time.Duration) (ok bool, err error) {
	select {
	case err := <-r.done:
		r.once.Do(func() { r.cancel(); r.err = err })
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// stop cancels the pipeline and returns Run's error.
func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// watermarks reads the committed watermarks of the test pipeline.
func (e *testEnv) watermarks() table.Offsets { return e.watermarksOf(testTable) }

// watermarksOf reads the test pipeline's watermarks in table id; none
// when the table does not exist.
func (e *testEnv) watermarksOf(id icebergtable.Identifier) table.Offsets {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), id)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return table.Offsets{}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	wm, err := table.Watermarks(tbl.Metadata(), testPipeline)
	if err != nil {
		e.t.Fatal(err)
	}
	return wm
}

// waitWatermarks polls until the watermarks sum to want. The bound is
// generous: it only limits how long a broken pipeline can hang a test.
func (e *testEnv) waitWatermarks(want int64) {
	e.t.Helper()
	eventually.Within(e.t, 90*time.Second, func() error {
		sum := sumOf(e.watermarks())
		if sum > want {
			e.t.Fatalf("watermarks sum to %d, beyond the %d offsets produced", sum, want)
		}
		if sum != want {
			return fmt.Errorf("watermarks reached %d of %d", sum, want)
		}
		return nil
	})
}

// verify runs the EO/MONO check against Kafka and fails on any violation.
func (e *testEnv) verify() *table.Report {
	e.t.Helper()
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, testTable)
	if err != nil {
		e.t.Fatal(err)
	}
	rep, err := table.Verify(ctx, tbl, testPipeline, ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}), table.FromLogStart())
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Fatalf("verify: %v", rep.Violations)
	}
	return rep
}

func rowsIn(rep *table.Report) int64 {
	var n int64
	for _, p := range rep.Partitions {
		n += p.Rows
	}
	return n
}

func skippedIn(rep *table.Report) int64 {
	var n int64
	for _, p := range rep.Partitions {
		n += p.Skipped
	}
	return n
}
