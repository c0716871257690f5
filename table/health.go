package table

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ManifestCount reads the current snapshot's manifest list and returns how
// many manifests it names (0 for a table without snapshots).
func ManifestCount(ctx context.Context, tbl *icebergtable.Table) (int, error) {
	s := tbl.CurrentSnapshot()
	if s == nil {
		return 0, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return 0, err
	}
	ms, err := s.Manifests(fs)
	if err != nil {
		return 0, err
	}
	return len(ms), nil
}

// HealthMetrics exports Health per table as gauges, so that a table
// outgrowing its maintenance shows long before commits slow down:
// bigfather_table_snapshots, bigfather_table_data_files,
// bigfather_table_manifests and bigfather_table_metadata_bytes, labelled
// table.
//
// Observe is called after every commit and costs no I/O on that path:
// snapshots and data files come from the committed metadata. The metadata
// size (an encoding of the whole metadata) and the manifest count (a read
// of the manifest list, one object-store GET) are refreshed at most every
// interval per table, the read on its own goroutine.
type HealthMetrics struct {
	snapshots, dataFiles, manifests, metadataBytes *prometheus.GaugeVec

	log      *slog.Logger
	interval time.Duration

	mu       sync.Mutex
	last     map[string]time.Time // last slow refresh per table
	inflight map[string]bool      // a manifest read is running
	wg       sync.WaitGroup
}

// DefaultHealthInterval is how often HealthMetrics refreshes a table's
// metadata size and manifest count at most.
const DefaultHealthInterval = 30 * time.Second

// NewHealthMetrics registers the table health gauges with reg. interval
// <= 0 takes DefaultHealthInterval; log nil discards.
func NewHealthMetrics(reg prometheus.Registerer, interval time.Duration, log *slog.Logger) *HealthMetrics {
	if interval <= 0 {
		interval = DefaultHealthInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	return &HealthMetrics{
		snapshots: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_table_snapshots", Help: "Snapshots in the table's metadata; each commit adds one until snapshots are expired.",
		}, []string{"table"}),
		dataFiles: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_table_data_files", Help: "Live data files of the table's current snapshot; compaction brings it down.",
		}, []string{"table"}),
		manifests: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_table_manifests", Help: "Manifests of the table's current snapshot (refreshed at most every 30s).",
		}, []string{"table"}),
		metadataBytes: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_table_metadata_bytes", Help: "Size of the table's metadata JSON, which every commit reads and rewrites whole (refreshed at most every 30s).",
		}, []string{"table"}),
		log:      log,
		interval: interval,
		last:     map[string]time.Time{},
		inflight: map[string]bool{},
	}
}

// Observe updates the gauges of the table named name from tbl. A nil
// receiver or table does nothing.
func (h *HealthMetrics) Observe(name string, tbl *icebergtable.Table) {
	if h == nil || tbl == nil {
		return
	}
	meta := tbl.Metadata()
	h.snapshots.WithLabelValues(name).Set(float64(len(meta.Snapshots())))
	var files int64
	if s := meta.CurrentSnapshot(); s != nil && s.Summary != nil {
		files, _ = strconv.ParseInt(s.Summary.Properties["total-data-files"], 10, 64)
	}
	h.dataFiles.WithLabelValues(name).Set(float64(files))

	h.mu.Lock()
	now := time.Now()
	due := now.Sub(h.last[name]) >= h.interval
	if due {
		h.last[name] = now
	}
	read := due && !h.inflight[name]
	if read {
		h.inflight[name] = true
		h.wg.Add(1)
	}
	h.mu.Unlock()
	if !due {
		return
	}
	if raw, err := json.Marshal(meta); err == nil {
		h.metadataBytes.WithLabelValues(name).Set(float64(len(raw)))
	}
	if !read {
		return
	}
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), h.interval)
		defer cancel()
		n, err := ManifestCount(ctx, tbl)
		h.mu.Lock()
		h.inflight[name] = false
		h.mu.Unlock()
		if err != nil {
			// A gauge that lags is no reason to bother the operator
			// beyond a debug line: a commit after the interval tries again.
			h.log.Debug("count manifests", "table", name, "err", err)
			return
		}
		h.manifests.WithLabelValues(name).Set(float64(n))
	}()
}

// Wait waits for the manifest reads in flight.
func (h *HealthMetrics) Wait() {
	if h != nil {
		h.wg.Wait()
	}
}
