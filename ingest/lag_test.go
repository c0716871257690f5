package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/internal/eventually"
)

// gaugeValues returns the gauge family name in reg by the value of label.
func gaugeValues(t *testing.T, reg *prometheus.Registry, name, label string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					key = l.GetValue()
				}
			}
			out[key] += m.GetGauge().GetValue()
		}
	}
	return out
}

// waitLag polls until the data lag of every partition is want and the
// Stats total agrees.
func waitLag(t *testing.T, r *running, reg *prometheus.Registry, partitions int, want float64) {
	t.Helper()
	eventually.Within(t, 20*time.Second, func() error {
		lag := gaugeValues(t, reg, "bigfather_ingest_lag_records", "partition")
		stats := r.p.Stats().Lag
		ok := len(lag) == partitions && stats == int64(want)*int64(partitions)
		for _, v := range lag {
			ok = ok && v == want
		}
		if !ok {
			return fmt.Errorf("lag by partition %v (stats %d), want %v each", lag, stats, want)
		}
		return nil
	})
}

// The lag is the data's: a quarantine table that commits only every
// idle_commit_interval does not make it climb; its own lag is reported
// apart, by table.
func TestLagIsTheDataTables(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	e.produce(500, 1)
	reg := prometheus.NewRegistry()
	opts := withQuarantine(e.options())
	opts.Registerer = reg
	opts.IdleCommitInterval = time.Hour
	r := e.start(opts)
	e.waitWatermarks(500)
	waitLag(t, r, reg, 2, 0)
	e.produce(700, 2) // the quarantine table carries these over
	e.waitWatermarks(1200)
	waitLag(t, r, reg, 2, 0)
	byTable := gaugeValues(t, reg, "bigfather_ingest_table_lag_records", "table")
	if byTable["music.tracks"] != 0 || byTable["music.tracks__rejects"] != 700 {
		t.Fatalf("lag by table %v, want music.tracks 0 and music.tracks__rejects 700", byTable)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// A log that ends in a transaction's commit marker, or in an aborted
// transaction, has nothing more to ingest: the lag is 0, not the markers.
func TestLagZeroAfterTransactionMarkers(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	wire := produceOneWire(t, e)
	txn := func(id string, commit bool, n int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.TransactionalID(id), kgo.DefaultProduceTopic(testTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: wire}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn("t1", true, 20) // offsets 1-20, marker 21
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	r := e.start(opts)
	e.waitWatermarks(21)
	waitLag(t, r, reg, 1, 0)
	txn("t2", false, 10) // offsets 22-31 aborted, marker 32
	waitLag(t, r, reg, 1, 0)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
