package ingest_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/schema"
)

// Records failing a validation rule go to quarantine tagged with the
// rule's name, at the validate stage; every record passing all rules is in
// the table; EO holds across both.
func TestValidationRulesQuarantineFailures(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	const n, seed = 600, 3
	e.produce(n, seed)

	// What the rules should decide, from the same generator.
	short := 0
	for _, tr := range producedTracks(t, n, seed) {
		if tr.DurationMS < 180_000 {
			short++
		}
	}
	if short == 0 || short == n {
		t.Fatalf("%d of %d tracks are short: the rule would test nothing", short, n)
	}

	rules, err := rules.CompileRules([]rules.Rule{
		{Name: "isrc_format", Expr: `value.isrc.matches('^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$')`},
		{Name: "at_least_3_minutes", Expr: "value.duration_ms >= 180000"},
		{Name: "has_artist", Expr: "has(value.artist.name) && topic == 'tracks'"},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := withQuarantine(e.options())
	opts.Tables[0].Rules = rules
	r := e.start(opts)
	e.waitWatermarks(n)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != int64(n-short) || rejectsIn(rep) != int64(short) {
		t.Fatalf("rows %d rejects %d, want %d and %d", rowsIn(rep), rejectsIn(rep), n-short, short)
	}
	for off, row := range e.readRejects() {
		if row.stage != schema.StageValidate || row.reason != "at_least_3_minutes" || row.message == "" {
			t.Errorf("offset %d: stage %q reason %q message %q", off, row.stage, row.reason, row.message)
		}
	}
	// No row of the table breaks the rule.
	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	_, recs, err := tbl.Scan(icebergtable.WithSelectedFields("duration_ms")).ToArrowRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range recs {
		if err != nil {
			t.Fatal(err)
		}
		d := rec.Column(0).(*array.Int32)
		for i := range d.Len() {
			if d.Value(i) < 180_000 {
				t.Errorf("table row with duration_ms %d", d.Value(i))
			}
		}
		rec.Release()
	}
}

// A filter drops records without rejecting them: they are in neither
// table, counted, and verify accounts for their offsets; a filter that
// errors on a record sends it to quarantine at the transform stage.
func TestFilterDropsRecords(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 2)
	const n, seed = 400, 5
	e.produce(n, seed)
	dropped, errs := 0, 0
	for _, tr := range producedTracks(t, n, seed) {
		switch {
		case tr.Genre == "POP":
			dropped++ // false && error is false in CEL: no error for a POP track without album
		case tr.Album == nil:
			errs++ // value.album.title errors on a null album
		}
	}
	if dropped == 0 || errs == 0 {
		t.Fatalf("%d dropped, %d errors: the filter would test nothing", dropped, errs)
	}
	filter, err := rules.CompileRules([]rules.Rule{{Name: "filter", Expr: "value.album.title != '' && value.genre != 'POP'"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts := withQuarantine(e.options())
	opts.Tables[0].Filter = filter
	opts.Registerer = reg
	r := e.start(opts)
	e.waitWatermarks(n)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != int64(n-dropped-errs) || rejectsIn(rep) != int64(errs) || skippedIn(rep) != int64(dropped) {
		t.Fatalf("rows %d rejects %d skipped %d, want %d, %d, %d", rowsIn(rep), rejectsIn(rep), skippedIn(rep), n-dropped-errs, errs, dropped)
	}
	for _, row := range e.readRejects() {
		if row.stage != schema.StageTransform || row.reason != "filter" {
			t.Errorf("reject %+v", row)
		}
	}
	if got := counterValue(t, reg, "bigfather_ingest_filtered_records_total", nil); got != float64(dropped) {
		t.Fatalf("filtered counter %v, want %d", got, dropped)
	}
}
