// Package bench is Big Father's benchmark harness (DESIGN.md §6). One run
// loads a workload into Kafka before anything is timed, then measures, on
// that same data and in the same process, the limit pipelines L0–L3
// (limits.go) and the real ingest pipeline end to end (e2e.go), and
// reports each stage's rates and costs together with the headline ratio:
// end to end ÷ the serial composition of the stages it is made of. A last
// phase (freshness.go) measures freshness, from produce to visible in a
// committed snapshot, while a producer feeds a fresh topic at a steady rate.
//
// Absolute numbers on shared machines are noisy; ratios taken within one
// run much less so, which is why every figure comes from the same run, and
// why each stage also records the CPU the rest of the machine used while
// it ran (Stage.OtherCores).
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/memlimit"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// Stage names, in run order.
const (
	StageL0  = "L0"
	StageL1  = "L1"
	StageL2  = "L2"
	StageL3  = "L3"
	StageE2E = "E2E"
)

// KafkaInProcess selects the in-process broker and registry
// (internal/devkafka on 127.0.0.1, random ports).
const KafkaInProcess = "in-process"

// KafkaSpawn runs the broker and registry in a child process started from
// Config.SpawnKafka, so that the figures of this process are the
// ingester's alone.
const KafkaSpawn = "spawn"

// ErrConfig is wrapped by every Config validation error.
var ErrConfig = errors.New("invalid bench config")

// Config configures a run. Zero fields take the documented defaults.
type Config struct {
	// Workload is "tracks" (default), "small" or "wide" (Workloads).
	Workload string
	// Records is how many records are produced. Default 200,000.
	Records int64
	// Partitions of the benchmark topic. Default 8.
	Partitions int32
	// Kafka is KafkaInProcess (default), KafkaSpawn, or comma-separated
	// seed brokers of an external cluster, where a fresh topic is created
	// and deleted.
	Kafka string
	// SpawnKafka is the command, program first, that KafkaSpawn starts as
	// a child process. Once its broker and registry listen, it must print
	// the line "kafka=HOST:PORT[,HOST:PORT] registry=URL" on stdout; it
	// must exit on SIGTERM. `bigfather dev-kafka` is such a command.
	// Required with KafkaSpawn, ignored otherwise.
	SpawnKafka []string
	// SpawnTimeout bounds how long the SpawnKafka command may take to
	// print its line. Default 30s.
	SpawnTimeout time.Duration
	// Registry is the schema registry URL. Default: the in-process one;
	// with KafkaSpawn, the child's; with an external Kafka, an in-process
	// srfake on 127.0.0.1.
	Registry string
	// Warehouse is a directory, a file:// URL or s3://bucket/prefix.
	// Default: a temporary directory, removed after the run. Every run
	// writes fresh tables (bench_e2e.<workload>_<run id>) and leaves them in a
	// warehouse the caller named.
	Warehouse string
	// S3 configures access to an s3:// warehouse (Bucket and Prefix come
	// from the URL).
	S3 objstore.S3Config
	// CatalogDSN is the SQLite catalog file. Default: catalog.db in a local
	// warehouse; in a temporary directory for an s3:// one.
	CatalogDSN string

	// Commits is how many commits the end-to-end phase aims to drain the
	// backlog in: FlushMaxRecords defaults to ⌈Records/Commits⌉. Batches
	// are then cut by count and the last one commits as soon as its last
	// record is in, instead of idling until FlushMaxLatency (a drain of a
	// finite backlog would otherwise end with a timer wait that a
	// CI-sized run cannot amortise). Default 8.
	Commits int
	// FlushMaxRecords is the pipeline's flush.max_records, and where L2
	// cuts files. Default ⌈Records/Commits⌉, at most 1,000,000 (the
	// daemon's default).
	FlushMaxRecords int64
	// FlushMaxLatency is the pipeline's flush.max_latency, the backstop
	// when a batch fills more slowly than that. Default 1s (the daemon's is
	// 10s: see Commits).
	FlushMaxLatency time.Duration
	// TargetFileSize is the pipeline's flush.target_file_size; also where
	// L2 cuts files. Default 128 MiB (the daemon's).
	TargetFileSize int64
	// DataFile are the Parquet options. Default table.DefaultDataFileOptions.
	DataFile table.DataFileOptions
	// MemoryBudget is the pipeline's memory_budget. Default the daemon's,
	// ingest.DefaultMemoryBudget.
	MemoryBudget int64
	// MemoryLimit is the Go runtime's soft memory limit while a pipeline
	// runs (the end-to-end and freshness phases), as the daemon sets it.
	// Default ingest.SoftMemoryLimit(MemoryBudget). GOMEMLIMIT, when set,
	// takes precedence. The limit stages run without one: L2 holds every
	// decoded batch in memory.
	MemoryLimit int64
	// GCPercent is the collector's target (GOGC) while a pipeline runs, as
	// the daemon's gc_percent: 0 means memlimit.DefaultGCPercent, -1 off.
	// GOGC, when set, takes precedence.
	GCPercent int

	// Seed seeds the workload generator. Default 1.
	Seed int64
	// SampleInterval is how often the end-to-end phase samples
	// pipeline.Stats() for the chart. Default 250ms.
	SampleInterval time.Duration
	// StallTimeout fails the end-to-end phase when nothing is consumed or
	// committed for this long. Default 2m.
	StallTimeout time.Duration

	// Freshness configures the freshness phase, run after the end-to-end
	// phase unless Freshness.Disabled.
	Freshness FreshnessConfig

	// CPUProfileDir, when set, is a directory (created if missing) where
	// each timed stage writes its CPU profile, <stage>.pprof, for
	// `go tool pprof`. Profiling costs a few percent of CPU.
	CPUProfileDir string

	// Progress receives a one-line progress indicator; nil for none.
	Progress io.Writer
	// Logger receives the pipeline's and the broker's logs. Default discard.
	Logger *slog.Logger
	// SkipLimits runs only the end-to-end (and freshness) phases: L2 holds
	// every pre-decoded batch in memory, which a run of millions of records
	// cannot afford.
	SkipLimits bool
}

func (c *Config) setDefaults() {
	if c.Workload == "" {
		c.Workload = "tracks"
	}
	if c.Records == 0 {
		c.Records = 200_000
	}
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.Kafka == "" {
		c.Kafka = KafkaInProcess
	}
	if c.SpawnTimeout == 0 {
		c.SpawnTimeout = 30 * time.Second
	}
	if c.Commits == 0 {
		c.Commits = 8
	}
	if c.FlushMaxRecords == 0 && c.Records > 0 && c.Commits > 0 {
		c.FlushMaxRecords = min((c.Records+int64(c.Commits)-1)/int64(c.Commits), 1_000_000)
	}
	if c.FlushMaxLatency == 0 {
		c.FlushMaxLatency = time.Second
	}
	if c.TargetFileSize == 0 {
		c.TargetFileSize = 128 << 20
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = ingest.DefaultMemoryBudget
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = ingest.SoftMemoryLimit(c.MemoryBudget)
	}
	if c.DataFile == (table.DataFileOptions{}) {
		c.DataFile = table.DefaultDataFileOptions()
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.SampleInterval == 0 {
		c.SampleInterval = 250 * time.Millisecond
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Freshness.setDefaults()
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if _, ok := workloads[c.Workload]; !ok {
		bad("workload %q: want one of %s", c.Workload, strings.Join(Workloads(), ", "))
	}
	if c.Records <= 0 {
		bad("records %d: want at least 1", c.Records)
	}
	if c.Partitions <= 0 {
		bad("partitions %d: want at least 1", c.Partitions)
	}
	if c.Kafka == KafkaSpawn && (len(c.SpawnKafka) == 0 || c.SpawnKafka[0] == "") {
		bad("kafka %q needs the command that starts the broker (SpawnKafka)", c.Kafka)
	}
	if c.SpawnTimeout < 0 {
		bad("spawn timeout %s: want a positive duration", c.SpawnTimeout)
	}
	if c.Commits < 0 || c.FlushMaxLatency < 0 || c.FlushMaxRecords < 0 || c.TargetFileSize < 0 {
		bad("commits and flush limits must be positive")
	}
	if c.GCPercent < -1 {
		bad("gc percent %d: want -1 (off), 0 (the daemon's) or a percentage", c.GCPercent)
	}
	if c.MemoryBudget < 0 || c.MemoryLimit < c.MemoryBudget {
		bad("memory budget %d and limit %d: want a positive budget and a limit of at least the budget", c.MemoryBudget, c.MemoryLimit)
	}
	if c.SampleInterval < 0 || c.StallTimeout < 0 {
		bad("sample interval and stall timeout must be positive")
	}
	errs = append(errs, c.Freshness.validate()...)
	return errors.Join(errs...)
}

// Machine describes where a run happened.
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	CPUModel   string `json:"cpu_model,omitempty"`
}

func thisMachine() Machine {
	m := Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// Report is the outcome of a run.
type Report struct {
	Workload       string  `json:"workload"`
	WorkloadWhat   string  `json:"workload_what"`
	Records        int64   `json:"records"`
	Partitions     int32   `json:"partitions"`
	KafkaBytes     int64   `json:"kafka_bytes"`
	AvgRecordBytes float64 `json:"avg_record_bytes"`
	Topic          string  `json:"topic"`
	Kafka          string  `json:"kafka"`
	Warehouse      string  `json:"warehouse"`
	// KafkaProcess is the broker's child process with KafkaSpawn; nil
	// otherwise.
	KafkaProcess *KafkaProcess `json:"kafka_process,omitempty"`

	FlushMaxLatencySeconds float64 `json:"flush_max_latency_seconds"`
	FlushMaxRecords        int64   `json:"flush_max_records"`
	TargetFileSize         int64   `json:"target_file_size"`
	MemoryBudget           int64   `json:"memory_budget"`
	// MemoryLimit is the Go soft memory limit of the pipeline phases:
	// Config.MemoryLimit, or GOMEMLIMIT's when that is set.
	MemoryLimit   int64  `json:"memory_limit"`
	GCPercent     int    `json:"gc_percent"` // the pipeline phases' GOGC
	Compression   string `json:"compression"`
	ZstdLevel     int    `json:"zstd_level,omitempty"` // with zstd
	Dictionary    bool   `json:"dictionary"`
	PageBytes     int64  `json:"page_bytes,omitempty"`
	RowGroupBytes int64  `json:"row_group_bytes,omitempty"`

	Machine     Machine   `json:"machine"`
	StartedAt   time.Time `json:"started_at"`
	LoadSeconds float64   `json:"load_seconds"`

	Stages []Stage `json:"stages"`
	// BoundRecordsPerSec is the serial composition 1/Σ(1/Lᵢ) of L1, L2
	// and L3, the stages the pipeline is made of (L1 contains L0's fetch).
	// BoundWithL0RecordsPerSec also adds L0, counting the fetch twice: a
	// more pessimistic bound.
	BoundRecordsPerSec       float64 `json:"bound_records_per_sec"`
	BoundWithL0RecordsPerSec float64 `json:"bound_with_l0_records_per_sec"`
	// Ratio is end-to-end records/s ÷ BoundRecordsPerSec. Above 1 the
	// pipeline overlaps stages (uploads stream while encoding, the broker
	// and the client run on the other core).
	Ratio float64 `json:"ratio"`

	E2E *E2E `json:"e2e"`
	// Freshness is the freshness phase; nil when it was disabled.
	Freshness *Freshness `json:"freshness,omitempty"`
	// PeakRSSBytes is the highest RSS of any phase, loading included.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// Stage returns the named stage, or nil.
func (r *Report) Stage(name string) *Stage {
	for i := range r.Stages {
		if r.Stages[i].Name == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// compose fills the bound and the ratio from the stages.
func (r *Report) compose() {
	inv := func(names ...string) float64 {
		var s float64
		for _, n := range names {
			st := r.Stage(n)
			if st == nil || st.RecordsPerSec <= 0 {
				return 0 // a stage is missing: no bound
			}
			s += 1 / st.RecordsPerSec
		}
		return 1 / s
	}
	r.BoundRecordsPerSec = inv(StageL1, StageL2, StageL3)
	r.BoundWithL0RecordsPerSec = inv(StageL0, StageL1, StageL2, StageL3)
	if e := r.Stage(StageE2E); e != nil && r.BoundRecordsPerSec > 0 {
		r.Ratio = e.RecordsPerSec / r.BoundRecordsPerSec
	}
}

// Run loads the workload and measures every stage. ctx bounds the whole
// run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.CPUProfileDir != "" {
		if err := os.MkdirAll(cfg.CPUProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: CPU profile directory: %w", ErrConfig, err)
		}
	}
	wl := workloads[cfg.Workload]
	runID := newRunID()
	topic := "bench-" + wl.Name + "-" + runID
	prog := newProgress(cfg.Progress)
	defer prog.done()

	rep := &Report{
		Workload: wl.Name, WorkloadWhat: wl.What, Partitions: cfg.Partitions, Topic: topic, Kafka: cfg.Kafka,
		FlushMaxLatencySeconds: cfg.FlushMaxLatency.Seconds(), FlushMaxRecords: cfg.FlushMaxRecords,
		TargetFileSize: cfg.TargetFileSize, MemoryBudget: cfg.MemoryBudget, MemoryLimit: memlimit.InEffect(cfg.MemoryLimit), GCPercent: memlimit.GCPercentInEffect(cfg.GCPercent), Compression: cfg.DataFile.Compression, Dictionary: cfg.DataFile.DictionaryEnabled,
		PageBytes: cfg.DataFile.PageBytes, RowGroupBytes: cfg.DataFile.RowGroupBytes,
		Machine: thisMachine(), StartedAt: time.Now().UTC(),
	}
	if rep.Compression == "" {
		rep.Compression = table.DefaultDataFileCompression
	}
	if rep.Compression == "zstd" {
		rep.ZstdLevel = cmp.Or(cfg.DataFile.ZstdLevel, table.DefaultDataFileZstdLevel)
	}
	kenv, err := startKafka(ctx, &cfg, topic)
	if err != nil {
		return nil, err
	}
	defer kenv.close(ctx, &cfg)
	wh, err := openWarehouse(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer wh.close()
	rep.Warehouse = wh.url

	resetPeakRSS()
	ld, err := load(ctx, kenv.brokers, kenv.registryURL, topic, cfg.Partitions, wl, cfg.Records, cfg.Seed, prog)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", wl.Name, err)
	}
	prog.done()
	rep.PeakRSSBytes = peakRSS()
	rep.Records, rep.KafkaBytes, rep.LoadSeconds = ld.records, ld.kafkaBytes, ld.wall.Seconds()
	rep.AvgRecordBytes = float64(ld.kafkaBytes) / float64(ld.records)

	if !cfg.SkipLimits {
		if err := runLimits(ctx, &cfg, kenv, wh, ld, runID, rep, prog); err != nil {
			return nil, err
		}
	}
	st, e2e, err := runE2E(ctx, &cfg, e2eEnv{brokers: kenv.brokers, registryURL: kenv.registryURL, wh: wh, ld: ld, runID: runID}, prog)
	if err != nil {
		return nil, fmt.Errorf("end to end: %w", err)
	}
	rep.Stages = append(rep.Stages, st)
	rep.E2E = e2e
	if !cfg.Freshness.Disabled {
		rep.Freshness, err = runFreshness(ctx, &cfg, freshEnv{kenv: kenv, wh: wh, runID: runID}, prog)
		if err != nil {
			return nil, fmt.Errorf("freshness: %w", err)
		}
		rep.PeakRSSBytes = max(rep.PeakRSSBytes, peakRSS()) // since the E2E stage reset it
	}
	for _, s := range rep.Stages {
		rep.PeakRSSBytes = max(rep.PeakRSSBytes, s.PeakRSSBytes)
	}
	rep.KafkaProcess = kenv.describeChild()
	rep.compose()
	return rep, nil
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102t150405") + hex.EncodeToString(b[:])
}
