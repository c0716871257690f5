package table

import (
	"reflect"
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
	// Deleted [0, 13) with the lowest watermark at 11: 10 offsets held, and
	// of [0, 11) 4 and 10 are unaccounted for.
	if d := deleted(0, 13, 11, ac); *d != (DeletedRange{From: 0, To: 13, Held: 10, Unverifiable: 2}) {
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
