package table

import (
	"reflect"
	"strings"
	"testing"
)

// countIn counts each accounted offset once, however many of rows,
// passed-over offsets and gap ranges name it.
func TestAccountingCountIn(t *testing.T) {
	ac := accounting{
		rows:    []int64{0, 1, 1, 2, 7, 8, 12},
		skipped: []int64{3, 3, 8, 20},
		gaps:    [][2]int64{{5, 9}, {6, 10}},
	}
	for _, tc := range []struct{ a, b, want int64 }{
		{0, 3, 3},   // 0, 1, 2 (1 twice)
		{0, 4, 4},   // and 3, passed over twice
		{0, 13, 10}, // 0..3, 5..9 by the gaps (7, 8 inside), 12; not 4, 10, 11
		{4, 5, 0},
		{9, 11, 1}, // 9 of the second gap
		{13, 30, 1},
		{5, 5, 0},
	} {
		if got := ac.countIn(tc.a, tc.b); got != tc.want {
			t.Errorf("countIn(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	// Deleted [0, 13) with the lowest watermark at 11: 10 offsets held (5
	// of them, 5..9, by the gaps), and of [0, 11) 4 and 10 are unaccounted
	// for.
	if d := deleted(0, 13, 11, ac); *d != (DeletedRange{From: 0, To: 13, Held: 10, GapSkipped: 5, Unverifiable: 2}) {
		t.Errorf("deleted %+v", *d)
	}
}

func TestMissingTrackerRanges(t *testing.T) {
	var m missingTracker
	for _, o := range []int64{1, 2, 3, 7, 9, 10} {
		m.add(o)
	}
	if m.count != 6 || !reflect.DeepEqual(m.ranges, [][2]int64{{1, 4}, {7, 8}, {9, 11}}) {
		t.Fatalf("%+v", m)
	}
	if got := formatRanges(m.ranges, false); got != "1..3, 7, 9..10" {
		t.Fatalf("formatted %q", got)
	}
	var many missingTracker
	for o := int64(0); o < 100; o += 2 {
		many.add(o)
	}
	if many.count != 50 || len(many.ranges) != maxListed || len(many.list) != maxListed {
		t.Fatalf("capped tracker %+v", many)
	}
}

// A range that on_gap: skip passed over is data lost by the operator's
// choice: the retention note must not count it among the offsets the
// tables hold (it said "3003 in the tables" of a partition whose table
// held 1503 rows, the rest skipped).
func TestDeletedNoteSeparatesOnGapSkip(t *testing.T) {
	rows := make([]int64, 0, 1503)
	for o := int64(0); o < 1503; o++ {
		rows = append(rows, o)
	}
	ac := accounting{rows: rows, gaps: [][2]int64{{1503, 3003}}}
	pr := &PartitionReport{Topic: "r1", Partition: 2, Deleted: deleted(0, 3003, 3003, ac)}
	notes := pr.notes()
	if len(notes) != 1 {
		t.Fatalf("notes %q", notes)
	}
	for _, want := range []string{"0..3002", "1503 in the tables", "1500 skipped by on_gap: skip"} {
		if !strings.Contains(notes[0], want) {
			t.Errorf("note %q does not say %q", notes[0], want)
		}
	}
}
