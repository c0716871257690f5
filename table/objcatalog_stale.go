package table

import (
	"context"
	"errors"
	"fmt"
	"strings"

	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
)

// checkNotSuperseded makes sure the version just created, vN, is the
// table's highest. A writer frozen between reading vN-1 and creating vN
// (SIGSTOP, a VM pause, a slow PUT) may find vN absent not because nobody
// made it but because it was made and, ten versions later, deleted
// (write.metadata.delete-after-commit): the create succeeds, yet the
// table has moved on. Such a vN is stale metadata that a reader probing
// upward from an old hint, and this writer's own hint, would take for the
// current version, rolling the watermarks back. It is removed and the
// commit reported as a conflict: nothing became current. The versions
// above are never all deleted (the current one is kept), so a listing
// after the create sees one of them.
func (c *ObjectStoreCatalog) checkNotSuperseded(ctx context.Context, ident icebergtable.Identifier, version int, written icebergtable.Metadata) error {
	versions, err := c.listVersions(ctx, ident)
	if err != nil {
		// The version is created and may well be the current one.
		return fmt.Errorf("check metadata v%d is the latest (outcome unknown): %w", version, err)
	}
	if len(versions) == 0 || versions[len(versions)-1] <= version {
		return nil
	}
	// A higher version may also be another writer's that read ours in the
	// moment between our create and this listing (two instances sharing a
	// table, each its own partitions): then its metadata log ends with our
	// vN, carrying our vN's timestamp, and vN is history to keep, not stale.
	// A stale writer's vN has a timestamp of its own, and the vN+1 above a
	// deleted vN names the original.
	switch built, err := c.builtOn(ctx, ident, version, written); {
	case err != nil:
		return fmt.Errorf("check metadata v%d is the latest (outcome unknown): %w", version, err)
	case built:
		return nil
	}
	if err := c.b.Delete(ctx, metadataKey(ident, version)); err != nil {
		c.log.Warn("delete stale metadata version", "table", strings.Join(ident, "."), "version", version, "err", err)
	}
	return fmt.Errorf("%w: metadata v%d was created after the table reached v%d (its earlier v%d had been deleted): a stale writer",
		icebergtable.ErrCommitFailed, version, versions[len(versions)-1], version)
}

// builtOn reports whether metadata version+1 of ident exists and was
// built on written, the version this process just created: its metadata
// log ends with written's location and last-updated time. A missing
// version+1 is false, with no error.
func (c *ObjectStoreCatalog) builtOn(ctx context.Context, ident icebergtable.Identifier, version int, written icebergtable.Metadata) (bool, error) {
	data, err := c.readAll(ctx, metadataKey(ident, version+1))
	if errors.Is(err, objstore.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	next, err := icebergtable.ParseMetadataBytes(data)
	if err != nil {
		return false, fmt.Errorf("parse metadata v%d: %w", version+1, err)
	}
	var last *icebergtable.MetadataLogEntry
	for e := range next.PreviousFiles() {
		last = &e
	}
	return last != nil && last.MetadataFile == c.b.URL(metadataKey(ident, version)) &&
		last.TimestampMs == written.LastUpdatedMillis(), nil
}
