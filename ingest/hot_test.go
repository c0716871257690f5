package ingest

import (
	"maps"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/table"
)

// TestCoverInterleavedPartitions checks that the hot range of the last
// partition covered ends up in the batch's ranges however records of
// different partitions interleave, and that a partition's watermark
// carries to the start of its range.
func TestCoverInterleavedPartitions(t *testing.T) {
	ts := newTableState(icebergtable.Identifier{"db", "t"})
	ts.arr = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rt := &topicRoute{topic: "orders", ledger: ledger{all: []*tableState{ts}, anchor: ts}}
	p0 := table.TP{Topic: "orders", Partition: 0}
	p1 := table.TP{Topic: "orders", Partition: 1}
	p2 := table.TP{Topic: "orders", Partition: 2}
	ts.wm[p2] = 40
	now := time.Now()
	for _, c := range []struct {
		tp  table.TP
		off int64
	}{{p0, 10}, {p0, 11}, {p1, 5}, {p0, 12}, {p1, 6}, {p1, 7}, {p2, 41}, {p0, 13}} {
		rt.cover(ts, c.tp, c.off, now)
	}
	want := table.Ranges{p0: {10, 14}, p1: {5, 8}, p2: {40, 42}}
	if got := ts.b.consumed(); !maps.Equal(got, want) {
		t.Fatalf("ranges %v, want %v", got, want)
	}
	// The hot partition's range is complete without another cover.
	rt.cover(ts, p0, 14, now)
	if got := ts.b.consumed()[p0]; got != [2]int64{10, 15} {
		t.Fatalf("hot range %v, want [10 15]", got)
	}
	ts.b.builder.Release()
}

// TestAcceptsSeesWatermarkChanges checks the cached watermark lookup
// against every way the watermarks change: a commit, a route view
// adopted after a rebalance, a partition forgotten.
func TestAcceptsSeesWatermarkChanges(t *testing.T) {
	ts := newTableState(icebergtable.Identifier{"db", "t"})
	tp := table.TP{Topic: "orders", Partition: 3}
	if !ts.accepts(tp, 0) {
		t.Fatal("no watermark: offset 0 must be accepted")
	}
	views := map[*tableState]routeView{ts: {wm: table.Offsets{tp: 100}, origins: table.Offsets{tp: 0}}}
	adopt(views, tp)
	if ts.accepts(tp, 99) || !ts.accepts(tp, 100) {
		t.Fatal("after adopting watermark 100: want 99 refused and 100 accepted")
	}
	views[ts] = routeView{wm: table.Offsets{}, origins: table.Offsets{}}
	adopt(views, tp)
	if !ts.accepts(tp, 5) {
		t.Fatal("after the watermark was dropped: offset 5 must be accepted")
	}
	ts.wm[tp] = 200
	ts.wmChanged()
	if ts.accepts(tp, 150) {
		t.Fatal("after the watermark moved to 200: offset 150 must be refused")
	}
}
