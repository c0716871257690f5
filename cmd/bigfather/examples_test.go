package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/table"
)

// exampleEnv runs a config from examples/ as a child process against an
// in-process Kafka, with a local warehouse.
type exampleEnv struct {
	cluster  *devkafka.Cluster
	dir      string
	config   string
	pipeline string
	env      []string
}

func newExampleEnv(t *testing.T, example, topic string, env ...string) *exampleEnv {
	t.Helper()
	cluster, err := devkafka.Start(context.Background(), devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{topic: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	path, err := filepath.Abs(filepath.Join("..", "..", "examples", example, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &exampleEnv{cluster: cluster, dir: dir, config: path}
	e.env = append(os.Environ(), "KAFKA_BROKERS="+cluster.Brokers()[0], "SCHEMA_REGISTRY_URL="+cluster.RegistryURL(),
		"WAREHOUSE=file://"+filepath.Join(dir, "wh"))
	e.env = append(e.env, env...)
	// The example must parse as shipped, with its environment.
	cfg, err := config.Parse(mustRead(t, path))
	if err != nil {
		t.Fatalf("examples/%s/config.yaml: %v", example, err)
	}
	e.pipeline = cfg.Pipeline
	return e
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *exampleEnv) send(t *testing.T, topic string, values []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v)}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (e *exampleEnv) child(t *testing.T, bin, crashAt string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	// A restart after a crash waits for the killed child's session to run
	// out: kfake's minimum (6 s) instead of the 45 s default.
	cmd := exec.Command(bin, "run", "--config", e.config, "--set", "flush.max_latency=400ms", "--set", "flush.max_records=150",
		"--set", "kafka.session_timeout=6s", "--set", "kafka.rebalance_timeout=10s",
		"--set", "metrics.addr=", "--set", "log.level=warn")
	cmd.Env = append(e.env, "BIGFATHER_CRASH_AT="+crashAt)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &log
}

// command runs a bigfather subcommand with the example's environment.
func (e *exampleEnv) command(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *exampleEnv) catalog(t *testing.T) catalog.Catalog {
	t.Helper()
	cat, err := table.OpenCatalog(context.Background(), table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(e.dir, "wh", "catalog.db")}},
		Warehouse:     "file://" + filepath.Join(e.dir, "wh"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func (e *exampleEnv) load(t *testing.T, name string) *icebergtable.Table {
	t.Helper()
	tbl, err := e.catalog(t).LoadTable(context.Background(), catalog.ToIdentifier(name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return tbl
}

// maxCommitted is the highest sum of watermarks over the tables: the table
// that took the last records has them all once it committed.
func (e *exampleEnv) maxCommitted(t *testing.T, names ...string) int64 {
	t.Helper()
	if _, err := os.Stat(filepath.Join(e.dir, "wh", "catalog.db")); err != nil {
		return 0 // not started yet
	}
	var best int64
	for _, name := range names {
		tbl, err := e.catalog(t).LoadTable(context.Background(), catalog.ToIdentifier(name))
		if err != nil {
			continue
		}
		wm, err := table.Watermarks(tbl.Metadata(), e.pipeline)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, w := range wm {
			sum += w
		}
		best = max(best, sum)
	}
	return best
}

// runToEnd starts the example, waits until every offset is committed
// somewhere, and stops it gracefully, which levels every watermark.
func (e *exampleEnv) runToEnd(t *testing.T, bin string, total int64, tables ...string) {
	t.Helper()
	cmd, log := e.child(t, bin, "")
	eventually.Within(t, 90*time.Second, func() error {
		if got := e.maxCommitted(t, tables...); got < total {
			return fmt.Errorf("committed %d of %d\n%s", got, total, log)
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 30*time.Second); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, log)
	}
}

// verify checks EO across the data tables and their quarantine tables
// against Kafka, and that a graceful stop left every watermark level.
func (e *exampleEnv) verify(t *testing.T, data, rejects []string) *table.Report {
	t.Helper()
	var d, r []*icebergtable.Table
	for _, n := range data {
		d = append(d, e.load(t, n))
	}
	for _, n := range rejects {
		r = append(r, e.load(t, n))
	}
	rep, err := table.VerifyTables(context.Background(), d, r, e.pipeline, ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)}), table.FromLogStart())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		for _, tbl := range append(d, r...) {
			wm, _ := table.Watermarks(tbl.Metadata(), e.pipeline)
			or, _ := table.Origins(tbl.Metadata(), e.pipeline)
			t.Logf("%s: watermarks %v origins %v", strings.Join(tbl.Identifier(), "."), wm, or)
			for _, snap := range tbl.Metadata().Snapshots() {
				if snap.Summary != nil {
					t.Logf("  snapshot %d ranges %s skipped %s", snap.SnapshotID, snap.Summary.Properties[table.SummaryRanges], snap.Summary.Properties[table.SummarySkipped])
				}
			}
		}
		t.Fatalf("verify: %v", rep.Violations)
	}
	for _, p := range rep.Partitions {
		for name, w := range p.Watermarks {
			if w != p.CheckedTo {
				t.Errorf("%s/%d: %s at %d, checked to %d: a graceful stop leaves the tables level", p.Topic, p.Partition, name, w, p.CheckedTo)
			}
		}
	}
	return rep
}

// scan reads a table with iceberg-go, an independent reader, into rows of
// column name → Go value.
func scan(t *testing.T, tbl *icebergtable.Table, opts ...icebergtable.ScanOption) []map[string]any {
	t.Helper()
	at, err := tbl.Scan(opts...).ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var rows []map[string]any
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := range int(rec.NumRows()) {
			row := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				col := rec.Column(c)
				if col.IsNull(i) {
					row[f.Name] = nil
					continue
				}
				switch a := col.(type) {
				case *array.String:
					row[f.Name] = a.Value(i)
				case *array.Int64:
					row[f.Name] = a.Value(i)
				case *array.Int32:
					row[f.Name] = int64(a.Value(i))
				case *array.Float64:
					row[f.Name] = a.Value(i)
				case *array.Timestamp:
					row[f.Name] = a.Value(i).ToTime(arrow.Microsecond).UTC()
				default:
					row[f.Name] = col.ValueStr(i)
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// partitionValues returns every data file's partition values.
func partitionValues(t *testing.T, tbl *icebergtable.Table, opts ...icebergtable.ScanOption) []map[int]any {
	t.Helper()
	tasks, err := tbl.Scan(opts...).PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []map[int]any
	for _, task := range tasks {
		out = append(out, task.File.Partition())
	}
	return out
}

// fileCodecs opens every data file of tbl's current snapshot (a local
// warehouse) and returns the codecs its column chunks use.
func fileCodecs(t *testing.T, tbl *icebergtable.Table) map[compress.Compression]bool {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 0 {
		t.Fatalf("%s has no data files", tbl.Identifier())
	}
	codecs := map[compress.Compression]bool{}
	for _, task := range tasks {
		r, err := file.OpenParquetFile(strings.TrimPrefix(task.File.FilePath(), "file://"), false)
		if err != nil {
			t.Fatal(err)
		}
		md := r.MetaData()
		for g := range md.NumRowGroups() {
			rg := md.RowGroup(g)
			for c := range rg.NumColumns() {
				cc, err := rg.ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				codecs[cc.Compression()] = true
			}
		}
		_ = r.Close()
	}
	return codecs
}

// asInt reads an integer partition value (a day, an hour, a bucket),
// whatever named integer type iceberg-go gives it.
func asInt(v any) (int, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || !rv.CanInt() {
		return 0, false
	}
	return int(rv.Int()), true
}

// musicCatalog is what the music example's topic carries: artists, albums
// and tracks of one stream, podcasts (no table takes them), a track with a
// negative duration (a rule rejects it) and a value that is not JSON.
func musicCatalog() (values []string, tracks, albums, artists, rejects int) {
	for i := range 400 {
		switch k := i % 10; {
		case i%97 == 0:
			values = append(values, "not json")
			rejects++
		case k == 0:
			values = append(values, fmt.Sprintf(`{"kind": "artist", "id": "ar-%02d", "name": "Artist %d", "country": "gb"}`, 1+i%8, i))
			artists++
		case k <= 2:
			values = append(values, fmt.Sprintf(`{"kind": "album", "id": "al-%d", "title": "Album %d", "artist_id": "ar-%02d", "released": "2024-0%d-15", "genre": "rock"}`,
				i, i, 1+i%8, 1+i%6))
			albums++
		case k == 9:
			values = append(values, fmt.Sprintf(`{"kind": "podcast", "id": "pod-%d"}`, i))
			rejects++
		case i%37 == 0:
			values = append(values, fmt.Sprintf(`{"kind": "track", "id": "t-%d", "title": "x", "artist_id": "ar-01", "duration_ms": -5}`, i))
			rejects++
		default:
			released := fmt.Sprintf(`"2024-05-0%dT%02d:30:00Z"`, 1+i%5, i%24)
			if i%7 == 0 {
				released = "null" // falls back to the Kafka timestamp
			}
			values = append(values, fmt.Sprintf(`{"kind": "track", "id": "t-%d", "title": "  Track   %d ", "artist_id": "ar-%02d", "album_id": "al-%d", "duration_ms": %d, "released": %s}`,
				i, i, 1+i%8, i-i%10+1, 1000+i, released))
			tracks++
		}
	}
	return values, tracks, albums, artists, rejects
}

// The music-catalog example end to end: one topic routed to three tables,
// tracks enriched with the artists CSV and partitioned by release day,
// under a SIGKILL between the commits of a flush and a restart. Afterwards
// every offset is in exactly one table, and iceberg-go reads the routed
// rows, the enriched columns and the day partitions back.
func TestExampleMusicCatalog(t *testing.T) {
	t.Parallel() // its own Kafka, warehouse and child; waits out a killed session
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	csv, err := filepath.Abs(filepath.Join("..", "..", "examples", "music-catalog", "artists.csv"))
	if err != nil {
		t.Fatal(err)
	}
	e := newExampleEnv(t, "music-catalog", "music.catalog", "ARTISTS_CSV="+csv)
	values, nTracks, nAlbums, nArtists, nRejects := musicCatalog()
	e.send(t, "music.catalog", values)
	data := []string{"staging.tracks", "staging.albums", "staging.artists"}
	rej := []string{"staging.tracks__rejects", "staging.albums__rejects", "staging.artists__rejects"}
	all := append(append([]string{}, data...), rej...)

	// Killed at the second commit of a flush: the first table of the flush
	// is committed, the others and the quarantine tables are not.
	cmd, log := e.child(t, bin, "before-commit:2")
	err = waitExit(cmd, 60*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child did not die: %v\n%s", err, log)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL\n%s", err, log)
	}
	total := int64(len(values))
	if got := e.maxCommitted(t, all...); got == 0 || got >= total {
		t.Fatalf("%d of %d offsets committed before the crash; the crash must fall mid-way", got, total)
	}
	e.runToEnd(t, bin, total, all...)
	rep := e.verify(t, data, rej)
	var rows, rejected int64
	for _, p := range rep.Partitions {
		rows += p.Rows
		rejected += p.Rejects
	}
	if rows != int64(nTracks+nAlbums+nArtists) || rejected != int64(nRejects) {
		t.Fatalf("rows %d rejects %d, want %d and %d", rows, rejected, nTracks+nAlbums+nArtists, nRejects)
	}

	// The command users run checks the same: the six tables together.
	out, err := e.command(t, bin, "verify", "--config", e.config)
	if err != nil || !strings.Contains(out, "tables staging.tracks, staging.albums, staging.artists, staging.tracks__rejects") || !strings.Contains(out, "OK: exactly-once") {
		t.Fatalf("bigfather verify: %v\n%s", err, out)
	}

	tracks := e.load(t, "staging.tracks")
	trows := scan(t, tracks)
	if len(trows) != nTracks {
		t.Fatalf("tracks holds %d rows, want %d", len(trows), nTracks)
	}
	names := map[string]string{"ar-01": "The Velvet Static", "ar-02": "Nina, Simply", "ar-03": "Kōji Arai"}
	days := map[int]bool{}
	for _, r := range trows {
		artist := r["artist_id"].(string)
		switch {
		case artist == "ar-07" || artist == "ar-08":
			if r["artist_name"] != nil || r["followers"] != nil {
				t.Fatalf("a track of unknown artist %s was enriched: %v", artist, r)
			}
		case names[artist] != "" && r["artist_name"] != names[artist]:
			t.Fatalf("track of %s has artist_name %v, want %q", artist, r["artist_name"], names[artist])
		case artist == "ar-01" && r["followers"] != int64(120000):
			t.Fatalf("ar-01 followers %v", r["followers"])
		}
		if strings.HasPrefix(r["title"].(string), " ") || strings.Contains(r["title"].(string), "  ") {
			t.Fatalf("title %q not trimmed", r["title"])
		}
		rel, ok := r["released"].(time.Time)
		if !ok {
			t.Fatalf("track without a release time: %v", r)
		}
		days[int(rel.Sub(time.Unix(0, 0)).Hours()/24)] = true
	}
	if _, ok := trows[0]["kind"]; ok {
		t.Fatal("tracks kept the routing field kind, which its keep step drops")
	}
	// One day partition per release day, and a filter on a day plans only
	// that day's files.
	spec := tracks.Spec()
	if spec.NumFields() != 1 || spec.Field(0).Transform.String() != "day" {
		t.Fatalf("tracks spec %s, want day(released)", spec)
	}
	fieldID := spec.Field(0).FieldID
	seen := map[int]bool{}
	for _, pv := range partitionValues(t, tracks) {
		d, ok := asInt(pv[fieldID])
		if !ok {
			t.Fatalf("partition value %T %v, want an int32 day", pv[fieldID], pv[fieldID])
		}
		seen[int(d)] = true
	}
	if len(seen) != len(days) {
		t.Fatalf("files in %d day partitions, rows on %d days", len(seen), len(days))
	}
	for d := range days {
		if !seen[d] {
			t.Fatalf("day %d has rows but no partition", d)
		}
	}
	may3 := time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC)
	filter := iceberg.NewAnd(
		iceberg.GreaterThanEqual(iceberg.Reference("released"), may3.UnixMicro()),
		iceberg.LessThan(iceberg.Reference("released"), may3.Add(24*time.Hour).UnixMicro()))
	pruned := partitionValues(t, tracks, icebergtable.WithRowFilter(filter))
	if len(pruned) == 0 || len(pruned) >= len(partitionValues(t, tracks)) {
		t.Fatalf("a one-day filter plans %d of %d files", len(pruned), len(partitionValues(t, tracks)))
	}
	for _, r := range scan(t, tracks, icebergtable.WithRowFilter(filter)) {
		if rel := r["released"].(time.Time); rel.Before(may3) || !rel.Before(may3.Add(24*time.Hour)) {
			t.Fatalf("the May 3 scan returned a track released %v", rel)
		}
	}

	for _, r := range scan(t, e.load(t, "staging.albums")) {
		if r["genre"] != "ROCK" {
			t.Fatalf("album genre %v, want upper-cased ROCK", r["genre"])
		}
	}
	reasons := map[string]int{}
	for _, r := range scan(t, e.load(t, "staging.tracks__rejects")) {
		reasons[fmt.Sprint(r["stage"], "/", r["reason"])]++
	}
	for _, want := range []string{"route/unrouted", "decode/malformed-json", "validate/positive_duration"} {
		if reasons[want] == 0 {
			t.Errorf("no %s reject in %v", want, reasons)
		}
	}
}

// The order-events example: typed, cleansed and hashed orders, partitioned
// by the hour of the event time (the Kafka timestamp when missing) and by
// a bucket of the region; test orders are filtered, a bad amount is
// quarantined with the step's name.
func TestExampleOrderEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	key := "order-key"
	e := newExampleEnv(t, "order-events", "orders.events", "ORDERS_PII_KEY="+key)
	regions := []string{"eu-west", "us-east", "ap-south", "sa-east"}
	var values []string
	var good, filtered, bad int
	for i := range 300 {
		switch {
		case i%50 == 0:
			values = append(values, fmt.Sprintf(`{"order_id": "o%d", "status": "NEW", "region": "eu-west", "amount": "12,50", "currency": "eur", "customer_email": "c%d@x.io"}`, i, i))
			bad++
		case i%30 == 0:
			values = append(values, fmt.Sprintf(`{"order_id": "o%d", "status": "new", "region": "eu-west", "amount": "1", "currency": "eur", "customer_email": "t@x.io", "test": true}`, i))
			filtered++
		default:
			at := fmt.Sprintf(`"2024-06-01T%02d:%02d:00+02:00"`, i%12, i%60)
			if i%9 == 0 {
				at = "null"
			}
			values = append(values, fmt.Sprintf(`{"order_id": "o%d", "status": " Paid ", "region": " %s ", "amount": "%d.25", "currency": " eur", "customer_email": "c%d@x.io", "event_time": %s}`,
				i, strings.ToUpper(regions[i%4]), i, i, at))
			good++
		}
	}
	e.send(t, "orders.events", values)
	e.runToEnd(t, bin, int64(len(values)), "staging.orders", "staging.orders__rejects")
	rep := e.verify(t, []string{"staging.orders"}, []string{"staging.orders__rejects"})
	var rows, rejected, skipped int64
	for _, p := range rep.Partitions {
		rows, rejected, skipped = rows+p.Rows, rejected+p.Rejects, skipped+p.Skipped
	}
	if rows != int64(good) || rejected != int64(bad) || skipped != int64(filtered) {
		t.Fatalf("rows %d rejects %d skipped %d, want %d %d %d", rows, rejected, skipped, good, bad, filtered)
	}
	orders := e.load(t, "staging.orders")
	mac := func(s string) string {
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
	hours := map[int64]bool{}
	for _, r := range scan(t, orders) {
		id := r["order_id"].(string)
		var i int
		fmt.Sscanf(id, "o%d", &i)
		if r["region"] != regions[i%4] || r["status"] != "paid" || r["currency"] != "EUR" {
			t.Fatalf("order %s not cleansed: %v", id, r)
		}
		if r["amount_cents"] != int64(i*100+25) {
			t.Fatalf("order %s amount_cents %v, want %d", id, r["amount_cents"], i*100+25)
		}
		if r["customer_email"] != mac(fmt.Sprintf("c%d@x.io", i)) {
			t.Fatalf("order %s email not hashed with the key", id)
		}
		at := r["event_time"].(time.Time)
		if i%9 != 0 && !at.Equal(time.Date(2024, 6, 1, i%12-2, i%60, 0, 0, time.UTC)) {
			t.Fatalf("order %s event_time %v", id, at)
		}
		hours[at.Unix()/3600] = true
	}
	spec := orders.Spec()
	if spec.NumFields() != 2 || spec.Field(0).Transform.String() != "hour" || spec.Field(1).Transform.String() != "bucket[8]" {
		t.Fatalf("orders spec %s, want hour(event_time), bucket[8](region)", spec)
	}
	hourID, bucketID := spec.Field(0).FieldID, spec.Field(1).FieldID
	files := partitionValues(t, orders)
	fileHours, buckets := map[int]bool{}, map[int]bool{}
	for _, pv := range files {
		h, ok1 := asInt(pv[hourID])
		b, ok2 := asInt(pv[bucketID])
		if !ok1 || !ok2 || b < 0 || b >= 8 {
			t.Fatalf("partition values %v", pv)
		}
		fileHours[h], buckets[b] = true, true
	}
	if len(fileHours) != len(hours) || len(buckets) < 2 {
		t.Fatalf("files span %d hours and %d buckets; rows span %d hours", len(fileHours), len(buckets), len(hours))
	}
	// parquet.compression reaches every column of every data file, the
	// quarantine table's too.
	for _, name := range []string{"staging.orders", "staging.orders__rejects"} {
		if got := fileCodecs(t, e.load(t, name)); len(got) != 1 || !got[compress.Codecs.Snappy] {
			t.Fatalf("%s: column codecs %v, want snappy only (parquet.compression)", name, got)
		}
	}
	for _, r := range scan(t, e.load(t, "staging.orders__rejects")) {
		if r["reason"] != "amount_is_decimal" || !strings.Contains(r["message"].(string), "12,50") {
			t.Fatalf("reject %v, want amount_is_decimal naming the value", r)
		}
	}
}
