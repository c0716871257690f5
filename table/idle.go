package table

import (
	"context"
	"encoding/json"
	"fmt"

	iceberg "github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	icebergtable "github.com/apache/iceberg-go/table"
)

// A batch with nothing to record (no files, no passed-over offsets, no
// gaps, no schema change) only advances watermarks: a quarantine table
// while nothing is rejected, a routed table while its route takes
// nothing. Committed like any other batch it would add an empty data file
// and a snapshot every idle_commit_interval, forever. Through a catalog
// that validates requirements in this process (the SQL and object-store
// catalogs), it is committed as a property update alone: no file, no
// snapshot. Fencing (rule 5) then cannot rest on the pinned snapshot,
// which such a commit does not move, so every commit to these catalogs
// also requires the pipeline's bigfather.* properties to be what the
// batch was built on (propertiesUnchanged), checked by the catalog under
// its own compare-and-swap. A REST catalog sends requirements to a server
// that knows only the Iceberg spec's, so there watermark-only batches keep
// their empty file and snapshot.
//
// The offsets such commits pass over are in no snapshot summary, which
// verify's history expects to be contiguous per partition; they are kept
// in PropPendingPrefix+pipeline until the next snapshot of the partition
// takes them into its bigfather.ranges.
const (
	// PropPendingPrefix + pipeline holds, as {"topic": {"partition":
	// [first, next]}}, the offsets the watermark advanced over by commits
	// without a snapshot since the partition's last snapshot.
	PropPendingPrefix = "bigfather.pending-ranges."
	// PropPropertyCommitPrefix + pipeline holds, as {"topic":
	// {"partition": "commit id"}}, the last commit without a snapshot of
	// each partition, for reconciliation. Per partition, because the
	// instances of a pipeline share its tables: a commit of another
	// partition, landing between a commit whose response was lost and the
	// reload that reconciles it, must not erase the proof that it applied.
	PropPropertyCommitPrefix = "bigfather.property-commit."
)

// inProcessCatalog is a catalog of this package that applies commits in
// this process: it enforces the requirements carried in the context
// (withExpectedProperties) and can bind committed metadata to a table.
type inProcessCatalog interface {
	tableAt(ident icebergtable.Identifier, meta icebergtable.Metadata, loc string) *icebergtable.Table
}

type expectedPropsKey struct{}

// withExpectedProperties asks the catalogs of this package to commit only
// if each key's value is still the one given (nil: absent).
func withExpectedProperties(ctx context.Context, want map[string]*string) context.Context {
	return context.WithValue(ctx, expectedPropsKey{}, want)
}

// expectedRequirements returns the requirement ctx carries, if any, after
// reqs.
func expectedRequirements(ctx context.Context, reqs []icebergtable.Requirement) []icebergtable.Requirement {
	want, _ := ctx.Value(expectedPropsKey{}).(map[string]*string)
	if len(want) == 0 {
		return reqs
	}
	return append(reqs, propertiesUnchanged(want))
}

// propertiesUnchanged requires table properties to hold given values.
type propertiesUnchanged map[string]*string

func (r propertiesUnchanged) GetType() string { return "assert-bigfather-properties" }

func (r propertiesUnchanged) Validate(meta icebergtable.Metadata) error {
	if meta == nil {
		return fmt.Errorf("requirement %s: the table does not exist", r.GetType())
	}
	props := meta.Properties()
	for k, want := range r {
		got, ok := props[k]
		switch {
		case want == nil && ok:
			return fmt.Errorf("table property %s was set by another commit", k)
		case want != nil && (!ok || got != *want):
			return fmt.Errorf("table property %s was changed by another commit", k)
		}
	}
	return nil
}

// pipelineProperties returns the current values of the bigfather.*
// properties a commit of pipeline rewrites.
func pipelineProperties(meta icebergtable.Metadata, pipeline string) map[string]*string {
	props := meta.Properties()
	out := map[string]*string{}
	for _, k := range []string{PropOffsetsPrefix + pipeline, PropOriginsPrefix + pipeline, PropTopicIDsPrefix + pipeline,
		PropPendingPrefix + pipeline, PropPropertyCommitPrefix + pipeline} {
		if v, ok := props[k]; ok {
			out[k] = &v
		} else {
			out[k] = nil
		}
	}
	return out
}

// PendingRanges reads the offsets pipeline's watermarks advanced over
// without a snapshot (PropPendingPrefix).
func PendingRanges(meta icebergtable.Metadata, pipeline string) (Ranges, error) {
	raw, ok := meta.Properties()[PropPendingPrefix+pipeline]
	if !ok || raw == "" {
		return Ranges{}, nil
	}
	var r Ranges
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("table property %s: %w", PropPendingPrefix+pipeline, err)
	}
	return r, nil
}

// propertyCommits reads PropPropertyCommitPrefix: the last commit without
// a snapshot of each partition. A value that is not such a map (the single
// commit id an earlier build wrote) names no partition.
func propertyCommits(meta icebergtable.Metadata, pipeline string) map[TP]string {
	out := map[TP]string{}
	if raw, ok := meta.Properties()[PropPropertyCommitPrefix+pipeline]; ok {
		if err := unmarshalTPMap([]byte(raw), &out); err != nil {
			return map[TP]string{}
		}
	}
	return out
}

// committedWithoutSnapshot reports whether meta records b as the last
// commit without a snapshot of one of its partitions. Commit ids are
// unique, so one partition naming it proves b applied; another writer's
// commits of other partitions leave that entry alone.
func committedWithoutSnapshot(meta icebergtable.Metadata, b *Batch) bool {
	marks := propertyCommits(meta, b.Pipeline)
	for tp := range b.Ranges {
		if marks[tp] == b.CommitID {
			return true
		}
	}
	return false
}

// recordsNothing reports whether b only advances watermarks.
func (b *Batch) recordsNothing() bool {
	return len(b.Files) == 0 && len(b.Skipped) == 0 && len(b.Gaps) == 0 && b.Schema == nil && len(b.SchemaChanges) == 0
}

// CommitsWatermarksAlone reports whether a batch that records nothing
// (no files, no passed-over offsets, no gaps) can be committed without a
// data file. When false, the caller must give such a batch an empty file.
func (c *Committer) CommitsWatermarksAlone() bool {
	_, ok := c.cat.(inProcessCatalog)
	return ok
}

// commitProperties commits b as a property update alone: the new
// watermarks, origins and pending ranges, no snapshot.
func (c *Committer) commitProperties(ctx context.Context, tbl *icebergtable.Table, b *Batch, bind inProcessCatalog) (*icebergtable.Table, error) {
	meta := tbl.Metadata()
	props, err := c.properties(meta, b)
	if err != nil {
		return nil, err
	}
	pending, err := PendingRanges(meta, b.Pipeline)
	if err != nil {
		return nil, err
	}
	for tp, rg := range b.Ranges {
		if p, ok := pending[tp]; ok {
			rg[0] = p[0]
		}
		pending[tp] = rg
	}
	raw, err := json.Marshal(pending)
	if err != nil {
		return nil, err
	}
	props[PropPendingPrefix+b.Pipeline] = string(raw)
	marks := propertyCommits(meta, b.Pipeline)
	for tp := range b.Ranges {
		marks[tp] = b.CommitID
	}
	if raw, err = marshalTPMap(marks); err != nil {
		return nil, err
	}
	props[PropPropertyCommitPrefix+b.Pipeline] = string(raw)
	var head *int64
	if s := meta.CurrentSnapshot(); s != nil {
		id := s.SnapshotID
		head = &id
	}
	reqs := []icebergtable.Requirement{
		icebergtable.AssertTableUUID(meta.TableUUID()),
		icebergtable.AssertRefSnapshotID(icebergtable.MainBranch, head),
	}
	ctx = withExpectedProperties(ctx, pipelineProperties(meta, b.Pipeline))
	newMeta, loc, err := c.cat.CommitTable(ctx, tbl.Identifier(), reqs, []icebergtable.Update{icebergtable.NewSetPropertiesUpdate(props)})
	if err != nil {
		return nil, err
	}
	c.deleteOldMetadata(ctx, tbl, newMeta)
	return bind.tableAt(tbl.Identifier(), newMeta, loc), nil
}

// deleteOldMetadata does for a commit made without a transaction what
// iceberg-go does after a transaction's: with
// write.metadata.delete-after-commit.enabled, it deletes the metadata
// files the commit dropped from the metadata log. A failure only leaves a
// file for orphan cleanup.
func (c *Committer) deleteOldMetadata(ctx context.Context, before *icebergtable.Table, after icebergtable.Metadata) {
	if !after.Properties().GetBool(icebergtable.MetadataDeleteAfterCommitEnabledKey, icebergtable.MetadataDeleteAfterCommitEnabledDefault) {
		return
	}
	kept := map[string]bool{}
	for e := range after.PreviousFiles() {
		kept[e.MetadataFile] = true
	}
	var fs icebergio.IO
	for e := range before.Metadata().PreviousFiles() {
		if kept[e.MetadataFile] {
			continue
		}
		if fs == nil {
			var err error
			if fs, err = before.FS(ctx); err != nil {
				c.log.Warn("delete old metadata", "table", ident(before), "file", e.MetadataFile, "err", err)
				return
			}
		}
		if err := fs.Remove(e.MetadataFile); err != nil {
			c.log.Warn("delete old metadata", "table", ident(before), "file", e.MetadataFile, "err", err)
		}
	}
}

// takePending moves the pending ranges of b's partitions into the ranges
// b's snapshot records, so that each partition's snapshot ranges stay
// contiguous. It returns the summary ranges and the pending ranges left
// (changed reports whether the property must be rewritten).
func takePending(meta icebergtable.Metadata, b *Batch) (ranges, left Ranges, changed bool, err error) {
	pending, err := PendingRanges(meta, b.Pipeline)
	if err != nil || len(pending) == 0 {
		return b.Ranges, pending, false, err
	}
	ranges = make(Ranges, len(b.Ranges))
	for tp, rg := range b.Ranges {
		if p, ok := pending[tp]; ok {
			rg[0] = p[0]
			delete(pending, tp)
			changed = true
		}
		ranges[tp] = rg
	}
	return ranges, pending, changed, nil
}

// setPending stages the pending ranges left after a snapshot commit.
func setPending(tx *icebergtable.Transaction, props iceberg.Properties, pipeline string, left Ranges) error {
	if len(left) == 0 {
		return tx.RemoveProperties([]string{PropPendingPrefix + pipeline})
	}
	raw, err := json.Marshal(left)
	if err != nil {
		return err
	}
	props[PropPendingPrefix+pipeline] = string(raw)
	return nil
}
