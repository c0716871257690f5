package schema

import "errors"

// ErrMalformed means an Avro payload does not decode under its writer
// schema, or carries a value the table cannot hold (a null in a required
// column, an out-of-range decimal, invalid UTF-8 in a string). The error
// names the field path and byte offset. It is permanent for that record.
var ErrMalformed = errors.New("schema: malformed avro payload")
