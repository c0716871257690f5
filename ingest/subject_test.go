package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema"
)

// eventOther is another subject's schema under Event's name: an extra
// column, and the required columns optional. Ingested as the topic's
// data it would evolve the table.
const eventOther = `{"type": "record", "name": "Event", "fields": [
  {"name": "id", "type": ["null", "long"], "default": null}, {"name": "name", "type": ["null", "string"], "default": null},
  {"name": "count", "type": ["null", "int"], "default": null}, {"name": "secret", "type": ["null", "string"], "default": null}]}`

func registerUnder(t *testing.T, e *testEnv, subject, text string) writerVersion {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(e.cluster.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := cl.CreateSchema(context.Background(), subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	s, err := avro.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return writerVersion{id: ss.ID, sch: s}
}

// sendWire produces records framed with schema id, each value already
// Avro-encoded.
func (e *testEnv) sendWire(id int, payloads ...[]byte) {
	e.t.Helper()
	recs := make([]*kgo.Record, len(payloads))
	for i, p := range payloads {
		recs[i] = &kgo.Record{Value: music.AppendWire(nil, int32(id), p)}
	}
	e.send(recs...)
}

func encodeEvents(t *testing.T, v writerVersion, recs ...map[string]any) [][]byte {
	t.Helper()
	out := make([][]byte, len(recs))
	for i, r := range recs {
		b, err := avro.Marshal(v.sch, r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func v1Event(i int) map[string]any {
	return map[string]any{"id": int64(i), "name": "a", "count": int32(i)}
}

// tableColumns reads the test table's columns and which are required.
func (e *testEnv) tableColumns() map[string]bool {
	e.t.Helper()
	out := map[string]bool{}
	for _, f := range e.loadTable(testTable).Schema().Fields() {
		out[f.Name] = f.Required
	}
	return out
}

func assertEventV1Columns(t *testing.T, cols map[string]bool) {
	t.Helper()
	for _, c := range []string{"id", "name", "count"} {
		if req, ok := cols[c]; !ok || !req {
			t.Fatalf("column %s: present %v required %v, want a required column (columns %v)", c, ok, req, cols)
		}
	}
	for _, c := range []string{"note", "secret"} {
		if _, ok := cols[c]; ok {
			t.Fatalf("column %s was added by a rejected record (columns %v)", c, cols)
		}
	}
}

// Issue 11 item 5: a record whose schema id belongs to another subject
// than its topic's ("<topic>-value" under the default strategy) is
// rejected as foreign-schema, and the table's schema stays as it was.
func TestForeignSubjectSchemaIsRejected(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	v1 := registerEvent(t, e, eventV1)
	other := registerUnder(t, e, "other-value", eventOther)
	e.sendWire(v1.id, encodeEvents(t, v1, v1Event(1), v1Event(2), v1Event(3))...)
	secret := "s"
	e.sendWire(other.id, encodeEvents(t, other, map[string]any{"id": nil, "name": nil, "count": nil, "secret": &secret})...)
	e.sendWire(v1.id, encodeEvents(t, v1, v1Event(4), v1Event(5))...)

	r := e.start(withQuarantine(e.options()))
	e.waitWatermarks(6)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 5 || rejectsIn(rep) != 1 {
		t.Fatalf("rows %d rejects %d, want 5 and 1", rowsIn(rep), rejectsIn(rep))
	}
	rej, ok := e.readRejects()[rejectAt{0, 3}]
	if !ok || rej.reason != "foreign-schema" || rej.stage != schema.StageDecode {
		t.Fatalf("reject of offset 3 = %+v, want stage decode reason foreign-schema", rej)
	}
	assertEventV1Columns(t, e.tableColumns())
}

// Issue 11 item 5: a record that carries a newer schema of the topic's own
// subject but does not decode is quarantined without evolving the table:
// evolution happens only for a record that decodes and is kept, in the
// commit that holds it.
func TestQuarantinedRecordDoesNotEvolveTheTable(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	v1 := registerEvent(t, e, eventV1)
	v2 := registerEvent(t, e, eventV2)
	e.sendWire(v1.id, encodeEvents(t, v1, v1Event(1), v1Event(2))...)
	// A v1 body under v2's id: the note union is missing, so it does not
	// decode.
	e.sendWire(v2.id, encodeEvents(t, v1, v1Event(3))...)
	e.sendWire(v1.id, encodeEvents(t, v1, v1Event(4), v1Event(5))...)

	r := e.start(withQuarantine(e.options()))
	e.waitWatermarks(5)
	// Both tables committed past the bad record.
	e.waitWatermarksOf(testRejects, 5)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 4 || rejectsIn(rep) != 1 {
		t.Fatalf("rows %d rejects %d, want 4 and 1", rowsIn(rep), rejectsIn(rep))
	}
	if rej := e.readRejects()[rejectAt{0, 2}]; rej.reason != "malformed" {
		t.Fatalf("reject of offset 2 = %+v, want reason malformed", rej)
	}
	assertEventV1Columns(t, e.tableColumns())

	// A v2 record that decodes evolves the table, in its own commit.
	note := "n"
	e.sendWire(v2.id, encodeEvents(t, v2, map[string]any{"id": int64(6), "name": "b", "count": int32(6), "note": &note})...)
	r = e.start(withQuarantine(e.options()))
	e.waitWatermarks(6)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.tableColumns()["note"]; !ok {
		t.Fatalf("a good v2 record did not evolve the table: %v", e.tableColumns())
	}
}

// waitWatermarksOf polls until table id's watermarks sum to want.
func (e *testEnv) waitWatermarksOf(id []string, want int64) {
	e.t.Helper()
	eventually.Within(e.t, 60*time.Second, func() error {
		if wm := e.watermarksOf(id); sumOf(wm) != want {
			return fmt.Errorf("%v: watermarks %v, want them to sum to %d", id, wm, want)
		}
		return nil
	})
}

// A foreign-schema verdict is not final: the subjects of a schema id grow
// when a producer registers an existing schema under its own topic's
// subject (the registry gives the same id). Once the topic's subject has
// the schema, its records are ingested, without a restart.
func TestForeignVerdictIsReaskedOnceTheSubjectRegistersTheSchema(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	v1 := registerEvent(t, e, eventV1)
	other := registerUnder(t, e, "other-value", eventOther)
	secret := "s"
	e.sendWire(v1.id, encodeEvents(t, v1, v1Event(1), v1Event(2))...)
	e.sendWire(other.id, encodeEvents(t, other, map[string]any{"id": int64(3), "name": "c", "count": int32(3), "secret": &secret})...)

	opts := withQuarantine(e.options())
	// Offset 3 is ingested, not rejected: the quarantine table covers it
	// with an idle commit, by default a minute later.
	opts.IdleCommitInterval = 200 * time.Millisecond
	r := e.start(opts)
	e.waitWatermarks(3)
	e.waitWatermarksOf(testRejects, 3)
	if got := registerEvent(t, e, eventOther); got.id != other.id {
		t.Fatalf("registering the schema under the topic's subject gave id %d, want the existing %d", got.id, other.id)
	}
	// A verdict may be reused for a moment (a flood of foreign records must
	// not cost a registry request each); wait that out, as a producer that
	// registers before it writes would not even notice.
	time.Sleep(2 * time.Second)
	e.sendWire(other.id, encodeEvents(t, other, map[string]any{"id": int64(4), "name": "d", "count": int32(4), "secret": &secret})...)
	e.waitWatermarks(4)
	e.waitWatermarksOf(testRejects, 4)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 3 || rejectsIn(rep) != 1 {
		t.Fatalf("rows %d rejects %d, want 3 and 1: the record written after its schema was registered under the topic's subject was rejected", rowsIn(rep), rejectsIn(rep))
	}
	if rej := e.readRejects()[rejectAt{0, 3}]; rej.reason != "" {
		t.Fatalf("offset 3 was rejected as %q after its schema was registered under the topic's subject", rej.reason)
	}
}
