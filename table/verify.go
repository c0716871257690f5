package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/schema"
)

// DeliveredFunc returns, in ascending order, the offsets Kafka delivers to
// a read_committed consumer for tp in [from, to).
type DeliveredFunc func(ctx context.Context, tp TP, from, to int64) ([]int64, error)

// PartitionReport is the verdict for one topic-partition.
type PartitionReport struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	First     int64  `json:"first"`     // first offset checked: the first the tables cover, or 0 (the log start) with FromLogStart
	Watermark int64  `json:"watermark"` // W of the data table: next offset to consume
	// RejectsWatermark is W of the quarantine table, when there is one.
	RejectsWatermark *int64 `json:"rejects_watermark,omitempty"`
	// Watermarks are the watermarks by table, when more than a table and
	// its quarantine table were checked together.
	Watermarks map[string]int64 `json:"watermarks,omitempty"`
	// CheckedTo is where completeness was checked up to: the lowest
	// watermark of the tables. Above it one table may be ahead of the other
	// after a crash between their commits; the next run fills the gap.
	CheckedTo  int64   `json:"checked_to"`
	Rows       int64   `json:"rows"`
	Rejects    int64   `json:"rejects"`
	Skipped    int64   `json:"skipped"`
	Duplicates []int64 `json:"duplicates,omitempty"` // twice in a table, or in both the table and its quarantine
	Missing    []int64 `json:"missing,omitempty"`    // delivered by Kafka below CheckedTo, in neither table nor skipped (the first 20)
	Unexpected []int64 `json:"unexpected,omitempty"` // in a table, not delivered by Kafka
	Beyond     []int64 `json:"beyond,omitempty"`     // rows at or above their table's watermark
	// MissingCount is how many offsets are missing, MissingRanges the
	// first 20 runs of them as [from, to).
	MissingCount  int64      `json:"missing_count,omitempty"`
	MissingRanges [][2]int64 `json:"missing_ranges,omitempty"`
	// Kafka is the partition as Kafka listed it, when it was asked.
	Kafka *KafkaPartition `json:"kafka,omitempty"`
	// NeverCommitted marks a partition Kafka has that no table committed:
	// checked from the configured start up to the last stable offset.
	NeverCommitted bool `json:"never_committed,omitempty"`
	// Deleted is the part of the checked range retention deleted before
	// verify ran.
	Deleted *DeletedRange `json:"deleted_by_retention,omitempty"`
	// Unverified says why the partition was not compared with Kafka, when
	// Kafka was asked but could not tell.
	Unverified string `json:"unverified,omitempty"`
}

// Report is the result of Verify.
type Report struct {
	Table   string `json:"table"`
	Rejects string `json:"rejects,omitempty"`
	// Tables are all the tables checked together, when more than a table
	// and its quarantine table.
	Tables       []string          `json:"tables,omitempty"`
	Pipeline     string            `json:"pipeline"`
	Snapshot     int64             `json:"snapshot"`
	KafkaChecked bool              `json:"kafka_checked"`
	Partitions   []PartitionReport `json:"partitions"`
	Violations   []string          `json:"violations"`
	// Notes are what was not a violation but not fully checked either:
	// ranges retention deleted before verification, partitions that could
	// not be compared with Kafka.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether no invariant was violated.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// maxListed caps the offsets listed per violation kind in a report.
const maxListed = 20

// Verify checks EO and MONO (DESIGN.md §3) for pipeline's rows of tbl:
// per partition no offset appears twice, none at or above the watermark,
// the committed offset ranges never go backwards, and — when delivered is
// not nil — every offset Kafka delivers in [first, W) is in the table or
// was passed over, and the table holds nothing Kafka does not deliver.
func Verify(ctx context.Context, tbl *icebergtable.Table, pipeline string, delivered DeliveredFunc, opts ...VerifyOption) (*Report, error) {
	return VerifyRoute(ctx, tbl, nil, pipeline, delivered, opts...)
}

// tableView is what Verify reads of one table.
type tableView struct {
	name      string
	isRejects bool
	wm        Offsets
	hist      *pipelineHistory
	rows      map[TP][]int64 // sorted
}

func readView(ctx context.Context, tbl *icebergtable.Table, pipeline string) (*tableView, error) {
	meta := tbl.Metadata()
	wm, err := Watermarks(meta, pipeline)
	if err != nil {
		return nil, err
	}
	hist, err := history(meta, pipeline)
	if err != nil {
		return nil, err
	}
	rows, err := scanOffsets(ctx, tbl)
	if err != nil {
		return nil, err
	}
	for _, offs := range rows {
		slices.Sort(offs)
	}
	return &tableView{wm: wm, hist: hist, rows: rows}, nil
}

// VerifyRoute is Verify over a data table and its quarantine table
// together (rejects may be nil): every delivered offset below both
// watermarks is in exactly one of them, exactly once, or was passed over.
func VerifyRoute(ctx context.Context, tbl, rejects *icebergtable.Table, pipeline string, delivered DeliveredFunc, opts ...VerifyOption) (*Report, error) {
	var rej []*icebergtable.Table
	if rejects != nil {
		rej = append(rej, rejects)
	}
	return VerifyTables(ctx, []*icebergtable.Table{tbl}, rej, pipeline, delivered, opts...)
}

// VerifyTables is Verify over tables fed by the same topics (data tables
// one topic routes records between, and their quarantine tables): for each
// partition, every delivered offset below the lowest watermark of the
// tables that have one is in exactly one table, exactly once, or was
// passed over. The report is named after data[0].
func VerifyTables(ctx context.Context, data, rejects []*icebergtable.Table, pipeline string, delivered DeliveredFunc, opts ...VerifyOption) (*Report, error) {
	var o verifyOptions
	for _, opt := range opts {
		opt(&o)
	}
	rep := &Report{Table: ident(data[0]), Pipeline: pipeline, Snapshot: currentSnapshotID(data[0].Metadata()), KafkaChecked: delivered != nil}
	var views []*tableView
	var names []string
	for i, tbl := range append(slices.Clip(data), rejects...) {
		v, err := readView(ctx, tbl, pipeline)
		if err != nil {
			return nil, err
		}
		v.name, v.isRejects = ident(tbl), i >= len(data)
		views = append(views, v)
		names = append(names, v.name)
	}
	if len(rejects) > 0 {
		rep.Rejects = ident(rejects[0])
	}
	if len(views) > 2 {
		rep.Tables = names
	}
	tps := Offsets{}
	for _, v := range views {
		for _, m := range v.hist.monoViolations {
			rep.Violations = append(rep.Violations, v.name+": "+m)
		}
		for tp := range v.wm {
			tps[tp] = 0
		}
		for tp := range v.rows {
			if _, ok := v.wm[tp]; !ok {
				rep.Violations = append(rep.Violations, fmt.Sprintf("%s: %s: rows present but the pipeline has no watermark", v.name, tp))
			}
			tps[tp] = 0
		}
	}
	for tp := range o.kafka {
		tps[tp] = 0
	}
	for _, tp := range tps.SortedTPs() {
		var kp *KafkaPartition
		if o.kafka != nil {
			if k, ok := o.kafka[tp]; ok {
				kp = &k
			}
		}
		pr, extra, err := verifyPartition(ctx, tp, views, delivered, o, kp)
		if err != nil {
			return nil, err
		}
		rep.Violations = append(rep.Violations, extra...)
		for kind, list := range map[string][]int64{"duplicate": pr.Duplicates,
			"unexpected": pr.Unexpected, "at or above the watermark": pr.Beyond} {
			if len(list) > 0 {
				rep.Violations = append(rep.Violations, fmt.Sprintf("%s: %s offsets %v", tp, kind, list))
			}
		}
		if pr.MissingCount > 0 {
			rep.Violations = append(rep.Violations, missingViolation(&pr))
		}
		rep.Notes = append(rep.Notes, pr.notes()...)
		rep.Partitions = append(rep.Partitions, pr)
	}
	idv, err := topicIDViolations(ctx, append(slices.Clip(data), rejects...), pipeline, o.topicIDs)
	if err != nil {
		return nil, err
	}
	rep.Violations = append(rep.Violations, idv...)
	slices.Sort(rep.Violations)
	return rep, nil
}

// verifyPartition checks tp across the tables, and against Kafka when
// delivered is set; kp is what Kafka listed of tp, nil when it was not
// asked. It returns the report and the violations only a whole-partition
// view can name.
func verifyPartition(ctx context.Context, tp TP, views []*tableView, delivered DeliveredFunc, o verifyOptions, kp *KafkaPartition) (PartitionReport, []string, error) {
	pr := PartitionReport{Topic: tp.Topic, Partition: tp.Partition, Kafka: kp}
	// Each table on its own: no offset twice, none at or above its W.
	var all, skipped []int64
	var gaps [][2]int64
	first, checkedTo, top, seen := int64(0), int64(0), int64(0), false
	dataW, rejW := false, false
	for _, v := range views {
		offs := v.rows[tp]
		w, hasW := v.wm[tp]
		for j, o := range offs {
			if j > 0 && offs[j-1] == o {
				pr.Duplicates = appendCapped(pr.Duplicates, o)
			}
			if o >= w {
				pr.Beyond = appendCapped(pr.Beyond, o)
			}
		}
		if v.isRejects {
			pr.Rejects += int64(len(offs))
		} else {
			pr.Rows += int64(len(offs))
		}
		all = append(all, offs...)
		skipped = append(skipped, v.hist.skipped[tp]...)
		gaps = append(gaps, v.hist.gaps[tp]...)
		if !hasW {
			continue
		}
		switch {
		case len(views) > 2:
			if pr.Watermarks == nil {
				pr.Watermarks = map[string]int64{}
			}
			pr.Watermarks[v.name] = w
		case v.isRejects && !rejW:
			pr.RejectsWatermark, rejW = &w, true
		}
		if !v.isRejects && !dataW {
			pr.Watermark, dataW = w, true
		}
		f, ok := v.hist.first[tp]
		if !ok {
			f = w
			if len(offs) > 0 {
				f = offs[0]
			}
		}
		if !seen {
			first, checkedTo, top, seen = f, w, w, true
		} else {
			first, checkedTo, top = min(first, f), min(checkedTo, w), max(top, w)
		}
	}
	pr.Skipped = int64(len(skipped))
	var extra []string
	switch {
	case o.kafka != nil && kp == nil && seen:
		// The tables hold it, Kafka does not list it: the topic was
		// deleted, or is no longer subscribed and gone.
		pr.Unverified = "Kafka does not have this partition (topic deleted?)"
		delivered = nil
	case !seen && kp != nil && len(all) == 0:
		// No table committed it: from the configured start, every record
		// Kafka delivers should be in a table by now.
		pr.NeverCommitted = true
		if kp.Start < 0 {
			pr.Unverified = "never committed, and with kafka.start latest where the pipeline begins on it is not knowable"
			delivered = nil
			break
		}
		first, checkedTo, top, seen = kp.Start, kp.Stable, kp.Stable, true
	case seen && kp != nil && kp.Start >= 0 && !o.fromLogStart:
		// The pipeline began at the configured start: a table whose first
		// commit starts later lost the records in between.
		first = min(first, kp.Start)
	}
	if seen && kp != nil {
		extra = kafkaViolations(tp, *kp, views)
	}
	if o.fromLogStart {
		first = 0 // Kafka delivers from the log start
	}
	pr.First, pr.CheckedTo = first, checkedTo
	// Across the tables: an offset in two of them is a duplicate too.
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] && !slices.Contains(pr.Duplicates, all[i]) {
			pr.Duplicates = appendCapped(pr.Duplicates, all[i])
		}
	}
	if delivered != nil && top > first {
		logStart := first
		if kp != nil {
			logStart = max(first, kp.LogStart)
		}
		var want []int64
		for from := logStart; from < top; {
			var err error
			want, err = delivered(ctx, tp, from, top)
			var below *BelowLogStartError
			if errors.As(err, &below) && below.LogStart > from {
				// Retention moved the log start since Kafka was listed.
				from, logStart = below.LogStart, below.LogStart
				continue
			}
			if err != nil {
				return pr, nil, fmt.Errorf("read %s from kafka: %w", tp, err)
			}
			break
		}
		ac := accounting{rows: all, skipped: skipped, gaps: gaps}
		if logStart > first {
			pr.Deleted = deleted(first, min(logStart, top), checkedTo, ac)
			// Rows below the log start were ingested before the deletion:
			// Kafka can no longer deliver them, and they are not unexpected.
			i, _ := slices.BinarySearch(all, logStart)
			ac.rows = all[i:]
		}
		var missing missingTracker
		missing, pr.Unexpected = compare(want, ac.rows, skipped, gaps, checkedTo)
		pr.Missing, pr.MissingCount = missing.list, missing.count
		if missing.count > 0 {
			pr.MissingRanges = missing.ranges
		}
	}
	return pr, extra, nil
}

// VerifyOption adjusts VerifyTables.
type VerifyOption func(*verifyOptions)

type verifyOptions struct {
	fromLogStart bool
	kafka        map[TP]KafkaPartition
	topicIDs     TopicIDFunc // nil: topic ids are not checked
}

// FromLogStart checks completeness from each partition's log start rather
// than from the first offset the tables cover: right for a pipeline that
// started at the earliest offset, where a table whose first commit starts
// late has lost the records before it.
func FromLogStart() VerifyOption { return func(o *verifyOptions) { o.fromLogStart = true } }

func appendCapped(l []int64, o int64) []int64 {
	if len(l) < maxListed {
		return append(l, o)
	}
	return l
}

// compare walks Kafka's delivered offsets against the tables' sorted rows
// plus the passed-over offsets and skipped gap ranges. A delivered offset
// at or above checkedTo may still be pending in the table that is behind,
// so only those below it can be missing.
func compare(want, rows, skipped []int64, gaps [][2]int64, checkedTo int64) (missing missingTracker, unexpected []int64) {
	accounted := make(map[int64]struct{}, len(skipped))
	for _, o := range skipped {
		accounted[o] = struct{}{}
	}
	inGap := func(o int64) bool {
		for _, g := range gaps {
			if o >= g[0] && o < g[1] {
				return true
			}
		}
		return false
	}
	i := 0
	for _, o := range want {
		for i < len(rows) && rows[i] < o {
			unexpected = appendCapped(unexpected, rows[i])
			i++
		}
		if i < len(rows) && rows[i] == o {
			for i < len(rows) && rows[i] == o {
				i++
			}
			continue
		}
		if _, ok := accounted[o]; ok || inGap(o) || o >= checkedTo {
			continue
		}
		missing.add(o)
	}
	for ; i < len(rows); i++ {
		unexpected = appendCapped(unexpected, rows[i])
	}
	return missing, unexpected
}

// pipelineHistory is what the snapshot summaries of the current branch
// say about one pipeline.
type pipelineHistory struct {
	first          map[TP]int64
	skipped        OffsetLists
	gaps           map[TP][][2]int64
	monoViolations []string
}

// history walks the current snapshot's ancestry oldest first. Each ingest
// snapshot's ranges must start where the previous one for the same
// partition ended: anything else means a watermark went backwards or
// jumped (MONO).
func history(meta icebergtable.Metadata, pipeline string) (*pipelineHistory, error) {
	var chain []*icebergtable.Snapshot
	for s := meta.CurrentSnapshot(); s != nil; {
		chain = append(chain, s)
		if s.ParentSnapshotID == nil {
			break
		}
		s = meta.SnapshotByID(*s.ParentSnapshotID)
	}
	slices.Reverse(chain)
	h := &pipelineHistory{first: map[TP]int64{}, skipped: OffsetLists{}, gaps: map[TP][][2]int64{}}
	next := map[TP]int64{}
	for _, s := range chain {
		if s.Summary == nil || s.Summary.Properties[SummaryPipeline] != pipeline {
			continue
		}
		props := s.Summary.Properties
		var ranges Ranges
		if raw := props[SummaryRanges]; raw != "" {
			if err := json.Unmarshal([]byte(raw), &ranges); err != nil {
				return nil, fmt.Errorf("snapshot %d: %s: %w", s.SnapshotID, SummaryRanges, err)
			}
		}
		for tp, rg := range ranges {
			if n, ok := next[tp]; ok && rg[0] != n {
				h.monoViolations = append(h.monoViolations, fmt.Sprintf(
					"%s: snapshot %d covers [%d, %d) but the previous commit ended at %d", tp, s.SnapshotID, rg[0], rg[1], n))
			} else if !ok {
				h.first[tp] = rg[0]
			}
			if rg[1] < rg[0] {
				h.monoViolations = append(h.monoViolations, fmt.Sprintf("%s: snapshot %d has a backwards range [%d, %d)", tp, s.SnapshotID, rg[0], rg[1]))
			}
			next[tp] = rg[1]
		}
		if raw := props[SummarySkipped]; raw != "" {
			var sk OffsetLists
			if err := json.Unmarshal([]byte(raw), &sk); err != nil {
				return nil, fmt.Errorf("snapshot %d: %s: %w", s.SnapshotID, SummarySkipped, err)
			}
			for tp, l := range sk {
				h.skipped[tp] = append(h.skipped[tp], l...)
			}
		}
		if raw := props[SummaryGaps]; raw != "" {
			var g Ranges
			if err := json.Unmarshal([]byte(raw), &g); err != nil {
				return nil, fmt.Errorf("snapshot %d: %s: %w", s.SnapshotID, SummaryGaps, err)
			}
			for tp, rg := range g {
				h.gaps[tp] = append(h.gaps[tp], rg)
			}
		}
	}
	return h, nil
}

// scanOffsets reads (topic, partition, offset) of every live row.
func scanOffsets(ctx context.Context, tbl *icebergtable.Table) (map[TP][]int64, error) {
	out := map[TP][]int64{}
	if tbl.Metadata().CurrentSnapshot() == nil {
		return out, nil
	}
	_, recs, err := tbl.Scan(icebergtable.WithSelectedFields(schema.ColKafkaTopic, schema.ColKafkaPartition, schema.ColKafkaOffset)).ToArrowRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", ident(tbl), err)
	}
	for rec, err := range recs {
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", ident(tbl), err)
		}
		if err := collectOffsets(rec, out); err != nil {
			rec.Release()
			return nil, err
		}
		rec.Release()
	}
	return out, nil
}

func collectOffsets(rec arrow.RecordBatch, out map[TP][]int64) error {
	sch := rec.Schema()
	idx := func(name string) int {
		if i := sch.FieldIndices(name); len(i) > 0 {
			return i[0]
		}
		return -1
	}
	ti, pi, oi := idx(schema.ColKafkaTopic), idx(schema.ColKafkaPartition), idx(schema.ColKafkaOffset)
	if ti < 0 || pi < 0 || oi < 0 {
		return fmt.Errorf("table lacks the metadata columns %s, %s, %s", schema.ColKafkaTopic, schema.ColKafkaPartition, schema.ColKafkaOffset)
	}
	topics, ok1 := rec.Column(ti).(*array.String)
	parts, ok2 := rec.Column(pi).(*array.Int32)
	offs, ok3 := rec.Column(oi).(*array.Int64)
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("metadata columns have unexpected types %s, %s, %s",
			rec.Column(ti).DataType(), rec.Column(pi).DataType(), rec.Column(oi).DataType())
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		tp := TP{Topic: topics.Value(i), Partition: parts.Value(i)}
		out[tp] = append(out[tp], offs.Value(i))
	}
	return nil
}
