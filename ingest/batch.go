package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// chunkRows is how many rows a column builder holds before they are
// handed to the Parquet writer as one record batch.
const chunkRows = 8192

// tableState is one target table, in parts by lifetime: its fixed
// config, the bindings of its writer schemas (dropped when its schema
// moves), its committed watermarks (reloaded on every assignment), and
// the live table with the open batch (replaced by every commit).
type tableState struct {
	tableConfig
	bindings
	watermarks

	tbl *icebergtable.Table // nil until the table exists
	sch *iceberg.Schema
	arr *arrow.Schema
	// part splits rows by the table's partition spec; nil when unpartitioned.
	part *table.Partitioner
	// health exports the table's growth after every load and commit; set
	// with its route (routeOf), before the table is first loaded.
	health *table.HealthMetrics

	b             *batch
	schemaChanges []string // evolution not yet committed, for the summary
}

// tableConfig is what the config says of a table; set by New, never
// changed.
type tableConfig struct {
	id   icebergtable.Identifier
	name string
	// rules are the route's validation rules (nil: none).
	rules *rules.Rules
	// filter keeps a record when true (nil: keep all); one rule, named
	// "filter".
	filter *rules.Rules
	// transforms is the table's transform chain (nil: none).
	transforms *transform.Transforms
	// route takes the records of the table's topics that go to it (one
	// rule, named "route"; nil: all).
	route *rules.Rules
	// partitionBy is the configured spec terms, used when the table is
	// created.
	partitionBy []string
	// rejects is the quarantine table of a data table's route, nil when
	// the route has none; isRejects marks the quarantine table itself.
	rejects   *tableState
	isRejects bool
}

// bindings are the table's config bound to each writer schema, on first
// use: the registry's, a json route's declared one, or a Protobuf
// message's. Decoders, incompatible and evolutions depend on the table's
// schema too, and are dropped when it moves.
type bindings struct {
	decoders map[*registry.WriterSchema]*decode.Decoder
	// incompatible holds the writer schemas that cannot be written into
	// the table, with the reason; their records are rejected.
	incompatible map[*registry.WriterSchema]error
	// evolutions are the schema changes writer schemas need, planned and
	// not applied until a record of theirs decodes and is kept (schemas.go).
	evolutions  map[*registry.WriterSchema]*evolution
	evaluators  map[*registry.WriterSchema]*rules.RuleEvaluator // of rules
	filterEvals map[*registry.WriterSchema]*rules.RuleEvaluator // of filter
	routeEvals  map[*registry.WriterSchema]*rules.RuleEvaluator // of route
	// programs are the transform chain bound; a bound program stands for
	// the chain's output schema wherever a writer schema is used
	// (decoders, evolution).
	programs map[*registry.WriterSchema]*program
}

// watermarks are the table's committed offsets for the partitions this
// worker owns: loaded on assignment (adopt), advanced by its commits. The
// route's ledger reads them (ledger.go).
type watermarks struct {
	wm      table.Offsets         // W[T][tp] for assigned partitions
	wmHot   wmCached              // the last wm lookup (accepts)
	origins table.Offsets         // where each partition's first commit started
	gaps    map[table.TP][2]int64 // on_gap=skip jumps not yet committed
	// fresh marks a quarantine table this process created and has not
	// committed to since (route.go, rule 3).
	fresh      bool
	lastCommit time.Time
}

// batch is everything one commit to one table will carry.
type batch struct {
	commitID string
	started  time.Time
	builder  *array.RecordBuilder
	pending  int   // rows in builder
	pendingB int64 // value bytes of those rows
	// open holds the data files being written, by partition key ("" for
	// an unpartitioned table); files the closed ones.
	open map[string]*openFile
	// closing holds the files finishing on their goroutines, in the order
	// they were closed; seal moves them to files.
	closing    []*openFile
	files      []iceberg.DataFile
	fileBytes  int64
	rows       int64
	valueBytes int64
	nSkipped   int
	expect     table.Offsets
	// ranges are the offsets consumed per partition, except that the
	// range of the partition last covered may be ahead in hot: read them
	// through consumed().
	ranges  table.Ranges
	hot     hotRange
	skipped table.OffsetLists
	gaps    table.Ranges
}

type openFile struct {
	key string // object key
	enc *fileEncoder
}

func newTableState(id icebergtable.Identifier) *tableState {
	return &tableState{
		tableConfig: tableConfig{id: id, name: strings.Join(id, ".")},
		bindings: bindings{
			decoders:     make(map[*registry.WriterSchema]*decode.Decoder),
			incompatible: make(map[*registry.WriterSchema]error),
			evaluators:   make(map[*registry.WriterSchema]*rules.RuleEvaluator),
			filterEvals:  make(map[*registry.WriterSchema]*rules.RuleEvaluator),
			routeEvals:   make(map[*registry.WriterSchema]*rules.RuleEvaluator),
			programs:     make(map[*registry.WriterSchema]*program),
		},
		watermarks: watermarks{
			wm:      table.Offsets{},
			origins: table.Offsets{},
			gaps:    make(map[table.TP][2]int64),
		},
	}
}

// newRejectsState is the quarantine table of a route. Its schema is fixed,
// so its batches can start before the table is loaded.
func newRejectsState(id icebergtable.Identifier) (*tableState, error) {
	ts := newTableState(id)
	ts.isRejects = true
	ts.sch = schema.RejectsSchema()
	arr, err := schema.ArrowSchema(ts.sch)
	if err != nil {
		return nil, fmt.Errorf("quarantine table %s: arrow schema: %w", ts.name, err)
	}
	ts.arr = arr
	return ts, nil
}

// setTable adopts a loaded or created table: its schema decides the
// column layout of every batch from now on.
func (ts *tableState) setTable(tbl *icebergtable.Table) error {
	ts.health.Observe(ts.name, tbl)
	sch := tbl.Schema()
	if ts.isRejects {
		// Rows are appended by position: the table must have exactly the
		// quarantine layout, whoever created it.
		if want := schema.RejectsSchema(); !sch.Equals(want) {
			return fmt.Errorf("quarantine table %s has schema %s, want the quarantine layout %s", ts.name, sch, want)
		}
		ts.tbl = tbl
		return nil
	}
	switch {
	case ts.sch == nil || (ts.b == nil && !ts.sch.Equals(sch)):
		// Another writer changed the schema, or an evolution of ours was
		// dropped with its batch: decode into the table's schema from now on.
		arr, err := schema.ArrowSchema(sch)
		if err != nil {
			return fmt.Errorf("table %s: arrow schema: %w", ts.name, err)
		}
		ts.sch, ts.arr = sch, arr
		clear(ts.decoders)
		clear(ts.incompatible)
		ts.schemaChanges = nil
	case ts.b == nil:
		ts.sch = sch // the same columns, under the id the catalog gave them
	}
	// With a batch open, its builders keep the schema they were made with;
	// the commit stages it, or fails if the table moved to an unrelated one.
	ts.tbl = tbl
	return ts.refreshPartitioner()
}

// refreshPartitioner prepares the table's partition spec for records of
// the schema batches are built with.
func (ts *tableState) refreshPartitioner() error {
	part, err := table.NewPartitioner(ts.sch, ts.tbl.Spec(), ts.arr)
	if err != nil {
		return fmt.Errorf("table %s: %w", ts.name, err)
	}
	ts.part = part
	return nil
}

// pendingSchema is the schema the table must move to with the next commit:
// ts's schema when it is an evolution not yet committed, else nil.
func (ts *tableState) pendingSchema() *iceberg.Schema {
	if ts.isRejects || ts.tbl == nil || ts.sch.Equals(ts.tbl.Schema()) {
		return nil
	}
	return ts.sch
}

// open returns the table's batch, starting one if needed.
func (ts *tableState) open(now time.Time) *batch {
	if ts.b == nil {
		ts.b = &batch{
			commitID: uuid.NewString(),
			started:  now,
			open:     map[string]*openFile{},
			builder:  array.NewRecordBuilder(memory.DefaultAllocator, ts.arr),
			expect:   table.Offsets{},
			ranges:   table.Ranges{},
			skipped:  table.OffsetLists{},
			gaps:     table.Ranges{},
		}
	}
	return ts.b
}

// accepts reports whether offset off of tp is not yet in the table: it
// is at or above the table's watermark, or the table has none.
func (ts *watermarks) accepts(tp table.TP, off int64) bool {
	c := &ts.wmHot
	if !c.valid || c.tp != tp {
		c.w, c.has = ts.wm[tp]
		c.tp, c.valid = tp, true
	}
	return !c.has || off >= c.w
}

// wmCached is the watermark of the partition accepts was last asked about:
// the records of a fetch come partition by partition, so most lookups
// repeat the last one, and hashing the topic name per record was 3 % of
// the CPU. Every change to wm must call wmChanged.
type wmCached struct {
	tp         table.TP
	w          int64
	has, valid bool
}

// wmChanged drops the cached watermark after wm changed.
func (ts *watermarks) wmChanged() { ts.wmHot.valid = false }

// hotRange is the range of the partition a batch last covered, kept out
// of the map while records of that partition keep coming.
type hotRange struct {
	tp table.TP
	rg [2]int64
	ok bool
}

// consumed returns the batch's ranges, the hot one included.
func (b *batch) consumed() table.Ranges {
	if b.hot.ok {
		b.ranges[b.hot.tp] = b.hot.rg
	}
	return b.ranges
}

// hasContent reports whether the batch holds anything a commit must
// record: rows, passed-over offsets or skipped gaps. A batch without
// content only advances watermarks.
func (b *batch) hasContent() bool {
	return b.rows+int64(b.pending) > 0 || b.nSkipped > 0 || len(b.gaps) > 0
}

func (b *batch) skip(tp table.TP, off int64) {
	b.skipped[tp] = append(b.skipped[tp], off)
	b.nSkipped++
}

// commitTable commits ts's sealed batch. On success the table's
// watermarks advance; on any failure the batch is gone and the caller must
// re-seek the batch's partitions from the table.
func (p *Pipeline) commitTable(ctx context.Context, ts *tableState) error {
	b := ts.b
	ts.b = nil
	defer b.builder.Release()
	p.opts.Hooks.at("before-commit")
	start := time.Now()
	res, err := p.committer.Commit(ctx, ts.tbl, &table.Batch{
		Pipeline: p.opts.Pipeline,
		CommitID: b.commitID,
		Files:    b.files,
		Expect:   b.expect,
		Ranges:   b.consumed(),
		Skipped:  b.skipped,
		Gaps:     b.gaps,

		Schema:        ts.pendingSchema(),
		SchemaChanges: ts.schemaChanges,
		TopicIDs:      p.batchTopicIDs(b),
	})
	p.m.conflicts.WithLabelValues(ts.name).Add(float64(res.Conflicts))
	if err != nil {
		switch {
		case errors.Is(err, table.ErrFenced):
			p.m.fenced.WithLabelValues(ts.name).Inc()
		case errors.Is(err, table.ErrCommitUnknown):
			p.m.unknown.WithLabelValues(ts.name, "undetermined").Inc()
		}
		return fmt.Errorf("commit %s: %w", ts.name, err)
	}
	if res.Reconciled {
		p.m.unknown.WithLabelValues(ts.name, "found-committed").Inc()
	}
	if len(ts.schemaChanges) > 0 {
		p.opts.Logger.Info("table schema evolved", "pipeline", p.opts.Pipeline, "table", ts.name, "changes", strings.Join(ts.schemaChanges, "; "))
		p.m.schemaChanges.WithLabelValues(ts.name).Add(float64(len(ts.schemaChanges)))
		ts.schemaChanges = nil
	}
	if err := ts.setTable(res.Table); err != nil {
		return err
	}
	for tp, rg := range b.consumed() {
		if _, had := ts.wm[tp]; !had {
			if _, ok := ts.origins[tp]; !ok {
				ts.origins[tp] = rg[0]
			}
		}
		ts.wm[tp] = rg[1]
	}
	ts.wmChanged()
	ts.lastCommit = time.Now()
	p.m.commitDur.WithLabelValues(ts.name).Observe(time.Since(start).Seconds())
	p.m.commits.WithLabelValues(ts.name).Inc()
	p.m.records.WithLabelValues(ts.name).Add(float64(b.rows))
	p.m.bytes.WithLabelValues(ts.name).Add(float64(b.valueBytes))
	p.m.files.WithLabelValues(ts.name).Add(float64(len(b.files)))
	p.m.fileBytes.WithLabelValues(ts.name).Add(float64(b.fileBytes))
	p.m.lastCommit.WithLabelValues(ts.name).SetToCurrentTime()
	p.stats.committed.Add(b.rows)
	p.stats.lastCommit.Store(time.Now().UnixNano())
	p.opts.Logger.Info("committed", "pipeline", p.opts.Pipeline, "table", ts.name, "snapshot", res.Snapshot,
		"records", b.rows, "skipped", b.nSkipped, "files", len(b.files), "bytes", b.fileBytes,
		"conflicts", res.Conflicts, "reconciled", res.Reconciled)
	return nil
}
