package table_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/table"
)

// Passed-over offsets are stored as runs: consecutive offsets take one
// [from, to) element, so a commit that drops most of its records stays
// small, and reading gives back exactly the offsets written.
func TestOffsetListsRunsRoundTrip(t *testing.T) {
	tp := table.TP{Topic: "t", Partition: 3}
	l := table.OffsetLists{tp: {1, 2, 3, 4, 7, 9, 10, 12, 13, 14}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"t":{"3":[[1,5],7,9,10,[12,15]]}}`; got != want {
		t.Fatalf("marshal = %s, want %s", got, want)
	}
	var back table.OffsetLists
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, l) {
		t.Fatalf("round trip %v, want %v", back, l)
	}

	// A plain list, as earlier versions wrote, still reads.
	var old table.OffsetLists
	if err := json.Unmarshal([]byte(`{"t":{"3":[5,6,7]}}`), &old); err != nil || !slices.Equal(old[tp], []int64{5, 6, 7}) {
		t.Fatalf("plain list: %v, %v", old, err)
	}

	// 100,000 consecutive offsets are one element.
	var run []int64
	for o := int64(1000); o < 101_000; o++ {
		run = append(run, o)
	}
	b, err = json.Marshal(table.OffsetLists{tp: run})
	if err != nil || len(b) > 40 {
		t.Fatalf("a run of 100k offsets takes %d bytes: %s (%v)", len(b), b, err)
	}

	// Random sorted lists survive the round trip.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var offs []int64
		o := int64(r.IntN(10))
		for range r.IntN(60) {
			o += int64(1 + r.IntN(3))
			offs = append(offs, o)
		}
		var got table.OffsetLists
		b, _ := json.Marshal(table.OffsetLists{tp: offs})
		if err := json.Unmarshal(b, &got); err != nil || !slices.Equal(got[tp], offs) {
			t.Fatalf("%v → %s → %v (%v)", offs, b, got[tp], err)
		}
	}

	for _, bad := range []string{`{"t":{"3":[[5,2]]}}`, `{"t":{"3":[[0,99999999999]]}}`, `{"t":{"3":["x"]}}`} {
		var got table.OffsetLists
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Fatalf("%s read without error: %v", bad, got)
		} else if !strings.Contains(err.Error(), "offset") {
			t.Fatalf("%s: error %v does not say what is wrong", bad, err)
		}
	}
}
