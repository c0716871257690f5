package enrich_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/enrich"
)

// lookup is the interface the schema package's transform joins through;
// Table must implement it as is.
type lookup interface {
	Fields() []*avro.Field
	Lookup(dst, key []byte) ([]byte, bool)
}

var _ lookup = (*enrich.Table)(nil)

// endMarker follows the looked-up bytes when they are decoded, so a
// decode that read too few or too many bytes shows as a wrong marker.
const endMarker = 0x5EED

// decoder decodes Lookup output with hamba/avro against a record schema
// built from the table's Fields.
type decoder struct {
	t      *testing.T
	schema avro.Schema
}

func newDecoder(t *testing.T, fields []*avro.Field) *decoder {
	t.Helper()
	end, err := avro.NewField("end_marker", avro.NewPrimitiveSchema(avro.Long, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Used as is, as the transform will: appended to the record's fields.
	rec, err := avro.NewRecordSchema("enriched", "test", append(fields, end))
	if err != nil {
		t.Fatal(err)
	}
	return &decoder{t: t, schema: rec}
}

// decode decodes one row's fields; nil values are nulls.
func (d *decoder) decode(b []byte) map[string]any {
	d.t.Helper()
	out, err := d.try(b)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// try is decode for goroutines other than the test's.
func (d *decoder) try(b []byte) (map[string]any, error) {
	b = append(bytes.Clone(b), zigzag(endMarker)...)
	var out map[string]any
	if err := avro.Unmarshal(d.schema, b, &out); err != nil {
		return nil, fmt.Errorf("decode %x: %w", b, err)
	}
	if out["end_marker"] != int64(endMarker) {
		return nil, fmt.Errorf("decode %x: end marker %v: the row is not exactly its fields", b, out["end_marker"])
	}
	delete(out, "end_marker")
	return out, nil
}

func zigzag(v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	var out []byte
	for u >= 0x80 {
		out = append(out, byte(u)|0x80)
		u >>= 7
	}
	return append(out, byte(u))
}

// key joins key parts with the 0x00 separator.
func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

// row looks key up and decodes the row, failing the test on a miss.
func row(t *testing.T, tbl *enrich.Table, k []byte) map[string]any {
	t.Helper()
	b, ok := tbl.Lookup(nil, k)
	if !ok {
		t.Fatalf("Lookup(%q): not found", k)
	}
	return newDecoder(t, tbl.Fields()).decode(b)
}

func wantRow(t *testing.T, tbl *enrich.Table, k []byte, want map[string]any) {
	t.Helper()
	if got := row(t, tbl, k); !reflect.DeepEqual(got, want) {
		t.Errorf("Lookup(%q) = %#v, want %#v", k, got, want)
	}
}

func wantMiss(t *testing.T, tbl *enrich.Table, k []byte) {
	t.Helper()
	dst := []byte("prefix")
	got, ok := tbl.Lookup(dst, k)
	if ok || string(got) != "prefix" {
		t.Errorf("Lookup(%q) = %q, %v; want dst unchanged and false", k, got, ok)
	}
}

// writeFile writes data to dir/name atomically (as a refreshed file must
// be replaced) and returns the path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func mustOpen(t *testing.T, src enrich.Source, deps enrich.Deps) *enrich.Table {
	t.Helper()
	tbl, err := enrich.Open(t.Context(), src, deps)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return tbl
}
