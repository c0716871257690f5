package ingest

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/table"
)

// logBounds is a partition's log start and end as listed; has* is false
// when the listing did not answer for the partition.
type logBounds struct {
	start, end       int64
	hasStart, hasEnd bool
}

func boundsOf(starts, ends kadm.ListedOffsets, tp table.TP) logBounds {
	var lb logBounds
	if so, ok := starts.Lookup(tp.Topic, tp.Partition); ok && so.Err == nil {
		lb.start, lb.hasStart = so.Offset, true
	}
	if eo, ok := ends.Lookup(tp.Topic, tp.Partition); ok && eo.Err == nil {
		lb.end, lb.hasEnd = eo.Offset, true
	}
	return lb
}

// placeInLog decides where tp, whose route resumes at w (resumeAt), is
// fetched from, given its log bounds (rule 7). It is the one decision for
// a partition being assigned and for one whose fetch ran out of range
// while running. Above the log end the partition halts (ErrOffsetGap).
// Below the log start it halts (ErrDataLoss), or with on_gap: skip every
// table of the route below the log start records the deleted range in its
// next commit (bigfather.gaps) and fetching resumes at the log start. It
// returns the offset to fetch from, or the error to halt with.
func (p *Pipeline) placeInLog(rt *topicRoute, tp table.TP, w int64, lb logBounds) (int64, error) {
	switch {
	case lb.hasEnd && w > lb.end:
		return 0, fmt.Errorf("%w: %s: the route resumes at offset %d (%s), above the log end %d: the topic was recreated or the cluster rebuilt; "+
			"resuming would move the watermark backwards, so an operator must decide", ErrOffsetGap, tp, w, rt.describeWatermarks(tp), lb.end)
	case lb.hasStart && w < lb.start && p.opts.OnGap == OnGapSkip:
		p.opts.Logger.Warn("skipping deleted records (on_gap: skip)", "pipeline", p.opts.Pipeline,
			"topic", tp.Topic, "partition", tp.Partition, "offset", w, "log_start", lb.start, "deleted", fmt.Sprintf("%d..%d", w, lb.start-1))
		for _, t := range rt.all {
			if tw, ok := t.wm[tp]; ok && tw < lb.start {
				t.gaps[tp] = [2]int64{tw, lb.start}
			}
		}
		return lb.start, nil
	case lb.hasStart && w < lb.start:
		return 0, fmt.Errorf("%w: %s: the route resumes at offset %d (%s), below the log start %d: records %d..%d were deleted before they were ingested",
			ErrDataLoss, tp, w, rt.describeWatermarks(tp), lb.start, w, lb.start-1)
	}
	return w, nil
}

// describeWatermarks names each table's watermark of tp, for messages
// about where the route resumes (the lowest of them, rule 3).
func (rt *topicRoute) describeWatermarks(tp table.TP) string {
	var parts []string
	for _, t := range rt.all {
		if w, ok := t.wm[tp]; ok {
			parts = append(parts, fmt.Sprintf("%s at %d", t.name, w))
		} else {
			parts = append(parts, t.name+" with none")
		}
	}
	return "the lowest watermark of its tables: " + strings.Join(parts, ", ")
}

// outOfRange handles partitions whose fetch ran out of range while
// running (retention deleted records not fetched yet, or the log was
// truncated) exactly as assignment does (placeInLog). Every open batch is
// committed first, so that the tables' watermarks are where fetching had
// got to; if that fails, every partition was re-seeked from the tables
// (errResynced), the fetch runs out of range again, and this comes back.
func (p *Pipeline) outOfRange(ctx context.Context, tps []table.TP) error {
	var todo []table.TP
	topics := map[string]bool{}
	for _, tp := range tps {
		if p.halted[tp] == nil && p.routes[tp.Topic] != nil {
			todo = append(todo, tp)
			topics[tp.Topic] = true
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := p.flush(ctx, flushGap); err != nil {
		return err
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	starts, err := p.adm.ListStartOffsets(ctx, names...)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = p.adm.ListEndOffsets(ctx, names...)
	}
	set := make(map[string]map[int32]kgo.EpochOffset)
	for _, tp := range todo {
		rt := p.routes[tp.Topic]
		w, ok := rt.resumeAt(tp)
		if err != nil {
			// The listing failed: fetch from the tables again; the fetch
			// runs out of range again and brings the partition back here.
			p.opts.Logger.Warn("list log bounds after an out-of-range fetch", "pipeline", p.opts.Pipeline,
				"topic", tp.Topic, "partition", tp.Partition, "err", err)
			if !ok {
				continue
			}
		} else {
			lb := boundsOf(starts, ends, tp)
			if !ok {
				// Nothing committed yet: the configured start applies,
				// which for a deleted beginning is the log start.
				w = lb.start
				if p.opts.StartKind == StartLatest {
					w = lb.end
				}
			}
			at, herr := p.placeInLog(rt, tp, w, lb)
			if herr == nil && at == w && p.outOfRangeAt[tp] == w {
				// Twice out of range at an offset the log holds: the
				// broker and its listing disagree; retrying would spin.
				herr = fmt.Errorf("%w: %s: fetching at offset %d runs out of range, though the log spans %d..%d",
					ErrOffsetGap, tp, w, lb.start, lb.end)
			}
			if herr != nil {
				p.halt(tp, herr)
				continue
			}
			p.outOfRangeAt[tp] = at
			w = at
		}
		if set[tp.Topic] == nil {
			set[tp.Topic] = make(map[int32]kgo.EpochOffset)
		}
		set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: w}
	}
	if len(set) > 0 {
		p.cl.SetOffsets(set)
	}
	return nil
}
