package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/registry"
)

// Stage is where a record was rejected. Its string is the quarantine
// table's stage column, the DLQ's bigfather.stage header and the stage
// label of the rejects metric.
type Stage string

const (
	stageDecode    Stage = schema.StageDecode
	stageValidate  Stage = schema.StageValidate
	stageTransform Stage = schema.StageTransform
	stageRoute     Stage = schema.StageRoute
)

// Reason is why a record was rejected: one of these, the name of the
// validation rule that failed, or the transform step that failed. Its
// string is the quarantine table's reason column, the DLQ's
// bigfather.reason header and the reason label of the rejects metrics.
type Reason string

const (
	reasonTooLarge           Reason = "too-large"
	reasonWire               Reason = "wire"
	reasonUnknownSchema      Reason = "unknown-schema"
	reasonUnsupportedSchema  Reason = "unsupported-schema"
	reasonForeignSchema      Reason = "foreign-schema"
	reasonIncompatibleSchema Reason = "incompatible-schema"
	reasonSchema             Reason = "schema" // the writer schema does not fit the table otherwise
	reasonMalformed          Reason = "malformed"
	reasonMalformedJSON      Reason = "malformed-json"
	reasonMalformedProtobuf  Reason = "malformed-protobuf"
	reasonUnrouted           Reason = "unrouted"
	reasonRules              Reason = "rules"     // the rules cannot read the writer schema
	reasonFilter             Reason = "filter"    // the filter cannot read the record
	reasonTransform          Reason = "transform" // a chain failure with no step named
)

// recordView is a record as a verdict sees it, wherever it comes from (a
// Kafka fetch, a file, a quarantine row being replayed): its metadata,
// value and headers, and none of the consumer's bookkeeping.
type recordView struct {
	// meta is the record's topic, partition, offset, timestamp and key,
	// with IngestedAt the time it was read.
	meta  schema.Meta
	value []byte
	// headers, read through hdrs: a Kafka record's kafka headers are
	// converted into it on first use (converted); a view built from
	// elsewhere sets headers and converted itself.
	headers   []schema.Header
	kafka     []kgo.RecordHeader
	converted bool
}

// viewOf returns r as the pipeline's record view, in reused space: it is
// valid until the next record.
func (p *Pipeline) viewOf(r *kgo.Record, now time.Time) *recordView {
	v := &p.view
	v.meta = RecordMeta(r, now)
	v.value = r.Value
	v.kafka, v.converted = r.Headers, false
	return v
}

// hdrs returns the record's headers. A Kafka record's are converted on
// the first call only: most records meet no rule, transform or
// quarantine that reads them.
func (v *recordView) hdrs() []schema.Header {
	if !v.converted {
		v.headers = v.headers[:0]
		for _, h := range v.kafka {
			v.headers = append(v.headers, schema.Header{Key: h.Key, Value: h.Value})
		}
		v.converted = true
	}
	return v.headers
}

// outcome is what becomes of a judged record.
type outcome uint8

const (
	// keep: the record goes to table ts, as payload of writer schema ws.
	keep outcome = iota
	// reject: the record goes to quarantine with stage, reason and cause.
	reject
	// passOver: no table holds the record: a filter dropped it, or no
	// route took it (and unrouted records are dropped).
	passOver
	// createTable: the record goes to table ts, which does not exist yet:
	// it must be created from ws (createTable), and the verdict bound to
	// the new table's decoder (bind).
	createTable
)

// verdict is what becomes of one record. It is decided by judge, which
// touches no batch and no watermark: the ledger is told of it after.
type verdict struct {
	outcome outcome
	// ts is the data table chosen for the record; nil when it was
	// rejected before routing, or no route takes it.
	ts *tableState
	// ws and payload are the record as ts takes it (after its transform
	// chain), and dec decodes it into ts's schema.
	ws      *registry.WriterSchema
	payload []byte
	dec     *decode.Decoder
	// ev is, when not nil, the evolution of ts's schema the record needs
	// (applyEvolution); dec decodes into the evolved schema.
	ev *evolution
	// checked: the payload is known to decode. Unchecked, a payload that
	// does not is rejected (stageDecode, reasonMalformed) by the Decode
	// that appends it, which is all or nothing; a caller that does not
	// append it must Check it.
	checked bool
	// filtered: passed over by a filter, else no route took it.
	filtered bool
	// The rejection: where, why, and the error saying so.
	stage  Stage
	reason Reason
	cause  error
	// schemaID is the registry id the record names, when hasID.
	schemaID int32
	hasID    bool
}

func (v verdict) rejected(stage Stage, reason Reason, cause error) verdict {
	v.outcome, v.stage, v.reason, v.cause = reject, stage, reason, cause
	return v
}

func (v verdict) passedOver(filtered bool) verdict {
	v.outcome, v.filtered = passOver, filtered
	return v
}

// judge decides what becomes of one record of route rt: decode, route,
// validate, filter and transform, in that order. An error means the
// record cannot be judged now (the context ended, or the catalog or
// registry failed in a way no record is to blame for): it must stop.
func (p *Pipeline) judge(ctx context.Context, rt *topicRoute, rec *recordView) (verdict, error) {
	var v verdict
	if n := len(rec.meta.Key) + len(rec.value); n > p.opts.MaxRecordBytes {
		return v.rejected(stageDecode, reasonTooLarge,
			fmt.Errorf("record is %d bytes (key and value), above the limit of %d", n, p.opts.MaxRecordBytes)), nil
	}
	v, err := p.read(ctx, rt, rec)
	if err != nil || v.outcome != keep {
		return v, err
	}
	ts, err := p.choose(rt, v.ws, v.payload, rec)
	switch {
	case errors.Is(err, schema.ErrMalformed):
		return v.rejected(stageDecode, reasonMalformed, err), nil
	case ts == nil && p.opts.Unrouted == UnroutedDrop:
		return v.passedOver(false), nil
	case ts == nil:
		if err == nil {
			err = errors.New("no table's route takes the record")
		}
		return v.rejected(stageRoute, reasonUnrouted, err), nil
	}
	v.ts = ts
	judged := ts.transforms != nil
	if judged {
		// The rules and the filter judge the record as it arrived; the
		// table holds it as the chain leaves it.
		if out, ok := p.rulesAndFilter(v, rec); !ok {
			return out, nil
		}
		ws, payload, kept, err := p.transform(ts, v.ws, v.payload, rec)
		switch te, named := errors.AsType[*transform.TransformError](err); {
		case errors.Is(err, schema.ErrMalformed):
			return v.rejected(stageDecode, reasonMalformed, err), nil
		case named:
			return v.rejected(stageTransform, Reason(te.Step), err), nil
		case err != nil:
			return v.rejected(stageTransform, reasonTransform, err), nil
		case !kept:
			return v.passedOver(true), nil
		}
		v.ws, v.payload = ws, payload
	}
	if ts.tbl == nil {
		v.outcome = createTable
		return v, nil
	}
	return p.bind(v, rec), nil
}

// bind ends the verdict on a record kept in an existing table: its decoder
// (and any evolution the writer schema asks of the table) and, where the
// rules and filter still have to judge it, a check that it decodes.
// record() calls it again after creating a table, so the record is read,
// routed and transformed once.
func (p *Pipeline) bind(v verdict, rec *recordView) verdict {
	ts, judged := v.ts, v.ts.transforms != nil
	var err error
	if v.dec, v.ev, err = p.decoder(ts, v.ws); err != nil {
		return v.rejected(stageDecode, misfit(err), err)
	}
	if (!judged && (ts.rules != nil || ts.filter != nil)) || v.ev != nil {
		// Judge the record before anything is appended: decoding is all
		// or nothing, and a rule failure must leave no row behind.
		if err := v.dec.Check(v.payload); err != nil {
			return v.rejected(stageDecode, reasonMalformed, err)
		}
		v.checked = true
		if !judged {
			if out, ok := p.rulesAndFilter(v, rec); !ok {
				return out
			}
		}
	}
	return v
}

// misfit is the reason to reject a record whose writer schema has no
// decoder into its table.
func misfit(err error) Reason {
	if errors.Is(err, schema.ErrIncompatible) {
		return reasonIncompatibleSchema
	}
	return reasonSchema
}

// read decodes a record's value to the Avro payload the tables take and
// its writer schema: plain JSON by the route's declared schema, or the
// registry's wire format (Avro, JSON Schema or Protobuf) by the schema id
// it names, which must belong to the topic's subject.
func (p *Pipeline) read(ctx context.Context, rt *topicRoute, rec *recordView) (verdict, error) {
	var v verdict
	if rt.json != nil {
		var err error
		if p.jsonScratch, err = rt.json.Convert(p.jsonScratch[:0], rec.value); err != nil {
			return v.rejected(stageDecode, reasonMalformedJSON, err), nil
		}
		v.ws, v.payload = rt.jsonWS, p.jsonScratch
		return v, nil
	}
	id, body, err := registry.SplitWire(rec.value)
	if err != nil {
		return v.rejected(stageDecode, reasonWire, err), nil
	}
	v.schemaID, v.hasID = id, true
	ws, err := p.writerSchema(ctx, int(id))
	switch {
	case errors.Is(err, registry.ErrUnknownSchema):
		return v.rejected(stageDecode, reasonUnknownSchema, err), nil
	case errors.Is(err, registry.ErrUnsupportedSchema):
		return v.rejected(stageDecode, reasonUnsupportedSchema, err), nil
	case err != nil:
		return v, err
	}
	v.ws, v.payload = ws, body
	if ws.Proto != nil {
		// A Protobuf record: message indexes, then the message, read
		// with its Avro translation.
		m, data, err := ws.Proto.Split(body)
		if err == nil {
			p.jsonScratch, err = m.Convert(p.jsonScratch[:0], data)
		}
		switch {
		case errors.Is(err, registry.ErrUnsupportedSchema):
			return v.rejected(stageDecode, reasonUnsupportedSchema, err), nil
		case err != nil:
			return v.rejected(stageDecode, reasonMalformedProtobuf, err), nil
		}
		v.ws, v.payload = m.Writer, p.jsonScratch
	} else if ws.JSON != nil {
		// A JSON Schema record: the document after the header, read
		// with the schema's Avro translation.
		if p.jsonScratch, err = ws.JSON.Convert(p.jsonScratch[:0], body); err != nil {
			return v.rejected(stageDecode, reasonMalformedJSON, err), nil
		}
		v.payload = p.jsonScratch
	}
	if reason, err := p.subjectCheck(ctx, rt.topic, int(id), v.ws); reason != "" {
		return v.rejected(stageDecode, reason, err), nil
	} else if err != nil {
		return v, err
	}
	return v, nil
}

// choose returns the data table a record goes to: the first of the
// route's tables whose route takes it. Nil means no route takes it; the
// error is then the first route that failed on the record, if any.
func (p *Pipeline) choose(rt *topicRoute, ws *registry.WriterSchema, payload []byte, rec *recordView) (*tableState, error) {
	var firstErr error
	for _, ts := range rt.tables {
		if ts.route == nil {
			return ts, nil
		}
		ev, err := p.evaluator(ts, ts.route, ts.routeEvals, ws, "route of "+ts.name)
		if err == nil {
			var failed string
			failed, err = ev.Eval(payload, &rec.meta, rec.hdrs())
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

// rulesAndFilter runs v.ts's rules and filter on the record v holds. It
// returns the verdict and false when they reject it or the filter drops
// it; true when the record goes on.
func (p *Pipeline) rulesAndFilter(v verdict, rec *recordView) (verdict, bool) {
	ts := v.ts
	if ts.rules != nil {
		ev, err := p.evaluator(ts, ts.rules, ts.evaluators, v.ws, "validation rules")
		if err != nil {
			return v.rejected(stageValidate, reasonRules, err), false
		}
		failed, err := ev.Eval(v.payload, &rec.meta, rec.hdrs())
		switch {
		case failed != "":
			if err == nil {
				err = fmt.Errorf("rule %q is false", failed)
			}
			return v.rejected(stageValidate, Reason(failed), err), false
		case err != nil:
			return v.rejected(stageDecode, reasonMalformed, err), false
		}
	}
	if ts.filter != nil {
		// An error (the filter cannot read the schema, or fails at run
		// time) is a transform failure of the record.
		ev, err := p.evaluator(ts, ts.filter, ts.filterEvals, v.ws, "filter")
		if err != nil {
			return v.rejected(stageTransform, reasonFilter, err), false
		}
		failed, err := ev.Eval(v.payload, &rec.meta, rec.hdrs())
		switch {
		case err != nil:
			return v.rejected(stageTransform, reasonFilter, err), false
		case failed != "":
			return v.passedOver(true), false
		}
	}
	return v, true
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
// it; kept is false when a filter step drops it.
func (p *Pipeline) transform(ts *tableState, ws *registry.WriterSchema, payload []byte, rec *recordView) (*registry.WriterSchema, []byte, bool, error) {
	pg, ok := ts.programs[ws]
	if !ok {
		pg = &program{}
		if prog, err := ts.transforms.Bind(ws.Avro); err != nil {
			// Every record of this writer schema fails the chain: say so
			// once, and quarantine them.
			pg.err = fmt.Errorf("transforms cannot read schema %d: %w", ws.ID, err)
			p.log.Error("transform chain does not fit a writer schema: its records go to quarantine",
				"table", ts.name, "schema_id", ws.ID, "err", err)
		} else {
			pg.prog, pg.ws = prog, &registry.WriterSchema{ID: ws.ID, Avro: prog.Schema()}
		}
		ts.programs[ws] = pg
	}
	if pg.err != nil {
		return nil, nil, false, pg.err
	}
	out, kept, err := pg.prog.Apply(p.xformScratch[:0], payload, &rec.meta, rec.hdrs())
	if out != nil {
		p.xformScratch = out
	}
	return pg.ws, out, kept, err
}

// evaluator binds rules to a writer schema once per schema.
func (p *Pipeline) evaluator(ts *tableState, rs *rules.Rules, cache map[*registry.WriterSchema]*rules.RuleEvaluator,
	ws *registry.WriterSchema, what string) (*rules.RuleEvaluator, error) {
	if ev, ok := cache[ws]; ok {
		return ev, nil
	}
	ev, err := rs.Bind(ws.Avro)
	if err != nil {
		// The expressions cannot read this writer schema (a path through a
		// field of another kind, say): every record of it fails them.
		err = fmt.Errorf("%s cannot read schema %d: %w", what, ws.ID, err)
		p.log.Error("expressions do not fit a writer schema: its records go to quarantine",
			"table", ts.name, "schema_id", ws.ID, "err", err)
		return nil, err
	}
	cache[ws] = ev
	return ev, nil
}
