package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/bigfather/bigfather/internal/backoff"
	"github.com/bigfather/bigfather/table"
)

// Pipeline is one worker of a consumer group, ingesting its partitions.
type Pipeline struct {
	opts      Options
	log       *slog.Logger // opts.Logger with the pipeline's id
	m         *metrics
	cond      *conditions // problems for /readyz (conditions.go)
	committer *table.Committer
	pool      *filePool // writes the batches' data files (files.go)
	cl        *kgo.Client
	adm       *kadm.Client
	// clientReady is closed once Run has set cl and adm. The client joins
	// the group as soon as it is created, so a group callback can run
	// before Run's next statement.
	clientReady chan struct{}

	// mu guards everything below. The poll loop holds it while it
	// processes a poll; group callbacks take it to seek, commit or drop.
	mu sync.Mutex
	// routes are by topic, built when a topic is first assigned; byTable
	// holds every table state, by name, shared by the routes feeding it.
	routes   map[string]*topicRoute
	byTable  map[string]*tableState
	halted   map[table.TP]error
	toPause  map[string][]int32
	toResume map[string][]int32
	hw       map[table.TP]int64 // high watermarks from the last fetch
	// caughtUp is, for partitions whose last record fetched is a
	// transaction marker, the offset after it (lag.go).
	caughtUp map[table.TP]int64
	// dlq holds the rejects of the open batches bound for the DLQ topic;
	// flush produces them before committing.
	dlq      []*kgo.Record
	dlqBytes int64
	// Scratch space reused for every record: the record as the verdict
	// sees it (viewOf), and its payload converted and transformed.
	view         recordView
	jsonScratch  []byte // the Avro encoding of the JSON or Protobuf record at hand
	xformScratch []byte // the record at hand after its table's transform chain
	// firstSeen is the first offset fetched per partition since it was
	// assigned, for every partition fetched from: where a never-committed
	// partition restarts after a drop (resync.go).
	firstSeen map[table.TP]int64
	tids      topicIDs                      // topic ids at assignment, and fetch-error checks (topicid.go)
	subjects  map[subjectKey]subjectVerdict // subject checks by topic and writer schema (subject.go)
	// outOfRangeAt is where a partition was last re-seeked after its
	// fetch ran out of range (gap.go).
	outOfRangeAt map[table.TP]int64

	// lastDropLog is when a dropped batch was last logged at ERROR;
	// dropBackoff is how long the poll loop waits after a flush failed
	// for a problem of the warehouse, the catalog or the DLQ, so that
	// re-reading does not spin while it lasts.
	lastDropLog time.Time
	dropBackoff backoff.Exponential

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
	Lag        int64     // sum over partitions of the data lag (bigfather_ingest_lag_records, lag.go)
	LastCommit time.Time // zero if none yet
	Halted     int       // halted partitions
}

// New validates opts and builds a pipeline; Run starts it.
func New(opts Options) (*Pipeline, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	// Every line the pipeline logs names it: bound once, here.
	log := opts.Logger.With("pipeline", opts.Pipeline)
	p := &Pipeline{
		opts:      opts,
		log:       log,
		m:         newMetrics(opts.Registerer),
		cond:      newConditions(opts.Registerer, log),
		routes:    make(map[string]*topicRoute),
		byTable:   make(map[string]*tableState),
		halted:    make(map[table.TP]error),
		toPause:   make(map[string][]int32),
		toResume:  make(map[string][]int32),
		hw:        make(map[table.TP]int64),
		caughtUp:  make(map[table.TP]int64),
		firstSeen: make(map[table.TP]int64),

		outOfRangeAt: make(map[table.TP]int64),
		dropBackoff:  backoff.New(250*time.Millisecond, 10*time.Second),

		clientReady: make(chan struct{}),
	}
	p.pool = newFilePool(&p.opts)
	p.committer = table.NewCommitter(opts.Catalog, table.CommitterOptions{Logger: log})
	for _, t := range opts.Tables {
		ts := newTableState(t.ID)
		ts.rules, ts.filter, ts.route = t.Rules, t.Filter, t.Route
		ts.partitionBy, ts.transforms = t.PartitionBy, t.Transforms
		if t.Rejects != nil {
			q, err := newRejectsState(t.Rejects)
			if err != nil {
				return nil, err
			}
			ts.rejects = q
		}
		p.byTable[ts.name] = ts
	}
	for _, topic := range opts.literalTopics() {
		rt, err := p.routeOf(topic)
		if err != nil {
			return nil, err
		}
		if rt == nil || rt.json == nil {
			continue
		}
		// A plain JSON topic's schema is declared: a transform chain that
		// does not fit it is a config error, found now.
		for _, ts := range rt.tables {
			if ts.transforms == nil {
				continue
			}
			if _, err := ts.transforms.Bind(rt.jsonWS.Avro); err != nil {
				return nil, fmt.Errorf("%w: table %s, topic %s: %w", ErrConfig, ts.name, topic, err)
			}
		}
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
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are passed over, but seen: a log ending in
		// them is caught up, not lagging (lag.go).
		kgo.KeepControlRecords(),
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
		kgo.WithLogger(kafkaLogger{kslog.New(p.log.With("component", "kafka"))}),
		kgo.WithHooks(kprom.NewMetrics("bigfather_kafka", kprom.Registerer(o.Registerer)), &kafkaHealth{p: p, saslFailed: map[string]time.Time{}}),
	}
	kopts = append(kopts, p.subscription()...)
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

// subscription is the topics to consume: by name, or, when a table
// takes topics by pattern, every topic matching a pattern or a name (the
// names quoted), re-evaluated on every metadata refresh so that new topics
// are picked up.
func (p *Pipeline) subscription() []kgo.Opt {
	var patterns []string
	for _, t := range p.opts.Tables {
		for _, re := range t.TopicPatterns {
			patterns = append(patterns, re.String())
		}
	}
	// The metadata age also bounds how soon partitions added to a named
	// topic are seen: at the client's default of five minutes their
	// records sat unread while nothing said so.
	age := []kgo.Opt{kgo.MetadataMaxAge(p.opts.MetadataMaxAge), kgo.MetadataMinAge(min(p.opts.MetadataMaxAge, 5*time.Second))}
	topics := p.opts.literalTopics()
	if len(patterns) == 0 {
		return append(age, kgo.ConsumeTopics(topics...))
	}
	for _, t := range topics {
		patterns = append(patterns, "^"+regexp.QuoteMeta(t)+"$")
	}
	return append(age, kgo.ConsumeRegex(), kgo.ConsumeTopics(patterns...))
}

// Run consumes until ctx is done or a fatal error occurs. On return every
// in-flight batch was committed or dropped whole (rule 9).
func (p *Pipeline) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(p.kafkaOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	p.cl, p.adm = cl, kadm.NewClient(cl)
	close(p.clientReady)
	defer cl.Close()
	mctx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	go p.monitor(mctx)
	if err := p.checkDLQ(ctx); err != nil {
		return err
	}
	// Uploads outlive ctx: a stop signal ends fetching, but the files of
	// the in-flight batches must still complete for the shutdown flush to
	// commit them. They end with the shutdown timeout, or when dropped.
	var cancelUploads context.CancelFunc
	p.pool.uploads, cancelUploads = context.WithCancel(context.WithoutCancel(ctx))
	defer cancelUploads()

	err = p.loop(ctx)

	// Shutdown: fetching has stopped; commit or drop what is in flight
	// within the shutdown timeout, then leave the group.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.ShutdownTimeout)
	defer cancel()
	defer context.AfterFunc(sctx, cancelUploads)()
	p.mu.Lock()
	if ferr := p.flush(sctx, flushShutdown); errors.Is(ferr, errResynced) {
		p.log.Warn("in-flight batch dropped at shutdown; the next owner resumes from the table")
	} else if ferr != nil {
		p.log.Error("final flush", "err", ferr)
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
		resynced := errors.Is(err, errResynced)
		if resynced {
			err = nil // the rest of the poll was abandoned; fetching resumes from the tables
		}
		p.cl.AllowRebalance()
		if resynced {
			p.backOffAfterDrop(ctx)
		}
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
	var outOfRange []table.TP
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue
		}
		tp := table.TP{Topic: fe.Topic, Partition: fe.Partition}
		if p.topicFetchError(ctx, fe) {
			continue
		}
		if isOffsetOutOfRange(fe.Err) {
			outOfRange = append(outOfRange, tp) // gap.go
			continue
		}
		if _, ok := errors.AsType[*kgo.ErrGroupSession](fe.Err); ok {
			continue // the group problem, rate-limited (kafkahealth.go)
		}
		// Any other fetch error may repeat on every poll (an ACL the
		// group lacks, say): one problem per partition, logged at most
		// every 30 s, cleared when the partition fetches again.
		p.cond.set(ProblemFetch, tp.String(), slog.LevelWarn, fetchProblemTTL, fe.Err.Error(),
			"topic", fe.Topic, "partition", fe.Partition)
	}
	// Noted first: a flush failing from here on (outOfRange's too) must
	// re-seek every partition of this poll.
	p.noteFetched(fetches)
	p.noteCaughtUp(fetches)
	if err := p.outOfRange(ctx, outOfRange); err != nil {
		return err
	}
	now := time.Now()
	var err error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil {
			return
		}
		tp := table.TP{Topic: fp.Topic, Partition: fp.Partition}
		rt := p.routes[fp.Topic]
		if rt == nil || p.halted[tp] != nil {
			return
		}
		for _, r := range fp.Records {
			if r.Attrs.IsControl() {
				continue // a transaction marker (noteCaughtUp)
			}
			if err = p.record(ctx, rt, tp, r, now); err != nil {
				return
			}
		}
	})
	p.updateLag()
	return err
}

func (p *Pipeline) maybeFlush(ctx context.Context) error {
	var mem, rows int64
	var skipped int
	var due flushReason
	for _, ts := range p.allTables() {
		b := ts.b
		if b == nil {
			continue
		}
		mem += b.memBytes()
		rows += b.rows + int64(b.pending)
		skipped += b.nSkipped
		if time.Since(b.started) >= p.opts.FlushMaxLatency {
			due = flushLatency
		}
	}
	mem += p.dlqBytes
	p.m.bufferBytes.Set(float64(mem))
	switch {
	case due != "":
	case rows >= p.opts.FlushMaxRecords:
		due = flushRecords
	case mem >= p.opts.MemoryBudget:
		due = flushMemory
	case skipped >= 10_000:
		due = flushSkipped
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

// flush seals and commits every open batch, data tables before quarantine
// tables (see route.go), then commits the advisory Kafka group offsets. A batch that
// only advances a watermark may be carried over instead (mustCommit). If any
// batch fails to seal or commit, flush drops all batches not yet
// committed, re-seeks every owned partition from its tables, and returns
// errResynced; an error while re-seeking (the catalog stays unreachable)
// is returned as is.
func (p *Pipeline) flush(ctx context.Context, reason flushReason) error {
	if p.pool.uploads != nil {
		// A stop signal must not cut a flush between two tables' commits:
		// the stop would leave a route's tables uneven (the next start
		// repairs it, from the origins). The flush runs to its end under
		// the upload context, which the shutdown timeout ends.
		ctx = p.pool.uploads
	}
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
	problem := ProblemWarehouse
	for _, ts := range open {
		if failure = p.seal(ctx, ts); failure != nil {
			failure = fmt.Errorf("seal %s: %w", ts.name, failure)
			break
		}
	}
	if failure == nil {
		problem = ProblemDLQ
		failure = p.produceDLQ(ctx)
	}
	if failure == nil {
		problem = ProblemCatalog
		p.opts.Hooks.at("after-upload")
		for _, ts := range p.allTables() {
			ts.fresh = false // committing from now on (route.go, rule 3)
		}
		for _, ts := range open {
			if failure = p.commitTable(ctx, ts); failure != nil {
				break
			}
		}
	}
	if failure != nil {
		p.flushProblem(problem, failure)
		return p.abandon(ctx, reason, failure)
	}
	p.flushProblem("", nil)
	p.opts.Hooks.at("after-commit")
	p.commitGroupOffsets(ctx)
	return nil
}

// abandon drops every batch not yet committed and re-seeks every owned
// partition from the tables. It returns errResynced, or the error that
// kept it from re-seeking.
func (p *Pipeline) abandon(ctx context.Context, reason flushReason, cause error) error {
	if errors.Is(cause, table.ErrFenced) {
		// Normal in a group: another member owns or owned the partitions
		// and committed past this batch (a rebalance, a zombie).
		p.log.Warn("batch fenced: another writer moved the watermark; dropped, re-seeking from the tables",
			"reason", reason, "err", cause)
	} else if time.Since(p.lastDropLog) >= 30*time.Second {
		// Rate-limited: while the warehouse or catalog fails, every flush
		// fails; the problem (conditions.go) says so meanwhile.
		p.lastDropLog = time.Now()
		p.log.Error("batch dropped, re-seeking from the tables", "reason", reason, "err", cause)
	} else {
		p.log.Debug("batch dropped, re-seeking from the tables", "reason", reason, "err", cause)
	}
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

// loadTable loads id, retrying while the catalog is unreachable; a table
// that does not exist yet is (nil, nil).
func (p *Pipeline) loadTable(ctx context.Context, id icebergtable.Identifier) (*icebergtable.Table, error) {
	wait := backoff.New(200*time.Millisecond, 10*time.Second)
	name := strings.Join(id, ".")
	for {
		tbl, err := p.opts.Catalog.LoadTable(ctx, id)
		if err == nil || errors.Is(err, catalog.ErrNoSuchTable) {
			p.cond.clear(ProblemCatalog, name)
			if err != nil {
				return nil, nil
			}
			return tbl, nil
		}
		// A problem, not a WARN per retry: /readyz names it (the partitions
		// wait for it), and its line is rate-limited.
		p.cond.set(ProblemCatalog, name, slog.LevelError, 0, "cannot load table "+name+", ingestion paused: "+err.Error(), "table", name)
		if wait.Wait(ctx) != nil {
			return nil, err
		}
	}
}

// commitGroupOffsets commits the table watermarks to the consumer group so
// that lag tools see progress. They are advisory: failure is only logged.
func (p *Pipeline) commitGroupOffsets(ctx context.Context) {
	offs := make(map[string]map[int32]kgo.EpochOffset)
	for tp := range p.hw {
		rt := p.routes[tp.Topic]
		if rt == nil {
			continue
		}
		if w, ok := rt.resumeAt(tp); ok {
			if offs[tp.Topic] == nil {
				offs[tp.Topic] = make(map[int32]kgo.EpochOffset)
			}
			offs[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: w}
		}
	}
	if len(offs) == 0 {
		return
	}
	p.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			p.log.Warn("commit group offsets (advisory)", "group", p.opts.Group, "err", err)
		}
	})
}
