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

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/schema"
)

const contactsSchema = `{"type": "record", "name": "Contact", "fields": [
  {"name": "id", "type": "long"},
  {"name": "name", "type": "string"},
  {"name": "email", "type": "string"},
  {"name": "phone", "type": ["null", "string"], "default": null},
  {"name": "city", "type": ["null", "string"], "default": null}]}`

// Cleanse steps run in order on the string columns before encoding: the
// table holds trimmed, cased, hashed and masked values, and empty strings
// as null; the key never reaches the data.
func TestCleanseSteps(t *testing.T) {
	e := newTestEnv(t, 1)
	j, err := schema.NewJSONRecords(contactsSchema)
	if err != nil {
		t.Fatal(err)
	}
	e.sendValues(
		`{"id": 1, "name": "  Ada   LOVELACE ", "email": "ada@example.com", "phone": "+44 20 7946 0958", "city": "  "}`,
		`{"id": 2, "name": "grace hopper", "email": "grace@example.com", "phone": "12", "city": " New  York "}`,
	)
	key := []byte("test-pii-key")
	opts := withQuarantine(e.options())
	opts.JSON = map[string]*schema.JSONRecords{testTopic: j}
	opts.Tables[0].Cleanse = []ingest.CleanseStep{
		{Op: ingest.CleanseTrim, Columns: []string{"name", "city"}},
		{Op: ingest.CleanseUpper, Columns: []string{"name"}},
		{Op: ingest.CleanseLower, Columns: []string{"email"}},
		{Op: ingest.CleanseHash, Columns: []string{"email"}, Key: key},
		{Op: ingest.CleanseMask, Columns: []string{"phone"}, KeepLast: 4},
		{Op: ingest.CleanseEmptyToNull, Columns: []string{"city"}},
	}
	r := e.start(opts)
	e.waitWatermarks(2)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.verifyRoute()
	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	col := func(name string) *array.String {
		return at.Column(at.Schema().FieldIndices(name)[0]).Data().Chunk(0).(*array.String)
	}
	hash := func(s string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
	names, emails, phones, cities := col("name"), col("email"), col("phone"), col("city")
	if names.Value(0) != "ADA LOVELACE" || names.Value(1) != "GRACE HOPPER" {
		t.Errorf("names %q %q", names.Value(0), names.Value(1))
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
}

// A step that does not fit the table schema stops the pipeline, naming it.
func TestCleanseStepMustFitTheSchema(t *testing.T) {
	for _, c := range []struct {
		step ingest.CleanseStep
		want string
	}{
		{ingest.CleanseStep{Op: ingest.CleanseTrim, Columns: []string{"nope"}}, `no top-level column "nope"`},
		{ingest.CleanseStep{Op: ingest.CleanseTrim, Columns: []string{"id"}}, `"id" is long, not string`},
		{ingest.CleanseStep{Op: ingest.CleanseEmptyToNull, Columns: []string{"name"}}, "required and cannot hold null"},
		{ingest.CleanseStep{Op: ingest.CleanseHash, Columns: []string{"email"}}, "no key"},
		{ingest.CleanseStep{Op: "reverse", Columns: []string{"email"}}, `unknown op "reverse"`},
	} {
		t.Run(c.step.Op+"-"+strings.Join(c.step.Columns, "-"), func(t *testing.T) {
			e := newTestEnv(t, 1)
			j, err := schema.NewJSONRecords(contactsSchema)
			if err != nil {
				t.Fatal(err)
			}
			e.sendValues(`{"id": 1, "name": "n", "email": "e"}`)
			opts := e.options()
			opts.JSON = map[string]*schema.JSONRecords{testTopic: j}
			opts.Tables[0].Cleanse = []ingest.CleanseStep{c.step}
			exited, err := e.start(opts).exited(time.Minute)
			if !exited || !errors.Is(err, ingest.ErrCleanse) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run: exited %v, %v; want ErrCleanse with %q", exited, err, c.want)
			}
		})
	}
}
