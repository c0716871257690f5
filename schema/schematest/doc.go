// Package schematest builds Arrow record builders for table schemas in
// tests (NewTarget, NewBuilder). Package schema's own tests cannot import
// it, since it imports schema, and keep their own newBuilder.
package schematest
