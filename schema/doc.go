// Package schema is the shape of a Big Father table, as the rest of the
// ingester sees it:
//
//   - the Avro → Iceberg mapping with stable field ids (ToIceberg,
//     IcebergType) and the name-and-alias binding of writer fields to table
//     columns that the decoder and Evolve share (BindFields),
//   - the Iceberg → Arrow mapping the writers use (ArrowSchema),
//   - the Kafka metadata columns every table carries (Meta, AppendMeta,
//     IsMetaColumn),
//   - the quarantine (rejects) table: its columns, the stages that can
//     reject a record, and how a reject is appended (RejectsSchema,
//     AppendReject),
//   - schema evolution: which writer-schema changes a table follows, and
//     the table schema it evolves to (Evolve, Change, ErrIncompatible).
//
// It reads no payload. Decoding records into Arrow is schema/decode;
// writer schemas, the wire format and the JSON Schema and Protobuf
// converters are schema/registry; the validation rules and the transform
// chain that judge and rewrite a record before it is decoded are
// ingest/rules and ingest/transform. ErrMalformed, the error of a payload
// that does not fit its schema, is defined here because the decoder, the
// rules and the transforms all report it and the pipeline matches one
// sentinel.
package schema
