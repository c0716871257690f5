package table_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/table"
)

const (
	evolveV1 = `{"type":"record","name":"Event","fields":[
		{"name":"id","type":"int"},
		{"name":"name","type":"string"},
		{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"}]}}]}`
	// evolveV2 widens id, adds addr.city and email, and drops nothing.
	evolveV2 = `{"type":"record","name":"Event","fields":[
		{"name":"id","type":"long"},
		{"name":"name","type":"string"},
		{"name":"addr","type":{"type":"record","name":"A","fields":[
			{"name":"street","type":"string"},{"name":"city","type":["null","string"]}]}},
		{"name":"email","type":["null","string"],"doc":"contact"}]}`
)

type evolveAddr struct {
	Street string  `avro:"street"`
	City   *string `avro:"city"`
}

type evolveRow struct {
	ID    int64      `avro:"id"`
	Name  string     `avro:"name"`
	Addr  evolveAddr `avro:"addr"`
	Email *string    `avro:"email"`
}

func parseAvro(t *testing.T, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("parse avro: %v", err)
	}
	return s
}

// newEvolveTable creates db.events from Avro schema text in a fresh SQLite
// catalog.
func newEvolveTable(t *testing.T, text string) (catalog.Catalog, *icebergtable.Table) {
	t.Helper()
	dir := t.TempDir()
	cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(dir, "catalog.db")}},
		Warehouse:     "file://" + dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	closeCatalog(t, cat)
	sch, err := schema.ToIceberg(parseAvro(t, text))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.EnsureTable(t.Context(), cat, icebergtable.Identifier{"db", "events"}, sch, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cat, tbl
}

// writeEvolveFile runs rows through the ingest path (Avro payloads, the
// decoder, the metadata columns, the Parquet writer) into a data file of
// tbl written with sch; row i gets Kafka offset first+i.
func writeEvolveFile(t *testing.T, tbl *icebergtable.Table, sch *iceberg.Schema, w avro.Schema, name string, first int64, rows []any) iceberg.DataFile {
	t.Helper()
	d, err := decode.NewDecoder(w, sch)
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	location := tbl.Location() + "/data/" + name + ".parquet"
	local := strings.TrimPrefix(location, "file://")
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fw, err := table.NewDataFileWriter(fh, sch, table.DefaultDataFileOptions())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, fw.ArrowSchema())
	defer b.Release()
	now := time.Unix(1_700_000_000, 0)
	for i, r := range rows {
		p, err := avro.Marshal(w, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Decode(p, b); err != nil {
			t.Fatalf("decode row %d: %v", i, err)
		}
		schema.AppendMeta(b, &schema.Meta{Topic: "t", Offset: first + int64(i), Timestamp: now, IngestedAt: now})
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	df, err := fw.DataFile(location, tbl.Spec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return df
}

func TestStageSchemaWithDataFilesAndProperties(t *testing.T) {
	ctx := t.Context()
	cat, tbl := newEvolveTable(t, evolveV1)
	v1, v2 := parseAvro(t, evolveV1), parseAvro(t, evolveV2)
	base := tbl.Schema()
	baseLast := tbl.Metadata().LastColumnID()

	type v1Row struct {
		ID   int32      `avro:"id"`
		Name string     `avro:"name"`
		Addr evolveAddr `avro:"addr"`
	}
	old := writeEvolveFile(t, tbl, base, v1, "old", 0, []any{
		v1Row{ID: 1, Name: "a", Addr: evolveAddr{Street: "s1"}},
		v1Row{ID: -2, Name: "b", Addr: evolveAddr{Street: "s2"}},
	})
	tx := tbl.NewTransaction()
	if err := tx.AddDataFiles(ctx, []iceberg.DataFile{old}, nil); err != nil {
		t.Fatal(err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}

	next, changes, err := schema.Evolve(tbl.Schema(), tbl.Metadata().LastColumnID(), v2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		"widen-type id (id 1): int -> long",
		fmt.Sprintf("add-column addr.city (id %d): string", baseLast+1),
		fmt.Sprintf("add-column email (id %d): string", baseLast+2),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}

	// One transaction, as the committer builds it: a pinned snapshot, the
	// schema change, the watermarks and the new file written with the new
	// schema.
	tx = tbl.NewTransaction()
	if err := tx.AssertRefSnapshotID(icebergtable.MainBranch); err != nil {
		t.Fatal(err)
	}
	if err := table.StageSchema(tx, next); err != nil {
		t.Fatalf("StageSchema: %v", err)
	}
	if err := tx.SetProperties(iceberg.Properties{"bigfather.offsets.p": `{"t":{"0":4}}`}); err != nil {
		t.Fatal(err)
	}
	fresh := writeEvolveFile(t, tbl, next, v2, "new", 2, []any{
		evolveRow{ID: 1 << 40, Name: "c", Addr: evolveAddr{Street: "s3", City: ptrTo("paris")}, Email: ptrTo("c@x")},
		evolveRow{ID: 4, Name: "d", Addr: evolveAddr{Street: "s4"}},
	})
	if err := tx.AddDataFiles(ctx, []iceberg.DataFile{fresh}, iceberg.Properties{"bigfather.commit-id": "c2"}); err != nil {
		t.Fatalf("AddDataFiles: %v", err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}

	tbl, err = cat.LoadTable(ctx, tbl.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	meta := tbl.Metadata()
	cur := meta.CurrentSchema()
	if !cur.Equals(next) {
		t.Fatalf("committed schema:\n%s\nwant:\n%s", cur, next)
	}
	if cur.ID == base.ID || len(meta.Schemas()) != 2 {
		t.Errorf("schema id %d (base %d), %d schemas; want a second schema", cur.ID, base.ID, len(meta.Schemas()))
	}
	if got, want := meta.LastColumnID(), baseLast+2; got != want || cur.HighestFieldID() != want {
		t.Errorf("last-column-id %d, highest field id %d; want %d", got, cur.HighestFieldID(), want)
	}
	baseNames, err := iceberg.IndexByName(base)
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range baseNames {
		if f, ok := cur.FindFieldByName(name); !ok || f.ID != id {
			t.Errorf("column %s: id %d, want %d", name, f.ID, id)
		}
	}
	if f, _ := cur.FindFieldByName("email"); f.Required || f.Doc != "contact" {
		t.Errorf("email = %+v, want optional with its doc", f)
	}
	if fields := cur.Fields(); fields[len(fields)-1].Name != schema.ColIngestedAt {
		t.Errorf("last column %s, want the metadata columns last", fields[len(fields)-1].Name)
	}
	if got := meta.Properties()["bigfather.offsets.p"]; got != `{"t":{"0":4}}` {
		t.Errorf("property = %q", got)
	}
	snap := meta.CurrentSnapshot()
	if snap == nil || snap.SchemaID == nil || *snap.SchemaID != cur.ID || snap.Summary.Properties["bigfather.commit-id"] != "c2" {
		t.Errorf("current snapshot %v, want one of commit c2 on schema %d", snap, cur.ID)
	}
	// The default name mapping AddDataFiles made on the first commit grows
	// with the schema.
	mapped := func(fs []iceberg.MappedField, name string) (iceberg.MappedField, bool) {
		i := slices.IndexFunc(fs, func(f iceberg.MappedField) bool { return slices.Contains(f.Names, name) })
		if i < 0 {
			return iceberg.MappedField{}, false
		}
		return fs[i], true
	}
	nm := meta.NameMapping()
	if f, ok := mapped(nm, "email"); !ok || f.FieldID == nil || *f.FieldID != baseLast+2 {
		t.Errorf("name mapping %v: email = %v, want id %d", nm, f, baseLast+2)
	}
	if a, _ := mapped(nm, "addr"); !slices.ContainsFunc(a.Fields, func(f iceberg.MappedField) bool { return slices.Contains(f.Names, "city") }) {
		t.Errorf("name mapping %v lacks addr.city", nm)
	}

	// iceberg-go reads both files under the new schema: the widened column
	// as long, the new columns as null in the old file.
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer at.Release()
	rows := map[string]string{}
	cols := []string{"id", "name", "addr", "email"}
	rdr := array.NewTableReader(at, -1)
	defer rdr.Release()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		off := rec.Column(rec.Schema().FieldIndices(schema.ColKafkaOffset)[0])
		for i := range int(rec.NumRows()) {
			var vals []string
			for _, c := range cols {
				vals = append(vals, rec.Column(rec.Schema().FieldIndices(c)[0]).ValueStr(i))
			}
			rows[off.ValueStr(i)] = strings.Join(vals, " | ")
		}
	}
	wantRows := map[string]string{
		"0": `1 | a | {"city":null,"street":"s1"} | (null)`,
		"1": `-2 | b | {"city":null,"street":"s2"} | (null)`,
		"2": `1099511627776 | c | {"city":"paris","street":"s3"} | c@x`,
		"3": `4 | d | {"city":null,"street":"s4"} | (null)`,
	}
	for off, w := range wantRows {
		if rows[off] != w {
			t.Errorf("offset %s: %q, want %q", off, rows[off], w)
		}
	}
	if len(rows) != len(wantRows) {
		t.Errorf("scanned %d rows, want %d", len(rows), len(wantRows))
	}
	if f := at.Schema().Field(at.Schema().FieldIndices("id")[0]); f.Type.ID() != arrow.INT64 {
		t.Errorf("scanned id is %s, want int64", f.Type)
	}
}

func ptrTo[T any](v T) *T { return &v }

// evolveRich has a column of every shape Evolve changes.
const evolveRich = `{"type":"record","name":"R","fields":[
	{"name":"id","type":"int"},
	{"name":"name","type":"string"},
	{"name":"score","type":"float"},
	{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
	{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"}]}},
	{"name":"tags","type":{"type":"array","items":"string"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"sku","type":"string"}]}}},
	{"name":"counts","type":{"type":"map","values":"int"}},
	{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"v","type":"int"}]}}}]}`

// TestStageSchemaReplaysEvolve commits every kind of change Evolve plans
// and checks iceberg-go's UpdateSchema reproduced the planned schema, IDs
// included.
func TestStageSchemaReplaysEvolve(t *testing.T) {
	field := map[string]string{
		"id":     `{"name":"id","type":"int"}`,
		"name":   `{"name":"name","type":"string"}`,
		"score":  `{"name":"score","type":"float"}`,
		"price":  `{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}`,
		"addr":   `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"}]}}`,
		"tags":   `{"name":"tags","type":{"type":"array","items":"string"}}`,
		"items":  `{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"sku","type":"string"}]}}}`,
		"counts": `{"name":"counts","type":{"type":"map","values":"int"}}`,
		"attrs":  `{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"v","type":"int"}]}}}`,
	}
	order := []string{"id", "name", "score", "price", "addr", "tags", "items", "counts", "attrs"}
	writer := func(mods map[string]string, extra ...string) string {
		var fs []string
		for _, n := range order {
			f, ok := mods[n]
			if !ok {
				f = field[n]
			}
			if f != "" {
				fs = append(fs, f)
			}
		}
		return `{"type":"record","name":"R","fields":[` + strings.Join(append(fs, extra...), ",") + `]}`
	}
	cases := []struct {
		name    string
		writer  string
		changes int
	}{
		{"widen every kind", writer(map[string]string{
			"id":     `{"name":"id","type":"long"}`,
			"score":  `{"name":"score","type":"double"}`,
			"price":  `{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}}`,
			"counts": `{"name":"counts","type":{"type":"map","values":"long"}}`,
		}), 4},
		{"optional by nullability and by removal", writer(map[string]string{
			"name": `{"name":"name","type":["null","string"]}`,
			"addr": "",
			"tags": `{"name":"tags","type":{"type":"array","items":["null","string"]}}`,
		}), 3},
		{"nested adds in a struct, a list element and a map value", writer(map[string]string{
			"addr":  `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"}]}}`,
			"items": `{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"qty","type":"int"},{"name":"sku","type":"string"}]}}}`,
			"attrs": `{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"v","type":"int"},{"name":"w","type":"string"}]}}}`,
		}), 3},
		{"top-level adds, one a struct with a list and a map", writer(map[string]string{
			"id": `{"name":"first","type":"string"},{"name":"id","type":"int"}`,
		}, `{"name":"geo","type":{"type":"record","name":"G","fields":[{"name":"lat","type":"double"},{"name":"l","type":{"type":"array","items":"int"}},{"name":"m","type":{"type":"map","values":"int"}}]}}`,
			`{"name":"email","type":["null","string"]}`), 3},
		{"new ids out of table order", writer(map[string]string{
			"id":   `{"name":"first","type":"string"},{"name":"id","type":"int"}`,
			"addr": `{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"}]}}`,
		}), 2},
		{"everything at once", writer(map[string]string{
			"id":    `{"name":"ident","aliases":["id"],"type":["null","long"]}`,
			"addr":  `{"name":"addr","type":["null",{"type":"record","name":"A","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"}]}]}`,
			"tags":  "",
			"items": `{"name":"items","type":{"type":"array","items":["null",{"type":"record","name":"I","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"long"}]}]}}`,
		}, `{"name":"email","type":"string"}`), 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			cat, tbl := newEvolveTable(t, evolveRich)
			w := parseAvro(t, tc.writer)
			last := tbl.Metadata().LastColumnID()
			next, changes, err := schema.Evolve(tbl.Schema(), last, w)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != tc.changes {
				t.Fatalf("%d changes %v, want %d", len(changes), changes, tc.changes)
			}
			tx := tbl.NewTransaction()
			if err := table.StageSchema(tx, next); err != nil {
				t.Fatalf("StageSchema: %v", err)
			}
			if _, err := tx.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			got, err := cat.LoadTable(ctx, tbl.Identifier())
			if err != nil {
				t.Fatal(err)
			}
			if !got.Schema().Equals(next) {
				t.Fatalf("committed schema:\n%s\nwant:\n%s", got.Schema(), next)
			}
			if want := max(last, next.HighestFieldID()); got.Metadata().LastColumnID() != want {
				t.Errorf("last-column-id %d, want %d", got.Metadata().LastColumnID(), want)
			}
			if _, err := decode.NewDecoder(w, got.Schema()); err != nil {
				t.Errorf("NewDecoder on the committed schema: %v", err)
			}
		})
	}
}

// TestStageSchemaConcurrentChange races the commit against another
// writer's schema change, as two ingest workers on one table can.
func TestStageSchemaConcurrentChange(t *testing.T) {
	const (
		v2Phone = `{"type":"record","name":"Event","fields":[
			{"name":"id","type":"long"},
			{"name":"name","type":"string"},
			{"name":"addr","type":{"type":"record","name":"A","fields":[
				{"name":"street","type":"string"},{"name":"city","type":["null","string"]}]}},
			{"name":"email","type":["null","string"],"doc":"contact"},
			{"name":"phone","type":"string"}]}`
		v1Phone = `{"type":"record","name":"Event","fields":[
			{"name":"id","type":"int"},
			{"name":"name","type":"string"},
			{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"}]}},
			{"name":"phone","type":"string"}]}`
	)
	cases := []struct {
		name     string
		other    string // the writer schema the other worker evolved the table to
		reload   bool   // whether this worker reloads the table before staging
		stageErr error
		commit   error
		schemas  int // schemas in the table afterwards
	}{
		{name: "same change committed first, stale view", other: evolveV2, commit: icebergtable.ErrCommitFailed, schemas: 2},
		{name: "same change committed first, reloaded", other: evolveV2, reload: true, schemas: 2},
		{name: "wider change committed first, reloaded", other: v2Phone, reload: true, schemas: 2},
		{name: "other change committed first, stale view", other: v1Phone, commit: icebergtable.ErrCommitFailed, schemas: 2},
		{name: "other change committed first, reloaded", other: v1Phone, reload: true, stageErr: table.ErrStaleSchema, schemas: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			cat, tbl := newEvolveTable(t, evolveV1)
			last := tbl.Metadata().LastColumnID()
			mine, _, err := schema.Evolve(tbl.Schema(), last, parseAvro(t, evolveV2))
			if err != nil {
				t.Fatal(err)
			}
			theirs, _, err := schema.Evolve(tbl.Schema(), last, parseAvro(t, tc.other))
			if err != nil {
				t.Fatal(err)
			}
			otx := tbl.NewTransaction()
			if err := table.StageSchema(otx, theirs); err != nil {
				t.Fatal(err)
			}
			if _, err := otx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.reload {
				if tbl, err = cat.LoadTable(ctx, tbl.Identifier()); err != nil {
					t.Fatal(err)
				}
			}

			tx := tbl.NewTransaction()
			err = table.StageSchema(tx, mine)
			if !errors.Is(err, tc.stageErr) || (tc.stageErr == nil && err != nil) {
				t.Fatalf("StageSchema: %v, want %v", err, tc.stageErr)
			}
			if err == nil {
				if err := tx.SetProperties(iceberg.Properties{"mine": "yes"}); err != nil {
					t.Fatal(err)
				}
				_, err = tx.Commit(ctx)
				if !errors.Is(err, tc.commit) || (tc.commit == nil && err != nil) {
					t.Fatalf("Commit: %v, want %v", err, tc.commit)
				}
			}
			got, err := cat.LoadTable(ctx, tbl.Identifier())
			if err != nil {
				t.Fatal(err)
			}
			if !got.Schema().Equals(theirs) || len(got.Metadata().Schemas()) != tc.schemas {
				t.Errorf("table schema %s (%d schemas), want the other writer's and %d", got.Schema(), len(got.Metadata().Schemas()), tc.schemas)
			}
			if committed := got.Properties()["mine"] == "yes"; committed != (tc.stageErr == nil && tc.commit == nil) {
				t.Errorf("this worker's commit landed: %v", committed)
			}
		})
	}
}

// TestStageSchemaRejects feeds StageSchema schemas that are not an
// evolution of the table's: nothing may be staged, and only data that fits
// the table as it is may pass.
func TestStageSchemaRejects(t *testing.T) {
	_, tbl := newEvolveTable(t, evolveV1)
	cur := tbl.Schema()
	last := tbl.Metadata().LastColumnID()
	edit := func(f func(fields []iceberg.NestedField) []iceberg.NestedField) *iceberg.Schema {
		return iceberg.NewSchema(cur.ID+1, f(slices.Clone(cur.Fields()))...)
	}
	set := func(name string, fn func(*iceberg.NestedField)) func([]iceberg.NestedField) []iceberg.NestedField {
		return func(fs []iceberg.NestedField) []iceberg.NestedField {
			for i := range fs {
				if fs[i].Name == name {
					fn(&fs[i])
				}
			}
			return fs
		}
	}
	newCol := func(id int, required bool) func([]iceberg.NestedField) []iceberg.NestedField {
		return func(fs []iceberg.NestedField) []iceberg.NestedField {
			return append(fs, iceberg.NestedField{ID: id, Name: "x", Type: iceberg.PrimitiveTypes.String, Required: required})
		}
	}
	addr, _ := cur.FindFieldByName("addr")
	street := addr.Type.(*iceberg.StructType).FieldList[0]
	cases := []struct {
		name  string
		next  *iceberg.Schema
		stale bool   // the error wraps ErrStaleSchema
		want  string // "": accepted, with nothing to stage
	}{
		{"column dropped", edit(func(fs []iceberg.NestedField) []iceberg.NestedField {
			return slices.DeleteFunc(fs, func(f iceberg.NestedField) bool { return f.Name == "name" })
		}), true, "column name (id 2) is missing"},
		{"column renamed", edit(set("name", func(f *iceberg.NestedField) { f.Name = "full_name" })), true, "field 2 is name, not full_name"},
		{"kind change", edit(set("name", func(f *iceberg.NestedField) { f.Type = iceberg.PrimitiveTypes.Int32 })), true, "column name changes from string to int"},
		{"string to binary", edit(set("name", func(f *iceberg.NestedField) { f.Type = iceberg.PrimitiveTypes.Binary })), true, "column name changes from string to binary"},
		{"narrowing", edit(set(schema.ColKafkaOffset, func(f *iceberg.NestedField) { f.Type = iceberg.PrimitiveTypes.Int32 })), true,
			"column _kafka_offset changes from long to int"},
		// Data that never has a null fits an optional column as it is.
		{"required where the table is optional", edit(set(schema.ColKafkaKey, func(f *iceberg.NestedField) { f.Required = true })), false, ""},
		{"required new column", edit(newCol(last+1, true)), true, "new column x is required"},
		// An ID that is in use cannot even be built: iceberg.NewSchema panics.
		{"new column id not above last-column-id", edit(newCol(0, false)), true, fmt.Sprintf("new column x has field id 0, not above last-column-id %d", last)},
		{"new nested column before an old one", edit(set("addr", func(f *iceberg.NestedField) {
			f.Type = &iceberg.StructType{FieldList: []iceberg.NestedField{{ID: last + 1, Name: "city", Type: iceberg.PrimitiveTypes.String}, street}}
		})), false, "iceberg-go would stage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := tbl.NewTransaction()
			err := table.StageSchema(tx, tc.next)
			switch {
			case tc.want == "":
				if err != nil {
					t.Fatalf("StageSchema: %v, want nil", err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, table.ErrStaleSchema) != tc.stale:
				t.Fatalf("StageSchema: %v; want an error with %q (stale: %v)", err, tc.want, tc.stale)
			}
			staged, err := tx.StagedTable()
			if err != nil {
				t.Fatal(err)
			}
			if !staged.Schema().Equals(cur) {
				t.Errorf("a rejected change was staged: %s", staged.Schema())
			}
		})
	}
	// The table's own schema stages nothing: the commit is a no-op.
	tx := tbl.NewTransaction()
	if err := table.StageSchema(tx, cur); err != nil {
		t.Fatal(err)
	}
	got, err := tx.Commit(t.Context())
	if err != nil || got.MetadataLocation() != tbl.MetadataLocation() {
		t.Errorf("commit of an unchanged schema: %v, location %s (was %s)", err, got.MetadataLocation(), tbl.MetadataLocation())
	}
}
