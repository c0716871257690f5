// Package decode is the hot path of ingestion: a compiled,
// allocation-free decoder (Decoder) of Avro binary payloads into the Arrow
// columns of an Iceberg table schema. It resolves the writer schema
// against the table schema by field name, or by a writer field's alias
// (schema.BindFields), once per writer schema, and appends each record
// straight into an array.RecordBuilder.
//
// It never materialises a record as Go values: a validating pass over the
// bytes proves the payload well formed, then an appending pass writes the
// columns, so a malformed record (schema.ErrMalformed) leaves every
// builder untouched. Check runs the validating pass alone.
//
// It does not strip the Confluent wire header (registry.SplitWire), fill
// the metadata columns (schema.AppendMeta), nor decide whether the table
// must evolve first (schema.Evolve).
package decode
