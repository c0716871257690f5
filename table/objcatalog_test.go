package table_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/objstore/objstoretest"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/catalogtest"
)

func openObjectStoreFS(t *testing.T) (catalog.Catalog, string) {
	t.Helper()
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return table.NewObjectStoreCatalog("test", b, nil), b.URL("")
}

// openObjectStoreS3 goes through OpenCatalog, so the suite's append and
// scan prove that IOProps lets iceberg-go's own S3 IO reach the bucket
// objstore writes metadata to.
func openObjectStoreS3(t *testing.T) (catalog.Catalog, string) {
	t.Helper()
	const warehouse = "s3://warehouse/lake"
	cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "objectstore"},
		Warehouse:     warehouse,
		S3:            objstoretest.FakeS3(t, "warehouse"),
	})
	if err != nil {
		t.Fatalf("open objectstore catalog on s3: %v", err)
	}
	return cat, warehouse
}

func TestObjectStoreCatalogFS(t *testing.T) {
	catalogtest.Run(t, openObjectStoreFS)
}

func TestObjectStoreCatalogS3(t *testing.T) {
	catalogtest.Run(t, openObjectStoreS3)
}

func newFSCatalog(t *testing.T) (*table.ObjectStoreCatalog, *objstore.FS) {
	t.Helper()
	b, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return table.NewObjectStoreCatalog("test", b, nil), b
}

func createWithVersions(t *testing.T, cat *table.ObjectStoreCatalog, ident icebergtable.Identifier, commits int) {
	t.Helper()
	ctx := t.Context()
	if err := cat.CreateNamespace(ctx, catalog.NamespaceFromIdent(ident), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.CreateTable(ctx, ident, catalogtest.Schema()); err != nil {
		t.Fatal(err)
	}
	for i := range commits {
		_, _, err := cat.CommitTable(ctx, ident, nil, []icebergtable.Update{
			icebergtable.NewSetPropertiesUpdate(iceberg.Properties{"n": string(rune('a' + i))}),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestObjectStoreVersionHintNotTrusted pins that a wrong version-hint.text
// (stale, ahead, garbage, or naming a deleted version) never changes which
// version is current.
func TestObjectStoreVersionHintNotTrusted(t *testing.T) {
	for _, hint := range []string{"1", "2", "99", "garbage", "-3", ""} {
		t.Run("hint="+hint, func(t *testing.T) {
			ctx := t.Context()
			cat, b := newFSCatalog(t)
			ident := icebergtable.Identifier{"ns", "t"}
			createWithVersions(t, cat, ident, 11) // v1..v12
			if err := b.Delete(ctx, "ns/t/metadata/v1.metadata.json"); err != nil {
				t.Fatal(err) // as metadata cleanup would
			}
			if err := b.Upload(ctx, "ns/t/metadata/version-hint.text", strings.NewReader(hint)); err != nil {
				t.Fatal(err)
			}
			tbl, err := cat.LoadTable(ctx, ident)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tbl.MetadataLocation(), "/ns/t/metadata/v12.metadata.json") {
				t.Fatalf("loaded %s, want v12 (numeric, not lexical, order)", tbl.MetadataLocation())
			}
			if tbl.Properties()["n"] != "k" {
				t.Fatalf("loaded properties %v, want n=k", tbl.Properties())
			}
			// A commit must go to v13, not collide with or skip a version.
			_, loc, err := cat.CommitTable(ctx, ident, nil, []icebergtable.Update{
				icebergtable.NewSetPropertiesUpdate(iceberg.Properties{"n": "z"}),
			})
			if err != nil || !strings.HasSuffix(loc, "/v13.metadata.json") {
				t.Fatalf("commit after wrong hint: %s, %v; want v13", loc, err)
			}
		})
	}
}

// faultyBucket fails PutIfAbsent of metadata after (or instead of)
// performing it, the way a timeout after the request was sent looks.
type faultyBucket struct {
	objstore.Bucket
	write bool // perform the write before failing
}

var errInjected = errors.New("injected: connection reset after request was sent")

func (f faultyBucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	if !strings.HasSuffix(key, ".metadata.json") || strings.HasSuffix(key, "/v1.metadata.json") {
		return f.Bucket.PutIfAbsent(ctx, key, r)
	}
	if f.write {
		if err := f.Bucket.PutIfAbsent(ctx, key, r); err != nil {
			return err
		}
	}
	return errInjected
}

// TestObjectStoreCommitUnknownOutcome pins that a failed metadata write is
// reported as unknown (not ErrCommitFailed), whether or not it landed, so
// callers reconcile instead of retrying blindly.
func TestObjectStoreCommitUnknownOutcome(t *testing.T) {
	for _, landed := range []bool{true, false} {
		t.Run(map[bool]string{true: "landed", false: "lost"}[landed], func(t *testing.T) {
			ctx := t.Context()
			b, err := objstore.NewFS(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			cat := table.NewObjectStoreCatalog("test", faultyBucket{Bucket: b, write: landed}, nil)
			ident := icebergtable.Identifier{"ns", "t"}
			createWithVersions(t, cat, ident, 0)
			_, _, err = cat.CommitTable(ctx, ident, nil, []icebergtable.Update{
				icebergtable.NewSetPropertiesUpdate(iceberg.Properties{"k": "v"}),
			})
			if !errors.Is(err, errInjected) || errors.Is(err, icebergtable.ErrCommitFailed) {
				t.Fatalf("got %v, want the write error and not ErrCommitFailed", err)
			}
			tbl, err := cat.LoadTable(ctx, ident)
			if err != nil {
				t.Fatal(err)
			}
			if got := tbl.Properties()["k"] == "v"; got != landed {
				t.Fatalf("after reload the commit is visible=%v, want %v", got, landed)
			}
		})
	}
}

func TestObjectStoreRenameUnsupported(t *testing.T) {
	cat, _ := newFSCatalog(t)
	_, err := cat.RenameTable(t.Context(), icebergtable.Identifier{"a", "b"}, icebergtable.Identifier{"a", "c"})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "atomic rename") {
		t.Fatalf("RenameTable: got %v, want ErrUnsupported explaining atomic rename", err)
	}
}

func TestObjectStoreIdentifiers(t *testing.T) {
	ctx := t.Context()
	cat, b := newFSCatalog(t)
	for _, bad := range []icebergtable.Identifier{{""}, {".hidden"}, {"a/b"}, {".."}, {"x\x00"}} {
		if err := cat.CreateNamespace(ctx, bad, nil); !errors.Is(err, catalog.ErrInvalidIdentifier) {
			t.Errorf("CreateNamespace(%q): got %v, want ErrInvalidIdentifier", bad, err)
		}
	}
	if _, err := cat.LoadTable(ctx, icebergtable.Identifier{"only"}); !errors.Is(err, catalog.ErrInvalidIdentifier) {
		t.Errorf("LoadTable without namespace: got %v, want ErrInvalidIdentifier", err)
	}
	// Nested namespaces with dots in names list back exactly.
	nested := icebergtable.Identifier{"a.b", "c"}
	for _, ns := range []icebergtable.Identifier{{"a.b"}, nested} {
		if err := cat.CreateNamespace(ctx, ns, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cat.CreateTable(ctx, append(nested, "t"), catalogtest.Schema()); err != nil {
		t.Fatal(err)
	}
	top, err := cat.ListNamespaces(ctx, nil)
	if err != nil || len(top) != 1 || top[0][0] != "a.b" {
		t.Fatalf("ListNamespaces(nil) = %v, %v; want [[a.b]]", top, err)
	}
	kids, err := cat.ListNamespaces(ctx, icebergtable.Identifier{"a.b"})
	if err != nil || len(kids) != 1 || strings.Join(kids[0], "|") != "a.b|c" {
		t.Fatalf("ListNamespaces(a.b) = %v, %v; want [[a.b c]]", kids, err)
	}
	if err := cat.DropNamespace(ctx, nested); !errors.Is(err, catalog.ErrNamespaceNotEmpty) {
		t.Fatalf("DropNamespace(non-empty): got %v, want ErrNamespaceNotEmpty", err)
	}
	if _, err := b.Get(ctx, "a.b/c/t/metadata/v1.metadata.json"); err != nil {
		t.Fatalf("table metadata not at <ns path>/<table>/metadata/v1.metadata.json: %v", err)
	}
	sum, err := cat.UpdateNamespaceProperties(ctx, nested, []string{"gone", "missing"}, iceberg.Properties{"k": "v"})
	if err != nil || len(sum.Updated) != 1 || len(sum.Missing) != 2 {
		t.Fatalf("UpdateNamespaceProperties = %+v, %v", sum, err)
	}
	props, err := cat.LoadNamespaceProperties(ctx, nested)
	if err != nil || props["k"] != "v" {
		t.Fatalf("LoadNamespaceProperties = %v, %v; want k=v", props, err)
	}
}

func TestObjectStoreCreateTableRejectsForeignLocation(t *testing.T) {
	ctx := t.Context()
	cat, _ := newFSCatalog(t)
	if err := cat.CreateNamespace(ctx, icebergtable.Identifier{"ns"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := cat.CreateTable(ctx, icebergtable.Identifier{"ns", "t"}, catalogtest.Schema(),
		catalog.WithLocation("file://"+filepath.ToSlash(t.TempDir())))
	if err == nil || !strings.Contains(err.Error(), "keeps every table at") {
		t.Fatalf("CreateTable with a foreign location: got %v", err)
	}
	if _, err := cat.CreateTable(ctx, icebergtable.Identifier{"nope", "t"}, catalogtest.Schema()); !errors.Is(err, catalog.ErrNoSuchNamespace) {
		t.Fatalf("CreateTable in a missing namespace: got %v, want ErrNoSuchNamespace", err)
	}
}
