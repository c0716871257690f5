package table_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/table"
)

func TestHealthMetricsFollowCommits(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	// A refresh on every Observe, so every gauge follows every commit.
	h := table.NewHealthMetrics(reg, time.Nanosecond, nil)
	gauge := func(name string) float64 { return gaugeValue(t, reg, name, "ns.tbl") }
	h.Observe("ns.tbl", f.tbl)
	h.Wait()
	if s, m := gauge("bigfather_table_snapshots"), gauge("bigfather_table_manifests"); s != 0 || m != 0 {
		t.Fatalf("new table: %v snapshots, %v manifests, want 0", s, m)
	}
	tbl := f.tbl
	for i := range 3 {
		var wm *int64
		if i > 0 {
			wm = ptr(int64(i))
		}
		tbl = commitN(t, f, tbl, wm, 1)
		h.Observe("ns.tbl", tbl)
		h.Wait()
		n := float64(i + 1)
		raw, err := json.Marshal(tbl.Metadata())
		if err != nil {
			t.Fatal(err)
		}
		// One data file per commit; every fast append adds a manifest and
		// keeps the earlier ones.
		for name, want := range map[string]float64{
			"bigfather_table_snapshots":      n,
			"bigfather_table_data_files":     n,
			"bigfather_table_manifests":      n,
			"bigfather_table_metadata_bytes": float64(len(raw)),
		} {
			if got := gauge(name); got != want {
				t.Errorf("after %d commits: %s = %v, want %v", i+1, name, got, want)
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	if n != 4 {
		t.Errorf("%d series, want 4 (one table, four gauges)", n)
	}
}

// TestHealthMetricsThrottleSlowParts: the metadata size and manifest count
// are refreshed at most every interval; snapshots follow every commit.
func TestHealthMetricsThrottleSlowParts(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	h := table.NewHealthMetrics(reg, time.Hour, nil)
	tbl := commitN(t, f, f.tbl, nil, 1)
	h.Observe("ns.tbl", tbl)
	h.Wait()
	tbl = commitN(t, f, tbl, ptr(1), 2)
	h.Observe("ns.tbl", tbl)
	h.Wait()
	if got := gaugeValue(t, reg, "bigfather_table_snapshots", "ns.tbl"); got != 3 {
		t.Errorf("snapshots %v, want 3", got)
	}
	if got := gaugeValue(t, reg, "bigfather_table_manifests", "ns.tbl"); got != 1 {
		t.Errorf("manifests %v, want 1 (the first reading, not refreshed within the hour)", got)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name, tableName string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == tableName {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{table=%s}", name, tableName)
	return 0
}
