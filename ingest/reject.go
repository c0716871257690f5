package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// reject sends a record that cannot be ingested to its quarantine table
// with the verdict's stage and reason; its offset still counts as
// consumed by the other tables of the route, whose ranges cover it.
// Without a quarantine table the record is passed over instead: counted,
// logged and listed in the commit's summary, so that verify can account
// for it.
func (p *Pipeline) reject(ctx context.Context, rt *topicRoute, rec *recordView, v verdict) error {
	m := &rec.meta
	tp := table.TP{Topic: m.Topic, Partition: m.Partition}
	p.m.rejected.WithLabelValues(tp.Topic, string(v.stage), string(v.reason)).Inc()
	if v.stage == stageDecode {
		p.m.undecodable.WithLabelValues(tp.Topic, string(v.reason)).Inc()
	}
	// The quarantine table of the chosen table's route, or of the
	// topic's before a table is chosen.
	q := rt.quarantine
	if v.ts != nil {
		q = v.ts.rejects
	}
	dest, holder := "quarantine", q
	if q == nil {
		dest, holder = "passed over", rt.anchor
	}
	fresh := holder.accepts(tp, m.Offset) // not judged by an earlier commit
	if p.opts.DLQTopic != "" && fresh {
		p.toDLQ(rec, v)
	}
	p.log.Warn("record rejected", "topic", tp.Topic,
		"partition", tp.Partition, "offset", m.Offset, "stage", v.stage, "reason", v.reason, "to", dest, "err", v.cause)
	if q == nil {
		rt.passOver(tp, m.Offset, m.IngestedAt)
		return nil
	}
	rt.coverOthers(q, tp, m.Offset, m.IngestedAt)
	if !fresh {
		return nil // quarantined by an earlier commit
	}
	qb := rt.cover(q, tp, m.Offset, m.IngestedAt)
	rej := schema.Reject{Value: rec.value, SchemaID: v.schemaID, HasID: v.hasID, Stage: string(v.stage), Reason: string(v.reason), Message: v.cause.Error()}
	if v.reason == reasonTooLarge && len(rej.Value) > maxRejectValue {
		// The record stays in Kafka at its offset; the quarantine row keeps
		// a prefix to look at, not a second copy of the oversized payload.
		rej.Value = rej.Value[:maxRejectValue]
		rej.Message += fmt.Sprintf(" (raw_value keeps the first %d bytes)", maxRejectValue)
	}
	rej.Headers = append(rej.Headers, rec.hdrs()...)
	schema.AppendReject(qb.builder, m, &rej)
	n := int64(len(rej.Value) + len(m.Key) + len(rej.Message))
	qb.pending++
	qb.pendingB += n
	qb.valueBytes += int64(len(rec.value))
	return p.afterAppend(ctx, q)
}

// maxRejectValue is how much of an oversized record's value its
// quarantine row and its DLQ record keep.
const maxRejectValue = 64 << 10

// DLQ headers added to every rejected record produced to the DLQ topic,
// after the record's own headers.
const (
	HeaderDLQTopic     = "bigfather.topic"
	HeaderDLQPartition = "bigfather.partition"
	HeaderDLQOffset    = "bigfather.offset"
	HeaderDLQStage     = "bigfather.stage"
	HeaderDLQReason    = "bigfather.reason"
	HeaderDLQError     = "bigfather.error"
	// HeaderDLQTruncated is "true" on an oversized record whose value was
	// cut to its first 64 KiB; the whole record stays at its offset.
	HeaderDLQTruncated = "bigfather.truncated"
)

// checkDLQ fails fast when the DLQ topic does not exist: producing to it
// would fail every flush that has a reject.
func (p *Pipeline) checkDLQ(ctx context.Context) error {
	if p.opts.DLQTopic == "" {
		return nil
	}
	tds, err := p.adm.ListTopics(ctx, p.opts.DLQTopic)
	if err != nil {
		return fmt.Errorf("dlq topic %s: %w", p.opts.DLQTopic, err)
	}
	if td, ok := tds[p.opts.DLQTopic]; !ok || td.Err != nil {
		return fmt.Errorf("%w: dlq topic %s does not exist; create it, or unset it", ErrConfig, p.opts.DLQTopic)
	}
	return nil
}

// toDLQ queues a rejected record for the DLQ topic.
func (p *Pipeline) toDLQ(rec *recordView, v verdict) {
	m := &rec.meta
	out := &kgo.Record{Topic: p.opts.DLQTopic, Key: m.Key, Value: rec.value, Timestamp: m.Timestamp}
	out.Headers = make([]kgo.RecordHeader, 0, len(rec.hdrs())+7)
	for _, h := range rec.hdrs() {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(m.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQStage, Value: []byte(v.stage)},
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(v.reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(v.cause.Error())},
	)
	if v.reason == reasonTooLarge && len(out.Value) > maxRejectValue {
		out.Value = out.Value[:maxRejectValue]
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: HeaderDLQTruncated, Value: []byte("true")})
	}
	p.dlq = append(p.dlq, out)
	p.dlqBytes += int64(len(out.Key) + len(out.Value))
}

// produceDLQ sends the queued rejects to the DLQ topic and waits for them.
// A record the broker refuses for good (too large, invalid) is counted,
// logged and dropped: it is in quarantine, and retrying would stall the
// pipeline forever. Any other failure fails the flush, which re-reads the
// batch and produces its rejects again (at least once).
func (p *Pipeline) produceDLQ(ctx context.Context) error {
	if len(p.dlq) == 0 {
		return nil
	}
	var failed error
	for _, res := range p.cl.ProduceSync(ctx, p.dlq...) {
		tooLarge := errors.Is(res.Err, kerr.MessageTooLarge) || errors.Is(res.Err, kerr.RecordListTooLarge)
		invalid := errors.Is(res.Err, kerr.InvalidRecord) || errors.Is(res.Err, kerr.CorruptMessage)
		switch {
		case res.Err == nil:
			p.m.dlqProduced.Inc()
		case tooLarge || invalid:
			label := "invalid"
			if tooLarge {
				label = "too-large"
			}
			p.m.dlqDropped.WithLabelValues(label).Inc()
			p.log.Error("DLQ topic refused a rejected record; it stays in quarantine",
				"topic", p.opts.DLQTopic, "err", res.Err)
		case failed == nil:
			failed = fmt.Errorf("produce rejects to DLQ topic %s: %w", p.opts.DLQTopic, res.Err)
		}
	}
	if failed != nil {
		return failed
	}
	p.dlq, p.dlqBytes = nil, 0
	return nil
}
