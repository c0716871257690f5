// Package table is the Iceberg side of Big Father: everything that reads
// or writes a table's metadata and data files.
//
//   - Catalogs: OpenCatalog opens the SQL (SQLite, PostgreSQL) or REST
//     catalog the configuration names, or the ObjectStoreCatalog, which
//     keeps versioned metadata.json files and listing indexes in the
//     warehouse bucket itself, with no database.
//   - Data files: DataFileWriter writes Arrow record batches as Parquet
//     with the column statistics Iceberg manifests need; Partitioner
//     splits batches by a table's partition spec (ParsePartitionSpec).
//   - Commits: Committer commits a Batch (data files and the offsets they
//     cover) under the exactly-once protocol of DESIGN.md §3: the
//     pipeline's watermarks live in the table's metadata (Offsets, TP),
//     a clean conflict is reloaded and retried, an unknown outcome is
//     reconciled by reloading the table, and through the SQL and
//     object-store catalogs a batch with nothing to write only updates
//     the properties, the offsets it passes over kept pending until the
//     partition's next snapshot (PendingRanges). StageSchema stages an
//     evolution planned by schema.Evolve in the same transaction; the
//     Kafka topic ids stored with the watermarks refuse a commit after a
//     topic was recreated (ErrTopicIDChanged).
//   - Checks: Verify and VerifyRoute prove EO and MONO for a pipeline's
//     rows against what Kafka delivers; ManifestCount and HealthMetrics
//     report a table's health.
//
// It does not decide what goes into a batch (the ingest package does) nor
// talk to Kafka, except through the functions Verify is given.
package table
