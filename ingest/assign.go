package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/table"
)

var (
	// ErrDataLoss halts a partition whose watermark is below the log start:
	// records were deleted before they were ingested (rule 7).
	ErrDataLoss = errors.New("data loss: watermark below the log start")
	// ErrOffsetGap halts a partition whose watermark is above the log end
	// (the topic was recreated or the cluster rebuilt), or whose fetch
	// keeps running out of range inside the log's listed bounds.
	ErrOffsetGap = errors.New("offset gap: watermark outside the log")
)

// adjustOffsets seeks every newly assigned partition from the watermarks
// in its table (rule 2); the group's committed offsets are ignored.
// Partitions whose watermark lies outside the log are halted (rule 7).
func (p *Pipeline) adjustOffsets(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	select {
	case <-p.clientReady:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	topics := make([]string, 0, len(offs))
	for topic := range offs {
		topics = append(topics, topic)
	}
	starts, err := p.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list log start offsets: %w", err)
	}
	ends, err := p.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list log end offsets: %w", err)
	}
	if err := p.learnTopicIDs(ctx, topics); err != nil {
		return nil, err
	}
	for topic, parts := range offs {
		rt, err := p.routeOf(topic)
		if err != nil {
			// A new topic matched the patterns of tables that cannot share
			// it: nothing of it is ingested until the config is fixed.
			for part := range parts {
				p.halt(table.TP{Topic: topic, Partition: part}, err)
			}
			continue
		}
		if rt == nil {
			continue
		}
		views, err := p.loadRoute(ctx, rt)
		if err != nil {
			return nil, err
		}
		for part := range parts {
			tp := table.TP{Topic: topic, Partition: part}
			p.unhalt(tp)
			adopt(views, tp)
			for _, t := range rt.all {
				delete(t.gaps, tp)
			}
			p.checkTopicID(rt, tp)
			w, ok := rt.resumeAt(tp)
			if !ok {
				parts[part] = p.startOffset()
				continue
			}
			at, herr := p.placeInLog(rt, tp, w, boundsOf(starts, ends, tp))
			if herr != nil {
				p.halt(tp, herr)
				at = w
			}
			parts[part] = kgo.NoResetOffset().At(at)
		}
	}
	p.ready.Store(true)
	p.cond.clear(ProblemGroup, "") // joined and assigned
	return offs, nil
}

func (p *Pipeline) startOffset() kgo.Offset {
	switch p.opts.StartKind {
	case StartLatest:
		return kgo.NewOffset().AtEnd()
	case StartTimestamp:
		return kgo.NewOffset().AfterMilli(p.opts.StartAt.UnixMilli())
	default:
		return kgo.NewOffset().AtStart()
	}
}

// halt stops a partition: no record of it is processed and fetching is
// paused, with an error log line and the halted gauge, until the
// partition is reassigned.
func (p *Pipeline) halt(tp table.TP, err error) {
	if p.halted[tp] != nil {
		return
	}
	p.halted[tp] = err
	p.stats.halted.Store(int64(len(p.halted)))
	p.toPause[tp.Topic] = append(p.toPause[tp.Topic], tp.Partition)
	p.m.halted.WithLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition))).Set(1)
	p.opts.Logger.Error("partition halted", "pipeline", p.opts.Pipeline, "topic", tp.Topic, "partition", tp.Partition, "err", err)
	p.cond.note(ProblemHalted, tp.String(), err.Error())
}

func (p *Pipeline) unhalt(tp table.TP) {
	if p.halted[tp] == nil {
		return
	}
	delete(p.halted, tp)
	p.stats.halted.Store(int64(len(p.halted)))
	p.toResume[tp.Topic] = append(p.toResume[tp.Topic], tp.Partition)
	p.m.halted.WithLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition))).Set(0)
	p.cond.clear(ProblemHalted, tp.String())
}

// Halted returns the halted partitions and why.
func (p *Pipeline) Halted() map[table.TP]error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[table.TP]error, len(p.halted))
	for tp, err := range p.halted {
		out[tp] = err
	}
	return out
}

// onRevoked commits what is in flight before the partitions move (rule 9),
// then forgets them.
func (p *Pipeline) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.flush(ctx, flushRevoke); err != nil && !errors.Is(err, errResynced) {
		p.opts.Logger.Error("flush on revoke", "pipeline", p.opts.Pipeline, "err", err)
	}
	p.forget(revoked)
}

// onLost drops what is in flight: the partitions may already be owned by
// another member, which would fence the commit anyway.
func (p *Pipeline) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropAll(errors.New("partitions lost"))
	p.forget(lost)
	// Lost, not revoked: the group session ended (the member missed its
	// session timeout, or the coordinator could not be reached). Say what
	// else is wrong, since that is usually why.
	why := "the consumer group session ended (session timeout missed or coordinator unreachable)"
	if ps := p.cond.list(); len(ps) > 0 {
		why += "; problems: " + ProblemsString(ps)
	}
	p.opts.Logger.Warn("partitions lost, in-flight batches dropped", "pipeline", p.opts.Pipeline, "why", why)
}

func (p *Pipeline) forget(tps map[string][]int32) {
	for topic, parts := range tps {
		rt := p.routes[topic]
		for _, part := range parts {
			tp := table.TP{Topic: topic, Partition: part}
			if rt != nil {
				for _, t := range rt.all {
					delete(t.wm, tp)
					t.wmChanged()
					delete(t.origins, tp)
					delete(t.gaps, tp)
				}
			}
			delete(p.hw, tp)
			delete(p.firstSeen, tp)
			delete(p.outOfRangeAt, tp)
			if p.halted[tp] != nil {
				p.unhalt(tp)
			}
			p.forgetLag(tp)
		}
	}
}

func isOffsetOutOfRange(err error) bool {
	return errors.Is(err, kerr.OffsetOutOfRange)
}
