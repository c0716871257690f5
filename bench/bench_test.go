package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRunTiny runs the whole harness, every stage, on tiny workloads with
// the in-process Kafka and a temporary warehouse, and checks that the
// report is sane: every rate positive, everything committed exactly to the
// produced offsets, a ratio in (0, 10), and JSON, text and SVG output that
// parse back. The freshness phase is disabled here (TestRunFreshness runs
// it), and must then be skipped.
func TestRunTiny(t *testing.T) {
	cases := []struct {
		workload string
		records  int64
	}{
		// Multiples of the default 8 commits: every batch is cut by count,
		// none waits for the flush timer.
		{"tracks", 3000},
		{"small", 1600},
		{"wide", 1600},
	}
	for _, tc := range cases {
		t.Run(tc.workload, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := Run(ctx, Config{
				Workload:       tc.workload,
				Records:        tc.records,
				Partitions:     2,
				Warehouse:      t.TempDir(),
				SampleInterval: 50 * time.Millisecond,
				StallTimeout:   20 * time.Second,
				Freshness:      FreshnessConfig{Disabled: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, rep, tc.records)
			if rep.Freshness != nil {
				t.Errorf("freshness disabled, yet measured: %+v", *rep.Freshness)
			}
			// L2 cuts files where the pipeline's count-cut batches end; a
			// timer or memory flush can only split a batch further.
			if l2, e := rep.Stage(StageL2), rep.Stage(StageE2E); l2.Files != 8 || e.Files < l2.Files {
				t.Errorf("L2 wrote %d files, E2E %d; want 8, and E2E at least as many", l2.Files, e.Files)
			}
		})
	}
}

func checkReport(t *testing.T, rep *Report, records int64) {
	t.Helper()
	if rep.Records != records || rep.KafkaBytes <= 0 {
		t.Errorf("records %d, kafka bytes %d; want %d records and some bytes", rep.Records, rep.KafkaBytes, records)
	}
	want := []string{StageL0, StageL1, StageL2, StageL3, StageE2E}
	if len(rep.Stages) != len(want) {
		t.Fatalf("%d stages, want %v", len(rep.Stages), want)
	}
	for i, s := range rep.Stages {
		if s.Name != want[i] {
			t.Errorf("stage %d is %s, want %s", i, s.Name, want[i])
		}
		if s.Records != records {
			t.Errorf("%s: %d records, want %d", s.Name, s.Records, records)
		}
		for name, v := range map[string]float64{
			"wall": s.WallSeconds, "records/s": s.RecordsPerSec, "MB/s": s.MBPerSec,
			"cpu": s.CPUSeconds, "records/core-s": s.RecordsPerCoreSec, "cpu-s/GB": s.CPUSecondsPerGB,
		} {
			if !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%s: %s = %v, want > 0", s.Name, name, v)
			}
		}
		if s.GCShare < 0 || s.GCShare > 1 {
			t.Errorf("%s: GC share %v outside [0, 1]", s.Name, s.GCShare)
		}
		if s.PeakRSSBytes <= 0 {
			t.Errorf("%s: peak RSS %d", s.Name, s.PeakRSSBytes)
		}
	}
	if l2 := rep.Stage(StageL2); l2.OutBytes <= 0 || l2.Files < 1 {
		t.Errorf("L2 wrote %d bytes in %d files", l2.OutBytes, l2.Files)
	}
	if l2, l3 := rep.Stage(StageL2), rep.Stage(StageL3); l3.OutBytes != l2.OutBytes {
		t.Errorf("L3 uploaded %d bytes, L2 encoded %d", l3.OutBytes, l2.OutBytes)
	}

	e := rep.E2E
	if e == nil {
		t.Fatal("no end-to-end details")
	}
	if e.Committed != records || e.WatermarkSum != records || e.ProducedOffsets != records {
		t.Errorf("committed %d, watermarks %d, produced offsets %d; want %d each", e.Committed, e.WatermarkSum, e.ProducedOffsets, records)
	}
	if e.Commits < 1 || e.DataFiles < 1 || e.DataFileBytes <= 0 || e.WarehouseBytes < e.DataFileBytes {
		t.Errorf("commits %d, files %d, data bytes %d, warehouse bytes %d", e.Commits, e.DataFiles, e.DataFileBytes, e.WarehouseBytes)
	}
	if e.CommitLatencyMean <= 0 || e.CommitLatencyP99 < e.CommitLatencyP50 {
		t.Errorf("commit latency p50 %v, p99 %v, mean %v", e.CommitLatencyP50, e.CommitLatencyP99, e.CommitLatencyMean)
	}
	if !(e.WriteAmplification > 0) {
		t.Errorf("write amplification %v", e.WriteAmplification)
	}
	if len(e.Samples) < 2 {
		t.Errorf("%d samples", len(e.Samples))
	}
	if !(rep.BoundRecordsPerSec > 0) || !(rep.Ratio > 0 && rep.Ratio < 10) {
		t.Errorf("bound %v records/s, ratio %v; want a positive bound and a ratio in (0, 10)", rep.BoundRecordsPerSec, rep.Ratio)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("JSON does not round-trip:\n got %+v\nwant %+v", back, *rep)
	}

	var txt strings.Builder
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	wantText := append(want, "ratio end to end", "write amplification", "commit latency")
	if rep.Freshness != nil {
		wantText = append(wantText, "freshness", "p99 ÷ flush.max_latency")
	}
	for _, s := range wantText {
		if !strings.Contains(txt.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, txt.String())
		}
	}
	if testing.Verbose() {
		t.Log("\n" + txt.String())
	}

	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, svg.Bytes())
}

// checkSVG parses the chart as XML and checks that it has its three lines.
func checkSVG(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	lines := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" && (a.Value == "" || strings.Contains(a.Value, "NaN")) {
					t.Errorf("polyline points %q", a.Value)
				}
			}
		}
	}
	if lines != 3 {
		t.Errorf("svg has %d polylines, want 3", lines)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"unknown workload", Config{Workload: "huge"}, false},
		{"negative records", Config{Records: -1}, false},
		{"negative partitions", Config{Partitions: -2}, false},
		{"negative freshness rate", Config{Freshness: FreshnessConfig{Rate: -1}}, false},
		{"freshness producing nothing", Config{Freshness: FreshnessConfig{Rate: 1, Duration: time.Millisecond}}, false},
		{"negative freshness poll", Config{Freshness: FreshnessConfig{PollInterval: -time.Second}}, false},
		{"bad freshness, disabled", Config{Freshness: FreshnessConfig{Disabled: true, Rate: -1}}, true},
		{"spawn without a command", Config{Kafka: KafkaSpawn}, false},
		{"spawn with an empty program", Config{Kafka: KafkaSpawn, SpawnKafka: []string{""}}, false},
		{"spawn", Config{Kafka: KafkaSpawn, SpawnKafka: []string{"bigfather", "dev-kafka"}}, true},
		{"negative spawn timeout", Config{Kafka: KafkaSpawn, SpawnKafka: []string{"x"}, SpawnTimeout: -time.Second}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.setDefaults()
			err := cfg.validate()
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Errorf("validate() = %v, want ok=%v (errors wrapping ErrConfig)", err, tc.ok)
			}
		})
	}
	if _, err := Run(context.Background(), Config{Workload: "huge"}); !errors.Is(err, ErrConfig) {
		t.Errorf("Run with a bad config = %v, want ErrConfig before anything starts", err)
	}
}

func TestHistogramQuantile(t *testing.T) {
	// 10 observations ≤ 0.01, 80 in (0.01, 0.02], 10 in (0.02, 0.04].
	h := histogram{bounds: []float64{0.01, 0.02, 0.04}, cumulative: []float64{10, 90, 100}, count: 100, sum: 1.7}
	cases := []struct{ q, want float64 }{
		{0.05, 0.005},   // halfway into the first bucket, which starts at 0
		{0.5, 0.015},    // rank 50: halfway through the second bucket
		{0.99, 0.038},   // rank 99: 9/10 into the third
		{1, 0.04},       // the top
		{0.1, 0.01},     // exactly the first bound
		{0.901, 0.0202}, // just past the second
	}
	for _, tc := range cases {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Everything above the finite buckets answers the highest bound.
	over := histogram{bounds: []float64{0.01}, cumulative: []float64{0}, count: 3}
	if got := over.quantile(0.5); got != 0.01 {
		t.Errorf("quantile in +Inf bucket = %v, want 0.01", got)
	}
	if got := (histogram{}).quantile(0.5); got != 0 {
		t.Errorf("empty histogram quantile = %v, want 0", got)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.5, 2.5}, {1, 4}} {
		if got := quantile(xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing should be 0")
	}
	if xs[0] != 4 {
		t.Error("quantile sorted its input in place")
	}
}

func TestComposeBound(t *testing.T) {
	r := &Report{Stages: []Stage{
		{Name: StageL0, RecordsPerSec: 400},
		{Name: StageL1, RecordsPerSec: 200},
		{Name: StageL2, RecordsPerSec: 200},
		{Name: StageL3, RecordsPerSec: 100},
		{Name: StageE2E, RecordsPerSec: 40},
	}}
	r.compose()
	// 1/(1/200 + 1/200 + 1/100) = 50; with L0 too, 1/(0.0025+0.02) = 44.4.
	if r.BoundRecordsPerSec != 50 || math.Abs(r.BoundWithL0RecordsPerSec-400.0/9) > 1e-9 || r.Ratio != 0.8 {
		t.Errorf("bound %v, bound with L0 %v, ratio %v; want 50, 44.44, 0.8", r.BoundRecordsPerSec, r.BoundWithL0RecordsPerSec, r.Ratio)
	}
	r.Stages = r.Stages[1:] // no L0: no bound with L0, the main bound stands
	r.compose()
	if r.BoundWithL0RecordsPerSec != 0 || r.BoundRecordsPerSec != 50 {
		t.Errorf("without L0: bound %v, with L0 %v", r.BoundRecordsPerSec, r.BoundWithL0RecordsPerSec)
	}
}

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct{ v, step, top float64 }{
		{0, 1, 1}, {1, 0.2, 1}, {7, 2, 8}, {12_345, 5000, 15_000}, {99_000, 20_000, 100_000},
	} {
		if step, top := niceAxis(tc.v); math.Abs(step-tc.step) > 1e-9 || math.Abs(top-tc.top) > 1e-9 {
			t.Errorf("niceAxis(%v) = %v, %v; want %v, %v", tc.v, step, top, tc.step, tc.top)
		}
	}
}

// cancelAfter is a progress writer that cancels a run a little after the
// line of the given phase is written.
type cancelAfter struct {
	phase  string
	delay  time.Duration
	cancel context.CancelFunc
	fired  bool
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if !c.fired && strings.Contains(string(p), "bench "+c.phase+" ") {
		c.fired = true
		time.AfterFunc(c.delay, c.cancel)
	}
	return len(p), nil
}

// TestRunCancelledDuringE2E pins that cancelling a run while the pipeline
// waits out a long flush latency returns promptly with the cancellation,
// instead of waiting for the pipeline forever.
func TestRunCancelledDuringE2E(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, Config{
		Workload:        "small",
		Records:         500,
		Partitions:      1,
		Warehouse:       t.TempDir(),
		FlushMaxRecords: 1_000_000, // nothing commits before the cancellation:
		FlushMaxLatency: time.Hour, // no batch fills, no timer fires
		Progress:        &cancelAfter{phase: StageL3, delay: 300 * time.Millisecond, cancel: cancel},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Run took %s to return after cancellation", d)
	}
}

// SkipLimits runs end to end only: no limit stage, no bound or ratio, and
// the report says the bound was not measured.
func TestRunSkipLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Workload: "small", Records: 800, Partitions: 2, Warehouse: t.TempDir(),
		SampleInterval: 50 * time.Millisecond, StallTimeout: 20 * time.Second,
		Freshness: FreshnessConfig{Disabled: true}, SkipLimits: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stages) != 1 || rep.Stages[0].Name != StageE2E || rep.E2E.WatermarkSum != 800 {
		t.Fatalf("stages %+v, watermarks %d: want E2E alone with all 800 records", rep.Stages, rep.E2E.WatermarkSum)
	}
	if rep.BoundRecordsPerSec != 0 || rep.Ratio != 0 {
		t.Fatalf("bound %v ratio %v without limit stages", rep.BoundRecordsPerSec, rep.Ratio)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "not measured") || strings.Contains(b.String(), "ratio end to end") {
		t.Fatalf("report text does not say the bound was not measured:\n%s", b.String())
	}
}
