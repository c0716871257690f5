package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/memlimit"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// FreshnessTargetRatio is the freshness target: p99 freshness at most this
// many times the configured flush.max_latency.
const FreshnessTargetRatio = 2.0

// produceTick is how often the freshness producer hands over the records
// that fell due since the last tick: a steady stream, not a burst a second.
const produceTick = 10 * time.Millisecond

// FreshnessConfig configures the freshness phase, which runs after the
// end-to-end phase unless Disabled: the real pipeline consumes a topic
// that a producer feeds at a steady rate, and each record's freshness is
// the time from its hand-off to the producer until a reader loading the
// table from the catalog sees the table's watermark pass its offset.
type FreshnessConfig struct {
	// Disabled skips the phase.
	Disabled bool
	// Rate is the records/s the producer aims for. Default 5,000.
	Rate float64
	// Duration is how long the producer runs. Default 10s.
	Duration time.Duration
	// FlushMaxLatency is the pipeline's flush.max_latency in this phase:
	// what cuts every batch, since flush.max_records is set above anything
	// the phase produces (the daemon's 1,000,000, or more). Default 1s.
	FlushMaxLatency time.Duration
	// PollInterval is how often the catalog is read for the table's
	// watermarks: the resolution of every figure, each of which is late by
	// up to one interval plus the time a load takes. Default 20ms.
	PollInterval time.Duration
	// Timeout bounds the wait, after the producer stops, until everything
	// produced is visible. Default 10 × FlushMaxLatency, at least 30s.
	Timeout time.Duration
}

func (c *FreshnessConfig) setDefaults() {
	if c.Rate == 0 {
		c.Rate = 5000
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.FlushMaxLatency == 0 {
		c.FlushMaxLatency = time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 20 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = max(30*time.Second, 10*c.FlushMaxLatency)
	}
}

func (c *FreshnessConfig) validate() []error {
	if c.Disabled {
		return nil
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: freshness: "+format, append([]any{ErrConfig}, a...)...))
	}
	if !(c.Rate > 0) || c.Rate > 10_000_000 {
		bad("rate %g records/s: want more than 0, at most 10,000,000", c.Rate)
	}
	if c.Duration < 0 || c.FlushMaxLatency < 0 || c.PollInterval < 0 || c.Timeout < 0 {
		bad("duration, flush latency, poll interval and timeout must be positive")
	}
	if c.Rate > 0 && c.Rate*c.Duration.Seconds() < 1 {
		bad("rate %g records/s for %s produces no record", c.Rate, c.Duration)
	}
	return errs
}

// scheduled is how many records the producer's schedule calls for.
func (c *FreshnessConfig) scheduled() int64 { return int64(c.Rate * c.Duration.Seconds()) }

// Freshness is what the freshness phase measured.
type Freshness struct {
	Topic    string `json:"topic"`
	Pipeline string `json:"pipeline"`
	Table    string `json:"table"`

	// The producer: a franz-go client with its defaults (acks=all,
	// idempotent, 10 ms linger), records round robin over the partitions,
	// handed over every TickSeconds as they fall due. Scheduled is
	// TargetRecordsPerSec × DurationSeconds; Records what was produced,
	// acknowledged and measured; RecordsPerSec the achieved rate, Records ÷
	// ProduceSeconds (first tick to last hand-off). MaxBehindSeconds is the
	// most the hand-offs lagged their schedule at a tick (about one tick
	// when the producer keeps up; more under backpressure).
	TargetRecordsPerSec float64 `json:"target_records_per_sec"`
	DurationSeconds     float64 `json:"duration_seconds"`
	TickSeconds         float64 `json:"tick_seconds"`
	Scheduled           int64   `json:"scheduled"`
	Records             int64   `json:"records"`
	ProduceSeconds      float64 `json:"produce_seconds"`
	RecordsPerSec       float64 `json:"records_per_sec"`
	MaxBehindSeconds    float64 `json:"max_behind_seconds"`

	FlushMaxLatencySeconds float64 `json:"flush_max_latency_seconds"`
	FlushMaxRecords        int64   `json:"flush_max_records"`

	// The reader: the table loaded from the catalog every
	// PollIntervalSeconds; PollMeanSeconds and PollMaxSeconds are the
	// achieved intervals between completed loads.
	PollIntervalSeconds float64 `json:"poll_interval_seconds"`
	Polls               int     `json:"polls"`
	PollMeanSeconds     float64 `json:"poll_mean_seconds"`
	PollMaxSeconds      float64 `json:"poll_max_seconds"`

	// WarmupSeconds is from the pipeline's start until one record per
	// partition, produced before the measured ones and not counted, was
	// visible: the group join, the table's creation and the first schema
	// lookup are not steady state. DrainSeconds is from the producer's
	// last hand-off until everything was visible.
	WarmupSeconds float64 `json:"warmup_seconds"`
	DrainSeconds  float64 `json:"drain_seconds"`
	// Commits are the data table's snapshots by this pipeline, the
	// warm-up's included.
	Commits int `json:"commits"`
	// Cores is this process's CPU time ÷ wall time while producing and
	// draining (producer, pipeline, poller, and an in-process broker);
	// OtherCores the rest of the machine's, as Stage.OtherCores.
	Cores      float64 `json:"cores"`
	OtherCores float64 `json:"other_cores"`

	// Freshness of the measured records, in seconds: from the hand-off to
	// the producer (kgo.Client.Produce) until the first completed catalog
	// load whose watermark for the record's partition is past its offset.
	P50  float64 `json:"p50_seconds"`
	P90  float64 `json:"p90_seconds"`
	P99  float64 `json:"p99_seconds"`
	Max  float64 `json:"max_seconds"`
	Mean float64 `json:"mean_seconds"`
	// P99OverFlush is P99 ÷ FlushMaxLatencySeconds; Pass whether it is at
	// most TargetRatio (FreshnessTargetRatio).
	P99OverFlush float64 `json:"p99_over_flush_latency"`
	TargetRatio  float64 `json:"target_ratio"`
	Pass         bool    `json:"pass"`
}

// KeptRate reports whether the producer achieved at least 95% of its
// target rate.
func (f *Freshness) KeptRate() bool { return f.RecordsPerSec >= 0.95*f.TargetRecordsPerSec }

// freshEnv is what the freshness phase runs against.
type freshEnv struct {
	kenv  *kafkaEnv
	wh    *warehouse
	runID string
}

// sent is one measured record: its partition, its offset (from the
// produce promise) and when it was handed to the producer, as a time since
// the phase started.
type sent struct {
	partition int32
	offset    int64
	handoff   time.Duration
}

// runFreshness runs the freshness phase on a fresh topic and table.
func runFreshness(ctx context.Context, cfg *Config, env freshEnv, prog *progress) (*Freshness, error) {
	fc := cfg.Freshness
	wl := workloads[cfg.Workload]
	name := strings.ReplaceAll(cfg.Workload+"_"+env.runID, "-", "_")
	dataID := icebergtable.Identifier{"bench_fresh", name}
	rejID := icebergtable.Identifier{"bench_fresh", name + "__rejects"}
	res := &Freshness{
		Topic: "bench-" + wl.Name + "-" + env.runID + "-fresh", Pipeline: "bench-" + env.runID + "-fresh",
		Table: strings.Join(dataID, "."), TargetRecordsPerSec: fc.Rate, DurationSeconds: fc.Duration.Seconds(),
		TickSeconds: produceTick.Seconds(), Scheduled: fc.scheduled(),
		FlushMaxLatencySeconds: fc.FlushMaxLatency.Seconds(), PollIntervalSeconds: fc.PollInterval.Seconds(),
		TargetRatio: FreshnessTargetRatio,
	}
	// Far above anything produced: only the timer cuts batches.
	res.FlushMaxRecords = max(1_000_000, res.Scheduled+int64(cfg.Partitions)+1)

	if err := env.kenv.createTopic(ctx, res.Topic, cfg.Partitions); err != nil {
		return nil, err
	}
	schemaID, err := registerSchema(ctx, env.kenv.registryURL, res.Topic, wl)
	if err != nil {
		return nil, err
	}
	reg, err := registry.NewRegistry(registry.RegistryOptions{URL: env.kenv.registryURL, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	p, err := newBenchPipeline(cfg, env.kenv.brokers, env.wh, reg, prometheus.NewRegistry(), res.Pipeline, res.Topic, dataID, rejID,
		fc.FlushMaxLatency, res.FlushMaxRecords)
	if err != nil {
		return nil, err
	}
	_, restoreLimit := memlimit.Apply(cfg.MemoryLimit)
	defer restoreLimit()
	_, restoreGC := memlimit.ApplyGC(cfg.GCPercent)
	defer restoreGC()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(env.kenv.brokers...),
		kgo.DefaultProduceTopic(res.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	t0 := time.Now()
	pctx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	var runErr error
	stopped := make(chan struct{}) // closed when Run has returned runErr
	go func() {
		defer close(stopped)
		runErr = p.Run(pctx)
	}()
	vis := &visibility{t0: t0, topic: res.Topic, marks: map[int32][]mark{}, wm: map[int32]int64{}}
	vctx, stopPoller := context.WithCancel(ctx)
	defer stopPoller()
	var pollErr error
	polled := make(chan struct{}) // closed when the poller has returned pollErr
	go func() {
		defer close(polled)
		pollErr = vis.poll(vctx, env.wh, dataID, res.Pipeline, fc.PollInterval)
	}()
	fail := func(err error) (*Freshness, error) {
		stopPoller()
		stopPipeline()
		<-polled
		<-stopped
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			err = fmt.Errorf("%w (pipeline: %w)", err, runErr)
		}
		return nil, err
	}
	// waitVisible waits until the watermarks cover ends.
	waitVisible := func(ends map[int32]int64, timeout time.Duration, what string) error {
		tick := time.NewTicker(fc.PollInterval)
		defer tick.Stop()
		deadline := time.Now().Add(timeout)
		for !vis.covers(ends) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-stopped:
				return fmt.Errorf("%s: pipeline stopped", what)
			case <-polled:
				return fmt.Errorf("%s: catalog poller: %w", what, pollErr)
			case <-tick.C:
			}
			if s := p.Stats(); s.Halted > 0 {
				return fmt.Errorf("%s: %d partition(s) halted", what, s.Halted)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not everything visible within %s (watermarks %v, want %v)", what, timeout, vis.watermarks(), ends)
			}
		}
		return nil
	}

	// Warm-up: one record per partition, visible before timing starts.
	gen := wl.newGen(cfg.Seed)
	ends := map[int32]int64{}
	for part := range cfg.Partitions {
		val, key, err := gen.next(music.AppendWire(nil, schemaID, nil), nil)
		if err != nil {
			return fail(fmt.Errorf("generate: %w", err))
		}
		r, err := cl.ProduceSync(ctx, &kgo.Record{Key: key, Value: val, Partition: part}).First()
		if err != nil {
			return fail(fmt.Errorf("produce warm-up record: %w", err))
		}
		ends[part] = r.Offset + 1
	}
	prog.update("fresh", 0, res.Scheduled, "warm-up")
	if err := waitVisible(ends, max(cfg.StallTimeout, fc.Timeout), "warm-up"); err != nil {
		return fail(err)
	}
	res.WarmupSeconds = time.Since(t0).Seconds()

	cpu0, busy0, wall0 := processCPU(), systemBusy(), time.Now()
	recs, err := producePaced(ctx, cl, gen, schemaID, cfg.Partitions, fc, t0, res, prog, stopped)
	if err != nil {
		return fail(err)
	}
	for _, r := range recs {
		ends[r.partition] = max(ends[r.partition], r.offset+1)
	}
	prog.update("fresh", res.Records, res.Scheduled, "draining")
	if err := waitVisible(ends, fc.Timeout, "drain"); err != nil {
		return fail(err)
	}
	if wall := time.Since(wall0).Seconds(); wall > 0 {
		cpu := processCPU() - cpu0
		res.Cores = cpu.Seconds() / wall
		if busy0 > 0 {
			res.OtherCores = max(0, (systemBusy()-busy0-cpu).Seconds()/wall)
		}
	}
	prog.update("fresh", res.Records, res.Scheduled, "all visible")
	prog.done()

	stopPoller()
	<-polled
	if pollErr != nil {
		return fail(pollErr)
	}
	stopPipeline()
	select {
	case <-stopped:
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			return nil, fmt.Errorf("pipeline stop: %w", runErr)
		}
	case <-time.After(time.Minute):
		return nil, errors.New("pipeline did not stop within a minute")
	}

	tbl, err := env.wh.cat.LoadTable(ctx, dataID)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", res.Table, err)
	}
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[table.SummaryPipeline] == res.Pipeline {
			res.Commits++
		}
	}
	if err := vis.measure(recs, res); err != nil {
		return nil, err
	}
	return res, nil
}

// newBenchPipeline is the pipeline of the end-to-end and freshness phases:
// one table fed by topic, with its quarantine table, as the daemon runs it.
func newBenchPipeline(cfg *Config, brokers []string, wh *warehouse, reg *registry.Registry, prom prometheus.Registerer, pipeline, topic string,
	dataID, rejID icebergtable.Identifier, flushLatency time.Duration, flushRecords int64) (*ingest.Pipeline, error) {
	return ingest.New(ingest.Options{
		Pipeline:        pipeline,
		Brokers:         brokers,
		Tables:          []ingest.TableOptions{{ID: dataID, Topics: []string{topic}, Rejects: rejID}},
		FlushMaxLatency: flushLatency,
		FlushMaxRecords: flushRecords,
		TargetFileSize:  cfg.TargetFileSize,
		MemoryBudget:    cfg.MemoryBudget,
		DataFile:        cfg.DataFile,
		Catalog:         wh.cat,
		Warehouse:       wh.bucket,
		Registry:        reg,
		Registerer:      prom,
		Logger:          cfg.Logger,
	})
}

// producePaced hands records to cl at fc.Rate for fc.Duration: every
// produceTick, the records whose scheduled time has come. A producer held
// up by backpressure hands over what fell due as soon as it can, so the
// achieved rate and MaxBehindSeconds show how far it fell behind.
func producePaced(ctx context.Context, cl *kgo.Client, gen generator, schemaID int32, partitions int32, fc FreshnessConfig,
	t0 time.Time, res *Freshness, prog *progress, stopped <-chan struct{}) ([]sent, error) {
	recs := make([]sent, 0, res.Scheduled)
	var (
		errOnce  sync.Once
		firstErr error
	)
	tick := time.NewTicker(produceTick)
	defer tick.Stop()
	start := time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-stopped:
			return nil, errors.New("pipeline stopped while producing")
		case <-tick.C:
		}
		el := time.Since(start)
		if el >= fc.Duration {
			el, done = fc.Duration, true
		}
		due := min(int64(fc.Rate*el.Seconds()), res.Scheduled)
		n := int64(len(recs))
		if behind := el.Seconds() - float64(n)/fc.Rate; behind > res.MaxBehindSeconds {
			res.MaxBehindSeconds = behind
		}
		for ; n < due; n++ {
			val, key, err := gen.next(music.AppendWire(make([]byte, 0, 1280), schemaID, nil), nil)
			if err != nil {
				return nil, fmt.Errorf("generate record %d: %w", n, err)
			}
			i := len(recs)
			part := int32(n % int64(partitions))
			recs = append(recs, sent{partition: part, offset: -1, handoff: time.Since(t0)})
			// recs does not grow past its capacity (n < Scheduled), so the
			// promise writes into the element appended here.
			r := &recs[i]
			cl.Produce(ctx, &kgo.Record{Key: key, Value: val, Partition: part}, func(kr *kgo.Record, err error) {
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				r.offset = kr.Offset
			})
		}
		prog.update("fresh", n, res.Scheduled, "producing")
	}
	if len(recs) == 0 {
		return nil, errors.New("no record produced")
	}
	last := recs[len(recs)-1].handoff
	res.ProduceSeconds = (last - start.Sub(t0)).Seconds()
	fctx, cancel := context.WithTimeout(ctx, fc.Timeout)
	defer cancel()
	// Flush returns once every promise has been called.
	if err := cl.Flush(fctx); err != nil {
		return nil, fmt.Errorf("wait for acks: %w", err)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("produce: %w", firstErr)
	}
	res.Records = int64(len(recs))
	if res.ProduceSeconds > 0 {
		res.RecordsPerSec = float64(res.Records) / res.ProduceSeconds
	}
	return recs, nil
}

// mark is a watermark a catalog load first saw, and when that load
// completed (since the phase started).
type mark struct {
	at time.Duration
	wm int64
}

// visibility follows the table's committed watermarks, as a reader
// loading the table from the catalog sees them.
type visibility struct {
	t0    time.Time
	topic string

	mu     sync.Mutex
	marks  map[int32][]mark // per partition, watermarks increasing
	wm     map[int32]int64
	polls  int
	first  time.Duration // completion of the first load
	last   time.Duration // and of the latest
	maxGap time.Duration
}

// poll loads the table every interval until ctx is done. A table not
// created yet has no watermarks.
func (v *visibility) poll(ctx context.Context, wh *warehouse, id icebergtable.Identifier, pipeline string, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		tbl, err := wh.cat.LoadTable(ctx, id)
		at := time.Since(v.t0)
		var wm table.Offsets
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace):
		case err != nil:
			return fmt.Errorf("load %s: %w", strings.Join(id, "."), err)
		default:
			if wm, err = table.Watermarks(tbl.Metadata(), pipeline); err != nil {
				return err
			}
		}
		v.observe(at, wm)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (v *visibility) observe(at time.Duration, wm table.Offsets) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.polls == 0 {
		v.first = at
	} else {
		v.maxGap = max(v.maxGap, at-v.last)
	}
	v.polls++
	v.last = at
	for tp, w := range wm {
		if tp.Topic != v.topic || w <= v.wm[tp.Partition] {
			continue
		}
		v.wm[tp.Partition] = w
		v.marks[tp.Partition] = append(v.marks[tp.Partition], mark{at: at, wm: w})
	}
}

// covers reports whether the latest watermarks reach ends.
func (v *visibility) covers(ends map[int32]int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for part, end := range ends {
		if v.wm[part] < end {
			return false
		}
	}
	return true
}

func (v *visibility) watermarks() map[int32]int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.wm)
}

// visibleAt is when a load first saw partition's watermark past offset.
func (v *visibility) visibleAt(partition int32, offset int64) (time.Duration, bool) {
	ms := v.marks[partition]
	i, _ := slices.BinarySearchFunc(ms, offset+1, func(m mark, target int64) int {
		switch {
		case m.wm < target:
			return -1
		case m.wm > target:
			return 1
		}
		return 0
	})
	if i == len(ms) {
		return 0, false
	}
	return ms[i].at, true
}

// measure fills the freshness figures of res from the records and the
// watermarks seen.
func (v *visibility) measure(recs []sent, res *Freshness) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	res.Polls = v.polls
	if v.polls > 1 {
		res.PollMeanSeconds = (v.last - v.first).Seconds() / float64(v.polls-1)
		res.PollMaxSeconds = v.maxGap.Seconds()
	}
	fresh := make([]float64, len(recs))
	var sum float64
	var lastVisible time.Duration
	for i, r := range recs {
		at, ok := v.visibleAt(r.partition, r.offset)
		if !ok || r.offset < 0 {
			return fmt.Errorf("record %d (partition %d, offset %d) was never seen visible", i, r.partition, r.offset)
		}
		if at < r.handoff {
			return fmt.Errorf("record %d (partition %d, offset %d) visible %s before it was produced", i, r.partition, r.offset, r.handoff-at)
		}
		fresh[i] = (at - r.handoff).Seconds()
		lastVisible = max(lastVisible, at)
		sum += fresh[i]
	}
	res.DrainSeconds = (lastVisible - recs[len(recs)-1].handoff).Seconds()
	slices.Sort(fresh)
	res.P50, res.P90, res.P99 = quantile(fresh, 0.5), quantile(fresh, 0.9), quantile(fresh, 0.99)
	res.Max, res.Mean = fresh[len(fresh)-1], sum/float64(len(fresh))
	if res.FlushMaxLatencySeconds > 0 {
		res.P99OverFlush = res.P99 / res.FlushMaxLatencySeconds
	}
	res.Pass = res.P99OverFlush <= FreshnessTargetRatio
	return nil
}
