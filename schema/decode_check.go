package schema

// Check reports whether payload decodes under the writer schema into the
// table schema, without appending anything: the validating pass of Decode
// alone. The pipeline uses it for a record it must judge but not store,
// because the table already holds it and only the quarantine table does
// not (the two commit separately). It does not allocate.
func (d *Decoder) Check(payload []byte) error {
	r := reader{b: payload}
	return d.check(d.root, &r, 0)
}
