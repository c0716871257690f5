package ingest

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"gopkg.in/yaml.v3"

	"github.com/bigfather/bigfather/internal/bytesize"
	"github.com/bigfather/bigfather/internal/confkey"
	"github.com/bigfather/bigfather/internal/tlsconf"
)

// This file holds the config file's sections that configure a pipeline
// (kafka, flush, quarantine, validation, routing): each with its defaults
// and a Validate naming the key, and Options.Apply, which sets a
// pipeline's Options from them. The defaults here are the ones
// Options.setDefaults fills in too.

// SASL mechanisms accepted in KafkaConfig.SASL.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// KafkaConfig is the kafka section: the source cluster and consumer group.
type KafkaConfig struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group. Its committed offsets are advisory only
	// (DESIGN §3 rule 2). Default "bigfather-<pipeline>".
	Group string `yaml:"group"`
	// ClientID is the Kafka client id. Default "bigfather".
	ClientID string `yaml:"client_id"`
	// Start is where a partition that was never committed to any table
	// starts: earliest, latest, or an RFC 3339 timestamp. Default earliest.
	Start StartPosition `yaml:"start"`
	// OnGap is what happens when a watermark falls outside the partition's
	// log (DESIGN §3 rule 7): "halt" stops the partition, "skip" jumps the
	// gap and records it in the snapshot summary. Default "halt".
	OnGap string `yaml:"on_gap"`
	// MetadataMaxAge bounds how long a new topic matching a table's
	// topic_patterns waits to be picked up. Default 30s.
	MetadataMaxAge time.Duration `yaml:"metadata_max_age"`
	// FetchMaxBytes caps one fetch response. Default 16MiB: the consumer
	// holds up to two, decompressed, outside memory_budget.
	FetchMaxBytes bytesize.Size `yaml:"fetch_max_bytes"`
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating (a crash, a frozen process) before giving its partitions
	// to the others: what one SIGKILL costs in stalled partitions. The
	// broker refuses values outside its group.min/max.session.timeout.ms
	// (6s-30m by default). Default 45s; 1s-1h.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long the group waits for every member to
	// rejoin during a rebalance (each first commits or drops its in-flight
	// batch). Default 60s; 1s-1h.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// InstanceID turns on static group membership (KIP-345): a member that
	// restarts within session_timeout with the same id gets its partitions
	// back without a rebalance. It must be unique per running instance
	// (e.g. ${HOSTNAME}); two live instances with one id fence each other.
	// Default "" (dynamic membership).
	InstanceID string `yaml:"instance_id"`
	// TLS secures broker connections. Default disabled.
	TLS tlsconf.Config `yaml:"tls"`
	// SASL authenticates to the brokers. Default none.
	SASL SASLConfig `yaml:"sasl"`
}

// SASLConfig configures broker authentication.
type SASLConfig struct {
	// Mechanism is "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are required with a mechanism. Use ${VAR}
	// expansion for the password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// DefaultKafkaConfig returns the kafka settings used for every key the file
// does not set; Group defaults from the pipeline id (Options.setDefaults).
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{
		ClientID:       "bigfather",
		Start:          StartPosition{Kind: StartEarliest},
		OnGap:          OnGapHalt,
		FetchMaxBytes:  16 * bytesize.MiB,
		MetadataMaxAge: 30 * time.Second,
		// franz-go's own defaults, stated so the docs can show them.
		SessionTimeout:   45 * time.Second,
		RebalanceTimeout: 60 * time.Second,
	}
}

// Kafka's own rule for topic names; it checks group.instance.id the same way.
var topicRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// ValidTopic reports whether s is a valid Kafka topic name.
func ValidTopic(s string) bool { return topicRe.MatchString(s) }

// Validate checks the section; every problem is a *confkey.Error naming its
// key. An empty Group is left to the caller, which knows the pipeline id it
// defaults from.
func (k KafkaConfig) Validate() error {
	var l confkey.List
	if len(k.Brokers) == 0 {
		l.Add("brokers", "required: at least one host:port")
	}
	for i, b := range k.Brokers {
		if msg := confkey.HostPort(b); msg != "" {
			l.Add(confkey.Index("brokers", i), "%s", msg)
		}
	}
	if k.ClientID == "" {
		l.Add("client_id", "required")
	}
	switch k.Start.Kind {
	case StartEarliest, StartLatest:
	case StartTimestamp:
		if k.Start.At.IsZero() {
			l.Add("start", "timestamp is missing")
		}
	default:
		l.Add("start", "kind %q is invalid: want earliest, latest or an RFC 3339 timestamp", k.Start.Kind)
	}
	switch k.OnGap {
	case OnGapHalt, OnGapSkip:
	default:
		l.Add("on_gap", "%q is invalid: want halt or skip", k.OnGap)
	}
	if k.MetadataMaxAge <= 0 {
		l.Add("metadata_max_age", "must be > 0")
	}
	// The Kafka protocol carries fetch sizes as int32.
	if k.FetchMaxBytes <= 0 || k.FetchMaxBytes > math.MaxInt32 {
		l.Add("fetch_max_bytes", "must be > 0 and < 2GiB, got %s", k.FetchMaxBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"session_timeout", k.SessionTimeout}, {"rebalance_timeout", k.RebalanceTimeout}} {
		if d.v < time.Second || d.v > time.Hour {
			l.Add(d.key, "must be between 1s and 1h, got %s", d.v)
		}
	}
	if k.InstanceID != "" && !topicRe.MatchString(k.InstanceID) {
		l.Add("instance_id", "%q is invalid: want 1-249 characters of [a-zA-Z0-9._-]", k.InstanceID)
	}
	l.In("tls", k.TLS.Validate())
	switch s := k.SASL; s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" {
			l.Add("sasl.mechanism", "required when a username or password is set: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
		if s.Username == "" {
			l.Add("sasl.username", "required with mechanism %s", s.Mechanism)
		}
		if s.Password == "" {
			l.Add("sasl.password", "required with mechanism %s", s.Mechanism)
		}
	default:
		l.Add("sasl.mechanism", "%q is not supported: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	return l.Err()
}

// mechanism returns the franz-go SASL mechanism; nil for none.
func (s SASLConfig) mechanism() sasl.Mechanism {
	switch s.Mechanism {
	case SASLPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
	case SASLSCRAMSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case SASLSCRAMSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
	}
	return nil
}

// groupOpts are the consumer group's timeouts and static membership. The
// heartbeat stays at franz-go's 3s unless a shorter session needs a
// third of it, so a member is not timed out between two heartbeats.
func (k KafkaConfig) groupOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SessionTimeout(k.SessionTimeout),
		kgo.RebalanceTimeout(k.RebalanceTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, k.SessionTimeout/3)),
	}
	if k.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(k.InstanceID))
	}
	return opts
}

// StartPosition is where a never-committed partition starts consuming. In
// YAML it is "earliest", "latest" or an RFC 3339 timestamp.
type StartPosition struct {
	// Kind is StartEarliest, StartLatest or StartTimestamp.
	Kind string
	// At is the timestamp for StartTimestamp: consumption starts at the
	// first record produced at or after it.
	At time.Time
}

// ParseStartPosition parses s as described on StartPosition.
func ParseStartPosition(s string) (StartPosition, error) {
	switch s {
	case StartEarliest, StartLatest:
		return StartPosition{Kind: s}, nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return StartPosition{}, fmt.Errorf("invalid start %q: want earliest, latest or an RFC 3339 timestamp like 2024-01-02T15:04:05Z", s)
	}
	return StartPosition{Kind: StartTimestamp, At: at}, nil
}

// String returns the YAML form of p.
func (p StartPosition) String() string {
	if p.Kind == StartTimestamp {
		return p.At.Format(time.RFC3339Nano)
	}
	return p.Kind
}

// UnmarshalYAML implements yaml.Unmarshaler. It reads the raw text, because
// YAML would otherwise resolve an unquoted timestamp into its own type.
func (p *StartPosition) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want earliest, latest or an RFC 3339 timestamp")
	}
	v, err := ParseStartPosition(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (p StartPosition) MarshalYAML() (any, error) { return p.String(), nil }

// FlushConfig is the flush section: when a partition's buffered records are
// written and committed, whichever limit is reached first.
type FlushConfig struct {
	// MaxLatency bounds how long a record waits to be committed. Default 10s.
	MaxLatency time.Duration `yaml:"max_latency"`
	// TargetFileSize is the Parquet file size to aim for. Default 128MiB.
	TargetFileSize bytesize.Size `yaml:"target_file_size"`
	// MaxRecords bounds the records in one file. Default 1000000.
	MaxRecords int64 `yaml:"max_records"`
	// IdleCommitInterval is how long a table of a route may go without
	// committing its watermark while the route's other table moves on (a
	// quarantine table while every record is good). A restart re-reads
	// from the lowest watermark, so this bounds the re-read. Default 1m.
	IdleCommitInterval time.Duration `yaml:"idle_commit_interval"`
	// MaxOpenFiles bounds the data files one table's batch writes at once
	// (a partitioned table opens one per partition value); past it, the
	// file holding the most unwritten bytes is closed. Default 64.
	MaxOpenFiles int `yaml:"max_open_files"`
	// ParallelFiles is how many data files one partition value may encode
	// at once, each on its own core, when records arrive faster than one
	// file encodes them; more files per commit for more throughput.
	// Default 0: the number of CPUs the process may use (GOMAXPROCS); 1
	// keeps one file per partition value.
	ParallelFiles int `yaml:"parallel_files"`
}

// DefaultFlushConfig returns the flush settings used for every key the file
// does not set.
func DefaultFlushConfig() FlushConfig {
	return FlushConfig{
		MaxLatency:         10 * time.Second,
		TargetFileSize:     128 * bytesize.MiB,
		MaxRecords:         1_000_000,
		IdleCommitInterval: time.Minute,
		MaxOpenFiles:       64,
	}
}

// Validate checks the section; every problem is a *confkey.Error naming its
// key.
func (f FlushConfig) Validate() error {
	var l confkey.List
	if f.MaxLatency <= 0 {
		l.Add("max_latency", "must be > 0")
	}
	if f.TargetFileSize <= 0 {
		l.Add("target_file_size", "must be > 0")
	}
	if f.MaxRecords <= 0 {
		l.Add("max_records", "must be > 0")
	}
	if f.IdleCommitInterval <= 0 {
		l.Add("idle_commit_interval", "must be > 0")
	}
	if f.MaxOpenFiles <= 0 {
		l.Add("max_open_files", "must be > 0")
	}
	if f.ParallelFiles < 0 {
		l.Add("parallel_files", "must be >= 0 (0: one per CPU)")
	}
	return l.Err()
}

// QuarantineConfig is the quarantine section: where records that cannot be
// ingested go.
type QuarantineConfig struct {
	// Enabled sends every rejected record to its route's quarantine table,
	// exactly once, with the raw record and the reason. Disabled, such
	// records are passed over: counted, logged and listed in the commit's
	// bigfather.skipped summary. Default true.
	Enabled bool `yaml:"enabled"`
	// Suffix names a route's quarantine table when tables[].rejects is not
	// set. Default "__rejects".
	Suffix string `yaml:"suffix"`
	// DLQTopic, when set, also gets every rejected record (whether or not
	// quarantine is enabled), with bigfather.* headers naming its topic,
	// partition, offset, stage, reason and error. Delivery is at least once.
	// The topic must exist. Default "" (none).
	DLQTopic string `yaml:"dlq_topic"`
}

// DefaultQuarantineConfig returns the quarantine settings used for every
// key the file does not set.
func DefaultQuarantineConfig() QuarantineConfig {
	return QuarantineConfig{Enabled: true, Suffix: "__rejects"}
}

// Validate checks the section; every problem is a *confkey.Error naming its
// key. That the DLQ topic is not also consumed is the caller's to check:
// it knows the tables.
func (q QuarantineConfig) Validate() error {
	var l confkey.List
	if q.Enabled && !strings.HasPrefix(q.Suffix, "_") && !strings.HasPrefix(q.Suffix, "-") {
		l.Add("suffix", "%q must start with _ or -, so that the quarantine table is named after its table", q.Suffix)
	}
	if q.DLQTopic != "" && !topicRe.MatchString(q.DLQTopic) {
		l.Add("dlq_topic", "%q is not a valid Kafka topic name", q.DLQTopic)
	}
	return l.Err()
}

// ValidationConfig is the validation section: the checks every record must
// pass before it is decoded.
type ValidationConfig struct {
	// MaxRecordBytes rejects a record whose key plus value is larger, before
	// it is decoded. Default 10MiB.
	MaxRecordBytes bytesize.Size `yaml:"max_record_bytes"`
}

// DefaultValidationConfig returns the validation settings used for every
// key the file does not set.
func DefaultValidationConfig() ValidationConfig {
	return ValidationConfig{MaxRecordBytes: 10 * bytesize.MiB}
}

// Validate checks the section; every problem is a *confkey.Error naming its
// key.
func (v ValidationConfig) Validate() error {
	var l confkey.List
	if v.MaxRecordBytes <= 0 {
		l.Add("max_record_bytes", "must be > 0")
	}
	return l.Err()
}

// RoutingConfig is the routing section: topics that feed several tables.
type RoutingConfig struct {
	// Unrouted is what happens to a record no table's route takes:
	// "quarantine" puts it in the quarantine table of the topic's first
	// table that has one, with stage route and reason unrouted; "drop"
	// passes over it (counted in bigfather_ingest_unrouted_records_total,
	// listed in the commit's bigfather.skipped). Default quarantine.
	Unrouted string `yaml:"unrouted"`
}

// DefaultRoutingConfig returns the routing settings used for every key the
// file does not set.
func DefaultRoutingConfig() RoutingConfig { return RoutingConfig{Unrouted: UnroutedQuarantine} }

// Validate checks the section; every problem is a *confkey.Error naming its
// key.
func (r RoutingConfig) Validate() error {
	var l confkey.List
	if r.Unrouted != UnroutedQuarantine && r.Unrouted != UnroutedDrop {
		l.Add("unrouted", "%q is invalid: want quarantine or drop", r.Unrouted)
	}
	return l.Err()
}

// Apply sets o from the config file's sections that configure a pipeline,
// loading the Kafka TLS files. The session, rebalance and heartbeat
// settings are appended to o.KafkaOpts.
func (o *Options) Apply(k KafkaConfig, f FlushConfig, q QuarantineConfig, v ValidationConfig, r RoutingConfig) error {
	tlsCfg, err := k.TLS.Load()
	if err != nil {
		return fmt.Errorf("kafka.tls: %w", err)
	}
	o.Brokers, o.Group, o.ClientID = k.Brokers, k.Group, k.ClientID
	o.TLS, o.SASL = tlsCfg, k.SASL.mechanism()
	o.StartKind, o.StartAt, o.OnGap = k.Start.Kind, k.Start.At, k.OnGap
	o.FetchMaxBytes = int32(min(int64(k.FetchMaxBytes), 1<<30))
	o.MetadataMaxAge = k.MetadataMaxAge
	o.KafkaOpts = append(o.KafkaOpts, k.groupOpts()...)
	o.FlushMaxLatency, o.TargetFileSize, o.FlushMaxRecords = f.MaxLatency, int64(f.TargetFileSize), f.MaxRecords
	o.IdleCommitInterval, o.MaxOpenFiles, o.ParallelFiles = f.IdleCommitInterval, f.MaxOpenFiles, f.ParallelFiles
	o.DLQTopic = q.DLQTopic
	o.MaxRecordBytes = int(min(int64(v.MaxRecordBytes), 1<<30))
	o.Unrouted = r.Unrouted
	return nil
}
