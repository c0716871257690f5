package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/memlimit"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// E2E is what the end-to-end phase measured beyond its Stage: the real
// ingest.Pipeline draining the loaded topic into a fresh table until the
// table's watermarks cover every produced offset.
type E2E struct {
	Pipeline string `json:"pipeline"`
	Table    string `json:"table"`
	// Committed is the pipeline's committed-records counter at the end;
	// WatermarkSum the sum of the table's watermarks, which must equal
	// ProducedOffsets, the sum of the topic's end offsets.
	Committed       int64 `json:"committed"`
	WatermarkSum    int64 `json:"watermark_sum"`
	ProducedOffsets int64 `json:"produced_offsets"`
	// JoinSeconds is how long the pipeline took to join its group and own
	// its assignment; FirstCommitSeconds when its first commit landed. Both
	// are part of the stage's wall time.
	JoinSeconds        float64 `json:"join_seconds"`
	FirstCommitSeconds float64 `json:"first_commit_seconds"`
	// ConsumedAllSeconds is when the pipeline had consumed every record
	// (sampled, so up to 50 ms late); the rest of the wall time is the
	// last batch waiting for its flush and commit.
	ConsumedAllSeconds float64 `json:"consumed_all_seconds"`

	// From the data table's snapshots of this pipeline (summary
	// added-data-files, added-files-size, timestamp-ms).
	Commits           int     `json:"commits"`
	DataFiles         int     `json:"data_files"`
	FilesPerCommit    float64 `json:"files_per_commit"`
	BytesPerCommit    float64 `json:"bytes_per_commit"`
	RecordsPerCommit  float64 `json:"records_per_commit"`
	CommitIntervalP50 float64 `json:"commit_interval_p50_seconds"`
	// From the pipeline's bigfather_commit_duration_seconds histogram for
	// the data table: quantiles interpolated within buckets (exponential,
	// 5 ms × 2^k), the mean exact.
	CommitLatencyP50  float64 `json:"commit_latency_p50_seconds"`
	CommitLatencyP99  float64 `json:"commit_latency_p99_seconds"`
	CommitLatencyMean float64 `json:"commit_latency_mean_seconds"`

	// DataFileBytes is the Parquet bytes committed to the data table;
	// WarehouseBytes every object under the data and quarantine tables'
	// locations (data files, manifests, manifest lists, metadata JSON).
	// The SQLite catalog's own writes are not counted.
	DataFileBytes           int64   `json:"data_file_bytes"`
	WarehouseBytes          int64   `json:"warehouse_bytes"`
	WriteAmplification      float64 `json:"write_amplification"`
	WriteAmplificationTotal float64 `json:"write_amplification_total"`

	PeakBacklog int64    `json:"peak_backlog"`
	Samples     []Sample `json:"samples"`
}

// Sample is one reading of pipeline.Stats() during the end-to-end phase.
// Samples are taken every Config.SampleInterval but no closer than one
// poll apart: Stats waits while the pipeline processes a poll.
type Sample struct {
	T         float64 `json:"t"` // seconds since the pipeline started
	Committed int64   `json:"committed"`
	Consumed  int64   `json:"consumed"`
	// Lag is the pipeline's own figure (high watermark − committed
	// watermark over the partitions it has a watermark for); Backlog is
	// produced − committed, which also counts partitions not committed yet.
	Lag     int64 `json:"lag"`
	Backlog int64 `json:"backlog"`
}

// e2eEnv is what the end-to-end phase runs against.
type e2eEnv struct {
	brokers     []string
	registryURL string
	wh          *warehouse
	ld          *loaded
	runID       string
}

// runE2E runs the pipeline until everything loaded is committed and
// returns the stage and its details.
func runE2E(ctx context.Context, cfg *Config, env e2eEnv, prog *progress) (Stage, *E2E, error) {
	st := Stage{Name: StageE2E, What: "ingest.Pipeline until the table's watermarks cover every produced offset"}
	ld := env.ld
	reg, err := registry.NewRegistry(registry.RegistryOptions{URL: env.registryURL, Logger: cfg.Logger})
	if err != nil {
		return st, nil, err
	}
	name := strings.ReplaceAll(cfg.Workload+"_"+env.runID, "-", "_")
	dataID := icebergtable.Identifier{"bench_e2e", name}
	rejID := icebergtable.Identifier{"bench_e2e", name + "__rejects"}
	res := &E2E{Pipeline: "bench-" + env.runID, Table: strings.Join(dataID, "."), ProducedOffsets: ld.totalOffsets()}
	prom := prometheus.NewRegistry()
	p, err := newBenchPipeline(cfg, env.brokers, env.wh, reg, prom, res.Pipeline, ld.topic, dataID, rejID,
		cfg.FlushMaxLatency, cfg.FlushMaxRecords)
	if err != nil {
		return st, nil, err
	}

	pctx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	var runErr error
	stopped := make(chan struct{}) // closed when Run has returned runErr
	_, restoreLimit := memlimit.Apply(cfg.MemoryLimit)
	defer restoreLimit()
	_, restoreGC := memlimit.ApplyGC(cfg.GCPercent)
	defer restoreGC()
	pr, err := startProbe(cfg.profilePath(StageE2E))
	if err != nil {
		return st, nil, err
	}
	defer pr.endProfile()
	go func() {
		defer close(stopped)
		runErr = p.Run(pctx)
	}()

	end, err := waitCommitted(ctx, cfg, p, env, dataID, res, pr.start, prog, stopped)
	if err != nil {
		stopPipeline()
		<-stopped
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			err = fmt.Errorf("%w (pipeline: %w)", err, runErr)
		}
		return st, nil, err
	}
	pr.stop(&st, end, res.Committed, ld.kafkaBytes)
	prog.done()

	stopPipeline()
	select {
	case <-stopped:
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			return st, nil, fmt.Errorf("pipeline stop: %w", runErr)
		}
	case <-time.After(time.Minute):
		return st, nil, errors.New("pipeline did not stop within a minute")
	}
	if err := describeCommits(ctx, env, dataID, rejID, prom, res); err != nil {
		return st, nil, err
	}
	st.OutBytes, st.Files = res.DataFileBytes, res.DataFiles
	if ld.kafkaBytes > 0 {
		res.WriteAmplification = float64(res.DataFileBytes) / float64(ld.kafkaBytes)
		res.WriteAmplificationTotal = float64(res.WarehouseBytes) / float64(ld.kafkaBytes)
	}
	return st, res, nil
}

// waitCommitted samples the pipeline until its table's watermarks sum to
// the produced offsets and returns the time of the commit that got there.
func waitCommitted(ctx context.Context, cfg *Config, p *ingest.Pipeline, env e2eEnv, dataID icebergtable.Identifier,
	res *E2E, start time.Time, prog *progress, stopped <-chan struct{}) (time.Time, error) {
	const poll = 50 * time.Millisecond
	ld := env.ld
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var (
		nextSample   time.Time
		lastProgress = start
		lastSeen     ingest.Stats
	)
	sample := func(now time.Time, s ingest.Stats) {
		sm := Sample{T: now.Sub(start).Seconds(), Committed: s.Committed, Consumed: s.Consumed, Lag: s.Lag, Backlog: ld.records - s.Committed}
		res.Samples = append(res.Samples, sm)
		res.PeakBacklog = max(res.PeakBacklog, sm.Backlog)
	}
	// The state at the start is known; the first reading may come much
	// later, since Stats waits while the pipeline processes a poll.
	sample(start, ingest.Stats{})
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-stopped:
			return time.Time{}, errors.New("pipeline stopped before committing everything")
		case <-tick.C:
			// Stats waits for the pipeline's lock, which a poll being
			// processed holds (up to 50,000 records): read the clock after.
			s := p.Stats()
			now := time.Now()
			if res.JoinSeconds == 0 && p.Ready() {
				res.JoinSeconds = now.Sub(start).Seconds()
			}
			if res.FirstCommitSeconds == 0 && !s.LastCommit.IsZero() {
				res.FirstCommitSeconds = s.LastCommit.Sub(start).Seconds()
			}
			if res.ConsumedAllSeconds == 0 && s.Consumed >= ld.records {
				res.ConsumedAllSeconds = now.Sub(start).Seconds()
			}
			if !now.Before(nextSample) {
				sample(now, s)
				nextSample = now.Add(cfg.SampleInterval)
			}
			prog.update("E2E", s.Committed, ld.records, fmt.Sprintf("lag %d", ld.records-s.Committed))
			if s.Halted > 0 {
				return time.Time{}, fmt.Errorf("%d partition(s) halted during the run", s.Halted)
			}
			if s.Committed != lastSeen.Committed || s.Consumed != lastSeen.Consumed {
				lastSeen, lastProgress = s, now
			} else if now.Sub(lastProgress) > cfg.StallTimeout {
				return time.Time{}, fmt.Errorf("no progress for %s (committed %d of %d)", cfg.StallTimeout, s.Committed, ld.records)
			}
			if s.Committed < ld.records {
				continue
			}
			sum, err := watermarkSum(ctx, env.wh, dataID, res.Pipeline, ld.topic)
			if err != nil {
				return time.Time{}, err
			}
			if sum < res.ProducedOffsets {
				continue
			}
			if sum > res.ProducedOffsets {
				return time.Time{}, fmt.Errorf("watermarks sum to %d, above the %d offsets produced", sum, res.ProducedOffsets)
			}
			res.Committed, res.WatermarkSum = s.Committed, sum
			end := s.LastCommit
			sample(end, s)
			// The last commit may precede the reading that saw it.
			slices.SortStableFunc(res.Samples, func(a, b Sample) int { return cmp.Compare(a.T, b.T) })
			prog.update("E2E", s.Committed, ld.records, "lag 0")
			return end, nil
		}
	}
}

func watermarkSum(ctx context.Context, wh *warehouse, id icebergtable.Identifier, pipeline, topic string) (int64, error) {
	tbl, err := wh.cat.LoadTable(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("load %s: %w", strings.Join(id, "."), err)
	}
	wm, err := table.Watermarks(tbl.Metadata(), pipeline)
	if err != nil {
		return 0, err
	}
	var sum int64
	for tp, w := range wm {
		if tp.Topic == topic {
			sum += w
		}
	}
	return sum, nil
}

// describeCommits fills the commit figures from the data table's
// snapshots, the pipeline's metrics and the warehouse listing.
func describeCommits(ctx context.Context, env e2eEnv, dataID, rejID icebergtable.Identifier, prom *prometheus.Registry, res *E2E) error {
	tbl, err := env.wh.cat.LoadTable(ctx, dataID)
	if err != nil {
		return fmt.Errorf("load %s: %w", res.Table, err)
	}
	var stamps []int64
	var records int64
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary == nil || s.Summary.Properties[table.SummaryPipeline] != res.Pipeline {
			continue
		}
		props := s.Summary.Properties
		res.Commits++
		res.DataFiles += atoi(props["added-data-files"])
		res.DataFileBytes += int64(atoi(props["added-files-size"]))
		records += int64(atoi(props["added-records"]))
		stamps = append(stamps, s.TimestampMs)
	}
	if res.Commits > 0 {
		res.FilesPerCommit = float64(res.DataFiles) / float64(res.Commits)
		res.BytesPerCommit = float64(res.DataFileBytes) / float64(res.Commits)
		res.RecordsPerCommit = float64(records) / float64(res.Commits)
	}
	slices.Sort(stamps)
	var gaps []float64
	for i := 1; i < len(stamps); i++ {
		gaps = append(gaps, float64(stamps[i]-stamps[i-1])/1000)
	}
	res.CommitIntervalP50 = quantile(gaps, 0.5)

	if h, ok := findHistogram(prom, "bigfather_commit_duration_seconds", "table", res.Table); ok {
		res.CommitLatencyP50 = h.quantile(0.5)
		res.CommitLatencyP99 = h.quantile(0.99)
		if h.count > 0 {
			res.CommitLatencyMean = h.sum / h.count
		}
	}

	for _, id := range []icebergtable.Identifier{dataID, rejID} {
		t, err := env.wh.cat.LoadTable(ctx, id)
		if err != nil {
			return fmt.Errorf("load %s: %w", strings.Join(id, "."), err)
		}
		n, err := bytesUnder(ctx, env.wh.bucket, t.Location())
		if err != nil {
			return err
		}
		res.WarehouseBytes += n
	}
	return nil
}

// bytesUnder sums the sizes of the objects under location, a URL inside
// the bucket.
func bytesUnder(ctx context.Context, b objstore.Bucket, location string) (int64, error) {
	root := strings.TrimSuffix(b.URL(""), "/")
	loc := strings.TrimSuffix(location, "/")
	if loc != root && !strings.HasPrefix(loc, root+"/") {
		return 0, fmt.Errorf("table location %s is outside the warehouse %s", loc, root)
	}
	prefix := strings.TrimPrefix(strings.TrimPrefix(loc, root), "/")
	if prefix != "" {
		prefix += "/"
	}
	var n int64
	err := b.List(ctx, prefix, func(o objstore.Object) error {
		n += o.Size
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", location, err)
	}
	return n, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// quantile is the q-quantile of xs by linear interpolation between closest
// ranks; 0 for no values.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// histogram is a gathered Prometheus histogram: cumulative counts per
// finite upper bound.
type histogram struct {
	bounds, cumulative []float64
	count, sum         float64
}

func findHistogram(reg *prometheus.Registry, name, label, value string) (histogram, bool) {
	fams, err := reg.Gather()
	if err != nil {
		return histogram{}, false
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != label || l.GetValue() != value {
					continue
				}
				ph := m.GetHistogram()
				h := histogram{count: float64(ph.GetSampleCount()), sum: ph.GetSampleSum()}
				for _, b := range ph.GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						h.bounds = append(h.bounds, b.GetUpperBound())
						h.cumulative = append(h.cumulative, float64(b.GetCumulativeCount()))
					}
				}
				return h, true
			}
		}
	}
	return histogram{}, false
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket holding the rank, the lowest bucket
// starting at 0; a rank above every finite bucket answers the highest
// finite bound.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	rank := q * h.count
	prevBound, prevCount := 0.0, 0.0
	for i, upper := range h.bounds {
		cum := h.cumulative[i]
		if cum >= rank {
			if cum == prevCount {
				return upper
			}
			return prevBound + (upper-prevBound)*(rank-prevCount)/(cum-prevCount)
		}
		prevBound, prevCount = upper, cum
	}
	return prevBound
}
