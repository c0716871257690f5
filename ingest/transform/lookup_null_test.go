package transform

import (
	"strings"
	"testing"

	"github.com/bigfather/bigfather/internal/avrotest"
)

// The quarantine message of an enrich step whose second key column is
// null names the key with the separator the null column is owed
// ("POP\x00"), as the message always has.
func TestEnrichNullKeyMessage(t *testing.T) {
	w := avrotest.MustParse(t, trackSchema)
	p := mustProgram(t, w, Transform{Op: OpEnrich, Name: "label", Lookup: labels(), KeyColumns: []string{"genre", "year"}, OnMiss: "quarantine"})
	_, _, err := p.Apply(nil, avrotest.MustMarshal(t, w, track(map[string]any{"genre": "POP", "year": nil})), testMeta, nil)
	want := `transform "label" (step 0): no lookup row for key "POP\x00"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %s", err, want)
	}
}
