package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// record routes one record into the batch of the table it goes to, or
// into a quarantine table when it cannot be ingested. Each table takes
// only offsets at or above its own watermark (DESIGN.md §3 rule 2): after
// a crash between the commits of a route, some tables already hold
// records the others still need.
func (p *Pipeline) record(ctx context.Context, rt *topicRoute, tp table.TP, r *kgo.Record, now time.Time) error {
	if !rt.pending(tp, r.Offset) {
		return nil // in every table already
	}
	p.stats.consumed.Add(1)
	rc := recordCtx{rt: rt, tp: tp, r: r, now: now, q: rt.quarantine}
	if n := len(r.Key) + len(r.Value); n > p.opts.MaxRecordBytes {
		return p.reject(ctx, &rc, schema.StageDecode, "too-large",
			fmt.Errorf("record is %d bytes (key and value), above the limit of %d", n, p.opts.MaxRecordBytes))
	}
	var payload []byte
	var ws *registry.WriterSchema
	if rt.json != nil {
		var err error
		if p.jsonScratch, err = rt.json.Convert(p.jsonScratch[:0], r.Value); err != nil {
			return p.reject(ctx, &rc, schema.StageDecode, "malformed-json", err)
		}
		payload, ws = p.jsonScratch, rt.jsonWS
	} else {
		id, body, err := registry.SplitWire(r.Value)
		if err != nil {
			return p.reject(ctx, &rc, schema.StageDecode, "wire", err)
		}
		rc.schemaID, rc.hasID = id, true
		switch ws, err = p.writerSchema(ctx, int(id)); {
		case errors.Is(err, registry.ErrUnknownSchema):
			return p.reject(ctx, &rc, schema.StageDecode, "unknown-schema", err)
		case errors.Is(err, registry.ErrUnsupportedSchema):
			return p.reject(ctx, &rc, schema.StageDecode, "unsupported-schema", err)
		case err != nil:
			return err
		}
		payload = body
		if ws.Proto != nil {
			// A Protobuf record: message indexes, then the message, read
			// with its Avro translation.
			m, data, err := ws.Proto.Split(body)
			if err == nil {
				p.jsonScratch, err = m.Convert(p.jsonScratch[:0], data)
			}
			switch {
			case errors.Is(err, registry.ErrUnsupportedSchema):
				return p.reject(ctx, &rc, schema.StageDecode, "unsupported-schema", err)
			case err != nil:
				return p.reject(ctx, &rc, schema.StageDecode, "malformed-protobuf", err)
			}
			payload, ws = p.jsonScratch, m.Writer
		} else if ws.JSON != nil {
			// A JSON Schema record: the document after the header, read
			// with the schema's Avro translation.
			if p.jsonScratch, err = ws.JSON.Convert(p.jsonScratch[:0], body); err != nil {
				return p.reject(ctx, &rc, schema.StageDecode, "malformed-json", err)
			}
			payload = p.jsonScratch
		}
		if reason, err := p.subjectCheck(ctx, rt.topic, int(id), ws); reason != "" {
			return p.reject(ctx, &rc, schema.StageDecode, reason, err)
		} else if err != nil {
			return err
		}
	}
	ts, err := p.choose(&rc, ws, payload)
	switch {
	case errors.Is(err, schema.ErrMalformed):
		return p.reject(ctx, &rc, schema.StageDecode, "malformed", err)
	case ts == nil && p.opts.Unrouted == UnroutedDrop:
		return p.passOver(&rc, p.m.unrouted)
	case ts == nil:
		if err == nil {
			err = errors.New("no table's route takes the record")
		}
		return p.reject(ctx, &rc, schema.StageRoute, "unrouted", err)
	}
	rc.ts, rc.q = ts, ts.rejects
	wantT := ts.accepts(tp, r.Offset)
	if ts.transforms != nil {
		// The rules and the filter judge the record as it arrived; the
		// table holds it as the chain leaves it.
		if stage, reason, err := p.judge(ts, ws, payload, &rc); err != nil {
			return p.reject(ctx, &rc, stage, reason, err)
		} else if reason == "filter" {
			return p.passOver(&rc, p.m.filtered)
		}
		var keep bool
		if ws, payload, keep, err = p.transform(ts, ws, payload, &rc); err != nil {
			if errors.Is(err, schema.ErrMalformed) {
				return p.reject(ctx, &rc, schema.StageDecode, "malformed", err)
			}
			reason := "transform"
			if te, ok := errors.AsType[*transform.TransformError](err); ok {
				reason = te.Step
			}
			return p.reject(ctx, &rc, schema.StageTransform, reason, err)
		}
		if !keep {
			return p.passOver(&rc, p.m.filtered)
		}
	}
	dec, ev, err := p.decoder(ctx, ts, ws)
	if err != nil {
		return p.noDecoder(ctx, &rc, err)
	}
	judged := ts.transforms != nil
	if (!judged && (ts.rules != nil || ts.filter != nil)) || !wantT || ev != nil {
		// Judge the record before anything is appended: decoding is all
		// or nothing, and a rule failure must leave no row behind.
		if err := dec.Check(payload); err != nil {
			return p.reject(ctx, &rc, schema.StageDecode, "malformed", err)
		}
		if !judged {
			if stage, reason, err := p.judge(ts, ws, payload, &rc); err != nil {
				return p.reject(ctx, &rc, stage, reason, err)
			} else if reason == "filter" {
				return p.passOver(&rc, p.m.filtered)
			}
		}
	}
	if !wantT {
		// The table already holds this good record; the others of the
		// route only need to know it is not theirs.
		rc.coverOthers(ts)
		return nil
	}
	if ev != nil {
		// The record decodes and is kept: only now may it change the
		// table's schema, in the commit that holds it.
		if dec, err = p.applyEvolution(ctx, ts, ws, ev); err != nil {
			return p.noDecoder(ctx, &rc, err)
		}
	}
	b := ts.open(now)
	if err := dec.Decode(payload, b.builder); err != nil {
		return p.reject(ctx, &rc, schema.StageDecode, "malformed", err)
	}
	schema.AppendMeta(b.builder, &schema.Meta{
		Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp, Key: r.Key, IngestedAt: now,
	})
	rc.cover(ts)
	rc.coverOthers(ts)
	b.pending++
	b.pendingB += int64(len(r.Value))
	b.valueBytes += int64(len(r.Value))
	return p.afterAppend(ctx, ts)
}

// noDecoder handles a record whose writer schema has no decoder into its
// table: rejected when the schema does not fit, else err stops the record.
func (p *Pipeline) noDecoder(ctx context.Context, rc *recordCtx, err error) error {
	var fatal *fatalError
	switch {
	case errors.As(err, &fatal), errors.Is(err, errResynced), ctx.Err() != nil:
		return err
	case errors.Is(err, schema.ErrIncompatible):
		return p.reject(ctx, rc, schema.StageDecode, "incompatible-schema", err)
	case errors.Is(err, table.ErrPartitionSpec):
		// Every record would be rejected for the config's mistake.
		p.halt(rc.tp, err)
		return nil
	}
	return p.reject(ctx, rc, schema.StageDecode, "schema", err)
}

// pending reports whether some table of the route does not hold offset
// off of tp yet.
func (rt *topicRoute) pending(tp table.TP, off int64) bool {
	for _, t := range rt.all {
		if t.accepts(tp, off) {
			return true
		}
	}
	return false
}

// coverOthers records off as consumed in every table of the route that
// still needs a verdict on it, except holder, which holds the record or
// lists it. A data table not created yet gets nothing now; the batch that
// creates it starts its range where the route's batch does (batchStart).
func (rc *recordCtx) coverOthers(holder *tableState) {
	for _, t := range rc.rt.all {
		if t != holder && (t.tbl != nil || t.isRejects) && t.accepts(rc.tp, rc.r.Offset) {
			rc.cover(t)
		}
	}
}

// cover records the record's offset in t's batch; a range t starts for
// the partition begins where the route's open batches do.
func (rc *recordCtx) cover(t *tableState) *batch {
	return t.cover(rc.rt, rc.tp, rc.r.Offset, rc.now)
}

// batchStart is the lowest offset of tp the route's open batches cover,
// or off when none covers tp.
func (rt *topicRoute) batchStart(tp table.TP, off int64) int64 {
	for _, t := range rt.all {
		if t.b != nil {
			if rg, ok := t.b.consumed()[tp]; ok {
				off = min(off, rg[0])
			}
		}
	}
	return off
}

// choose returns the data table a record goes to: the first of the
// route's tables whose route takes it. Nil means no route takes it; the
// error is then the first route that failed on the record, if any.
func (p *Pipeline) choose(rc *recordCtx, ws *registry.WriterSchema, payload []byte) (*tableState, error) {
	var firstErr error
	for _, ts := range rc.rt.tables {
		if ts.route == nil {
			return ts, nil
		}
		ev, err := p.evaluator(ts, ts.route, ts.routeEvals, ws, "route of "+ts.name)
		if err == nil {
			var failed string
			failed, err = p.eval(ev, payload, rc)
			switch {
			case failed == "" && err != nil:
				return nil, err // the payload does not decode
			case failed == "":
				return ts, nil
			}
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("route of %s: %w", ts.name, err)
		}
	}
	return nil, firstErr
}

// judge runs the table's rules and filter on a record. It returns the
// stage and reason to reject the record with and an error, or the reason
// "filter" and no error when the filter drops it.
func (p *Pipeline) judge(ts *tableState, ws *registry.WriterSchema, payload []byte, rc *recordCtx) (stage, reason string, err error) {
	if ts.rules != nil {
		if stage, reason, err := p.validate(ts, ws, payload, rc); err != nil {
			return stage, reason, err
		}
	}
	if ts.filter != nil {
		keep, err := p.keep(ts, ws, payload, rc)
		if err != nil {
			return schema.StageTransform, "filter", err
		}
		if !keep {
			return "", "filter", nil
		}
	}
	return "", "", nil
}

// program is a table's transform chain bound to one writer schema, with
// the writer schema standing for the chain's output; err when the chain
// does not fit the writer schema.
type program struct {
	prog *transform.TransformProgram
	ws   *registry.WriterSchema
	err  error
}

// transform runs ts's chain on a record and returns it as the table takes
// it; keep is false when a filter step drops it.
func (p *Pipeline) transform(ts *tableState, ws *registry.WriterSchema, payload []byte, rc *recordCtx) (*registry.WriterSchema, []byte, bool, error) {
	pg, ok := ts.programs[ws]
	if !ok {
		pg = &program{}
		if prog, err := ts.transforms.Bind(ws.Avro); err != nil {
			// Every record of this writer schema fails the chain: say so
			// once, and quarantine them.
			pg.err = fmt.Errorf("transforms cannot read schema %d: %w", ws.ID, err)
			p.opts.Logger.Error("transform chain does not fit a writer schema: its records go to quarantine", "pipeline", p.opts.Pipeline,
				"table", ts.name, "schema_id", ws.ID, "err", err)
		} else {
			pg.prog, pg.ws = prog, &registry.WriterSchema{ID: ws.ID, Avro: prog.Schema()}
		}
		ts.programs[ws] = pg
	}
	if pg.err != nil {
		return nil, nil, false, pg.err
	}
	meta, hdrs := p.scratchMeta(rc)
	out, keep, err := pg.prog.Apply(p.xformScratch[:0], payload, meta, hdrs)
	if out != nil {
		p.xformScratch = out
	}
	return pg.ws, out, keep, err
}

// validate runs the route's rules on a payload that passed Check. It
// returns the stage and reason to reject the record with, or a nil error.
func (p *Pipeline) validate(ts *tableState, ws *registry.WriterSchema, payload []byte, rc *recordCtx) (stage, reason string, err error) {
	ev, err := p.evaluator(ts, ts.rules, ts.evaluators, ws, "validation rules")
	if err != nil {
		return schema.StageValidate, "rules", err
	}
	failed, err := p.eval(ev, payload, rc)
	switch {
	case failed != "":
		if err == nil {
			err = fmt.Errorf("rule %q is false", failed)
		}
		return schema.StageValidate, failed, err
	case err != nil:
		return schema.StageDecode, "malformed", err
	}
	return "", "", nil
}

// keep reports whether the route's filter keeps the record; an error
// (the filter cannot read the schema, or fails at run time) is a
// transform failure of the record.
func (p *Pipeline) keep(ts *tableState, ws *registry.WriterSchema, payload []byte, rc *recordCtx) (bool, error) {
	ev, err := p.evaluator(ts, ts.filter, ts.filterEvals, ws, "filter")
	if err != nil {
		return false, err
	}
	failed, err := p.eval(ev, payload, rc)
	switch {
	case failed == "":
		return err == nil, err
	case err != nil:
		return false, err
	}
	return false, nil
}

// passOver drops a record a filter or the routing leaves out, counting it
// in c by table (or topic, when no table was chosen): its offset is
// consumed, and listed in the commit's bigfather.skipped so verify
// accounts for it, but no table holds it.
func (p *Pipeline) passOver(rc *recordCtx, c *prometheus.CounterVec) error {
	label := rc.tp.Topic
	if rc.ts != nil {
		label = rc.ts.name
	}
	c.WithLabelValues(label).Inc()
	rc.skip()
	return nil
}

// skip passes over a record no table of the route holds: its offset is
// listed in the anchor's commit (bigfather.skipped) so verify accounts for
// it, unless the anchor already holds it, and covered in the other tables.
// An anchor with no table yet (a lone data table before its first good
// record) has nothing to commit it to: the batch that creates the table
// covers the offset, from where the route's batch starts.
func (rc *recordCtx) skip() {
	if a := rc.rt.anchor; a.tbl != nil && a.accepts(rc.tp, rc.r.Offset) {
		rc.cover(a).skip(rc.tp, rc.r.Offset)
	}
	rc.coverOthers(rc.rt.anchor)
}

// evaluator binds rules to a writer schema once per schema.
func (p *Pipeline) evaluator(ts *tableState, rules *rules.Rules, cache map[*registry.WriterSchema]*rules.RuleEvaluator,
	ws *registry.WriterSchema, what string) (*rules.RuleEvaluator, error) {
	if ev, ok := cache[ws]; ok {
		return ev, nil
	}
	ev, err := rules.Bind(ws.Avro)
	if err != nil {
		// The expressions cannot read this writer schema (a path through a
		// field of another kind, say): every record of it fails them.
		err = fmt.Errorf("%s cannot read schema %d: %w", what, ws.ID, err)
		p.opts.Logger.Error("expressions do not fit a writer schema: its records go to quarantine", "pipeline", p.opts.Pipeline,
			"table", ts.name, "schema_id", ws.ID, "err", err)
		return nil, err
	}
	cache[ws] = ev
	return ev, nil
}

// eval runs ev on a record, with its metadata and headers in reused
// scratch space.
func (p *Pipeline) eval(ev *rules.RuleEvaluator, payload []byte, rc *recordCtx) (string, error) {
	meta, hdrs := p.scratchMeta(rc)
	return ev.Eval(payload, meta, hdrs)
}

// scratchMeta returns the record's metadata and headers in reused
// scratch space.
func (p *Pipeline) scratchMeta(rc *recordCtx) (*schema.Meta, []schema.Header) {
	r := rc.r
	p.hdrScratch = p.hdrScratch[:0]
	for _, h := range r.Headers {
		p.hdrScratch = append(p.hdrScratch, schema.Header{Key: h.Key, Value: h.Value})
	}
	p.metaScratch = schema.Meta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, IngestedAt: rc.now}
	return &p.metaScratch, p.hdrScratch
}

// afterAppend hands a full chunk to the Parquet writer and flushes when the
// batches reach the record limit.
func (p *Pipeline) afterAppend(ctx context.Context, ts *tableState) error {
	b := ts.b
	if b.pending >= chunkRows {
		if err := p.writeChunk(ctx, ts); err != nil {
			p.flushProblem(ProblemWarehouse, err)
			return p.abandon(ctx, "write", err)
		}
	}
	if b.rows+int64(b.pending) >= p.opts.FlushMaxRecords {
		return p.flush(ctx, "records")
	}
	return nil
}

// recordCtx is one record on its way through record and reject.
type recordCtx struct {
	rt *topicRoute
	// ts is the data table chosen for the record, nil before routing; q
	// is where it goes if rejected: ts's quarantine table, or the route's
	// before a table is chosen (nil: passed over).
	ts, q    *tableState
	tp       table.TP
	r        *kgo.Record
	now      time.Time
	schemaID int32
	hasID    bool
}
