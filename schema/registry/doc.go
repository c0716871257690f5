// Package registry is where writer schemas come from and how a record
// names its own:
//
//   - the Confluent wire format: magic byte, schema id, payload (SplitWire),
//   - a caching schema-registry client built on franz-go's sr (Registry):
//     schema ids are immutable, so a fetched WriterSchema is cached for
//     good; fetches are shared and retried, and ids that cannot be
//     ingested are remembered with the reason (ErrUnknownSchema,
//     ErrUnsupportedSchema),
//   - the subject name strategies that tie a writer schema to the subject
//     a topic expects (SubjectFor, SubjectStrategies, ErrForeignSchema),
//   - the converters that make Avro of a schema registered in another
//     format: JSON Schema (JSONSchemaToAvro, with JSONRecords for the
//     documents) and Protobuf (CompileProto, ProtoSchema).
//
// The converters live here rather than in a package of their own because
// they and the registry's types refer to each other: a WriterSchema
// carries its converter, and a Protobuf message resolved from a record
// carries the WriterSchema it was converted to.
//
// Everything it returns is Avro; decoding is schema/decode.
package registry
