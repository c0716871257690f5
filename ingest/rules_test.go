package ingest_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema"
)

// Records failing a validation rule go to quarantine tagged with the
// rule's name, at the validate stage; every record passing all rules is in
// the table; EO holds across both.
func TestValidationRulesQuarantineFailures(t *testing.T) {
	e := newTestEnv(t, 2)
	const n, seed = 600, 3
	e.produce(n, seed)

	// What the rules should decide, from the same generator.
	sch, err := avro.Parse(music.TrackSchema())
	if err != nil {
		t.Fatal(err)
	}
	gen := music.NewGenerator(seed)
	short := 0
	for range n {
		payload, err := gen.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		var tr music.Track
		if err := avro.Unmarshal(sch, payload, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.DurationMS < 180_000 {
			short++
		}
	}
	if short == 0 || short == n {
		t.Fatalf("%d of %d tracks are short: the rule would test nothing", short, n)
	}

	rules, err := schema.CompileRules([]schema.Rule{
		{Name: "isrc_format", Expr: `value.isrc.matches('^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$')`},
		{Name: "at_least_3_minutes", Expr: "value.duration_ms >= 180000"},
		{Name: "has_artist", Expr: "has(value.artist.name) && topic == 'tracks'"},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := withQuarantine(e.options())
	opts.Rules = map[string]*schema.Rules{testTopic: rules}
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
