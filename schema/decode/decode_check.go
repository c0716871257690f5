package decode

import (
	"fmt"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/schema"
)

// Check reports whether payload decodes under the writer schema into the
// table schema, without appending anything: the validating pass of Decode
// alone. The pipeline uses it for a record it must judge but not store,
// because the table already holds it and only the quarantine table does
// not (the two commit separately). It does not allocate.
func (d *Decoder) Check(payload []byte) error {
	r := avrobin.Reader{B: payload}
	return d.checkWhole(&r)
}

// checkWhole validates the record at the start of r and that nothing
// follows it.
func (d *Decoder) checkWhole(r *avrobin.Reader) error {
	if err := d.check(d.root, r, 0); err != nil {
		return err
	}
	if r.P != len(r.B) {
		return fmt.Errorf("%w: %d %s at byte %d", schema.ErrMalformed, len(r.B)-r.P, avrobin.WhyTrailing, r.P)
	}
	return nil
}
