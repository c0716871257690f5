package table

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
)

// Keys Big Father writes into table metadata (DESIGN.md §3 rule 1).
const (
	// PropOffsetsPrefix + pipeline id is the table property holding the
	// pipeline's watermarks as {"topic": {"partition": nextOffset}}.
	PropOffsetsPrefix = "bigfather.offsets."
	// PropOriginsPrefix + pipeline id holds, in the same shape, the offset
	// each partition's first commit to this table started from. A table of
	// a route that has no watermark yet for a partition resumes from the
	// origin of its companion (see ingest's seek rule), so the origin must
	// survive snapshot expiry like the watermarks do.
	PropOriginsPrefix = "bigfather.origins."

	// Snapshot summary keys of an ingest commit.
	SummaryPipeline = "bigfather.pipeline"
	SummaryCommitID = "bigfather.commit-id"
	// SummaryRanges holds the offset ranges the snapshot covers as
	// {"topic": {"partition": [first, next]}}: every delivered offset in
	// [first, next) is in this snapshot's files or in SummarySkipped.
	SummaryRanges = "bigfather.ranges"
	// SummarySkipped lists offsets that were consumed but not written,
	// because they could not be decoded: {"topic": {"partition": [o1, o2]}}.
	SummarySkipped = "bigfather.skipped"
	// SummaryGaps records offset ranges skipped by the on_gap=skip policy
	// (DESIGN.md §3 rule 7): {"topic": {"partition": [from, to]}}.
	SummaryGaps = "bigfather.gaps"
	// SummarySchemaChanges lists, as a JSON array of strings, the schema
	// changes a commit made (schema.Change strings: add-column,
	// widen-type, make-optional).
	SummarySchemaChanges = "bigfather.schema-changes"
)

// TP names one topic-partition.
type TP struct {
	Topic     string
	Partition int32
}

func (tp TP) String() string { return tp.Topic + "/" + strconv.Itoa(int(tp.Partition)) }

// Offsets maps a topic-partition to a Kafka offset. As a watermark it is
// the next offset to consume.
type Offsets map[TP]int64

// Clone returns an independent copy.
func (o Offsets) Clone() Offsets { return maps.Clone(o) }

// SortedTPs returns the keys in topic, partition order.
func (o Offsets) SortedTPs() []TP {
	tps := slices.Collect(maps.Keys(o))
	slices.SortFunc(tps, compareTP)
	return tps
}

func compareTP(a, b TP) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

// MarshalJSON writes the {"topic": {"partition": offset}} form of rule 1.
func (o Offsets) MarshalJSON() ([]byte, error) { return marshalTPMap(o) }

// UnmarshalJSON reads the {"topic": {"partition": offset}} form.
func (o *Offsets) UnmarshalJSON(b []byte) error { return unmarshalTPMap(b, (*map[TP]int64)(o)) }

// Watermarks reads pipeline's watermarks from table metadata. A table the
// pipeline never committed to has none (an empty, non-nil map).
func Watermarks(meta icebergtable.Metadata, pipeline string) (Offsets, error) {
	return watermarksFromProps(meta.Properties(), pipeline)
}

func watermarksFromProps(props iceberg.Properties, pipeline string) (Offsets, error) {
	return offsetsProp(props, PropOffsetsPrefix+pipeline)
}

// Origins reads the offsets pipeline's first commit of each partition to
// this table started from. Tables committed before origins were recorded
// have none for their partitions.
func Origins(meta icebergtable.Metadata, pipeline string) (Offsets, error) {
	return offsetsProp(meta.Properties(), PropOriginsPrefix+pipeline)
}

func offsetsProp(props iceberg.Properties, key string) (Offsets, error) {
	raw, ok := props[key]
	if !ok || raw == "" {
		return Offsets{}, nil
	}
	var o Offsets
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, fmt.Errorf("table property %s: %w", key, err)
	}
	return o, nil
}

// Ranges maps a topic-partition to the half-open offset range [First, Next)
// one commit covers.
type Ranges map[TP][2]int64

// MarshalJSON writes {"topic": {"partition": [first, next]}}.
func (r Ranges) MarshalJSON() ([]byte, error) { return marshalTPMap(r) }

// UnmarshalJSON reads {"topic": {"partition": [first, next]}}.
func (r *Ranges) UnmarshalJSON(b []byte) error { return unmarshalTPMap(b, (*map[TP][2]int64)(r)) }

// OffsetLists maps a topic-partition to individual offsets.
type OffsetLists map[TP][]int64

// MarshalJSON writes {"topic": {"partition": [o1, [from, to], ...]}}: each
// ascending run of at least three consecutive offsets is written as the
// range [from, to), so a commit that passes over most of its records (a
// filter, unrouted records dropped) stays small in the table's metadata.
func (l OffsetLists) MarshalJSON() ([]byte, error) {
	runs := make(map[TP]offsetRuns, len(l))
	for tp, offs := range l {
		runs[tp] = offsetRuns(offs)
	}
	return marshalTPMap(runs)
}

// UnmarshalJSON reads what MarshalJSON writes, and plain lists of offsets.
func (l *OffsetLists) UnmarshalJSON(b []byte) error {
	var runs map[TP]offsetRuns
	if err := unmarshalTPMap(b, &runs); err != nil {
		return err
	}
	*l = make(OffsetLists, len(runs))
	for tp, offs := range runs {
		(*l)[tp] = offs
	}
	return nil
}

// maxRunOffsets bounds how many offsets one [from, to) element may expand
// to when read, so a corrupt summary cannot exhaust memory.
const maxRunOffsets = 1 << 24

// offsetRuns is one partition's offsets, in JSON as numbers and [from, to)
// ranges.
type offsetRuns []int64

func (o offsetRuns) MarshalJSON() ([]byte, error) {
	out := []byte{'['}
	for i := 0; i < len(o); {
		j := i + 1
		for j < len(o) && o[j] == o[j-1]+1 {
			j++
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		if j-i >= 3 {
			out = fmt.Appendf(out, "[%d,%d]", o[i], o[j-1]+1)
			i = j
			continue
		}
		out = strconv.AppendInt(out, o[i], 10)
		i++
	}
	return append(out, ']'), nil
}

func (o *offsetRuns) UnmarshalJSON(b []byte) error {
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		return err
	}
	out := make([]int64, 0, len(elems))
	for _, e := range elems {
		var off int64
		if err := json.Unmarshal(e, &off); err == nil {
			out = append(out, off)
			continue
		}
		var rg [2]int64
		if err := json.Unmarshal(e, &rg); err != nil {
			return fmt.Errorf("offset list element %s: want an offset or [from, to]", e)
		}
		if rg[1] < rg[0] || rg[1]-rg[0] > maxRunOffsets || len(out)+int(rg[1]-rg[0]) > maxRunOffsets {
			return fmt.Errorf("offset list range [%d, %d] is invalid or too long", rg[0], rg[1])
		}
		for x := rg[0]; x < rg[1]; x++ {
			out = append(out, x)
		}
	}
	*o = out
	return nil
}

// marshalTPMap writes a per-partition map nested by topic, the JSON shape
// every bigfather.* property and summary value uses.
func marshalTPMap[V any](m map[TP]V) ([]byte, error) {
	nested := make(map[string]map[string]V)
	for tp, v := range m {
		inner := nested[tp.Topic]
		if inner == nil {
			inner = make(map[string]V)
			nested[tp.Topic] = inner
		}
		inner[strconv.Itoa(int(tp.Partition))] = v
	}
	return json.Marshal(nested)
}

func unmarshalTPMap[V any](b []byte, dst *map[TP]V) error {
	var nested map[string]map[string]V
	if err := json.Unmarshal(b, &nested); err != nil {
		return err
	}
	out := make(map[TP]V)
	for topic, parts := range nested {
		for p, v := range parts {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil || n < 0 {
				return fmt.Errorf("partition %q of topic %q is not a partition number", p, topic)
			}
			out[TP{topic, int32(n)}] = v
		}
	}
	*dst = out
	return nil
}
