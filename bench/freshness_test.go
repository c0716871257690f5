package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/table"
)

// TestRunFreshness runs the whole harness with a short freshness phase and
// checks that the phase measured every record it produced, with sane
// figures: ordered quantiles, a positive p99, and a p99 within a generous
// 10 × the flush latency (the target, 2 ×, is for bench runs, not tests).
func TestRunFreshness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline for several seconds")
	}
	const (
		rate  = 2000
		dur   = 2 * time.Second
		flush = 300 * time.Millisecond
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Workload:       "small",
		Records:        800,
		Partitions:     2,
		Warehouse:      t.TempDir(),
		SampleInterval: 50 * time.Millisecond,
		StallTimeout:   20 * time.Second,
		Freshness:      FreshnessConfig{Rate: rate, Duration: dur, FlushMaxLatency: flush},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 800)
	f := rep.Freshness
	if f == nil {
		t.Fatal("no freshness figures")
	}
	if want := int64(rate * dur.Seconds()); f.Scheduled != want || f.Records != want {
		t.Errorf("scheduled %d, produced and measured %d; want %d each", f.Scheduled, f.Records, want)
	}
	if !(f.RecordsPerSec > 0.5*rate) || f.RecordsPerSec > 1.05*rate {
		t.Errorf("achieved %v records/s, want about %d", f.RecordsPerSec, rate)
	}
	if !(f.P50 > 0) || f.P50 > f.P90 || f.P90 > f.P99 || f.P99 > f.Max || f.Mean > f.Max {
		t.Errorf("freshness p50 %v, p90 %v, p99 %v, max %v, mean %v: want 0 < p50 ≤ p90 ≤ p99 ≤ max", f.P50, f.P90, f.P99, f.Max, f.Mean)
	}
	if bound := 10 * flush.Seconds(); f.P99 >= bound {
		t.Errorf("freshness p99 %v s, want below %v s", f.P99, bound)
	}
	if f.P99OverFlush != f.P99/flush.Seconds() || f.Pass != (f.P99OverFlush <= FreshnessTargetRatio) {
		t.Errorf("p99 ÷ flush %v, pass %v, for p99 %v", f.P99OverFlush, f.Pass, f.P99)
	}
	// The timer cuts every batch: about one commit per flush latency while
	// producing, besides the warm-up's.
	if max := int(dur/flush) + 4; f.Commits < 2 || f.Commits > max {
		t.Errorf("%d commits, want 2 to %d", f.Commits, max)
	}
	if f.FlushMaxRecords <= f.Records || f.Polls < 2 || f.PollMeanSeconds <= 0 || f.WarmupSeconds <= 0 {
		t.Errorf("flush.max_records %d, polls %d (mean %v s), warm-up %v s", f.FlushMaxRecords, f.Polls, f.PollMeanSeconds, f.WarmupSeconds)
	}
}

// TestVisibleAt pins how a record's visibility is read from the
// watermarks the catalog polls saw: the first poll whose watermark is past
// the offset, the watermark being the next offset to consume.
func TestVisibleAt(t *testing.T) {
	v := &visibility{topic: "t", marks: map[int32][]mark{}, wm: map[int32]int64{}}
	v.observe(10, nil) // the table does not exist yet
	v.observe(20, table.Offsets{{Topic: "t", Partition: 0}: 5, {Topic: "other", Partition: 0}: 100})
	v.observe(30, table.Offsets{{Topic: "t", Partition: 0}: 5}) // nothing new
	v.observe(40, table.Offsets{{Topic: "t", Partition: 0}: 9, {Topic: "t", Partition: 1}: 2})
	cases := []struct {
		part   int32
		offset int64
		at     time.Duration
		ok     bool
	}{
		{0, 0, 20, true},
		{0, 4, 20, true},
		{0, 5, 40, true}, // watermark 5 does not cover offset 5
		{0, 8, 40, true},
		{0, 9, 0, false},
		{1, 1, 40, true},
		{1, 2, 0, false},
		{2, 0, 0, false},
	}
	for _, tc := range cases {
		if at, ok := v.visibleAt(tc.part, tc.offset); at != tc.at || ok != tc.ok {
			t.Errorf("visibleAt(%d, %d) = %v, %v; want %v, %v", tc.part, tc.offset, at, ok, tc.at, tc.ok)
		}
	}
	if !v.covers(map[int32]int64{0: 9, 1: 2}) || v.covers(map[int32]int64{0: 10}) || v.covers(map[int32]int64{3: 1}) {
		t.Error("covers disagrees with the watermarks 9 and 2")
	}
	if v.polls != 4 || v.maxGap != 10 {
		t.Errorf("polls %d, max gap %v; want 4 and 10", v.polls, v.maxGap)
	}

	res := &Freshness{FlushMaxLatencySeconds: 1}
	recs := []sent{{0, 0, 5}, {0, 5, 15}, {1, 1, 15}}
	if err := v.measure(recs, res); err != nil {
		t.Fatal(err)
	}
	if res.Max != (25*time.Nanosecond).Seconds() || res.DrainSeconds != (25*time.Nanosecond).Seconds() {
		t.Errorf("max %v, drain %v; want 25 ns each", res.Max, res.DrainSeconds)
	}
	if err := v.measure([]sent{{0, 9, 5}}, res); err == nil {
		t.Error("a record never seen visible was measured")
	}
}

// TestFreshnessReportText pins that the text report says so when the
// target is missed and when the producer could not keep its rate.
func TestFreshnessReportText(t *testing.T) {
	f := &Freshness{TargetRecordsPerSec: 20_000, RecordsPerSec: 12_000, TickSeconds: 0.01, MaxBehindSeconds: 0.4,
		FlushMaxLatencySeconds: 1, P50: 1, P90: 2, P99: 2.5, Max: 3, P99OverFlush: 2.5, TargetRatio: FreshnessTargetRatio}
	var b strings.Builder
	writeFreshness(&b, f)
	for _, s := range []string{"p99 ÷ flush.max_latency = 2.50 > 2: FAIL", "did not keep its schedule", "12,000 of 20,000"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, b.String())
		}
	}
	f.RecordsPerSec, f.MaxBehindSeconds, f.P99, f.P99OverFlush, f.Pass = 19_990, 0.012, 1.1, 1.1, true
	b.Reset()
	writeFreshness(&b, f)
	if s := b.String(); !strings.Contains(s, "= 1.10 ≤ 2: PASS") || strings.Contains(s, "did not keep") {
		t.Errorf("a passing, on-rate phase reads:\n%s", s)
	}
}
