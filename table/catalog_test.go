package table_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
	"github.com/bigfather/bigfather/table/catalogtest"
)

func TestCatalogOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		o       table.CatalogOptions
		wantErr string // substring naming the option; "" = valid
	}{
		{"sqlite default dsn", table.CatalogOptions{Warehouse: "file:///tmp/wh"}, ""},
		{"objectstore s3", table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "objectstore"}, Warehouse: "s3://b/p"}, ""},
		{"rest", table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "rest", REST: table.RESTCatalogConfig{URI: "http://127.0.0.1:8181"}}}, ""},
		{"postgres", table.CatalogOptions{CatalogConfig: table.CatalogConfig{SQL: table.SQLCatalogConfig{Driver: "postgres", DSN: "postgres://x"}}, Warehouse: "s3://b"}, ""},
		{"hadoop rejected", table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "hadoop"}, Warehouse: "s3://b"}, "not atomic on S3"},
		{"unknown type", table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "glue"}}, `type "glue"`},
		{"sql needs warehouse", table.CatalogOptions{}, "warehouse is required"},
		{"rest needs uri", table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "rest"}}, "rest_uri is required"},
		{"relative file warehouse", table.CatalogOptions{Warehouse: "file://rel/wh"}, "must be absolute"},
		{"bad scheme", table.CatalogOptions{Warehouse: "gs://b"}, "unsupported scheme"},
		{"no scheme", table.CatalogOptions{Warehouse: "/tmp/wh"}, "warehouse"},
		{"sqlite on s3 needs dsn", table.CatalogOptions{Warehouse: "s3://b"}, "sql_dsn is required"},
		{"postgres needs dsn", table.CatalogOptions{CatalogConfig: table.CatalogConfig{SQL: table.SQLCatalogConfig{Driver: "postgres"}}, Warehouse: "s3://b"}, "sql_dsn is required"},
		{"unknown driver", table.CatalogOptions{CatalogConfig: table.CatalogConfig{SQL: table.SQLCatalogConfig{Driver: "mysql"}}, Warehouse: "s3://b"}, `sql_driver "mysql"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, table.ErrInvalidCatalogOptions) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want ErrInvalidCatalogOptions mentioning %q", err, tt.wantErr)
			}
			if _, err := table.OpenCatalog(t.Context(), tt.o); !errors.Is(err, table.ErrInvalidCatalogOptions) {
				t.Fatalf("OpenCatalog() = %v, want the validation error", err)
			}
		})
	}
}

func TestCatalogIOProps(t *testing.T) {
	tests := []struct {
		name string
		o    table.CatalogOptions
		want iceberg.Properties
	}{
		{"file warehouse needs nothing", table.CatalogOptions{Warehouse: "file:///tmp/wh"}, iceberg.Properties{}},
		{"aws default chain", table.CatalogOptions{Warehouse: "s3://b/p"},
			iceberg.Properties{"s3.force-virtual-addressing": "true"}},
		{"compatible server with keys", table.CatalogOptions{Warehouse: "s3://b/p", S3: objstore.S3Config{
			Endpoint: "http://127.0.0.1:9000", PathStyle: true, AccessKeyID: "ak", SecretAccessKey: "sk", SessionToken: "st",
		}}, iceberg.Properties{
			"s3.endpoint": "http://127.0.0.1:9000", "s3.region": "us-east-1", "s3.force-virtual-addressing": "false",
			"s3.access-key-id": "ak", "s3.secret-access-key": "sk", "s3.session-token": "st",
		}},
		{"explicit region", table.CatalogOptions{Warehouse: "s3://b", S3: objstore.S3Config{Region: "eu-west-3"}},
			iceberg.Properties{"s3.region": "eu-west-3", "s3.force-virtual-addressing": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := table.IOProps(tt.o); !maps.Equal(got, tt.want) {
				t.Fatalf("IOProps() = %v, want %v", got, tt.want)
			}
		})
	}
}

func openSQLite(t *testing.T) (catalog.Catalog, string) {
	t.Helper()
	warehouse := "file://" + filepath.ToSlash(t.TempDir())
	cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{Warehouse: warehouse})
	if err != nil {
		t.Fatalf("open sqlite catalog: %v", err)
	}
	closeCatalog(t, cat)
	return cat, warehouse
}

func closeCatalog(t *testing.T, cat catalog.Catalog) {
	t.Helper()
	if c, ok := cat.(catalog.Closer); ok {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("close catalog: %v", err)
			}
		})
	}
}

func TestCatalogSQLite(t *testing.T) {
	catalogtest.Run(t, openSQLite)
}

func TestCatalogSQLiteDefaultsToWarehouseFile(t *testing.T) {
	dir := t.TempDir()
	cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{Warehouse: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	closeCatalog(t, cat)
	if _, err := os.Stat(filepath.Join(dir, "catalog.db")); err != nil {
		t.Fatalf("default sqlite catalog file: %v", err)
	}
	if cat.CatalogType() != catalog.SQL {
		t.Fatalf("catalog type %q, want sql", cat.CatalogType())
	}
}

// TestCatalogSQLiteSharedFile pins that two processes' worth of catalogs
// on one SQLite file see each other's commits and conflict cleanly.
func TestCatalogSQLiteSharedFile(t *testing.T) {
	warehouse := "file://" + t.TempDir()
	var cats [2]catalog.Catalog
	for i := range cats {
		cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{Warehouse: warehouse})
		if err != nil {
			t.Fatal(err)
		}
		closeCatalog(t, cat)
		cats[i] = cat
	}
	ident := icebergtable.Identifier{"ns", "shared"}
	tbl, err := table.EnsureTable(t.Context(), cats[0], ident, catalogtest.Schema(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.EnsureTable(t.Context(), cats[1], ident, catalogtest.Schema(), nil); err != nil {
		t.Fatal(err)
	}
	set := func(cat catalog.Catalog, v string) error {
		_, _, err := cat.CommitTable(t.Context(), ident, []icebergtable.Requirement{
			icebergtable.AssertLastAssignedFieldID(tbl.Metadata().LastColumnID()),
		}, []icebergtable.Update{
			icebergtable.NewAddSchemaUpdate(iceberg.NewSchema(1, append(tbl.Schema().Fields(),
				iceberg.NestedField{ID: tbl.Metadata().LastColumnID() + 1, Name: v, Type: iceberg.PrimitiveTypes.String})...)),
			icebergtable.NewSetPropertiesUpdate(iceberg.Properties{"by": v}),
		})
		return err
	}
	if err := set(cats[0], "a"); err != nil {
		t.Fatal(err)
	}
	if err := set(cats[1], "b"); !errors.Is(err, icebergtable.ErrCommitFailed) {
		t.Fatalf("second catalog's stale commit: got %v, want ErrCommitFailed", err)
	}
	got, err := cats[1].LoadTable(t.Context(), ident)
	if err != nil || got.Properties()["by"] != "a" {
		t.Fatalf("second catalog sees %v, %v; want by=a", got, err)
	}
}

func TestCatalogPostgres(t *testing.T) {
	dsn := os.Getenv("BIGFATHER_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set BIGFATHER_TEST_POSTGRES_DSN (e.g. postgres://user:pass@127.0.0.1/db?sslmode=disable) to run the catalog suite on PostgreSQL")
	}
	catalogtest.Run(t, func(t *testing.T) (catalog.Catalog, string) {
		warehouse := "file://" + filepath.ToSlash(t.TempDir())
		// A fresh catalog name per subtest keeps them apart in one database.
		cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{
			CatalogConfig: table.CatalogConfig{Name: "suite_" + strings.ReplaceAll(t.Name(), "/", "_"), SQL: table.SQLCatalogConfig{Driver: "postgres", DSN: dsn}},
			Warehouse:     warehouse,
		})
		if err != nil {
			t.Fatalf("open postgres catalog: %v", err)
		}
		closeCatalog(t, cat)
		return cat, warehouse
	})
}

func TestCatalogREST(t *testing.T) {
	uri := os.Getenv("BIGFATHER_TEST_REST_URI")
	if uri == "" {
		t.Skip("set BIGFATHER_TEST_REST_URI (and BIGFATHER_TEST_REST_WAREHOUSE) to run the catalog suite on a REST catalog; none is available offline")
	}
	warehouse := os.Getenv("BIGFATHER_TEST_REST_WAREHOUSE")
	catalogtest.Run(t, func(t *testing.T) (catalog.Catalog, string) {
		cat, err := table.OpenCatalog(t.Context(), table.CatalogOptions{CatalogConfig: table.CatalogConfig{Type: "rest", REST: table.RESTCatalogConfig{URI: uri}}, Warehouse: warehouse})
		if err != nil {
			t.Fatalf("open rest catalog: %v", err)
		}
		closeCatalog(t, cat)
		// The suite reuses namespace "suite": start from an empty one.
		dropNamespace(t.Context(), cat, icebergtable.Identifier{"suite"})
		return cat, warehouse
	})
}

func dropNamespace(ctx context.Context, cat catalog.Catalog, ns icebergtable.Identifier) {
	for id, err := range cat.ListTables(ctx, ns) {
		if err != nil {
			break
		}
		_ = cat.DropTable(ctx, id)
	}
	_ = cat.DropNamespace(ctx, ns)
}

// TestEnsureTableConcurrent checks that concurrent first users of a table
// all end up with the same table, whoever created it.
func TestEnsureTableConcurrent(t *testing.T) {
	for name, open := range map[string]func(*testing.T) (catalog.Catalog, string){
		"sqlite":      openSQLite,
		"objectstore": openObjectStoreFS,
	} {
		t.Run(name, func(t *testing.T) {
			cat, warehouse := open(t)
			ident := icebergtable.Identifier{"events", "orders"}
			const n = 4
			var (
				wg    sync.WaitGroup
				uuids [n]string
				errs  [n]error
			)
			for i := range n {
				wg.Go(func() {
					tbl, err := table.EnsureTable(t.Context(), cat, ident, catalogtest.Schema(),
						iceberg.Properties{"bigfather.pipeline": "p"})
					errs[i] = err
					if err == nil {
						uuids[i] = tbl.Metadata().TableUUID().String()
					}
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("EnsureTable #%d: %v", i, errs[i])
				}
				if uuids[i] != uuids[0] {
					t.Fatalf("EnsureTable returned different tables: %v", uuids)
				}
			}
			tbl, err := table.EnsureTable(t.Context(), cat, ident, catalogtest.Schema(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimRight(warehouse, "/") + "/events/orders"; tbl.Location() != want {
				t.Fatalf("table location %q, want %q", tbl.Location(), want)
			}
			if tbl.Properties()["bigfather.pipeline"] != "p" {
				t.Fatalf("creation properties lost: %v", tbl.Properties())
			}
		})
	}
}
