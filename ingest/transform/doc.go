// Package transform is the transform stage of DESIGN.md §2: a table's
// chain of steps (Transform: rename, drop, cast, trim, hash, mask,
// parse_timestamp, default, flatten, enrich, derive, filter, …) that turns
// each record's Avro binary under its writer schema into Avro binary under
// an output schema, before the record is decoded into the table.
//
// A chain compiles once (CompileTransforms), binds to each writer schema
// (Transforms.Bind) and applies per record (TransformProgram.Apply); the
// output schema is what the table is created or evolved from. Enrich steps
// join reference data (Lookup) on a lookup key whose format is defined
// once, here (LookupKeyBuilder, LookupKey); ingest/enrich builds its index
// with the same code.
//
// A step that cannot apply to a record returns a TransformError; a filter
// step drops the record. What becomes of either is the pipeline's to say.
package transform
