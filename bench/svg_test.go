package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	rep := &Report{Workload: "small<&>", Records: 3000, Partitions: 2, E2E: &E2E{Samples: []Sample{
		{T: 0, Backlog: 3000},
		{T: 0.5, Consumed: 1500, Backlog: 3000},
		{T: 1.0, Consumed: 3000, Committed: 2000, Backlog: 1000},
		{T: 1.5, Consumed: 3000, Committed: 3000},
	}}}
	var b bytes.Buffer
	if err := rep.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b.Bytes()) // the workload name is escaped, or this fails to parse
	// 3000 records consumed in the first second: the consumed line peaks
	// at 3k/s, so the left axis reaches at least that.
	if !strings.Contains(b.String(), ">3k<") {
		t.Errorf("left axis has no 3k tick:\n%s", b.String())
	}

	rep.E2E.Samples = rep.E2E.Samples[:1]
	if err := rep.WriteSVG(&b); err == nil {
		t.Error("WriteSVG with one sample succeeded, want an error")
	}
}
