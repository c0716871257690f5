package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/table"
)

// inspectEnv is a dev warehouse (the dev config, in-process Kafka and
// registry) that has ingested a few hundred sample tracks.
type inspectEnv struct {
	dir, config string
	cfg         *config.Config
}

func newInspectEnv(t *testing.T, total int64) *inspectEnv {
	t.Helper()
	ctx := context.Background()
	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{devTopic: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	dir := t.TempDir()
	text := fmt.Sprintf(devConfig, cluster.Brokers()[0], cluster.RegistryURL(), filepath.Join(dir, "catalog.db"),
		"file://"+dir, devTopic, 200*time.Millisecond, "")
	path := filepath.Join(dir, "bigfather-dev.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := music.NewProducer(music.ProducerOptions{
		Brokers: cluster.Brokers(), RegistryURL: cluster.RegistryURL(), Topic: devTopic, Total: total, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Run(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	started := make(chan *ingest.Pipeline, 1)
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(runCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(p *ingest.Pipeline) { started <- p })
	}()
	var p *ingest.Pipeline
	select {
	case p = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("pipeline ended before it started: %v", err)
	}
	if err := eventually.Wait(60*time.Second, func() error {
		if got := p.Stats().Committed; got < total {
			return fmt.Errorf("committed %d of %d", got, total)
		}
		return nil
	}); err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	return &inspectEnv{dir: dir, config: path, cfg: cfg}
}

// inspect runs `bigfather inspect` in process and returns its stdout.
func (e *inspectEnv) inspect(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"inspect", "--config", e.config}, args...), &out, &errOut); code != 0 {
		t.Fatalf("inspect %v: exit %d: %s", args, code, errOut.String())
	}
	return out.String()
}

// TestInspectOutputIsUsableByReaders checks what jq, node and shell loops
// get from inspect: an empty table lists `"files": []` (jq's `.files[]`
// fails on null), snapshot ids are JSON strings (jq and JavaScript round
// integers past 2^53, and Iceberg's snapshot ids are 63-bit random numbers),
// and --paths prints one local path per line, each an existing file.
func TestInspectOutputIsUsableByReaders(t *testing.T) {
	t.Parallel()
	e := newInspectEnv(t, 300)
	cat, err := table.OpenCatalog(context.Background(), catalogOptions(e.cfg))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(context.Background(), catalog.ToIdentifier("music.tracks"))
	if err != nil {
		t.Fatal(err)
	}
	wantID := strconv.FormatInt(tbl.Metadata().CurrentSnapshot().SnapshotID, 10)

	var got struct {
		CurrentSnapshot json.RawMessage `json:"current_snapshot"`
		Snapshots       []struct {
			ID json.RawMessage `json:"id"`
		} `json:"snapshots"`
		Files            *[]string `json:"files"`
		MetadataLocation string    `json:"metadata_location"`
	}
	if err := json.Unmarshal([]byte(e.inspect(t, "--table", "music.tracks", "--files", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if s := string(got.CurrentSnapshot); s != strconv.Quote(wantID) {
		t.Errorf("current_snapshot = %s, want the string %q", s, wantID)
	}
	if got.MetadataLocation != tbl.MetadataLocation() {
		t.Errorf("metadata_location = %q, want %q", got.MetadataLocation, tbl.MetadataLocation())
	}
	if len(got.Snapshots) == 0 {
		t.Fatal("no snapshots listed")
	}
	for _, s := range got.Snapshots {
		if !strings.HasPrefix(string(s.ID), `"`) {
			t.Errorf("snapshot id %s is a JSON number; readers round it", s.ID)
		}
	}
	if got.Files == nil || len(*got.Files) == 0 {
		t.Fatalf("files = %v, want the data files", got.Files)
	}

	// The quarantine table exists but has no rejects.
	raw := e.inspect(t, "--table", "music.tracks__rejects", "--files", "--json")
	var rej map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &rej); err != nil {
		t.Fatal(err)
	}
	if f, ok := rej["files"]; !ok || string(f) != "[]" {
		t.Errorf(`empty table: "files" = %q (present %v), want []`, f, ok)
	}
	if _, ok := rej["files"]; ok {
		// Without --files there is no file list at all, not an empty one.
		var plain map[string]json.RawMessage
		if err := json.Unmarshal([]byte(e.inspect(t, "--table", "music.tracks__rejects", "--json")), &plain); err != nil {
			t.Fatal(err)
		}
		if f, ok := plain["files"]; ok {
			t.Errorf(`without --files: "files" = %s, want it absent`, f)
		}
	}

	paths := strings.Split(strings.TrimSuffix(e.inspect(t, "--table", "music.tracks", "--paths"), "\n"), "\n")
	if len(paths) != len(*got.Files) {
		t.Fatalf("--paths printed %d lines, --files listed %d files", len(paths), len(*got.Files))
	}
	for i, p := range paths {
		if !filepath.IsAbs(p) || strings.Contains(p, "://") {
			t.Errorf("--paths line %q is not a local path", p)
		}
		if "file://"+p != (*got.Files)[i] {
			t.Errorf("--paths line %q is not file %q", p, (*got.Files)[i])
		}
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if out := e.inspect(t, "--table", "music.tracks__rejects", "--paths"); out != "" {
		t.Errorf("--paths of an empty table printed %q, want nothing", out)
	}
}

// duckdbScript is the repository's DuckDB wrapper; the test skips, saying
// how to install it, when its package is not installed.
func duckdbScript(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not on PATH")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", defaultDuckDBScript))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "@duckdb", "node-api")); err != nil {
		t.Skip("@duckdb/node-api not installed: npm ci --prefix scripts")
	}
	return script
}

// TestQueryReadsLiveFilesAndEmptyTables runs `bigfather query` through the
// real DuckDB: the data table reads back every record once, the empty
// quarantine table answers with no rows instead of an error, and the
// empty table's columns have exactly the types DuckDB reads from the
// Parquet files, so a query that works on a full table works on an empty one.
func TestQueryReadsLiveFilesAndEmptyTables(t *testing.T) {
	t.Parallel()
	script := duckdbScript(t)
	e := newInspectEnv(t, 300)
	query := func(sql string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		argv := append([]string{"query", "--config", e.config, "--duckdb-script", script}, args...)
		if code := run(append(argv, sql), &out, &errOut); code != 0 {
			t.Fatalf("query %q: exit %d: %s", sql, code, errOut.String())
		}
		return out.String()
	}
	if got, want := query("SELECT count(*) AS n, count(DISTINCT (_kafka_partition, _kafka_offset)) AS d FROM music.tracks"), "n\td\n300\t300\n"; got != want {
		t.Errorf("count over music.tracks = %q, want %q", got, want)
	}
	if got, want := query("SELECT reason, count(*) AS n FROM music.tracks__rejects GROUP BY 1", "--table", "music.tracks__rejects"), "reason\tn\n"; got != want {
		t.Errorf("empty quarantine = %q, want %q", got, want)
	}
	if got, want := query(`SELECT count(*) AS n FROM music."tracks__rejects"`, "--json"), "{\"n\":\"0\"}\n"; got != want {
		t.Errorf("--json count = %q, want %q", got, want)
	}

	cat, err := table.OpenCatalog(context.Background(), catalogOptions(e.cfg))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(context.Background(), catalog.ToIdentifier("music.tracks"))
	if err != nil {
		t.Fatal(err)
	}
	cols, err := duckdbColumns(tbl.Schema().Fields())
	if err != nil {
		t.Fatal(err)
	}
	setup := filepath.Join(t.TempDir(), "empty.sql")
	if err := os.WriteFile(setup, []byte("CREATE TABLE empty_tracks ("+cols+");\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command("node", script, "--setup", setup, "--view", "music.tracks="+"-",
		`SELECT coalesce(a.column_name, b.column_name) AS col, a.column_type AS empty, b.column_type AS files
		   FROM (DESCRIBE SELECT * FROM empty_tracks) a
		   FULL JOIN (DESCRIBE SELECT * FROM music.tracks) b ON a.column_name = b.column_name
		  WHERE a.column_type IS DISTINCT FROM b.column_type`)
	cmd.Stdin = strings.NewReader(e.inspect(t, "--table", "music.tracks", "--paths"))
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("duckdb.mjs: %v: %s", err, errOut.String())
	}
	if got := out.String(); got != "col\tempty\tfiles\n" {
		t.Errorf("columns whose empty-table type differs from the Parquet files' (col, empty, files):\n%s", got)
	}
}
