package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/table"
)

// record judges one record (verdict.go) and tells the route's ledger
// (ledger.go) what became of it: appended to the batch of the table it
// goes to, quarantined, or passed over. Each table takes only offsets at
// or above its own watermark (DESIGN.md §3 rule 2): after a crash between
// the commits of a route, some tables already hold records the others
// still need.
func (p *Pipeline) record(ctx context.Context, rt *topicRoute, tp table.TP, r *kgo.Record, now time.Time) error {
	if !rt.pending(tp, r.Offset) {
		return nil // in every table already
	}
	p.stats.consumed.Add(1)
	rec := p.viewOf(r, now)
	v, err := p.judge(ctx, rt, rec)
	if err == nil && v.outcome == createTable {
		// The first record kept in a table creates it from its writer
		// schema; then it meets the table's decoder, without being read,
		// routed and transformed a second time.
		if err := p.createTable(ctx, v.ts, v.ws); err != nil {
			return p.noDecoder(ctx, rt, rec, v, err)
		}
		v.outcome = keep
		v = p.bind(v, rec)
	}
	switch {
	case err != nil:
		return err
	case v.outcome == reject:
		return p.reject(ctx, rt, rec, v)
	case v.outcome == passOver:
		return p.passOver(rt, rec, v)
	}
	if !v.ts.accepts(tp, r.Offset) {
		// The table already holds this good record; the others of the
		// route only need to know it is not theirs.
		if !v.checked {
			if err := v.dec.Check(v.payload); err != nil {
				return p.reject(ctx, rt, rec, v.rejected(stageDecode, reasonMalformed, err))
			}
		}
		rt.coverOthers(v.ts, tp, r.Offset, now)
		return nil
	}
	if v.ev != nil {
		// The record decodes and is kept: only now may it change the
		// table's schema, in the commit that holds it.
		if v.dec, err = p.applyEvolution(ctx, v.ts, v.ws, v.ev); err != nil {
			return p.noDecoder(ctx, rt, rec, v, err)
		}
	}
	return p.append(ctx, rt, rec, v)
}

// append adds a kept record to its table's batch and holds it there.
func (p *Pipeline) append(ctx context.Context, rt *topicRoute, rec *recordView, v verdict) error {
	ts, m := v.ts, &rec.meta
	b := ts.open(m.IngestedAt)
	if err := AppendRow(b.builder, v.dec, v.payload, m); err != nil {
		return p.reject(ctx, rt, rec, v.rejected(stageDecode, reasonMalformed, err))
	}
	rt.hold(ts, table.TP{Topic: m.Topic, Partition: m.Partition}, m.Offset, m.IngestedAt)
	b.pending++
	b.pendingB += int64(len(rec.value))
	b.valueBytes += int64(len(rec.value))
	return p.afterAppend(ctx, ts)
}

// noDecoder handles a record whose table could not be created, or whose
// writer schema could not evolve it: rejected when the schema does not
// fit, else err stops the record.
func (p *Pipeline) noDecoder(ctx context.Context, rt *topicRoute, rec *recordView, v verdict, err error) error {
	var fatal *fatalError
	switch {
	case errors.As(err, &fatal), errors.Is(err, errResynced), ctx.Err() != nil:
		return err
	case errors.Is(err, table.ErrPartitionSpec):
		// Every record would be rejected for the config's mistake.
		p.halt(table.TP{Topic: rec.meta.Topic, Partition: rec.meta.Partition}, err)
		return nil
	}
	return p.reject(ctx, rt, rec, v.rejected(stageDecode, misfit(err), err))
}

// passOver drops a record a filter or the routing leaves out, counting it
// by table (or topic, when no table was chosen): its offset is consumed,
// and listed in the commit's bigfather.skipped so verify accounts for it,
// but no table holds it.
func (p *Pipeline) passOver(rt *topicRoute, rec *recordView, v verdict) error {
	c, label := p.m.unrouted, rec.meta.Topic
	if v.filtered {
		c = p.m.filtered
	}
	if v.ts != nil {
		label = v.ts.name
	}
	c.WithLabelValues(label).Inc()
	rt.passOver(table.TP{Topic: rec.meta.Topic, Partition: rec.meta.Partition}, rec.meta.Offset, rec.meta.IngestedAt)
	return nil
}

// afterAppend hands a full chunk to the Parquet writer and flushes when the
// batches reach the record limit.
func (p *Pipeline) afterAppend(ctx context.Context, ts *tableState) error {
	b := ts.b
	if b.pending >= ChunkRows {
		if err := p.writeChunk(ctx, ts); err != nil {
			p.flushProblem(ProblemWarehouse, err)
			return p.abandon(ctx, flushWrite, err)
		}
	}
	if b.rows+int64(b.pending) >= p.opts.FlushMaxRecords {
		return p.flush(ctx, flushRecords)
	}
	return nil
}
