package table

import (
	"fmt"
	"slices"
	"strings"
)

// KafkaPartition is what Kafka says of one partition when verify runs.
type KafkaPartition struct {
	LogStart int64 `json:"log_start"` // first offset Kafka still holds
	LogEnd   int64 `json:"log_end"`   // high watermark: one past the last record
	Stable   int64 `json:"stable"`    // last stable offset: a read_committed consumer is delivered only offsets below it
	// Start is where the pipeline begins on the partition while no table
	// has committed it: kafka.start resolved now (the log start for
	// earliest, the first offset at or after the time for a timestamp),
	// or -1 when that cannot be known (latest: the log end at the moment
	// the pipeline was first assigned the partition).
	Start int64 `json:"start"`
}

// WithKafkaPartitions names every partition the pipeline subscribes to,
// as Kafka lists it now. Each is checked even if no table ever committed
// it: a partition with deliverable records from its start that no table
// holds lost them. A partition a table holds but parts leaves out is
// reported as not in Kafka. It also tells verify where each log starts, so
// that offsets retention deleted are reported as such.
func WithKafkaPartitions(parts map[TP]KafkaPartition) VerifyOption {
	return func(o *verifyOptions) { o.kafka = parts }
}

// BelowLogStartError is what a DeliveredFunc returns when asked for
// offsets below the partition's log start: retention deleted them. Verify
// then reads from LogStart and reports the range below it as deleted.
type BelowLogStartError struct {
	TP       TP
	From     int64
	LogStart int64
}

func (e *BelowLogStartError) Error() string {
	return fmt.Sprintf("%s: offset %d is below the log start %d", e.TP, e.From, e.LogStart)
}

// DeletedRange is the part of a partition's checked range that retention
// deleted from Kafka before verify ran: Kafka can no longer say what it
// delivered there.
type DeletedRange struct {
	From int64 `json:"from"`
	To   int64 `json:"to"` // exclusive: the log start, or the tables' top watermark if lower
	// Held is how many of its offsets the tables hold or passed over:
	// those were ingested before the deletion, which is fine.
	Held int64 `json:"held"`
	// GapSkipped is how many of Held on_gap: skip passed over
	// (bigfather.gaps): records deleted before they were ingested, lost by
	// the operator's choice; in no table.
	GapSkipped int64 `json:"gap_skipped,omitempty"`
	// Unverifiable is how many offsets below the lowest watermark no table
	// holds or passed over: transaction markers, aborted or compacted
	// records, or records lost; which, Kafka no longer can tell.
	Unverifiable int64 `json:"unverifiable"`
}

// accounting is what the tables say of a partition's offsets: rows (sorted,
// possibly repeated), passed-over offsets and skipped gap ranges.
type accounting struct {
	rows, skipped []int64
	gaps          [][2]int64
}

// countIn returns how many distinct offsets in [a, b) are accounted for.
func (ac accounting) countIn(a, b int64) int64 {
	if b <= a {
		return 0
	}
	var iv [][2]int64
	for _, g := range ac.gaps {
		if lo, hi := max(g[0], a), min(g[1], b); lo < hi {
			iv = append(iv, [2]int64{lo, hi})
		}
	}
	slices.SortFunc(iv, func(x, y [2]int64) int { return int(x[0] - y[0]) })
	var n, end int64 = 0, a
	for _, g := range iv {
		lo := max(g[0], end)
		if g[1] > lo {
			n += g[1] - lo
			end = g[1]
		}
	}
	inGap := func(o int64) bool {
		for _, g := range iv {
			if o >= g[0] && o < g[1] {
				return true
			}
		}
		return false
	}
	// Rows are sorted (possibly repeated); passed-over offsets are few and
	// never rows, but may repeat.
	lo, _ := slices.BinarySearch(ac.rows, a)
	prev := a - 1
	for _, o := range ac.rows[lo:] {
		if o >= b {
			break
		}
		if o != prev && !inGap(o) {
			n++
		}
		prev = o
	}
	seen := map[int64]struct{}{}
	for _, o := range ac.skipped {
		if _, dup := seen[o]; dup || o < a || o >= b || inGap(o) {
			continue
		}
		seen[o] = struct{}{}
		if _, inRows := slices.BinarySearch(ac.rows, o); !inRows {
			n++
		}
	}
	return n
}

// deleted describes [first, to) whose records Kafka deleted (to is at most
// the log start); offsets below checkedTo that nothing accounts for are
// unverifiable.
func deleted(first, to, checkedTo int64, ac accounting) *DeletedRange {
	d := &DeletedRange{From: first, To: to, Held: ac.countIn(first, to), GapSkipped: accounting{gaps: ac.gaps}.countIn(first, to)}
	if end := min(to, checkedTo); end > first {
		d.Unverifiable = end - first - ac.countIn(first, end)
	}
	return d
}

// missingTracker collects missing offsets: a count, the first maxListed
// offsets and the first maxListed ranges.
type missingTracker struct {
	count  int64
	list   []int64
	ranges [][2]int64 // capped: later runs are counted only
}

func (m *missingTracker) add(o int64) {
	m.count++
	m.list = appendCapped(m.list, o)
	if n := len(m.ranges); n > 0 && m.ranges[n-1][1] == o {
		m.ranges[n-1][1] = o + 1
		return
	}
	if len(m.ranges) == maxListed {
		return
	}
	m.ranges = append(m.ranges, [2]int64{o, o + 1})
}

// formatRanges writes half-open ranges as inclusive "a..b", a lone offset
// as "a".
func formatRanges(rs [][2]int64, more bool) string {
	parts := make([]string, 0, len(rs)+1)
	for _, r := range rs {
		if r[1]-r[0] == 1 {
			parts = append(parts, fmt.Sprint(r[0]))
		} else {
			parts = append(parts, fmt.Sprintf("%d..%d", r[0], r[1]-1))
		}
	}
	if more {
		parts = append(parts, "...")
	}
	return strings.Join(parts, ", ")
}

func plural(n int64, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// missingViolation says which offsets of tp are missing.
func missingViolation(pr *PartitionReport) string {
	what := ""
	if pr.NeverCommitted {
		what = "never committed: "
	}
	more := pr.MissingCount > rangeTotal(pr.MissingRanges)
	return fmt.Sprintf("%s/%d: %smissing %s: %s", pr.Topic, pr.Partition, what, plural(pr.MissingCount, "offset"),
		formatRanges(pr.MissingRanges, more))
}

func rangeTotal(rs [][2]int64) int64 {
	var n int64
	for _, r := range rs {
		n += r[1] - r[0]
	}
	return n
}

// notes are what a partition's report says beside its violations: what
// retention deleted before verification, and why a partition could not be
// checked against Kafka.
func (pr *PartitionReport) notes() []string {
	var out []string
	tp := fmt.Sprintf("%s/%d", pr.Topic, pr.Partition)
	if d := pr.Deleted; d != nil {
		var parts []string
		if held := d.Held - d.GapSkipped; held > 0 {
			parts = append(parts, fmt.Sprintf("%d in the tables", held))
		}
		if d.GapSkipped > 0 {
			parts = append(parts, fmt.Sprintf("%d skipped by on_gap: skip, lost: deleted before they were ingested", d.GapSkipped))
		}
		if d.Unverifiable > 0 {
			parts = append(parts, fmt.Sprintf("%d unverifiable: deleted from Kafka, in no table", d.Unverifiable))
		}
		if len(parts) == 0 {
			parts = append(parts, "none in the tables")
		}
		out = append(out, fmt.Sprintf("%s: deleted by retention before verification: %s (%s)", tp,
			formatRanges([][2]int64{{d.From, d.To}}, false), strings.Join(parts, "; ")))
	}
	if pr.Unverified != "" {
		out = append(out, tp+": not checked against Kafka: "+pr.Unverified)
	}
	return out
}

// kafkaViolations checks each table's watermark against the log (DESIGN.md
// §3 rule 7): below the log start, records were deleted before they were
// ingested; above the log end, the topic was recreated or the cluster
// rebuilt.
func kafkaViolations(tp TP, kp KafkaPartition, views []*tableView) []string {
	var out []string
	for _, v := range views {
		w, ok := v.wm[tp]
		if !ok {
			continue
		}
		switch {
		case w > kp.LogEnd:
			out = append(out, fmt.Sprintf("%s: %s: watermark %d is above the log end %d: the topic was recreated or the cluster rebuilt",
				v.name, tp, w, kp.LogEnd))
		case w < kp.LogStart:
			out = append(out, fmt.Sprintf("%s: %s: watermark %d is below the log start %d: records %d..%d were deleted by retention before they were ingested (data loss)",
				v.name, tp, w, kp.LogStart, w, kp.LogStart-1))
		}
	}
	return out
}
