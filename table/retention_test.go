package table_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// metadataFiles lists the metadata.json files under root, sorted.
func metadataFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".metadata.json") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// commitN commits n one-offset batches of tp0 on top of tbl, whose
// watermark for tp0 is wm (nil: none yet), and returns the last table.
func commitN(t *testing.T, f *fixture, tbl *icebergtable.Table, wm *int64, n int) *icebergtable.Table {
	t.Helper()
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	df := f.file(0)
	from := int64(0)
	if wm != nil {
		from = *wm
	}
	for i := range n {
		o := from + int64(i)
		b := &table.Batch{Pipeline: pipe, CommitID: uuid.NewString(), Files: []iceberg.DataFile{df},
			Expect: table.Offsets{}, Ranges: table.Ranges{tp0: {o, o + 1}}}
		if wm != nil || i > 0 {
			b.Expect[tp0] = o
		}
		res, err := c.Commit(context.Background(), tbl, b)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		tbl = res.Table
	}
	return tbl
}

func watermark(t *testing.T, tbl *icebergtable.Table) int64 {
	t.Helper()
	wm, err := table.Watermarks(tbl.Metadata(), pipe)
	if err != nil {
		t.Fatal(err)
	}
	return wm[tp0]
}

func TestCreatedTablesKeepFewMetadataVersions(t *testing.T) {
	f := newFixture(t)
	props := f.tbl.Properties()
	if props[icebergtable.MetadataDeleteAfterCommitEnabledKey] != "true" || props[icebergtable.MetadataPreviousVersionsMaxKey] != "10" {
		t.Fatalf("created table properties %v: want delete-after-commit and previous-versions-max 10", props)
	}
	tbl := commitN(t, f, f.tbl, nil, 25)
	files := metadataFiles(t, f.bucket.(*objstore.FS).Root())
	// The current version and the ten before it.
	if len(files) != table.MetadataVersionsKept+1 {
		t.Fatalf("%d metadata files after 26 versions, want %d: %v", len(files), table.MetadataVersionsKept+1, files)
	}
	got, err := f.cat.LoadTable(context.Background(), tbl.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	if w := watermark(t, got); w != 25 {
		t.Fatalf("reloaded watermark %d, want 25", w)
	}
}

// TestObjectStoreCatalogWithDeletedVersions checks that the object-store
// catalog, which finds the current version from a hint and by probing
// upward or listing, still works when the versions before the last ten
// are deleted: with a good hint, a missing one, and one naming a deleted
// version.
func TestObjectStoreCatalogWithDeletedVersions(t *testing.T) {
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, table.NewObjectStoreCatalog("test", b, nil), b)
	tbl := commitN(t, f, f.tbl, nil, 25)
	files := metadataFiles(t, b.Root())
	if len(files) != table.MetadataVersionsKept+1 || !strings.HasSuffix(files[0], "/v16.metadata.json") {
		t.Fatalf("metadata files after 26 versions: %v, want v16..v26", files)
	}
	hint := filepath.Join(filepath.Dir(files[0]), "version-hint.text")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hint string // "" removes it
	}{{"current hint", "26"}, {"no hint", ""}, {"hint names a deleted version", "3"}, {"stale hint", "20"}} {
		if tc.hint == "" {
			if err := os.Remove(hint); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(hint, []byte(tc.hint), 0o644); err != nil {
			t.Fatal(err)
		}
		// A fresh catalog: nothing cached from the commits above.
		got, err := table.NewObjectStoreCatalog("test", b, nil).LoadTable(ctx, tbl.Identifier())
		if err != nil {
			t.Fatalf("%s: load: %v", tc.name, err)
		}
		if w := watermark(t, got); w != 25 || !strings.HasSuffix(got.MetadataLocation(), "/v26.metadata.json") {
			t.Fatalf("%s: loaded %s with watermark %d, want v26 and 25", tc.name, got.MetadataLocation(), w)
		}
	}
	// Commits go on from a reloaded table, and keep trimming.
	got, err := table.NewObjectStoreCatalog("test", b, nil).LoadTable(ctx, tbl.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	f.cat = table.NewObjectStoreCatalog("test", b, nil)
	wm := int64(25)
	tbl = commitN(t, f, got, &wm, 5)
	if w := watermark(t, tbl); w != 30 {
		t.Fatalf("watermark %d after 5 more commits, want 30", w)
	}
	files = metadataFiles(t, b.Root())
	if len(files) != table.MetadataVersionsKept+1 || !strings.HasSuffix(files[0], "/v21.metadata.json") {
		t.Fatalf("metadata files after 31 versions: %v, want v21..v31", files)
	}
}

// TestCommitAddsDefaultPropertiesToOlderTables: a table created without
// the retention properties (by an earlier version, or another tool) gets
// them with its next commit, and a value set on the table is kept.
func TestCommitAddsDefaultPropertiesToOlderTables(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ident := icebergtable.Identifier{"ns", "older"}
	tbl, err := f.cat.CreateTable(ctx, ident, f.tbl.Schema(),
		catalog.WithProperties(iceberg.Properties{icebergtable.MetadataPreviousVersionsMaxKey: "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tbl.Properties()[icebergtable.MetadataDeleteAfterCommitEnabledKey]; ok {
		t.Fatal("table created directly already has delete-after-commit")
	}
	tbl = commitN(t, f, tbl, nil, 8)
	props := tbl.Properties()
	if props[icebergtable.MetadataDeleteAfterCommitEnabledKey] != "true" || props[icebergtable.MetadataPreviousVersionsMaxKey] != "3" {
		t.Fatalf("properties after commits %v: want delete-after-commit added, previous-versions-max kept at 3", props)
	}
	var older []string
	for _, p := range metadataFiles(t, f.bucket.(*objstore.FS).Root()) {
		if strings.Contains(p, "/older/") {
			older = append(older, p)
		}
	}
	if len(older) != 4 {
		t.Fatalf("%d metadata files of the older table after 9 versions, want 4 (current and 3): %v", len(older), older)
	}
}
