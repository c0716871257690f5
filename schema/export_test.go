package schema

// Hooks for the external tests (package schema_test), which import the
// decoder and so cannot live in package schema: the decoder imports it.
var (
	MetaNames = metaNames
	Widen     = widen
)
