package ingest

import (
	"slices"
	"testing"
	"time"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/table"
)

// ledgerRoute is a route of two data tables, d1 and d2, and their
// quarantine table q, the anchor; d2 exists only when created is true.
func ledgerRoute(t *testing.T, created bool) (*topicRoute, map[string]*tableState) {
	t.Helper()
	sch := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	meta, err := icebergtable.NewMetadata(sch, iceberg.UnpartitionedSpec, icebergtable.UnsortedSortOrder, "file:///nowhere", nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := newRejectsState(icebergtable.Identifier{"db", "q"})
	if err != nil {
		t.Fatal(err)
	}
	q.tbl = icebergtable.New(q.id, meta, "", nil, nil)
	tables := map[string]*tableState{"q": q}
	for _, name := range []string{"d1", "d2"} {
		ts := newTableState(icebergtable.Identifier{"db", name})
		ts.arr = q.arr // any layout: the ledger appends no rows
		if name == "d1" || created {
			ts.tbl = icebergtable.New(ts.id, meta, "", nil, nil)
		}
		ts.rejects = q
		tables[name] = ts
	}
	all := []*tableState{tables["d1"], tables["d2"], q}
	slices.SortFunc(all, commitOrder)
	rt := &topicRoute{topic: "orders", tables: all[:2], quarantine: q, ledger: ledger{all: all, anchor: all[2]}}
	t.Cleanup(func() {
		for _, ts := range all {
			if ts.b != nil {
				ts.b.builder.Release()
			}
		}
	})
	return rt, tables
}

// ledgerOp is what a record's verdict tells the ledger: kept in (or
// quarantined to) a table, or passed over ("").
type ledgerOp struct {
	holder string // "" passes over
	off    int64
}

// booked is what a table's open batch records for the partition.
type booked struct {
	rg      [2]int64
	expect  int64 // -1: none
	skipped []int64
}

// TestLedger checks DESIGN.md §3 rules 1–3 as the route extends them on
// the ledger alone: which tables cover an offset held by one of them or
// passed over, where each table's range starts, and which table lists a
// passed-over offset, from every mix of watermarks.
func TestLedger(t *testing.T) {
	tp := table.TP{Topic: "orders", Partition: 0}
	for _, c := range []struct {
		name    string
		created bool             // d2 exists
		wm      map[string]int64 // watermarks of tp
		ops     []ledgerOp
		want    map[string]booked // tables without a batch are absent
	}{{
		name:    "held records cover every table, from its watermark",
		created: true,
		wm:      map[string]int64{"d1": 10, "d2": 10, "q": 10},
		ops:     []ledgerOp{{"d1", 10}, {"d2", 11}, {"q", 12}},
		want: map[string]booked{
			"d1": {rg: [2]int64{10, 13}, expect: 10},
			"d2": {rg: [2]int64{10, 13}, expect: 10},
			"q":  {rg: [2]int64{10, 13}, expect: 10},
		},
	}, {
		name:    "a passed-over offset is listed by the anchor alone",
		created: true,
		wm:      map[string]int64{"d1": 5, "d2": 5, "q": 5},
		ops:     []ledgerOp{{"d1", 5}, {"", 6}, {"", 7}, {"d2", 8}},
		want: map[string]booked{
			"d1": {rg: [2]int64{5, 9}, expect: 5},
			"d2": {rg: [2]int64{5, 9}, expect: 5},
			"q":  {rg: [2]int64{5, 9}, expect: 5, skipped: []int64{6, 7}},
		},
	}, {
		name:    "a table ahead after a crash covers nothing below its watermark",
		created: true,
		wm:      map[string]int64{"d1": 20, "d2": 10, "q": 10},
		ops:     []ledgerOp{{"d1", 15}, {"", 16}, {"d1", 20}},
		want: map[string]booked{
			"d1": {rg: [2]int64{20, 21}, expect: 20},
			"d2": {rg: [2]int64{10, 21}, expect: 10},
			"q":  {rg: [2]int64{10, 21}, expect: 10, skipped: []int64{16}},
		},
	}, {
		name:    "an anchor that holds a passed-over offset does not list it again",
		created: true,
		wm:      map[string]int64{"d1": 10, "d2": 10, "q": 30},
		ops:     []ledgerOp{{"", 12}, {"", 30}},
		want: map[string]booked{
			"d1": {rg: [2]int64{10, 31}, expect: 10},
			"d2": {rg: [2]int64{10, 31}, expect: 10},
			"q":  {rg: [2]int64{30, 31}, expect: 30, skipped: []int64{30}},
		},
	}, {
		name: "a table not created yet covers nothing",
		wm:   map[string]int64{"d1": 40, "q": 40},
		ops:  []ledgerOp{{"d1", 40}, {"", 41}},
		want: map[string]booked{
			"d1": {rg: [2]int64{40, 42}, expect: 40},
			"q":  {rg: [2]int64{40, 42}, expect: 40, skipped: []int64{41}},
		},
	}, {
		name: "a table created in the middle of a batch starts where the route's batch does",
		wm:   map[string]int64{},
		ops:  []ledgerOp{{"d1", 40}, {"", 41}, {"d2", 42}},
		want: map[string]booked{
			"d1": {rg: [2]int64{40, 43}, expect: -1},
			"d2": {rg: [2]int64{40, 43}, expect: -1},
			"q":  {rg: [2]int64{40, 43}, expect: -1, skipped: []int64{41}},
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			rt, tables := ledgerRoute(t, c.created)
			for name, w := range c.wm {
				tables[name].wm[tp] = w
				tables[name].wmChanged()
			}
			now := time.Now()
			for _, op := range c.ops {
				if !rt.pending(tp, op.off) {
					t.Fatalf("offset %d: not pending, with watermarks %v", op.off, c.wm)
				}
				if op.holder == "" {
					rt.passOver(tp, op.off, now)
					continue
				}
				// As record tells the ledger of a record kept in, or
				// quarantined to, holder.
				h := tables[op.holder]
				if h.tbl == nil {
					h.tbl = tables["d1"].tbl // created by its first record
				}
				if h.accepts(tp, op.off) {
					rt.hold(h, tp, op.off, now)
				} else {
					rt.coverOthers(h, tp, op.off, now)
				}
			}
			for name, ts := range tables {
				want, ok := c.want[name]
				if !ok {
					if ts.b != nil {
						t.Errorf("%s: a batch %v, want none", name, ts.b.consumed())
					}
					continue
				}
				if ts.b == nil {
					t.Errorf("%s: no batch, want range %v", name, want.rg)
					continue
				}
				if got := ts.b.consumed()[tp]; got != want.rg {
					t.Errorf("%s: range %v, want %v", name, got, want.rg)
				}
				exp, has := ts.b.expect[tp]
				if (want.expect >= 0) != has || (has && exp != want.expect) {
					t.Errorf("%s: expects watermark %v (%v), want %v", name, exp, has, want.expect)
				}
				if got := ts.b.skipped[tp]; !slices.Equal(got, want.skipped) {
					t.Errorf("%s: skipped %v, want %v", name, got, want.skipped)
				}
				if ts.b.nSkipped != len(want.skipped) {
					t.Errorf("%s: nSkipped %d, want %d", name, ts.b.nSkipped, len(want.skipped))
				}
			}
		})
	}
}

// TestLedgerPending checks rule 1: an offset is judged while some table
// of the route does not hold it, and only then.
func TestLedgerPending(t *testing.T) {
	tp := table.TP{Topic: "orders", Partition: 1}
	rt, tables := ledgerRoute(t, true)
	for name, w := range map[string]int64{"d1": 10, "d2": 7, "q": 5} {
		tables[name].wm[tp] = w
		tables[name].wmChanged()
	}
	for off, want := range map[int64]bool{4: false, 5: true, 9: true, 10: true} {
		if got := rt.pending(tp, off); got != want {
			t.Errorf("pending(%d) = %v, want %v", off, got, want)
		}
	}
	tables["q"].wm[tp] = 10
	tables["d2"].wm[tp] = 10
	tables["q"].wmChanged()
	tables["d2"].wmChanged()
	if rt.pending(tp, 9) {
		t.Error("offset 9 is pending with every watermark at 10")
	}
	if other := (table.TP{Topic: "orders", Partition: 2}); !rt.pending(other, 0) {
		t.Error("a partition no table has a watermark for: offset 0 must be pending")
	}
}

// TestLedgerResumeAt checks rule 3: where a partition resumes from the
// tables' watermarks and origins.
func TestLedgerResumeAt(t *testing.T) {
	tp := table.TP{Topic: "orders", Partition: 0}
	for _, c := range []struct {
		name        string
		wm, origins map[string]int64
		freshAnchor bool
		want        int64
		ok          bool
	}{
		{name: "no watermark: the configured start", ok: false},
		{name: "anchored: the lowest watermark", wm: map[string]int64{"d1": 30, "d2": 20, "q": 25},
			origins: map[string]int64{"d1": 0, "d2": 0, "q": 0}, want: 20, ok: true},
		{name: "no anchor watermark: each table from its origin", wm: map[string]int64{"d1": 30, "d2": 20},
			origins: map[string]int64{"d1": 12, "d2": 15}, want: 12, ok: true},
		{name: "an origin above the watermark does not raise it", wm: map[string]int64{"d1": 30},
			origins: map[string]int64{"d1": 40}, want: 30, ok: true},
		{name: "a fresh anchor owes nothing: the watermarks stand", wm: map[string]int64{"d1": 30, "d2": 20},
			origins: map[string]int64{"d1": 12, "d2": 15}, freshAnchor: true, want: 20, ok: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt, tables := ledgerRoute(t, true)
			for name, w := range c.wm {
				tables[name].wm[tp] = w
			}
			for name, o := range c.origins {
				tables[name].origins[tp] = o
			}
			tables["q"].fresh = c.freshAnchor
			got, ok := rt.resumeAt(tp)
			if ok != c.ok || (ok && got != c.want) {
				t.Fatalf("resumeAt = %d, %v; want %d, %v", got, ok, c.want, c.ok)
			}
		})
	}
}
