package ingest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/registry"
)

const contactsSchema = `{"type": "record", "name": "Contact", "fields": [
  {"name": "id", "type": "long"},
  {"name": "name", "type": "string"},
  {"name": "email", "type": "string"},
  {"name": "phone", "type": ["null", "string"], "default": null},
  {"name": "city", "type": ["null", "string"], "default": null},
  {"name": "signup", "type": "string"},
  {"name": "age", "type": "string"},
  {"name": "note", "type": ["null", "string"], "default": null}]}`

func mustTransforms(t *testing.T, steps ...transform.Transform) *transform.Transforms {
	t.Helper()
	tr, err := transform.CompileTransforms(steps)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A table's transform chain runs in order on every record before it is
// decoded: the table is created from the chain's output schema and holds
// renamed, cast, parsed, cleansed, hashed, masked and derived values. A
// record a step cannot transform lands in quarantine with the step's
// name; one a filter step drops is passed over; EO holds across both
// tables.
func TestTransformChain(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	j, err := registry.NewJSONRecords(contactsSchema)
	if err != nil {
		t.Fatal(err)
	}
	e.sendValues(
		`{"id": 1, "name": "  Ada   LOVELACE ", "email": "ada@example.com", "phone": "+44 20 7946 0958", "city": "  ", "signup": "2024-03-01 09:30:00", "age": "36", "note": "x"}`,
		`{"id": 2, "name": "grace hopper", "email": "grace@example.com", "phone": "12", "city": " New  York ", "signup": "2024-03-02 23:15:00", "age": "85"}`,
		`{"id": 3, "name": "bad age", "email": "b@example.com", "signup": "2024-03-02 23:15:00", "age": "eighty"}`,
		`{"id": 4, "name": "test user", "email": "t@example.com", "signup": "2024-03-02 23:15:00", "age": "1"}`,
	)
	key := []byte("test-pii-key")
	opts := withQuarantine(e.options())
	opts.JSON = map[string]*registry.JSONRecords{testTopic: j}
	opts.Tables[0].Transforms = mustTransforms(t,
		transform.Transform{Op: transform.OpFilter, Name: "no_test_users", Expr: `value.name != "test user"`},
		transform.Transform{Op: transform.OpRename, Renames: map[string]string{"name": "full_name"}},
		transform.Transform{Op: transform.OpCast, Name: "age_is_a_number", Columns: []string{"age"}, To: "int"},
		transform.Transform{Op: transform.OpParseTimestamp, Columns: []string{"signup"}, Formats: []string{"2006-01-02 15:04:05"}, Zone: "Europe/Paris"},
		transform.Transform{Op: transform.OpTrim, Columns: []string{"full_name", "city"}},
		transform.Transform{Op: transform.OpUpper, Columns: []string{"full_name"}},
		transform.Transform{Op: transform.OpHash, Columns: []string{"email"}, Key: key},
		transform.Transform{Op: transform.OpMask, Columns: []string{"phone"}, KeepLast: 4},
		transform.Transform{Op: transform.OpEmptyToNull, Columns: []string{"city"}},
		transform.Transform{Op: transform.OpDerive, Column: "name_len", Type: "long", Expr: `size(value.full_name)`},
		transform.Transform{Op: transform.OpDrop, Columns: []string{"note"}},
	)
	r := e.start(opts)
	e.waitWatermarks(4)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 2 || rejectsIn(rep) != 1 || skippedIn(rep) != 1 {
		t.Fatalf("rows %d rejects %d skipped %d, want 2, 1, 1", rowsIn(rep), rejectsIn(rep), skippedIn(rep))
	}
	for _, row := range e.readRejects() {
		if row.stage != schema.StageTransform || row.reason != "age_is_a_number" || !strings.Contains(row.message, `"eighty"`) {
			t.Errorf("reject %s/%s %q, want transform/age_is_a_number naming the value", row.stage, row.reason, row.message)
		}
	}
	tbl := e.loadTable(testTable)
	var names []string
	for _, f := range tbl.Schema().Fields() {
		if !schema.IsMetaColumn(f.Name) {
			names = append(names, f.Name+":"+f.Type.String())
		}
	}
	if got := strings.Join(names, " "); got != "id:long full_name:string email:string phone:string city:string signup:timestamptz age:int name_len:long" {
		t.Errorf("table columns %s", got)
	}
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	col := func(name string) arrow.Array { return at.Column(at.Schema().FieldIndices(name)[0]).Data().Chunk(0) }
	str := func(name string) *array.String { return col(name).(*array.String) }
	hash := func(s string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
	names2, emails, phones, cities := str("full_name"), str("email"), str("phone"), str("city")
	lens := col("name_len").(*array.Int64)
	if names2.Value(0) != "ADA LOVELACE" || names2.Value(1) != "GRACE HOPPER" || lens.Value(0) != 12 || lens.Value(1) != 12 {
		t.Errorf("names %q %q lengths %d %d", names2.Value(0), names2.Value(1), lens.Value(0), lens.Value(1))
	}
	if emails.Value(0) != hash("ada@example.com") || emails.Value(1) != hash("grace@example.com") {
		t.Errorf("emails %q %q", emails.Value(0), emails.Value(1))
	}
	if phones.Value(0) != strings.Repeat("*", 12)+"0958" || phones.Value(1) != "12" {
		t.Errorf("phones %q %q", phones.Value(0), phones.Value(1))
	}
	if !cities.IsNull(0) || cities.Value(1) != "New York" {
		t.Errorf("cities null=%v %q", cities.IsNull(0), cities.Value(1))
	}
	// 09:30 in Paris (UTC+1 in March) is 08:30 UTC.
	signups := col("signup").(*array.Timestamp)
	if got := signups.Value(0).ToTime(arrow.Microsecond); !got.Equal(time.Date(2024, 3, 1, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("signup %v, want 2024-03-01T08:30Z", got)
	}
	if ages := col("age").(*array.Int32); ages.Value(0) != 36 || ages.Value(1) != 85 {
		t.Errorf("ages %d %d", ages.Value(0), ages.Value(1))
	}
}

// A chain that does not fit a plain JSON topic's declared schema is a
// config error at start, naming the step and the column.
func TestTransformChainMustFitDeclaredSchema(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	j, err := registry.NewJSONRecords(contactsSchema)
	if err != nil {
		t.Fatal(err)
	}
	opts := e.options()
	opts.JSON = map[string]*registry.JSONRecords{testTopic: j}
	opts.Tables[0].Transforms = mustTransforms(t, transform.Transform{Op: transform.OpTrim, Columns: []string{"id"}})
	_, err = ingest.New(opts)
	if !errors.Is(err, ingest.ErrConfig) || !errors.Is(err, transform.ErrTransform) || !strings.Contains(err.Error(), `"id"`) {
		t.Fatalf("New: %v; want a config error naming the column", err)
	}
}
