package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/table"
)

// TestIdleQuarantineAddsNoSnapshots: while nothing is rejected, the
// quarantine table's watermarks keep up with the data table's through
// commits without a file or a snapshot; the first reject then gets a
// snapshot whose ranges cover everything before it, and EO holds across
// both tables throughout. The table health gauges show it.
func TestIdleQuarantineAddsNoSnapshots(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	opts := withQuarantine(e.options())
	opts.FlushMaxLatency = 150 * time.Millisecond
	opts.IdleCommitInterval = 150 * time.Millisecond
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	r := e.start(opts)
	var produced int64
	for round := range 4 {
		e.produce(25, int64(round+1))
		produced += 25
		e.waitWatermarks(produced)
	}
	ctx := context.Background()
	// The quarantine table catches up on the idle interval.
	eventually.Within(t, 30*time.Second, func() error {
		if sum := sumOf(e.watermarksOf(testRejects)); sum != produced {
			return fmt.Errorf("quarantine watermarks sum to %d, want %d", sum, produced)
		}
		return nil
	})
	rej, err := e.cat.LoadTable(ctx, testRejects)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rej.Metadata().Snapshots()); n != 0 {
		t.Fatalf("the quarantine table has %d snapshots with nothing rejected, want 0", n)
	}
	data, err := e.cat.LoadTable(ctx, testTable)
	if err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, reg, "bigfather_table_snapshots", "music.tracks__rejects"); got != 0 {
		t.Errorf("bigfather_table_snapshots of the quarantine table %v, want 0", got)
	}
	if got, want := gauge(t, reg, "bigfather_table_snapshots", "music.tracks"), float64(len(data.Metadata().Snapshots())); got != want || want == 0 {
		t.Errorf("bigfather_table_snapshots of the data table %v, want %v", got, want)
	}
	e.verifyRoute()

	// A reject: its snapshot records every offset the idle commits passed.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte{9, 9, 9}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produced++
	eventually.Within(t, 30*time.Second, func() error {
		if n := len(e.readRejects()); n != 1 {
			return fmt.Errorf("%d rejects in the quarantine table, want 1", n)
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if rej, err = e.cat.LoadTable(ctx, testRejects); err != nil {
		t.Fatal(err)
	}
	snaps := rej.Metadata().Snapshots()
	if len(snaps) != 1 {
		t.Fatalf("%d quarantine snapshots after one reject, want 1", len(snaps))
	}
	var ranges table.Ranges
	if err := ranges.UnmarshalJSON([]byte(snaps[0].Summary.Properties[table.SummaryRanges])); err != nil {
		t.Fatal(err)
	}
	for tp, rg := range ranges {
		if rg[0] != 0 {
			t.Errorf("the reject's snapshot covers %s from %d, want from 0 (the offsets the idle commits passed)", tp, rg[0])
		}
	}
	rep := e.verifyRoute()
	if rejectsIn(rep) != 1 || rowsIn(rep) != produced-1 {
		t.Fatalf("rows %d rejects %d, want %d and 1", rowsIn(rep), rejectsIn(rep), produced-1)
	}
}

// gauge reads the gauge name{table=tableName} from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name, tableName string) float64 {
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
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == tableName {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{table=%q}", name, tableName)
	return 0
}
