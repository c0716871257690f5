// Package catalogtest is the acceptance suite every Iceberg catalog Big
// Father supports must pass: SQL (SQLite, PostgreSQL), REST, and the
// object-store catalog on disk and on S3. It checks what the exactly-once
// commit protocol (DESIGN.md §3) relies on: a stale requirement or a lost
// race is reported as icebergtable.ErrCommitFailed, exactly one of two
// concurrent committers from the same base wins, table properties survive
// commits, and iceberg-go can write and read data through the catalog's
// tables.
package catalogtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
)

// ConcurrentRounds is how many times the concurrent-committers test races
// two committers.
const ConcurrentRounds = 20

// Run runs the suite. newCatalog returns a fresh, empty catalog and its
// warehouse URL (file:///abs or s3://bucket/prefix); every table the
// catalog creates is expected to live under it.
func Run(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	t.Run("CreateLoadList", func(t *testing.T) { testCreateLoadList(t, newCatalog) })
	t.Run("CommitProperties", func(t *testing.T) { testCommitProperties(t, newCatalog) })
	t.Run("StaleRequirement", func(t *testing.T) { testStaleRequirement(t, newCatalog) })
	t.Run("ConcurrentCommitters", func(t *testing.T) { testConcurrentCommitters(t, newCatalog) })
	t.Run("AppendScan", func(t *testing.T) { testAppendScan(t, newCatalog) })
	t.Run("DropTable", func(t *testing.T) { testDropTable(t, newCatalog) })
}

// Schema is the two-column schema the suite's tables use.
func Schema() *iceberg.Schema {
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "name", Type: iceberg.PrimitiveTypes.String},
	)
}

// setup creates namespace "suite" and table suite.<name> with one property.
func setup(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string), name string) (catalog.Catalog, string, *icebergtable.Table) {
	t.Helper()
	ctx := t.Context()
	cat, warehouse := newCatalog(t)
	ns := icebergtable.Identifier{"suite"}
	if err := cat.CreateNamespace(ctx, ns, iceberg.Properties{"owner": "suite"}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	tbl, err := cat.CreateTable(ctx, icebergtable.Identifier{"suite", name}, Schema(),
		catalog.WithProperties(iceberg.Properties{"bigfather.created-by": "suite"}))
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	return cat, warehouse, tbl
}

func load(t *testing.T, cat catalog.Catalog, ident icebergtable.Identifier) *icebergtable.Table {
	t.Helper()
	tbl, err := cat.LoadTable(t.Context(), ident)
	if err != nil {
		t.Fatalf("load %v: %v", ident, err)
	}
	return tbl
}

func listTables(t *testing.T, cat catalog.Catalog, ns icebergtable.Identifier) []string {
	t.Helper()
	var names []string
	for id, err := range cat.ListTables(t.Context(), ns) {
		if err != nil {
			t.Fatalf("list tables: %v", err)
		}
		names = append(names, strings.Join(id, "."))
	}
	slices.Sort(names)
	return names
}

func testCreateLoadList(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	ctx := t.Context()
	cat, warehouse, created := setup(t, newCatalog, "t1")
	ns := icebergtable.Identifier{"suite"}

	if ok, err := cat.CheckNamespaceExists(ctx, ns); err != nil || !ok {
		t.Fatalf("CheckNamespaceExists(suite) = %v, %v; want true", ok, err)
	}
	if err := cat.CreateNamespace(ctx, ns, nil); !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		t.Fatalf("second CreateNamespace: got %v, want ErrNamespaceAlreadyExists", err)
	}
	nss, err := cat.ListNamespaces(ctx, nil)
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	if !slices.ContainsFunc(nss, func(id icebergtable.Identifier) bool { return slices.Equal(id, ns) }) {
		t.Fatalf("ListNamespaces = %v, want it to contain suite", nss)
	}
	props, err := cat.LoadNamespaceProperties(ctx, ns)
	if err != nil || props["owner"] != "suite" {
		t.Fatalf("LoadNamespaceProperties = %v, %v; want owner=suite", props, err)
	}

	ident := icebergtable.Identifier{"suite", "t1"}
	tbl := load(t, cat, ident)
	if tbl.Metadata().TableUUID() != created.Metadata().TableUUID() {
		t.Fatalf("loaded table uuid %v, created %v", tbl.Metadata().TableUUID(), created.Metadata().TableUUID())
	}
	if got := tbl.Schema().Fields(); len(got) != 2 || got[0].Name != "id" || got[1].Name != "name" {
		t.Fatalf("loaded schema fields %v, want id, name", got)
	}
	if got := tbl.Properties()["bigfather.created-by"]; got != "suite" {
		t.Fatalf("property bigfather.created-by = %q, want suite", got)
	}
	if want := strings.TrimRight(warehouse, "/") + "/"; !strings.HasPrefix(tbl.Location(), want) {
		t.Fatalf("table location %q is not under warehouse %q", tbl.Location(), want)
	}
	if _, err := cat.CreateTable(ctx, ident, Schema()); !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Fatalf("second CreateTable: got %v, want ErrTableAlreadyExists", err)
	}
	if _, err := cat.CreateTable(ctx, icebergtable.Identifier{"suite", "t2"}, Schema()); err != nil {
		t.Fatalf("create t2: %v", err)
	}
	if got, want := listTables(t, cat, ns), []string{"suite.t1", "suite.t2"}; !slices.Equal(got, want) {
		t.Fatalf("ListTables = %v, want %v", got, want)
	}
	missing := icebergtable.Identifier{"suite", "missing"}
	if _, err := cat.LoadTable(ctx, missing); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("LoadTable(missing): got %v, want ErrNoSuchTable", err)
	}
	if ok, err := cat.CheckTableExists(ctx, missing); err != nil || ok {
		t.Fatalf("CheckTableExists(missing) = %v, %v; want false", ok, err)
	}
	if ok, err := cat.CheckTableExists(ctx, ident); err != nil || !ok {
		t.Fatalf("CheckTableExists(t1) = %v, %v; want true", ok, err)
	}
}

func testCommitProperties(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	ctx := t.Context()
	cat, _, tbl := setup(t, newCatalog, "props")
	ident := tbl.Identifier()

	// Through the catalog, as the commit engine's reconciliation does.
	_, loc, err := cat.CommitTable(ctx, ident,
		[]icebergtable.Requirement{icebergtable.AssertTableUUID(tbl.Metadata().TableUUID())},
		[]icebergtable.Update{icebergtable.NewSetPropertiesUpdate(iceberg.Properties{"bigfather.offsets.p": `{"t":{"0":5}}`})})
	if err != nil {
		t.Fatalf("commit property: %v", err)
	}
	if loc == tbl.MetadataLocation() {
		t.Fatalf("commit returned the old metadata location %q", loc)
	}
	got := load(t, cat, ident)
	if got.MetadataLocation() != loc {
		t.Fatalf("loaded metadata location %q, commit returned %q", got.MetadataLocation(), loc)
	}

	// Through an iceberg-go transaction on the loaded table, as ingest does.
	tx := got.NewTransaction()
	if err := tx.SetProperties(iceberg.Properties{"other": "x"}); err != nil {
		t.Fatalf("set properties: %v", err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatalf("transaction commit: %v", err)
	}
	// A schema change by another writer must keep every property.
	evolveSchema(t, cat, load(t, cat, ident), "extra", nil)

	props := load(t, cat, ident).Properties()
	for k, v := range map[string]string{
		"bigfather.created-by": "suite", "bigfather.offsets.p": `{"t":{"0":5}}`, "other": "x",
	} {
		if props[k] != v {
			t.Errorf("after three commits property %q = %q, want %q (all: %v)", k, props[k], v, props)
		}
	}
}

// schemaPinned returns requirements that hold only while tbl's schema is
// current, and updates that add one optional column named col and set
// props. Two commits built from the same base conflict.
func schemaPinned(tbl *icebergtable.Table, col string, props iceberg.Properties) ([]icebergtable.Requirement, []icebergtable.Update) {
	meta := tbl.Metadata()
	fields := append(meta.CurrentSchema().Fields(), iceberg.NestedField{
		ID: meta.LastColumnID() + 1, Name: col, Type: iceberg.PrimitiveTypes.String,
	})
	reqs := []icebergtable.Requirement{
		icebergtable.AssertTableUUID(meta.TableUUID()),
		icebergtable.AssertLastAssignedFieldID(meta.LastColumnID()),
		icebergtable.AssertCurrentSchemaID(meta.CurrentSchema().ID),
	}
	updates := []icebergtable.Update{
		icebergtable.NewAddSchemaUpdate(iceberg.NewSchema(meta.CurrentSchema().ID+1, fields...)),
		icebergtable.NewSetCurrentSchemaUpdate(-1),
	}
	if len(props) > 0 {
		updates = append(updates, icebergtable.NewSetPropertiesUpdate(props))
	}
	return reqs, updates
}

func evolveSchema(t *testing.T, cat catalog.Catalog, tbl *icebergtable.Table, col string, props iceberg.Properties) {
	t.Helper()
	reqs, updates := schemaPinned(tbl, col, props)
	if _, _, err := cat.CommitTable(t.Context(), tbl.Identifier(), reqs, updates); err != nil {
		t.Fatalf("add column %s: %v", col, err)
	}
}

func testStaleRequirement(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	ctx := t.Context()
	cat, _, base := setup(t, newCatalog, "stale")
	evolveSchema(t, cat, base, "first", nil)

	reqs, updates := schemaPinned(base, "second", iceberg.Properties{"stale": "yes"})
	_, _, err := cat.CommitTable(ctx, base.Identifier(), reqs, updates)
	if !errors.Is(err, icebergtable.ErrCommitFailed) {
		t.Fatalf("commit with stale schema requirement: got %v, want ErrCommitFailed", err)
	}
	got := load(t, cat, base.Identifier())
	if got.Properties()["stale"] != "" || got.Schema().NumFields() != 3 {
		t.Fatalf("a failed commit changed the table: props %v, %d fields", got.Properties(), got.Schema().NumFields())
	}
}

func testConcurrentCommitters(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	ctx := t.Context()
	cat, _, tbl := setup(t, newCatalog, "race")
	ident := tbl.Identifier()
	for round := range ConcurrentRounds {
		base := load(t, cat, ident)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  [2]error
		)
		for g := range 2 {
			// Each committer builds its own schema: AddSchema assigns IDs
			// into it.
			reqs, updates := schemaPinned(base, fmt.Sprintf("r%d_g%d", round, g),
				iceberg.Properties{"winner": fmt.Sprint(g), "round": fmt.Sprint(round)})
			wg.Go(func() {
				<-start
				_, _, errs[g] = cat.CommitTable(ctx, ident, reqs, updates)
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for g, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both committers won from the same base", round)
				}
				winner = g
			case !errors.Is(err, icebergtable.ErrCommitFailed):
				t.Fatalf("round %d: loser got %v, want ErrCommitFailed", round, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no committer won: %v", round, errs)
		}
		got := load(t, cat, ident)
		if p := got.Properties(); p["winner"] != fmt.Sprint(winner) || p["round"] != fmt.Sprint(round) {
			t.Fatalf("round %d: table shows winner %q round %q, want %d", round, p["winner"], p["round"], winner)
		}
		if want := fmt.Sprintf("r%d_g%d", round, winner); got.Schema().Fields()[got.Schema().NumFields()-1].Name != want {
			t.Fatalf("round %d: last column %v, want %s", round, got.Schema().Fields(), want)
		}
	}
	if got := load(t, cat, ident).Schema().NumFields(); got != 2+ConcurrentRounds {
		t.Fatalf("after %d rounds the schema has %d fields, want %d", ConcurrentRounds, got, 2+ConcurrentRounds)
	}
	if got := load(t, cat, ident).Properties()["bigfather.created-by"]; got != "suite" {
		t.Fatalf("creation property lost after concurrent commits: %q", got)
	}
}

// ArrowRows builds an Arrow table matching Schema with ids first..first+n-1.
func ArrowRows(first, n int64) arrow.Table {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(i)
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row-%d", i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
}

func appendRows(t *testing.T, tbl *icebergtable.Table, first, n int64) *icebergtable.Table {
	t.Helper()
	rows := ArrowRows(first, n)
	defer rows.Release()
	tx := tbl.NewTransaction()
	if err := tx.AppendTable(t.Context(), rows, n, iceberg.Properties{"bigfather.pipeline": "suite"}); err != nil {
		t.Fatalf("append: %v", err)
	}
	out, err := tx.Commit(t.Context())
	if err != nil {
		t.Fatalf("commit append: %v", err)
	}
	return out
}

func testAppendScan(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	ctx := t.Context()
	cat, warehouse, tbl := setup(t, newCatalog, "data")
	ident := tbl.Identifier()

	tbl = appendRows(t, tbl, 0, 3)
	first := tbl.CurrentSnapshot()
	if first == nil {
		t.Fatal("no current snapshot after append")
	}
	if !strings.HasPrefix(first.ManifestList, strings.TrimRight(warehouse, "/")+"/") {
		t.Fatalf("manifest list %q is not under warehouse %q", first.ManifestList, warehouse)
	}
	tbl = appendRows(t, load(t, cat, ident), 3, 2)

	scanned, err := load(t, cat, ident).Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer scanned.Release()
	if scanned.NumRows() != 5 {
		t.Fatalf("scan returned %d rows, want 5", scanned.NumRows())
	}
	var sum int64
	for _, chunk := range scanned.Column(0).Data().Chunks() {
		for _, v := range chunk.(*array.Int64).Int64Values() {
			sum += v
		}
	}
	if sum != 0+1+2+3+4 {
		t.Fatalf("scanned ids sum to %d, want 10", sum)
	}

	// A commit built on the first snapshot after the second one landed is
	// stale, as a zombie ingest worker's would be.
	_, _, err = cat.CommitTable(ctx, ident,
		[]icebergtable.Requirement{icebergtable.AssertRefSnapshotID(icebergtable.MainBranch, &first.SnapshotID)},
		[]icebergtable.Update{icebergtable.NewSetPropertiesUpdate(iceberg.Properties{"bigfather.offsets.p": "zombie"})})
	if !errors.Is(err, icebergtable.ErrCommitFailed) {
		t.Fatalf("commit with stale AssertRefSnapshotID: got %v, want ErrCommitFailed", err)
	}
	got := load(t, cat, ident)
	if got.CurrentSnapshot().SnapshotID != tbl.CurrentSnapshot().SnapshotID || got.Properties()["bigfather.offsets.p"] != "" {
		t.Fatalf("stale commit changed the table: snapshot %d, props %v", got.CurrentSnapshot().SnapshotID, got.Properties())
	}
	if got.Properties()["bigfather.created-by"] != "suite" {
		t.Fatalf("creation property lost after appends: %v", got.Properties())
	}
}

func testDropTable(t *testing.T, newCatalog func(t *testing.T) (catalog.Catalog, string)) {
	ctx := t.Context()
	cat, _, tbl := setup(t, newCatalog, "gone")
	ident := tbl.Identifier()
	evolveSchema(t, cat, tbl, "c", nil)
	if err := cat.DropTable(ctx, ident); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if _, err := cat.LoadTable(ctx, ident); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("LoadTable after drop: got %v, want ErrNoSuchTable", err)
	}
	if got := listTables(t, cat, icebergtable.Identifier{"suite"}); len(got) != 0 {
		t.Fatalf("ListTables after drop = %v, want none", got)
	}
	// The name is free again.
	again, err := cat.CreateTable(ctx, ident, Schema())
	if err != nil {
		t.Fatalf("re-create after drop: %v", err)
	}
	if again.Metadata().TableUUID() == tbl.Metadata().TableUUID() || again.Schema().NumFields() != 2 {
		t.Fatalf("re-created table is the dropped one: uuid %v, %d fields", again.Metadata().TableUUID(), again.Schema().NumFields())
	}
}
