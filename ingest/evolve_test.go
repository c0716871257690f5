package ingest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema"
)

// Writer schemas of one topic over time: an optional field added, an int
// widened to long, then an incompatible change of a field's kind.
const (
	eventV1 = `{"type": "record", "name": "Event", "fields": [
	  {"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "count", "type": "int"}]}`
	eventV2 = `{"type": "record", "name": "Event", "fields": [
	  {"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "count", "type": "int"},
	  {"name": "note", "type": ["null", "string"], "default": null}]}`
	eventV3 = `{"type": "record", "name": "Event", "fields": [
	  {"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "count", "type": "long"},
	  {"name": "note", "type": ["null", "string"], "default": null}]}`
	eventV4 = `{"type": "record", "name": "Event", "fields": [
	  {"name": "id", "type": "long"}, {"name": "name", "type": "int"}, {"name": "count", "type": "long"}]}`
)

type writerVersion struct {
	id  int
	sch avro.Schema
}

func registerEvent(t *testing.T, e *testEnv, text string) writerVersion {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(e.cluster.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := cl.CreateSchema(context.Background(), testTopic+"-value", sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	s, err := avro.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return writerVersion{id: ss.ID, sch: s}
}

// Records of three evolving writer schemas and an incompatible one, mixed
// with garbage: the compatible changes evolve the table in the commits of
// the first records that need them, field ids stay stable, the
// incompatible schema's records go to quarantine with the reason, and EO
// holds across the table and its quarantine.
func TestSchemaEvolutionUnderARunningPipeline(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	v1 := registerEvent(t, e, eventV1)
	v2 := registerEvent(t, e, eventV2)
	v3 := registerEvent(t, e, eventV3)
	v4 := registerEvent(t, e, eventV4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var n int64
	send := func(value []byte) {
		t.Helper()
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	emit := func(v writerVersion, count int, rec func(i int) map[string]any) {
		t.Helper()
		for i := range count {
			payload, err := avro.Marshal(v.sch, rec(i))
			if err != nil {
				t.Fatal(err)
			}
			send(music.AppendWire(nil, int32(v.id), payload))
		}
	}
	emit(v1, 10, func(i int) map[string]any { return map[string]any{"id": int64(i), "name": "a", "count": int32(i)} })
	emit(v2, 10, func(i int) map[string]any {
		note := "n"
		return map[string]any{"id": int64(100 + i), "name": "b", "count": int32(i), "note": &note}
	})
	send([]byte{0xde, 0xad}) // garbage between versions
	emit(v3, 10, func(i int) map[string]any {
		return map[string]any{"id": int64(200 + i), "name": "c", "count": int64(1) << 40, "note": nil}
	})
	emit(v4, 5, func(i int) map[string]any {
		return map[string]any{"id": int64(300 + i), "name": int32(i), "count": int64(i)}
	})
	emit(v1, 10, func(i int) map[string]any {
		return map[string]any{"id": int64(400 + i), "name": "d", "count": int32(i)}
	})

	reg := prometheus.NewRegistry()
	opts := withQuarantine(e.options())
	opts.Registerer = reg
	r := e.start(opts)
	e.waitWatermarks(n)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 40 || rejectsIn(rep) != 6 {
		t.Fatalf("rows %d rejects %d, want 40 and 6 (5 incompatible, 1 garbage)", rowsIn(rep), rejectsIn(rep))
	}

	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	sch := tbl.Schema()
	want := []struct {
		name     string
		id       int
		typ      iceberg.Type
		required bool
	}{
		{"id", 1, iceberg.PrimitiveTypes.Int64, true},
		{"name", 2, iceberg.PrimitiveTypes.String, true},
		{"count", 3, iceberg.PrimitiveTypes.Int64, true},               // widened in place
		{"note", 10, iceberg.PrimitiveTypes.String, false},             // after the 9 columns v1 created
		{schema.ColKafkaOffset, 6, iceberg.PrimitiveTypes.Int64, true}, // metadata ids unchanged
	}
	for _, w := range want {
		f, ok := sch.FindFieldByName(w.name)
		if !ok {
			t.Fatalf("column %s missing from %s", w.name, sch)
		}
		if f.ID != w.id || !f.Type.Equals(w.typ) || f.Required != w.required {
			t.Errorf("column %s: id %d type %s required %v, want id %d type %s required %v", w.name, f.ID, f.Type, f.Required, w.id, w.typ, w.required)
		}
	}
	if last := sch.Fields()[len(sch.Fields())-1].Name; last != schema.ColIngestedAt {
		t.Errorf("last column %s: the metadata columns must stay last", last)
	}
	if got := tbl.Metadata().LastColumnID(); got != 10 {
		t.Errorf("last-column-id %d, want 10", got)
	}

	// iceberg-go reads every snapshot, each under the schema it was
	// written with, and the row counts only grow.
	var prev int64
	for _, s := range tbl.Metadata().Snapshots() {
		at, err := tbl.Scan(icebergtable.WithSnapshotID(s.SnapshotID)).ToArrowTable(context.Background())
		if err != nil {
			t.Fatalf("scan snapshot %d: %v", s.SnapshotID, err)
		}
		rows := at.NumRows()
		at.Release()
		if rows < prev {
			t.Fatalf("snapshot %d has %d rows, fewer than its parent's %d", s.SnapshotID, rows, prev)
		}
		prev = rows
	}
	if prev != 40 {
		t.Fatalf("latest snapshot reads %d rows, want 40", prev)
	}

	var incompatible int
	for _, row := range e.readRejects() {
		if row.reason != "incompatible-schema" {
			continue
		}
		incompatible++
		if wantPrefix := "incompatible schema " + strconv.Itoa(v4.id) + ": name: "; !strings.HasPrefix(row.message, wantPrefix) {
			t.Errorf("reject message %q, want prefix %q", row.message, wantPrefix)
		}
		if row.schemaID == nil || int(*row.schemaID) != v4.id {
			t.Errorf("reject schema id %v, want %d", row.schemaID, v4.id)
		}
	}
	if incompatible != 5 {
		t.Fatalf("%d incompatible-schema rejects, want 5", incompatible)
	}
	if got := counterValue(t, reg, "bigfather_ingest_schema_changes_total", nil); got < 2 {
		t.Errorf("schema changes counted %v, want at least 2 (add note, widen count)", got)
	}
	if got := counterValue(t, reg, "bigfather_ingest_incompatible_schemas_total", nil); got != 1 {
		t.Errorf("incompatible schemas counted %v, want 1", got)
	}
}
