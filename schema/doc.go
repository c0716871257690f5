// Package schema turns Confluent-framed Avro records into Arrow columns that
// match an Iceberg table schema.
//
// It owns four pieces of the decode stage:
//
//   - the Confluent wire format (SplitWire),
//   - a caching schema-registry client (Registry) built on franz-go's sr,
//   - the Avro → Iceberg schema mapping with stable field IDs (ToIceberg) and
//     the Iceberg → Arrow mapping the writers use (ArrowSchema),
//   - a compiled, allocation-free Avro binary decoder (Decoder) that resolves
//     the writer schema against the table schema by field name and appends
//     each record straight into an array.RecordBuilder.
//
// The decoder is the hot path of ingestion. It never materialises a record
// as Go values: a validating pass over the bytes proves the payload well
// formed, then an appending pass writes the columns, so a malformed record
// leaves every builder untouched.
package schema
