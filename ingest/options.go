// Package ingest runs the Kafka → Iceberg pipeline: it consumes a consumer
// group's partitions with franz-go, seeks every partition from the
// watermarks stored in the target tables, decodes records into Arrow column
// builders, streams Parquet files to object storage and commits them with
// the offsets they cover (DESIGN.md §3).
package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// Start positions for partitions the pipeline never committed.
const (
	StartEarliest  = "earliest"
	StartLatest    = "latest"
	StartTimestamp = "timestamp"
)

// Gap policies (DESIGN.md §3 rule 7).
const (
	OnGapHalt = "halt"
	OnGapSkip = "skip"
)

// Options configures a Pipeline. Fields marked required have no default.
type Options struct {
	Pipeline string // required: the stable pipeline id P

	Brokers  []string // required
	Group    string   // default "bigfather-" + Pipeline
	ClientID string   // default "bigfather"
	TLS      *tls.Config
	SASL     sasl.Mechanism
	// StartKind is StartEarliest (default), StartLatest or StartTimestamp
	// (StartAt), used only for partitions with no watermark.
	StartKind string
	StartAt   time.Time
	// OnGap is OnGapHalt (default) or OnGapSkip. Skip applies only to a
	// watermark below the log start (data deleted by retention); a
	// watermark above the log end always halts, because resuming would
	// move the watermark backwards.
	OnGap string
	// FetchMaxBytes caps one fetch response, default 16 MiB. The consumer
	// holds up to two (one being processed, one fetched ahead), each
	// decompressed: this memory is outside MemoryBudget.
	FetchMaxBytes int32
	// KafkaOpts are appended to the client options, after Big Father's own
	// (session and rebalance timeouts, for instance).
	KafkaOpts []kgo.Opt

	// Tables are the target tables and what feeds each: its topics, its
	// quarantine table, the route condition choosing its records, its
	// rules, filter, transform chain and partition spec. At least one.
	Tables []TableOptions
	// JSON maps a topic whose values are plain JSON (no registry, no wire
	// header) to the converter of its declared schema; other topics carry
	// Confluent-framed Avro.
	JSON map[string]*registry.JSONRecords
	// Unrouted is what happens to a record of a topic feeding several
	// tables when no table's route condition takes it: UnroutedQuarantine
	// (default) sends it to the route's quarantine table, UnroutedDrop
	// passes over it (counted, listed in the commit's bigfather.skipped).
	Unrouted string
	// MetadataMaxAge bounds how long a new topic matching a table's
	// TopicPatterns, or a partition added to a consumed topic, waits to be
	// picked up. Default 30s.
	MetadataMaxAge time.Duration
	// MaxOpenFiles bounds the data files a table's batch writes at once
	// (one per partition value it touches); past it the file holding the
	// most unwritten bytes is closed. Default 64.
	MaxOpenFiles int
	// ParallelFiles is how many data files one partition value of a
	// table's batch may encode at once. Every open file encodes on its own
	// goroutine; when rows arrive faster than a file's encoder takes them,
	// the next rows go to another file of the same partition, up to this
	// many (and within MaxOpenFiles), so that encoding uses more than one
	// core. 1 keeps one file per partition value. Default GOMAXPROCS.
	ParallelFiles int
	// MaxRecordBytes rejects a record whose key plus value is larger, before
	// decoding. Default 10 MiB.
	MaxRecordBytes int
	// DLQTopic, when set, also gets every rejected record, with headers
	// naming its origin, stage and error. Delivery is at least once: the
	// records of a batch are produced before its commit, so a crash or a
	// failed commit in between produces them again when the batch is
	// re-read.
	DLQTopic string

	FlushMaxLatency time.Duration // default 10s
	TargetFileSize  int64         // default 128 MiB
	FlushMaxRecords int64         // default 1,000,000
	// IdleCommitInterval bounds how long a table of a route may go without
	// committing its watermark while the other table of the route moves on
	// (a quarantine table while every record is good, a data table while
	// every record is rejected): a restart resumes from the lowest
	// watermark, so this bounds what it re-reads. Default 1m.
	IdleCommitInterval time.Duration
	// MemoryBudget bounds the bytes held in column builders and unflushed
	// row groups; reaching it flushes. Default DefaultMemoryBudget.
	MemoryBudget    int64
	ShutdownTimeout time.Duration // default 30s

	Catalog   catalog.Catalog    // required
	Warehouse objstore.Bucket    // required: where data files go
	Registry  *registry.Registry // required
	// SubjectNameStrategy names the registry subject a topic's record
	// schemas must be registered under (registry.SubjectTopicName, the
	// default, SubjectRecordName or SubjectTopicRecordName); a record
	// whose schema id is not is rejected as foreign-schema.
	SubjectNameStrategy string
	DataFile            table.DataFileOptions

	Registerer prometheus.Registerer // default: a private registry
	Logger     *slog.Logger          // default: discard

	// Hooks are for tests and fault injection; nil fields are skipped.
	Hooks Hooks
}

// Hooks let tests stop the pipeline at named points.
type Hooks struct {
	// At is called at each named point: "mid-upload" (a data file has
	// bytes uploaded but is not closed), "after-upload" (every file of the
	// batch is stored, nothing committed), "before-commit" (per table,
	// right before the catalog commit), "after-commit" (tables committed,
	// Kafka group offsets not yet).
	At func(point string)
}

func (h Hooks) at(point string) {
	if h.At != nil {
		h.At(point)
	}
}

// TableOptions is one target table and what feeds it.
type TableOptions struct {
	ID icebergtable.Identifier // required
	// Topics feed the table; TopicPatterns feed it every topic whose whole
	// name matches one of them, including topics created while running.
	Topics        []string
	TopicPatterns []*regexp.Regexp
	// Rejects is the quarantine table: every record routed here that
	// cannot be ingested lands there, with the reason, under the same
	// exactly-once protocol. Nil: such records are passed over (counted,
	// logged, listed in the commit's bigfather.skipped).
	Rejects icebergtable.Identifier
	// Route chooses the records of the topics that go to this table, as
	// one rule named "route"; nil takes every record. A topic feeding
	// several tables tries their routes in the order of Tables, and the
	// first that is true takes the record.
	Route *rules.Rules
	// Rules are the table's validation rules (nil: none). A record failing
	// one is rejected at the validate stage with the rule's name as the
	// reason.
	Rules *rules.Rules
	// Filter drops a record for which it is false (one rule named
	// "filter"): counted, its offset consumed and listed in the commit's
	// bigfather.skipped.
	Filter *rules.Rules
	// Transforms is the table's transform chain (nil: none), applied to
	// every record routed here after its rules and filter: the table is
	// created from, evolved by and decoded with the chain's output schema.
	// A record a step cannot transform is rejected at the transform stage
	// with the step's name as the reason; one a filter step drops is
	// passed over like a filtered record.
	Transforms *transform.Transforms
	// PartitionBy is the partition spec terms ("day(released_at)",
	// "bucket(16, isrc)", "genre"), applied when the table is created; an
	// existing table keeps its own spec.
	PartitionBy []string
}

// What happens to a record no route takes.
const (
	UnroutedQuarantine = "quarantine"
	UnroutedDrop       = "drop"
)

// ErrConfig is wrapped by every validation error of Options.
var ErrConfig = errors.New("invalid ingest options")

func (o *Options) setDefaults() {
	// The config file's defaults (config.go), so that a pipeline built in
	// code behaves like one built from an empty section.
	k, f, v, r := DefaultKafkaConfig(), DefaultFlushConfig(), DefaultValidationConfig(), DefaultRoutingConfig()
	if o.Group == "" {
		o.Group = "bigfather-" + o.Pipeline
	}
	if o.ClientID == "" {
		o.ClientID = k.ClientID
	}
	if o.StartKind == "" {
		o.StartKind = k.Start.Kind
	}
	if o.OnGap == "" {
		o.OnGap = k.OnGap
	}
	if o.FetchMaxBytes <= 0 {
		o.FetchMaxBytes = int32(k.FetchMaxBytes)
	}
	if o.FlushMaxLatency <= 0 {
		o.FlushMaxLatency = f.MaxLatency
	}
	if o.TargetFileSize <= 0 {
		o.TargetFileSize = int64(f.TargetFileSize)
	}
	if o.FlushMaxRecords <= 0 {
		o.FlushMaxRecords = f.MaxRecords
	}
	if o.IdleCommitInterval <= 0 {
		o.IdleCommitInterval = f.IdleCommitInterval
	}
	if o.Unrouted == "" {
		o.Unrouted = r.Unrouted
	}
	if o.MetadataMaxAge <= 0 {
		o.MetadataMaxAge = k.MetadataMaxAge
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = f.MaxOpenFiles
	}
	if o.ParallelFiles <= 0 {
		o.ParallelFiles = runtime.GOMAXPROCS(0)
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = int(v.MaxRecordBytes)
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.DataFile == (table.DataFileOptions{}) {
		o.DataFile = table.DefaultDataFileOptions()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() error {
	var errs []error
	bad := func(field, why string) { errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, why)) }
	if o.Pipeline == "" {
		bad("pipeline", "required")
	}
	if len(o.Brokers) == 0 {
		bad("brokers", "required")
	}
	if len(o.Tables) == 0 {
		bad("tables", "at least one table is required")
	}
	if o.Unrouted != UnroutedQuarantine && o.Unrouted != UnroutedDrop {
		bad("unrouted", fmt.Sprintf("%q is not quarantine or drop", o.Unrouted))
	}
	rejectsOf := map[string]string{} // data table → its quarantine table
	isData := map[string]bool{}
	for i, t := range o.Tables {
		if len(t.ID) == 0 {
			bad(fmt.Sprintf("tables[%d]", i), "no table identifier")
			continue
		}
		d := strings.Join(t.ID, ".")
		if isData[d] {
			bad(fmt.Sprintf("tables[%d]", i), fmt.Sprintf("table %s is listed twice; list all its topics in one entry", d))
		}
		isData[d] = true
		if len(t.Topics)+len(t.TopicPatterns) == 0 {
			bad(fmt.Sprintf("tables[%d]", i), fmt.Sprintf("table %s has no topic", d))
		}
		for _, topic := range t.Topics {
			if topic == o.DLQTopic && topic != "" {
				bad("dlq_topic", fmt.Sprintf("%q is a consumed topic: rejects would be read back as input", o.DLQTopic))
			}
		}
		if t.Rejects != nil {
			r := strings.Join(t.Rejects, ".")
			switch {
			case r == d:
				bad(fmt.Sprintf("tables[%d].rejects", i), fmt.Sprintf("the quarantine table is the data table %s", r))
			case rejectsOf[d] != "" && rejectsOf[d] != r:
				bad(fmt.Sprintf("tables[%d].rejects", i), fmt.Sprintf("table %s has two quarantine tables, %s and %s", d, rejectsOf[d], r))
			default:
				rejectsOf[d] = r
			}
		}
	}
	for d, r := range rejectsOf {
		if isData[r] {
			bad("rejects", fmt.Sprintf("quarantine table %s of %s is also a data table", r, d))
		}
	}
	// Every literal topic's route must be well formed; topics matched by a
	// pattern are checked when they appear.
	for _, topic := range o.literalTopics() {
		if _, err := o.routeTables(topic); err != nil {
			errs = append(errs, err)
		}
	}
	switch o.StartKind {
	case StartEarliest, StartLatest:
	case StartTimestamp:
		if o.StartAt.IsZero() {
			bad("start", "timestamp start needs a time")
		}
	default:
		bad("start", fmt.Sprintf("%q is not earliest, latest or a timestamp", o.StartKind))
	}
	if o.OnGap != OnGapHalt && o.OnGap != OnGapSkip {
		bad("on_gap", fmt.Sprintf("%q is not halt or skip", o.OnGap))
	}
	if o.Catalog == nil {
		bad("catalog", "required")
	}
	if o.Warehouse == nil {
		bad("warehouse", "required")
	}
	if o.Registry == nil {
		bad("schema_registry", "required")
	}
	if o.SubjectNameStrategy != "" && !slices.Contains(registry.SubjectStrategies, o.SubjectNameStrategy) {
		bad("subject_name_strategy", fmt.Sprintf("%q is not one of %v", o.SubjectNameStrategy, registry.SubjectStrategies))
	}
	return errors.Join(errs...)
}

// literalTopics returns the topics named outright, sorted.
func (o *Options) literalTopics() []string {
	var out []string
	for _, t := range o.Tables {
		out = append(out, t.Topics...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// routeTables returns the indexes in Tables of the tables topic feeds, in
// order. With several, each but the last needs a route condition, or the
// ones after it could never take a record; and at least one of them needs a
// quarantine table, the route's anchor (route.go).
func (o *Options) routeTables(topic string) ([]int, error) {
	var idx []int
	for i, t := range o.Tables {
		if slices.Contains(t.Topics, topic) || matchesAny(t.TopicPatterns, topic) {
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return idx, nil
	}
	hasRejects := false
	for k, i := range idx {
		t := o.Tables[i]
		if t.Route == nil && k < len(idx)-1 {
			return nil, fmt.Errorf("%w: tables[%d]: topic %q feeds several tables and %s has no route, so the tables after it would get nothing",
				ErrConfig, i, topic, strings.Join(t.ID, "."))
		}
		hasRejects = hasRejects || t.Rejects != nil
	}
	if !hasRejects {
		return nil, fmt.Errorf("%w: topic %q feeds several tables and none has a quarantine table; a routed topic needs one", ErrConfig, topic)
	}
	return idx, nil
}

// matchesAny reports whether a pattern matches topic.
func matchesAny(res []*regexp.Regexp, topic string) bool {
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(topic) })
}

// DefaultMemoryBudget is Options.MemoryBudget's default: 256 MiB.
const DefaultMemoryBudget = 256 << 20

// DefaultShutdownTimeout is Options.ShutdownTimeout's default.
const DefaultShutdownTimeout = 30 * time.Second

// SoftMemoryLimit is the Go runtime's soft memory limit
// (runtime/debug.SetMemoryLimit) that suits a process whose pipeline
// buffers up to budget bytes: 1.5 × the budget, 384 MiB by default.
// Besides the buffers, the heap holds fetched records not yet processed
// (up to two fetch responses, kafka.fetch_max_bytes each, decompressed),
// the zstd encoders' windows and the garbage of the batches already handed
// on. Without a limit the collector lets the heap grow to twice what is
// live (GOGC=100) before it runs: 1.1 GB of RSS for a 512 MiB budget over
// 1,000 partitions of wide rows. At the default limit the same run peaked
// at 474 MB (bench/RESULTS.md); the collector runs more often as the heap
// nears the limit, which costs CPU when the budget is near the limit.
func SoftMemoryLimit(budget int64) int64 {
	if budget <= 0 {
		budget = DefaultMemoryBudget
	}
	return budget + budget/2
}
