package transform

import (
	"strings"
	"testing"

	"github.com/bigfather/bigfather/internal/avrotest"
)

// Review r1 (issue 12): the quarantine message of an enrich step whose
// second key column is null. At cb51c76 the per-record key got the
// separator before each key column after the first, so the message named
// the key "POP\x00"; on main LookupKeyBuilder writes a separator only
// before a column it writes, and the message says "POP".
func TestReviewR1EnrichNullKeyMessage(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpEnrich, Name: "label", Lookup: labels(), KeyColumns: []string{"genre", "year"}, OnMiss: "quarantine"})
	_, _, err := p.Apply(nil, avrotest.MustMarshal(t, w, track(map[string]any{"genre": "POP", "year": nil})), testMeta, nil)
	want := `transform "label" (step 0): no lookup row for key "POP\x00"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %s", err, want)
	}
}
