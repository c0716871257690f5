package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/bigfather/bigfather/bench"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// cmdBench runs the benchmark harness (package bench): it loads a workload
// into Kafka, measures the limit pipelines L0–L3 and the real pipeline end
// to end on the same data, then freshness under a steady produce rate, and
// prints the report.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stdout)
	workload := fs.String("workload", "tracks", "`NAME` of the workload: "+strings.Join(bench.Workloads(), ", "))
	records := fs.Int64("records", 200_000, "records to produce before timing (multiplied by --scale)")
	scale := fs.Float64("scale", 1, "multiplies --records, e.g. --records 12700000 --scale 0.01 for a CI-sized run of the 12.7M-track scenario")
	partitions := fs.Int("partitions", 8, "partitions of the benchmark topic")
	kafka := fs.String("kafka", bench.KafkaInProcess, `"in-process" (kfake on 127.0.0.1, random port), "spawn" (the same, run by "bigfather dev-kafka" as a child process, so that this process's CPU, allocations and RSS exclude the broker's) or the seed brokers of an external cluster, host:port[,host:port]`)
	registry := fs.String("registry", "", "schema registry `URL` (default: the in-process one; with --kafka spawn, the child's; with an external --kafka, an in-process srfake)")
	warehouse := fs.String("warehouse", "", "warehouse `DIR` or s3://bucket/prefix (default: a temporary directory, removed afterwards)")
	catalogDSN := fs.String("catalog-dsn", "", "SQLite catalog file (default: catalog.db in a local warehouse, a temporary file for s3://)")
	s3Endpoint := fs.String("s3-endpoint", "", "S3 endpoint for an s3:// warehouse on an S3-compatible server (credentials come from the AWS environment/config chain)")
	s3Region := fs.String("s3-region", "", "S3 signing region (default: the AWS config chain, else us-east-1)")
	s3PathStyle := fs.Bool("s3-path-style", false, "address S3 buckets as endpoint/bucket (most S3-compatible servers need it)")
	commits := fs.Int("commits", 8, "commits to drain the backlog in: flush.max_records defaults to records ÷ commits (at most 1,000,000)")
	flushRecords := fs.Int64("flush-records", 0, "the pipeline's flush.max_records, also where L2 cuts files (default: from --commits)")
	flushLatency := fs.Duration("flush-latency", time.Second, "the pipeline's flush.max_latency, the backstop when a batch fills slowly")
	freshRate := fs.Float64("freshness-rate", 5000, "records/s the freshness phase produces, steadily (handed over every 10 ms)")
	freshDuration := fs.Duration("freshness-duration", 10*time.Second, "how long the freshness phase produces; 0 skips the phase")
	freshFlush := fs.Duration("freshness-flush", time.Second, "the pipeline's flush.max_latency in the freshness phase (the target is p99 ≤ 2 × this)")
	compression := fs.String("compression", table.DefaultDataFileCompression, "Parquet codec: zstd, snappy, gzip, brotli, lz4 or uncompressed")
	zstdLevel := fs.Int("zstd-level", table.DefaultDataFileZstdLevel, "zstd level, with --compression zstd")
	dictionary := fs.Bool("dictionary", true, "dictionary-encode columns whose dictionary pays for itself")
	var memBudget, memLimit, pageSize, rowGroupSize config.ByteSize
	fs.Var(&pageSize, "page-size", "Parquet data page `SIZE` before compression, e.g. 1MiB (default: the daemon's parquet.page_size)")
	fs.Var(&rowGroupSize, "row-group-size", "Parquet row group `SIZE`, uncompressed, e.g. 128MiB (default: the daemon's parquet.row_group_size)")
	fs.Var(&memBudget, "memory-budget", "the pipeline's memory_budget `SIZE`, e.g. 256MiB (default: the daemon's)")
	fs.Var(&memLimit, "memory-limit", "the Go soft memory limit `SIZE` while a pipeline runs, e.g. 384MiB (default: 1.5 × --memory-budget, as the daemon; GOMEMLIMIT wins)")
	gcPercent := fs.Int("gc-percent", 0, "the collector's GOGC while a pipeline runs; 0 = the daemon's default (200), -1 = collect at the memory limit only; GOGC wins")
	cpuProfile := fs.String("cpuprofile", "", "write each timed stage's CPU profile to `DIR`/<stage>.pprof and its allocations to DIR/<stage>.allocs.pprof, against DIR/<stage>.allocs.pprof.base (go tool pprof -sample_index=alloc_space -base …)")
	limits := fs.Bool("limits", true, "run the limit stages L0-L3 (false: only end to end, for runs too large for L2, which holds every decoded batch in memory)")
	seed := fs.Int64("seed", 1, "workload generator seed")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of a table")
	svgPath := fs.String("svg", "", "write to `FILE` an SVG chart of committed records/s and backlog during the end-to-end phase")
	logLevel := fs.String("log-level", "error", "`LEVEL` of the pipeline's and broker's logs on stderr: debug, info, warn, error")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	n := math.Round(float64(*records) * *scale)
	if *scale <= 0 || n < 1 || n > math.MaxInt64/2 {
		return fmt.Errorf("%w: --records %d × --scale %g must be at least 1 record", errUsage, *records, *scale)
	}
	if *partitions < 1 || *partitions > math.MaxInt32 {
		return fmt.Errorf("%w: --partitions %d", errUsage, *partitions)
	}
	if *freshDuration < 0 || *freshFlush <= 0 || !(*freshRate > 0) {
		return fmt.Errorf("%w: --freshness-duration %s, --freshness-flush %s, --freshness-rate %g: want a duration of at least 0, a positive flush and rate",
			errUsage, *freshDuration, *freshFlush, *freshRate)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	var spawn []string
	if *kafka == bench.KafkaSpawn {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--kafka spawn runs this binary's dev-kafka: %w", err)
		}
		// The child logs to the buffer the harness shows if it fails, at the
		// level asked for here.
		spawn = []string{self, "dev-kafka", "--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--log-level", *logLevel}
	}
	dataFile := table.DefaultDataFileOptions()
	dataFile.Compression, dataFile.ZstdLevel, dataFile.DictionaryEnabled = *compression, *zstdLevel, *dictionary
	if pageSize > 0 {
		dataFile.PageBytes = int64(pageSize)
	}
	if rowGroupSize > 0 {
		dataFile.RowGroupBytes = int64(rowGroupSize)
	}
	cfg := bench.Config{
		DataFile:        dataFile,
		MemoryBudget:    int64(memBudget),
		MemoryLimit:     int64(memLimit),
		GCPercent:       *gcPercent,
		Workload:        *workload,
		Records:         int64(n),
		Partitions:      int32(*partitions),
		SkipLimits:      !*limits,
		CPUProfileDir:   *cpuProfile,
		Kafka:           *kafka,
		SpawnKafka:      spawn,
		Registry:        *registry,
		Warehouse:       *warehouse,
		CatalogDSN:      *catalogDSN,
		S3:              objstore.S3Config{Endpoint: *s3Endpoint, Region: *s3Region, PathStyle: *s3PathStyle},
		Commits:         *commits,
		FlushMaxRecords: *flushRecords,
		FlushMaxLatency: *flushLatency,
		Seed:            *seed,
		Freshness: bench.FreshnessConfig{
			Disabled:        *freshDuration == 0,
			Rate:            *freshRate,
			Duration:        *freshDuration,
			FlushMaxLatency: *freshFlush,
		},
		Progress: stderr,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	rep, err := bench.Run(ctx, cfg)
	if errors.Is(err, bench.ErrConfig) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err != nil {
		return err
	}
	if *svgPath != "" {
		if err := writeSVG(rep, *svgPath); err != nil {
			return err
		}
	}
	if *jsonOut {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

func writeSVG(rep *bench.Report, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("svg: %w", err)
	}
	if err := rep.WriteSVG(f); err != nil {
		f.Close()
		return fmt.Errorf("svg %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("svg %s: %w", path, err)
	}
	return nil
}
