package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/internal/backoff"
)

var (
	// ErrFenced means the table's watermark moved past where this batch
	// started: another worker owns the partition now, or this one is a
	// zombie. The batch must be dropped and the partitions re-seeked from
	// the table (DESIGN.md §3 rule 5).
	ErrFenced = errors.New("fenced: watermark moved since the batch started")
	// ErrCommitUnknown means the catalog may or may not have applied the
	// commit and reconciliation could not tell which. The caller must not
	// retry blindly: drop the batch and re-seek from the table (rule 6).
	ErrCommitUnknown = errors.New("commit outcome unknown")
)

// Batch is what one ingest commit adds to one table.
type Batch struct {
	Pipeline string
	CommitID string // a fresh UUID per batch, recorded in the snapshot summary
	Files    []iceberg.DataFile
	// Expect holds, for every topic-partition the batch covers, the
	// watermark the batch was built on. A partition absent from Expect was
	// never committed when the batch started; it must still be absent.
	Expect Offsets
	// Ranges holds [first, next) per partition; next becomes the new watermark.
	Ranges  Ranges
	Skipped OffsetLists // consumed but undecodable offsets, passed over
	Gaps    Ranges      // ranges skipped by the on_gap=skip policy
	// Schema, when not nil, is the table schema the batch's files were
	// written with, an evolution of the table's (schema.Evolve). It is
	// staged in the same commit as the files (StageSchema), so readers
	// never see data before the columns that hold it.
	Schema *iceberg.Schema
	// SchemaChanges describe the evolution, for the snapshot summary.
	SchemaChanges []string
	// TopicIDs holds the Kafka topic id of the batch's topics, by name
	// (PropTopicIDsPrefix); an empty or missing id is not recorded.
	TopicIDs map[string]string
}

// CommitterOptions configures a Committer. Zero values take the defaults.
type CommitterOptions struct {
	// MaxConflictRetries bounds the reload-and-retry loop on clean
	// conflicts that leave the watermarks untouched (e.g. a compaction
	// committed in between). Default 10.
	MaxConflictRetries int
	// ReconcileTimeout bounds how long an unknown outcome is reconciled by
	// reloading the table. Default 30s.
	ReconcileTimeout time.Duration
	Logger           *slog.Logger
}

// CommitCatalog is what a Committer needs of a catalog: loading a table
// to retry or reconcile, and committing a property update alone
// (idle.go). Every catalog.Catalog is one.
type CommitCatalog interface {
	LoadTable(ctx context.Context, ident icebergtable.Identifier) (*icebergtable.Table, error)
	CommitTable(ctx context.Context, ident icebergtable.Identifier, reqs []icebergtable.Requirement, updates []icebergtable.Update) (icebergtable.Metadata, string, error)
}

// Committer commits ingest batches under the exactly-once protocol of
// DESIGN.md §3.
type Committer struct {
	cat  CommitCatalog
	opts CommitterOptions
	log  *slog.Logger
}

// NewCommitter returns a Committer for tables of cat.
func NewCommitter(cat CommitCatalog, opts CommitterOptions) *Committer {
	if opts.MaxConflictRetries <= 0 {
		opts.MaxConflictRetries = 10
	}
	if opts.ReconcileTimeout <= 0 {
		opts.ReconcileTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Committer{cat: cat, opts: opts, log: log}
}

// CommitResult describes a successful commit.
type CommitResult struct {
	Table      *icebergtable.Table
	Snapshot   int64
	Conflicts  int  // clean conflicts that were retried
	Reconciled bool // the outcome was unknown and was found committed
}

// Commit adds b's files and advances the watermarks in one atomic catalog
// swap. tbl is the caller's latest view of the table; it may be stale.
//
// Returns ErrFenced if the watermarks moved, ErrCommitUnknown if the outcome
// cannot be determined; any other error means nothing was committed.
func (c *Committer) Commit(ctx context.Context, tbl *icebergtable.Table, b *Batch) (CommitResult, error) {
	var res CommitResult
	bind, inProcess := c.cat.(inProcessCatalog)
	lost := false // an earlier attempt's outcome was unknown
	for attempt := 0; ; attempt++ {
		if lost && holds(tbl.Metadata(), b) {
			// The lost request was applied after reconcile looked, and
			// this attempt's conflict was with it: committed once.
			res.Table, res.Snapshot, res.Reconciled = tbl, currentSnapshotID(tbl.Metadata()), true
			if snap := FindCommit(tbl.Metadata(), b.CommitID); snap != 0 {
				res.Snapshot = snap
			}
			return res, nil
		}
		if err := checkExpect(tbl.Metadata(), b); err != nil {
			return res, err
		}
		var committed *icebergtable.Table
		var err error
		if inProcess && b.recordsNothing() {
			committed, err = c.commitProperties(ctx, tbl, b, bind)
		} else {
			var tx *icebergtable.Transaction
			if tx, err = c.transaction(ctx, tbl, b); err != nil {
				return res, fmt.Errorf("build commit %s: %w", b.CommitID, err)
			}
			// The catalogs of this package also check that no commit
			// without a snapshot moved the watermarks (idle.go).
			committed, err = tx.Commit(withExpectedProperties(ctx, pipelineProperties(tbl.Metadata(), b.Pipeline)))
		}
		if err == nil {
			res.Table = committed
			res.Snapshot = currentSnapshotID(committed.Metadata())
			return res, nil
		}
		if errors.Is(err, icebergtable.ErrCommitFailed) {
			// A clean conflict: nothing was applied. Reload and re-check the
			// watermarks; retry only if they are untouched (rule 5).
			if attempt >= c.opts.MaxConflictRetries {
				return res, fmt.Errorf("commit %s: %d conflicts in a row: %w", b.CommitID, attempt+1, err)
			}
			res.Conflicts++
			c.log.Info("commit conflict, reloading", "table", ident(tbl), "commit", b.CommitID, "err", err)
			fresh, err := c.cat.LoadTable(ctx, tbl.Identifier())
			if err != nil {
				return res, fmt.Errorf("reload %s after conflict: %w", ident(tbl), err)
			}
			tbl = fresh
			continue
		}
		// Anything else may have been applied (rule 6): never retry blindly.
		c.log.Warn("commit outcome unknown, reconciling", "table", ident(tbl), "commit", b.CommitID, "err", err)
		found, snap, fresh, rerr := c.reconcile(ctx, tbl.Identifier(), b)
		if rerr != nil {
			return res, fmt.Errorf("%w: commit %s: %w (reconcile: %w)", ErrCommitUnknown, b.CommitID, err, rerr)
		}
		if found {
			res.Table, res.Snapshot, res.Reconciled = fresh, snap, true
			return res, nil
		}
		// Not applied. The table is reloaded, so the next attempt re-checks
		// the watermarks and pins the fresh snapshot: even if the lost
		// request were applied late, both could not win the swap, and the
		// reload after the conflict finds it (lost).
		lost = true
		if attempt >= c.opts.MaxConflictRetries {
			return res, fmt.Errorf("commit %s: %w", b.CommitID, err)
		}
		tbl = fresh
	}
}

// properties returns the table properties a commit of b sets: the new
// watermarks, the origins of partitions committed for the first time, the
// topic ids new to the table, and the default properties the table lacks.
func (c *Committer) properties(meta icebergtable.Metadata, b *Batch) (iceberg.Properties, error) {
	cur, err := Watermarks(meta, b.Pipeline)
	if err != nil {
		return nil, err
	}
	origins, err := Origins(meta, b.Pipeline)
	if err != nil {
		return nil, err
	}
	next := cur.Clone()
	newOrigin := false
	for tp, rg := range b.Ranges {
		next[tp] = rg[1]
		if _, had := cur[tp]; !had {
			if _, ok := origins[tp]; !ok {
				origins[tp] = rg[0]
				newOrigin = true
			}
		}
	}
	offsetsJSON, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	// Tables created before the defaults existed get them with their next
	// commit; a table that has them costs nothing here.
	props := missingDefaults(meta.Properties())
	if props == nil {
		props = iceberg.Properties{}
	}
	props[PropOffsetsPrefix+b.Pipeline] = string(offsetsJSON)
	if newOrigin {
		raw, err := json.Marshal(origins)
		if err != nil {
			return nil, err
		}
		props[PropOriginsPrefix+b.Pipeline] = string(raw)
	}
	if err := stageTopicIDs(props, meta.Properties(), b); err != nil {
		return nil, err
	}
	return props, nil
}

// transaction stages b on tbl: the new watermarks, the files and the
// summary, pinned to tbl's current snapshot.
func (c *Committer) transaction(ctx context.Context, tbl *icebergtable.Table, b *Batch) (*icebergtable.Transaction, error) {
	props, err := c.properties(tbl.Metadata(), b)
	if err != nil {
		return nil, err
	}
	ranges, left, pendingChanged, err := takePending(tbl.Metadata(), b)
	if err != nil {
		return nil, err
	}
	summary, err := b.summary(ranges)
	if err != nil {
		return nil, err
	}

	tx := tbl.NewTransaction()
	// Pin the base snapshot. iceberg-go otherwise answers a conflict by
	// refreshing and replaying the append on the new head, which would
	// write this batch's watermarks over another worker's: the fencing
	// check of rule 5 must run on every conflict, so conflicts surface.
	if err := tx.AssertRefSnapshotID(icebergtable.MainBranch); err != nil {
		return nil, err
	}
	if b.Schema != nil {
		if err := StageSchema(tx, b.Schema); err != nil {
			return nil, err
		}
	}
	if pendingChanged {
		if err := setPending(tx, props, b.Pipeline, left); err != nil {
			return nil, err
		}
	}
	if err := tx.SetProperties(props); err != nil {
		return nil, err
	}
	// Data files have unique names, so the duplicate check (a read of
	// every manifest of the table) would only cost time per commit.
	if err := tx.AddDataFiles(ctx, b.Files, summary, icebergtable.WithoutDuplicateCheck()); err != nil {
		return nil, err
	}
	return tx, nil
}

// summary is the snapshot summary of b, recording ranges as the offsets
// it covers: b.Ranges, extended back over the pending ranges it takes in.
func (b *Batch) summary(ranges Ranges) (iceberg.Properties, error) {
	p := iceberg.Properties{SummaryPipeline: b.Pipeline, SummaryCommitID: b.CommitID}
	if len(b.SchemaChanges) > 0 {
		raw, err := json.Marshal(b.SchemaChanges)
		if err != nil {
			return nil, fmt.Errorf("summary %s: %w", SummarySchemaChanges, err)
		}
		p[SummarySchemaChanges] = string(raw)
	}
	put := func(key string, v interface{ MarshalJSON() ([]byte, error) }, n int) error {
		if n == 0 {
			return nil
		}
		raw, err := v.MarshalJSON()
		if err != nil {
			return fmt.Errorf("summary %s: %w", key, err)
		}
		p[key] = string(raw)
		return nil
	}
	if err := put(SummaryRanges, ranges, len(ranges)); err != nil {
		return nil, err
	}
	if err := put(SummarySkipped, b.Skipped, len(b.Skipped)); err != nil {
		return nil, err
	}
	if err := put(SummaryGaps, b.Gaps, len(b.Gaps)); err != nil {
		return nil, err
	}
	return p, nil
}

// checkExpect is the fencing test of rule 5: every partition's watermark
// must still be where the batch started.
func checkExpect(meta icebergtable.Metadata, b *Batch) error {
	cur, err := Watermarks(meta, b.Pipeline)
	if err != nil {
		return err
	}
	for tp, rg := range b.Ranges {
		want, expected := b.Expect[tp]
		if expected && rg[0] != want {
			// Not a fence: the batch itself is inconsistent, which would
			// leave a hole or an overlap in the committed ranges.
			return fmt.Errorf("%s: batch range starts at %d but was built on watermark %d", tp, rg[0], want)
		}
		got, present := cur[tp]
		switch {
		case expected && present && got == want:
		case !expected && !present:
		case !expected:
			return fmt.Errorf("%w: %s was first committed by another writer up to %d", ErrFenced, tp, got)
		case !present:
			return fmt.Errorf("%w: %s watermark %d disappeared from the table", ErrFenced, tp, want)
		default:
			return fmt.Errorf("%w: %s watermark is %d, batch started at %d", ErrFenced, tp, got, want)
		}
	}
	return nil
}

// reconcile reloads the table until it answers and reports whether b's
// commit is in it: a snapshot carrying its commit id, or, for a commit
// without a snapshot, the property naming it.
func (c *Committer) reconcile(ctx context.Context, id icebergtable.Identifier, b *Batch) (bool, int64, *icebergtable.Table, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.ReconcileTimeout)
	defer cancel()
	wait := backoff.New(100*time.Millisecond, 5*time.Second)
	for {
		tbl, err := c.cat.LoadTable(ctx, id)
		if err == nil {
			if !holds(tbl.Metadata(), b) {
				return false, 0, tbl, nil
			}
			if snap := FindCommit(tbl.Metadata(), b.CommitID); snap != 0 {
				return true, snap, tbl, nil
			}
			return true, currentSnapshotID(tbl.Metadata()), tbl, nil
		}
		c.log.Warn("reload for reconcile", "table", id, "commit", b.CommitID, "err", err)
		if wait.Wait(ctx) != nil {
			return false, 0, nil, fmt.Errorf("reload %v: %w", id, err)
		}
	}
}

// holds reports whether meta holds b's commit: a snapshot carrying its
// commit id, or, for a commit without a snapshot, the property naming it.
func holds(meta icebergtable.Metadata, b *Batch) bool {
	return FindCommit(meta, b.CommitID) != 0 || committedWithoutSnapshot(meta, b)
}

// FindCommit returns the id of the snapshot whose summary carries
// commitID, or 0.
func FindCommit(meta icebergtable.Metadata, commitID string) int64 {
	for _, s := range meta.Snapshots() {
		if s.Summary != nil && s.Summary.Properties[SummaryCommitID] == commitID {
			return s.SnapshotID
		}
	}
	return 0
}

func currentSnapshotID(meta icebergtable.Metadata) int64 {
	if s := meta.CurrentSnapshot(); s != nil {
		return s.SnapshotID
	}
	return 0
}

func ident(t *icebergtable.Table) string {
	if t == nil {
		return ""
	}
	return strings.Join(t.Identifier(), ".")
}
