package table

import (
	"context"
	"fmt"
	"strings"

	icebergtable "github.com/apache/iceberg-go/table"
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
func (c *ObjectStoreCatalog) checkNotSuperseded(ctx context.Context, ident icebergtable.Identifier, version int) error {
	versions, err := c.listVersions(ctx, ident)
	if err != nil {
		// The version is created and may well be the current one.
		return fmt.Errorf("check metadata v%d is the latest (outcome unknown): %w", version, err)
	}
	if len(versions) == 0 || versions[len(versions)-1] <= version {
		return nil
	}
	if err := c.b.Delete(ctx, metadataKey(ident, version)); err != nil {
		c.log.Warn("delete stale metadata version", "table", strings.Join(ident, "."), "version", version, "err", err)
	}
	return fmt.Errorf("%w: metadata v%d was created after the table reached v%d (its earlier v%d had been deleted): a stale writer",
		icebergtable.ErrCommitFailed, version, versions[len(versions)-1], version)
}
