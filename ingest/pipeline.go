package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// Pipeline is one worker of a consumer group, ingesting its partitions.
type Pipeline struct {
	opts      Options
	m         *metrics
	committer *table.Committer
	cl        *kgo.Client
	adm       *kadm.Client

	// mu guards everything below. The poll loop holds it while it
	// processes a poll; group callbacks take it to seek, commit or drop.
	mu       sync.Mutex
	tables   map[string]*tableState // by topic
	halted   map[table.TP]error
	toPause  map[string][]int32
	toResume map[string][]int32
	hw       map[table.TP]int64 // high watermarks from the last fetch
	// dlq holds the rejects of the open batches bound for the DLQ topic;
	// flush produces them before committing.
	dlq      []*kgo.Record
	dlqBytes int64
	// uploadCtx is the context data file uploads run under (see Run).
	uploadCtx context.Context
	// Scratch space reused for every record the rules judge.
	hdrScratch  []schema.Header
	metaScratch schema.Meta
	jsonScratch []byte // the Avro encoding of the JSON or Protobuf record at hand
	// firstSeen is the first offset consumed per partition since it was
	// assigned: where a never-committed partition restarts after a drop.
	firstSeen map[table.TP]int64

	stats stats
	ready atomic.Bool
}

type stats struct {
	committed  atomic.Int64
	lastCommit atomic.Int64 // unix nanos
	consumed   atomic.Int64
	lag        atomic.Int64
	halted     atomic.Int64 // len(halted), for Stats
}

// Stats is a point-in-time view for status lines.
type Stats struct {
	Committed  int64     // records committed since start
	Consumed   int64     // records consumed since start
	Lag        int64     // sum over partitions of high watermark − watermark
	LastCommit time.Time // zero if none yet
	Halted     int       // halted partitions
}

// New validates opts and builds a pipeline; Run starts it.
func New(opts Options) (*Pipeline, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{
		opts:      opts,
		m:         newMetrics(opts.Registerer),
		tables:    make(map[string]*tableState),
		halted:    make(map[table.TP]error),
		toPause:   make(map[string][]int32),
		toResume:  make(map[string][]int32),
		hw:        make(map[table.TP]int64),
		firstSeen: make(map[table.TP]int64),
	}
	p.committer = table.NewCommitter(opts.Catalog, table.CommitterOptions{Logger: opts.Logger})
	// Topics routed to the same table share its state: one batch, one
	// commit per flush, each topic's partitions with their own watermarks.
	byTable := map[string]*tableState{}
	for _, topic := range slices.Sorted(maps.Keys(opts.Routes)) {
		id := opts.Routes[topic]
		if ts, ok := byTable[strings.Join(id, ".")]; ok {
			p.tables[topic] = ts
			continue
		}
		ts := newTableState(id)
		byTable[ts.name] = ts
		ts.rules = opts.Rules[topic]
		ts.filter = opts.Filters[topic]
		ts.partitionBy = opts.PartitionBy[topic]
		ts.cleanseSteps = opts.Cleanse[topic]
		if j := opts.JSON[topic]; j != nil {
			// The declared schema stands in for a registry schema; id 0 is
			// one the registry never assigns.
			ts.json, ts.jsonWS = j, &schema.WriterSchema{ID: 0, Avro: j.Schema()}
		}
		if rid, ok := opts.Rejects[topic]; ok {
			q, err := newRejectsState(rid)
			if err != nil {
				return nil, err
			}
			ts.rejects = q
		}
		p.tables[topic] = ts
	}
	return p, nil
}

// Ready reports whether the pipeline has joined its group and owns its
// assignment.
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// Stats returns current counters. It takes no lock, so status lines and
// samplers never wait for a poll being processed.
func (p *Pipeline) Stats() Stats {
	halted := int(p.stats.halted.Load())
	s := Stats{
		Committed: p.stats.committed.Load(),
		Consumed:  p.stats.consumed.Load(),
		Lag:       p.stats.lag.Load(),
		Halted:    halted,
	}
	if n := p.stats.lastCommit.Load(); n != 0 {
		s.LastCommit = time.Unix(0, n)
	}
	return s
}

func (p *Pipeline) kafkaOpts() []kgo.Opt {
	o := p.opts
	kopts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.ClientID),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(slices.Sorted(maps.Keys(o.Routes))...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(o.FetchMaxBytes),
		// Group offsets are advisory (rule 2): seeking comes from the
		// tables, commits happen after the table commit.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Never reset silently past lost data (rule 7).
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.AdjustFetchOffsetsFn(p.adjustOffsets),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
		kgo.WithLogger(kslog.New(o.Logger.With("component", "kafka"))),
		kgo.WithHooks(kprom.NewMetrics("bigfather_kafka", kprom.Registerer(o.Registerer))),
	}
	if o.DLQTopic != "" {
		// Room for the largest reject the DLQ gets (oversized ones are cut
		// to maxRejectValue), plus headers.
		kopts = append(kopts, kgo.ProducerBatchMaxBytes(int32(min(max(o.MaxRecordBytes, maxRejectValue)+1<<20, 1<<30))))
	}
	if o.TLS != nil {
		kopts = append(kopts, kgo.DialTLSConfig(o.TLS))
	}
	if o.SASL != nil {
		kopts = append(kopts, kgo.SASL(o.SASL))
	}
	return append(kopts, o.KafkaOpts...)
}

// Run consumes until ctx is done or a fatal error occurs. On return every
// in-flight batch was committed or dropped whole (rule 9).
func (p *Pipeline) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(p.kafkaOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	p.cl, p.adm = cl, kadm.NewClient(cl)
	defer cl.Close()
	if err := p.checkDLQ(ctx); err != nil {
		return err
	}
	// Uploads outlive ctx: a stop signal ends fetching, but the files of
	// the in-flight batches must still complete for the shutdown flush to
	// commit them. They end with the shutdown timeout, or when dropped.
	var cancelUploads context.CancelFunc
	p.uploadCtx, cancelUploads = context.WithCancel(context.WithoutCancel(ctx))
	defer cancelUploads()

	err = p.loop(ctx)

	// Shutdown: fetching has stopped; commit or drop what is in flight
	// within the shutdown timeout, then leave the group.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.ShutdownTimeout)
	defer cancel()
	defer context.AfterFunc(sctx, cancelUploads)()
	p.mu.Lock()
	if ferr := p.flush(sctx, "shutdown"); errors.Is(ferr, errResynced) {
		p.opts.Logger.Warn("in-flight batch dropped at shutdown; the next owner resumes from the table", "pipeline", p.opts.Pipeline)
	} else if ferr != nil {
		p.opts.Logger.Error("final flush", "pipeline", p.opts.Pipeline, "err", ferr)
		err = errors.Join(err, ferr)
	}
	p.mu.Unlock()
	p.ready.Store(false)
	cl.AllowRebalance()
	cl.LeaveGroupContext(sctx) //nolint:errcheck // leaving is best effort; the group times the member out otherwise
	return err
}

func (p *Pipeline) loop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, p.pollWait())
		fetches := p.cl.PollRecords(pctx, 50_000)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		p.mu.Lock()
		err := p.process(ctx, fetches)
		if err == nil {
			err = p.maybeFlush(ctx)
		}
		p.mu.Unlock()
		if errors.Is(err, errResynced) {
			err = nil // the rest of the poll was abandoned; fetching resumes from the tables
		}
		p.cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// pollWait bounds a poll so that a batch is flushed on time when the
// stream goes quiet.
func (p *Pipeline) pollWait() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	wait := time.Second
	for _, ts := range p.allTables() {
		if ts.b != nil {
			wait = min(wait, time.Until(ts.b.started.Add(p.opts.FlushMaxLatency)))
		}
	}
	return max(wait, 5*time.Millisecond)
}

func (p *Pipeline) process(ctx context.Context, fetches kgo.Fetches) error {
	if len(p.toResume) > 0 {
		p.cl.ResumeFetchPartitions(p.toResume)
		clear(p.toResume)
	}
	if len(p.toPause) > 0 {
		p.cl.PauseFetchPartitions(p.toPause)
		clear(p.toPause)
	}
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue
		}
		tp := table.TP{Topic: fe.Topic, Partition: fe.Partition}
		if isOffsetOutOfRange(fe.Err) {
			p.halt(tp, fmt.Errorf("%w: %s: fetch: %w", ErrOffsetGap, tp, fe.Err))
			continue
		}
		p.opts.Logger.Warn("fetch", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
	}
	now := time.Now()
	var err error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil {
			return
		}
		tp := table.TP{Topic: fp.Topic, Partition: fp.Partition}
		p.hw[tp] = fp.HighWatermark
		ts := p.tables[fp.Topic]
		if ts == nil || p.halted[tp] != nil {
			return
		}
		for _, r := range fp.Records {
			if err = p.record(ctx, ts, tp, r, now); err != nil {
				return
			}
		}
	})
	p.updateLag()
	return err
}

// record routes one record into its table's batch, or into the route's
// quarantine table when it cannot be ingested. Each table takes only
// offsets at or above its own watermark (DESIGN.md §3 rule 2): after a
// crash between the two commits of a route, one of them already holds
// some of the records the other still needs.
func (p *Pipeline) record(ctx context.Context, ts *tableState, tp table.TP, r *kgo.Record, now time.Time) error {
	q := ts.rejects
	wantT := ts.accepts(tp, r.Offset)
	wantQ := q != nil && q.accepts(tp, r.Offset)
	if !wantT && !wantQ {
		return nil // in every table already
	}
	if _, ok := p.firstSeen[tp]; !ok {
		p.firstSeen[tp] = r.Offset
	}
	p.stats.consumed.Add(1)
	rc := recordCtx{ts: ts, tp: tp, r: r, now: now, wantT: wantT, wantQ: wantQ}
	if n := len(r.Key) + len(r.Value); n > p.opts.MaxRecordBytes {
		return p.reject(ctx, &rc, schema.StageDecode, "too-large",
			fmt.Errorf("record is %d bytes (key and value), above the limit of %d", n, p.opts.MaxRecordBytes))
	}
	var payload []byte
	var ws *schema.WriterSchema
	if ts.json != nil {
		var err error
		if p.jsonScratch, err = ts.json.Convert(p.jsonScratch[:0], r.Value); err != nil {
			return p.reject(ctx, &rc, schema.StageDecode, "malformed-json", err)
		}
		payload, ws = p.jsonScratch, ts.jsonWS
	} else {
		id, body, err := schema.SplitWire(r.Value)
		if err != nil {
			return p.reject(ctx, &rc, schema.StageDecode, "wire", err)
		}
		rc.schemaID, rc.hasID = id, true
		switch ws, err = p.writerSchema(ctx, int(id)); {
		case errors.Is(err, schema.ErrUnknownSchema):
			return p.reject(ctx, &rc, schema.StageDecode, "unknown-schema", err)
		case errors.Is(err, schema.ErrUnsupportedSchema):
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
			case errors.Is(err, schema.ErrUnsupportedSchema):
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
	}
	dec, err := p.decoder(ctx, ts, ws)
	if err != nil {
		var fatal *fatalError
		switch {
		case errors.As(err, &fatal), errors.Is(err, errResynced), ctx.Err() != nil:
			return err
		case errors.Is(err, schema.ErrIncompatible):
			return p.reject(ctx, &rc, schema.StageDecode, "incompatible-schema", err)
		}
		return p.reject(ctx, &rc, schema.StageDecode, "schema", err)
	}
	if ts.rules != nil || ts.filter != nil || !wantT {
		// Judge the record before anything is appended: decoding is all
		// or nothing, and a rule failure must leave no row behind.
		if err := dec.Check(payload); err != nil {
			return p.reject(ctx, &rc, schema.StageDecode, "malformed", err)
		}
		if ts.rules != nil {
			if stage, reason, err := p.validate(ts, ws, payload, &rc); err != nil {
				return p.reject(ctx, &rc, stage, reason, err)
			}
		}
		if ts.filter != nil {
			keep, err := p.keep(ts, ws, payload, &rc)
			if err != nil {
				return p.reject(ctx, &rc, schema.StageTransform, "filter", err)
			}
			if !keep {
				return p.filtered(&rc)
			}
		}
	}
	if !wantT {
		// Only the quarantine table still needs a verdict on this offset;
		// the table already holds it, since it is good.
		q.cover(tp, r.Offset, now)
		return nil
	}
	b := ts.open(now)
	if err := dec.Decode(payload, b.builder); err != nil {
		return p.reject(ctx, &rc, schema.StageDecode, "malformed", err)
	}
	schema.AppendMeta(b.builder, &schema.Meta{
		Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp, Key: r.Key, IngestedAt: now,
	})
	ts.cover(tp, r.Offset, now)
	if wantQ {
		q.cover(tp, r.Offset, now)
	}
	b.pending++
	b.pendingB += int64(len(r.Value))
	b.valueBytes += int64(len(r.Value))
	return p.afterAppend(ctx, ts)
}

// validate runs the route's rules on a payload that passed Check. It
// returns the stage and reason to reject the record with, or a nil error.
func (p *Pipeline) validate(ts *tableState, ws *schema.WriterSchema, payload []byte, rc *recordCtx) (stage, reason string, err error) {
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
func (p *Pipeline) keep(ts *tableState, ws *schema.WriterSchema, payload []byte, rc *recordCtx) (bool, error) {
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

// filtered passes over a record the route's filter drops: its offset is
// consumed, and listed in the commit's bigfather.skipped so verify
// accounts for it, but no table holds it.
func (p *Pipeline) filtered(rc *recordCtx) error {
	ts, tp, r := rc.ts, rc.tp, rc.r
	p.m.filtered.WithLabelValues(ts.name).Inc()
	if rc.wantQ {
		ts.rejects.cover(tp, r.Offset, rc.now)
	}
	if rc.wantT {
		ts.cover(tp, r.Offset, rc.now).skip(tp, r.Offset)
	}
	return nil
}

// evaluator binds rules to a writer schema once per schema.
func (p *Pipeline) evaluator(ts *tableState, rules *schema.Rules, cache map[*schema.WriterSchema]*schema.RuleEvaluator,
	ws *schema.WriterSchema, what string) (*schema.RuleEvaluator, error) {
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
func (p *Pipeline) eval(ev *schema.RuleEvaluator, payload []byte, rc *recordCtx) (string, error) {
	r := rc.r
	p.hdrScratch = p.hdrScratch[:0]
	for _, h := range r.Headers {
		p.hdrScratch = append(p.hdrScratch, schema.Header{Key: h.Key, Value: h.Value})
	}
	p.metaScratch = schema.Meta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, IngestedAt: rc.now}
	return ev.Eval(payload, &p.metaScratch, p.hdrScratch)
}

// afterAppend hands a full chunk to the Parquet writer and flushes when the
// batches reach the record limit.
func (p *Pipeline) afterAppend(ctx context.Context, ts *tableState) error {
	b := ts.b
	if b.pending >= chunkRows {
		if err := p.writeChunk(ctx, ts); err != nil {
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
	ts           *tableState
	tp           table.TP
	r            *kgo.Record
	now          time.Time
	wantT, wantQ bool
	schemaID     int32
	hasID        bool
}

// reject sends a record that cannot be ingested to the route's quarantine
// table with the stage and reason; its offset still counts as consumed by
// the data table, whose range covers it. A route without a quarantine
// table passes the record over instead: counted, logged and listed in the
// commit's summary, so that verify can account for it.
func (p *Pipeline) reject(ctx context.Context, rc *recordCtx, stage, reason string, cause error) error {
	ts, tp, r := rc.ts, rc.tp, rc.r
	p.m.rejected.WithLabelValues(tp.Topic, stage, reason).Inc()
	if stage == schema.StageDecode {
		p.m.undecodable.WithLabelValues(tp.Topic, reason).Inc()
	}
	q := ts.rejects
	dest := "quarantine"
	if q == nil {
		dest = "passed over"
	}
	if p.opts.DLQTopic != "" && (rc.wantQ || (q == nil && rc.wantT)) {
		p.toDLQ(rc, stage, reason, cause)
	}
	p.opts.Logger.Warn("record rejected", "pipeline", p.opts.Pipeline, "topic", tp.Topic,
		"partition", tp.Partition, "offset", r.Offset, "stage", stage, "reason", reason, "to", dest, "err", cause)
	if q == nil {
		if ts.tbl == nil {
			// No table yet, so nothing to commit the skip to: the next
			// decodable record creates the table, and its batch covers this
			// offset too.
			return nil
		}
		ts.cover(tp, r.Offset, rc.now).skip(tp, r.Offset)
		return nil
	}
	if rc.wantT && ts.tbl != nil {
		ts.cover(tp, r.Offset, rc.now)
	}
	if !rc.wantQ {
		return nil // quarantined by an earlier commit
	}
	qb := q.cover(tp, r.Offset, rc.now)
	rej := schema.Reject{Value: r.Value, SchemaID: rc.schemaID, HasID: rc.hasID, Stage: stage, Reason: reason, Message: cause.Error()}
	if reason == "too-large" && len(rej.Value) > maxRejectValue {
		// The record stays in Kafka at its offset; the quarantine row keeps
		// a prefix to look at, not a second copy of the oversized payload.
		rej.Value = rej.Value[:maxRejectValue]
		rej.Message += fmt.Sprintf(" (raw_value keeps the first %d bytes)", maxRejectValue)
	}
	for _, h := range r.Headers {
		rej.Headers = append(rej.Headers, schema.Header{Key: h.Key, Value: h.Value})
	}
	schema.AppendReject(qb.builder, &schema.Meta{
		Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp, Key: r.Key, IngestedAt: rc.now,
	}, &rej)
	n := int64(len(rej.Value) + len(r.Key) + len(rej.Message))
	qb.pending++
	qb.pendingB += n
	qb.valueBytes += int64(len(r.Value))
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
func (p *Pipeline) toDLQ(rc *recordCtx, stage, reason string, cause error) {
	r := rc.r
	out := &kgo.Record{Topic: p.opts.DLQTopic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	out.Headers = append(make([]kgo.RecordHeader, 0, len(r.Headers)+7), r.Headers...)
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(cause.Error())},
	)
	if reason == "too-large" && len(out.Value) > maxRejectValue {
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
			p.opts.Logger.Error("DLQ topic refused a rejected record; it stays in quarantine", "pipeline", p.opts.Pipeline,
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

// writerSchema fetches a writer schema, waiting out registry outages:
// good records are never passed over because the registry is down.
func (p *Pipeline) writerSchema(ctx context.Context, id int) (*schema.WriterSchema, error) {
	wait := 250 * time.Millisecond
	for {
		ws, err := p.opts.Registry.Get(ctx, id)
		if err == nil || errors.Is(err, schema.ErrUnknownSchema) || errors.Is(err, schema.ErrUnsupportedSchema) {
			return ws, err
		}
		p.m.registryWait.Inc()
		p.opts.Logger.Warn("schema registry unavailable, pausing", "schema_id", id, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// fatalError marks an error that must stop the pipeline rather than pass
// a record over (the catalog is unreachable, say).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// decoder returns the decoder for ws into ts, creating the table from the
// writer schema on first use.
func (p *Pipeline) decoder(ctx context.Context, ts *tableState, ws *schema.WriterSchema) (*schema.Decoder, error) {
	if ts.tbl == nil {
		sch, err := schema.ToIceberg(ws.Avro)
		if err != nil {
			return nil, fmt.Errorf("schema %d: %w", ws.ID, err)
		}
		var opts []catalog.CreateTableOpt
		if len(ts.partitionBy) > 0 {
			spec, err := table.ParsePartitionSpec(sch, ts.partitionBy)
			if err != nil {
				// The spec names columns of the first writer schema; one
				// that lacks them cannot create the table.
				return nil, fmt.Errorf("schema %d: %w", ws.ID, err)
			}
			opts = append(opts, catalog.WithPartitionSpec(spec))
		}
		tbl, err := table.EnsureTable(ctx, p.opts.Catalog, ts.id, sch, nil, opts...)
		if err != nil {
			return nil, &fatalError{fmt.Errorf("create table %s: %w", ts.name, err)}
		}
		if err := ts.setTable(tbl); err != nil {
			return nil, &fatalError{err}
		}
		p.opts.Logger.Info("table ready", "table", ts.name, "location", tbl.Location(), "schema_id", ws.ID)
	}
	if d, ok := ts.decoders[ws]; ok {
		return d, nil
	}
	if err, ok := ts.incompatible[ws]; ok {
		return nil, err
	}
	if err := p.evolve(ctx, ts, ws); err != nil {
		return nil, err
	}
	d, err := schema.NewDecoder(ws.Avro, ts.sch)
	if err != nil {
		return nil, fmt.Errorf("schema %d into %s: %w", ws.ID, ts.name, err)
	}
	ts.decoders[ws] = d
	return d, nil
}

// evolve makes ts's schema able to hold records of writer schema ws
// (schema.Evolve): a compatible change is applied to the schema the next
// batch is written with and committed together with it; the batches open
// now, decoded under the old schema, are committed first, so every
// commit's files share one schema. An incompatible writer schema is
// remembered, counted and logged once; its records are rejected.
func (p *Pipeline) evolve(ctx context.Context, ts *tableState, ws *schema.WriterSchema) error {
	last := max(ts.tbl.Metadata().LastColumnID(), ts.sch.HighestFieldID())
	next, changes, err := schema.Evolve(ts.sch, last, ws.Avro)
	if err != nil {
		if ie, ok := errors.AsType[*schema.IncompatibleError](err); ok {
			ie.SchemaID = ws.ID
		}
		if errors.Is(err, schema.ErrIncompatible) {
			ts.incompatible[ws] = err
			p.m.incompatible.WithLabelValues(ts.name).Inc()
			p.opts.Logger.Error("incompatible writer schema: its records go to quarantine", "pipeline", p.opts.Pipeline,
				"table", ts.name, "schema_id", ws.ID, "err", err)
		}
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	if err := p.flush(ctx, "schema"); err != nil {
		return err
	}
	arr, err := schema.ArrowSchema(next)
	if err != nil {
		return &fatalError{fmt.Errorf("table %s: arrow schema of the evolved schema: %w", ts.name, err)}
	}
	ts.sch, ts.arr = next, arr
	if err := ts.refreshPartitioner(); err != nil {
		return &fatalError{err}
	}
	clear(ts.decoders)
	clear(ts.incompatible)
	for _, c := range changes {
		ts.schemaChanges = append(ts.schemaChanges, c.String())
	}
	p.opts.Logger.Info("evolving table schema with the next commit", "pipeline", p.opts.Pipeline, "table", ts.name,
		"schema_id", ws.ID, "changes", strings.Join(ts.schemaChanges, "; "))
	return nil
}

func (p *Pipeline) maybeFlush(ctx context.Context) error {
	var mem, rows int64
	var skipped int
	due := ""
	for _, ts := range p.allTables() {
		b := ts.b
		if b == nil {
			continue
		}
		mem += b.memBytes()
		rows += b.rows + int64(b.pending)
		skipped += b.nSkipped
		if time.Since(b.started) >= p.opts.FlushMaxLatency {
			due = "latency"
		}
	}
	mem += p.dlqBytes
	p.m.bufferBytes.Set(float64(mem))
	switch {
	case due != "":
	case rows >= p.opts.FlushMaxRecords:
		due = "records"
	case mem >= p.opts.MemoryBudget:
		due = "memory"
	case skipped >= 10_000:
		due = "skipped"
	default:
		return nil
	}
	return p.flush(ctx, due)
}

// errResynced reports that a commit failed, every uncommitted batch was
// dropped and every owned partition re-seeked from the tables: the rest of
// the current poll must be abandoned, since it would continue past records
// that are no longer in any batch.
var errResynced = errors.New("batches dropped and partitions re-seeked")

// flush seals and commits every open batch, quarantine tables first (see
// route.go), then commits the advisory Kafka group offsets. A batch that
// only advances a watermark may be carried over instead (mustCommit). If any
// batch fails to seal or commit, flush drops all batches not yet
// committed, re-seeks every owned partition from its tables, and returns
// errResynced; an error while re-seeking (the catalog stays unreachable)
// is returned as is.
func (p *Pipeline) flush(ctx context.Context, reason string) error {
	now := time.Now()
	var open []*tableState
	for _, ts := range p.allTables() {
		if ts.b == nil {
			continue
		}
		if !p.mustCommit(ts, reason, now) {
			// Carried over: it holds no rows, only the offsets it covers,
			// and keeps covering until a flush commits it.
			ts.b.started = now
			continue
		}
		open = append(open, ts)
	}
	if len(open) == 0 {
		return nil
	}
	var failure error
	for _, ts := range open {
		if failure = p.seal(ctx, ts); failure != nil {
			failure = fmt.Errorf("seal %s: %w", ts.name, failure)
			break
		}
	}
	if failure == nil {
		failure = p.produceDLQ(ctx)
	}
	if failure == nil {
		p.opts.Hooks.at("after-upload")
		for _, ts := range open {
			if failure = p.commitTable(ctx, ts); failure != nil {
				break
			}
		}
	}
	if failure != nil {
		return p.abandon(ctx, reason, failure)
	}
	p.opts.Hooks.at("after-commit")
	p.commitGroupOffsets(ctx)
	return nil
}

// abandon drops every batch not yet committed and re-seeks every owned
// partition from the tables. It returns errResynced, or the error that
// kept it from re-seeking.
func (p *Pipeline) abandon(ctx context.Context, reason string, cause error) error {
	p.opts.Logger.Error("batch dropped, re-seeking from the tables", "pipeline", p.opts.Pipeline, "reason", reason, "err", cause)
	p.dropAll(cause)
	if err := p.resync(ctx); err != nil {
		return err
	}
	return errResynced
}

// dropAll abandons every open batch, and the rejects queued for the DLQ
// with them: the batches' records are re-read.
func (p *Pipeline) dropAll(cause error) {
	p.dlq, p.dlqBytes = nil, 0
	for _, ts := range p.allTables() {
		if ts.b != nil {
			ts.b.drop(cause)
			ts.b = nil
		}
	}
}

// resync reloads every route's watermarks and seeks every partition this
// worker has consumed from back to where its route resumes; a partition
// never committed goes back to the first offset consumed since it was
// assigned.
func (p *Pipeline) resync(ctx context.Context) error {
	set := make(map[string]map[int32]kgo.EpochOffset)
	for topic, ts := range p.tables {
		views, err := p.loadRoute(ctx, ts)
		if err != nil {
			return fmt.Errorf("re-seek: %w", err)
		}
		for tp, first := range p.firstSeen {
			if tp.Topic != topic {
				continue
			}
			adopt(views, tp)
			off, ok := resumeAt(ts, tp)
			if !ok {
				off = first
			}
			if set[topic] == nil {
				set[topic] = make(map[int32]kgo.EpochOffset)
			}
			set[topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	if len(set) > 0 {
		p.cl.SetOffsets(set)
	}
	return nil
}

// loadTable loads id, retrying while the catalog is unreachable; a table
// that does not exist yet is (nil, nil).
func (p *Pipeline) loadTable(ctx context.Context, id icebergtable.Identifier) (*icebergtable.Table, error) {
	wait := 200 * time.Millisecond
	for {
		tbl, err := p.opts.Catalog.LoadTable(ctx, id)
		if err == nil {
			return tbl, nil
		}
		if errors.Is(err, catalog.ErrNoSuchTable) {
			return nil, nil
		}
		p.opts.Logger.Warn("load table", "table", strings.Join(id, "."), "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// commitGroupOffsets commits the table watermarks to the consumer group so
// that lag tools see progress. They are advisory: failure is only logged.
func (p *Pipeline) commitGroupOffsets(ctx context.Context) {
	offs := make(map[string]map[int32]kgo.EpochOffset)
	for topic, ts := range p.tables {
		for tp := range ts.wm {
			w, ok := resumeAt(ts, tp)
			if tp.Topic != topic || !ok {
				continue
			}
			if offs[topic] == nil {
				offs[topic] = make(map[int32]kgo.EpochOffset)
			}
			offs[topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: w}
		}
	}
	if len(offs) == 0 {
		return
	}
	p.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			p.opts.Logger.Warn("commit group offsets (advisory)", "group", p.opts.Group, "err", err)
		}
	})
}

func (p *Pipeline) updateLag() {
	var total int64
	for tp, hw := range p.hw {
		ts := p.tables[tp.Topic]
		if ts == nil {
			continue
		}
		w, ok := ts.wm[tp]
		if !ok {
			continue
		}
		lag := max(hw-w, 0)
		total += lag
		p.m.lag.WithLabelValues(tp.Topic, fmt.Sprint(tp.Partition)).Set(float64(lag))
	}
	p.stats.lag.Store(total)
}
