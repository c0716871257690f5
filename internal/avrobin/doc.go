// Package avrobin reads Avro binary for the decoder, the converters, the
// rules and the transforms: a Reader over one payload whose every method
// checks bounds, so an untrusted length never indexes past the payload or
// sizes an allocation; the reasons a payload is malformed (Why…); the
// nesting limit (MaxDepth); decimal and UUID parsing without allocation;
// and the Avro schema helpers they share (Deref, UnwrapNullable,
// UnionBranches, JoinPath, TypeName).
//
// It defines no error of its own: callers wrap a reason in
// schema.ErrMalformed with the field path. It writes nothing.
package avrobin
