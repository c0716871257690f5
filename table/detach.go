package table

import (
	icebergtable "github.com/apache/iceberg-go/table"
)

// detachMetadata returns a deep copy of the metadata a commit produced, or
// meta itself if it cannot be copied (the copy only saves memory; the
// commit has already happened).
//
// A catalog that applies a commit's updates in this process (the SQL and
// the object-store catalog) returns metadata whose new snapshot points
// into the committing transaction: iceberg-go v0.7.0's snapshot producer
// sets the snapshot's schema-id to &txn.meta.currentSchemaID, an interior
// pointer that keeps the transaction's whole metadata builder alive, and
// with it the builder's base: the table the transaction started from.
// The pipeline commits each batch on the table the previous commit
// returned, so that base is the previous commit's metadata, whose newest
// snapshot points into the previous transaction, and so on: every
// metadata version the process ever committed stayed reachable, and the
// live heap grew by a whole metadata (a few KB per snapshot) per commit.
//
// The copy goes through iceberg-go's own metadata builder, which clones
// every snapshot (and its pointers) and shares nothing with the builder it
// came from. It differs from what was written only in last-updated-ms,
// which the builder sets to now; nothing reads that from the in-memory
// copy but the next transaction, whose catalog applies the updates to the
// stored metadata anyway.
func detachMetadata(meta icebergtable.Metadata) icebergtable.Metadata {
	if meta == nil {
		return nil
	}
	b, err := icebergtable.MetadataBuilderFromBase(meta, "")
	if err != nil {
		return meta
	}
	out, err := b.Build()
	if err != nil {
		return meta
	}
	return out
}
