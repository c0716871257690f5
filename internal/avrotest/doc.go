// Package avrotest holds the Avro fixtures shared by the tests of schema,
// schema/decode, schema/registry, ingest/rules and ingest/transform: a
// writer schema that exercises every mapped type (RichSchema) with a full
// and a sparse event, and MustParse and MustMarshal. Only tests import it.
package avrotest
