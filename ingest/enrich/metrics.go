package enrich

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics exports t's Stats. They are func metrics reading the
// same atomics and index as Stats, so nothing is counted twice. The
// registry's own errors (a second source with the same name) are returned
// rather than panicking as promauto would.
func registerMetrics(reg prometheus.Registerer, t *Table) error {
	labels := prometheus.Labels{"source": t.name}
	counter := func(name, help string, constLabels prometheus.Labels, fn func(Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: constLabels},
			func() float64 { return float64(fn(t.Stats())) })
	}
	gauge := func(name, help string, fn func(Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return fn(t.Stats()) })
	}
	with := func(k, v string) prometheus.Labels { return prometheus.Labels{"source": t.name, k: v} }
	cs := []prometheus.Collector{
		counter("bigfather_enrich_lookups_total", "Lookups in the reference data, by result (hit, miss).",
			with("result", "hit"), func(s Stats) int64 { return s.Hits }),
		counter("bigfather_enrich_lookups_total", "Lookups in the reference data, by result (hit, miss).",
			with("result", "miss"), func(s Stats) int64 { return s.Misses }),
		counter("bigfather_enrich_refreshes_total", "Refreshes of the reference data, by result (ok, error); a failed one keeps the previous data.",
			with("result", "ok"), func(s Stats) int64 { return s.Refreshes }),
		counter("bigfather_enrich_refreshes_total", "Refreshes of the reference data, by result (ok, error); a failed one keeps the previous data.",
			with("result", "error"), func(s Stats) int64 { return s.RefreshErrors }),
		gauge("bigfather_enrich_rows", "Rows in the current reference data index.",
			func(s Stats) float64 { return float64(s.Rows) }),
		gauge("bigfather_enrich_index_bytes", "Approximate memory held by the current reference data index.",
			func(s Stats) float64 { return float64(s.Bytes) }),
		gauge("bigfather_enrich_duplicate_keys", "Rows of the current reference data overridden by a later row with the same key.",
			func(s Stats) float64 { return float64(s.DuplicateKeys) }),
		gauge("bigfather_enrich_null_keys", "Rows of the current reference data not indexed because a key column was null.",
			func(s Stats) float64 { return float64(s.NullKeys) }),
		gauge("bigfather_enrich_last_refresh_timestamp_seconds", "When the current reference data was loaded (Unix time).",
			func(s Stats) float64 { return float64(s.LastRefresh.UnixNano()) / 1e9 }),
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("source %q is registered already: %w", t.name, err)
			}
			return err
		}
	}
	return nil
}
