package table

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Catalog connections to PostgreSQL carry session timeouts, so a process
// frozen inside a commit cannot hold the table's row lock for long: the
// server ends its idle transaction, and a commit waiting for the lock
// gives up instead of queueing. A DSN's own value wins.
func TestPostgresCatalogSessionTimeouts(t *testing.T) {
	dsn := os.Getenv("BIGFATHER_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set BIGFATHER_TEST_POSTGRES_DSN (e.g. postgres://user:pass@127.0.0.1/db?sslmode=disable) to check the catalog's session settings")
	}
	want := map[string]string{"idle_in_transaction_session_timeout": "10s", "lock_timeout": "10s", "statement_timeout": "30s"}
	sep := "&"
	if !strings.Contains(dsn, "?") {
		sep = "?"
	}
	for name, tc := range map[string]struct {
		dsn      string
		override string
	}{
		"url":          {dsn: dsn},
		"url override": {dsn: dsn + sep + "statement_timeout=5000", override: "5s"},
	} {
		t.Run(name, func(t *testing.T) {
			cat, err := OpenCatalog(t.Context(), CatalogOptions{
				CatalogConfig: CatalogConfig{Name: "pgtimeouts", SQL: SQLCatalogConfig{Driver: SQLDriverPostgres, DSN: tc.dsn}},
				Warehouse:     "file://" + filepath.ToSlash(t.TempDir()),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cat.(*sqlCatalog).Close()
			db := cat.(*sqlCatalog).db
			for setting, v := range want {
				if setting == "statement_timeout" && tc.override != "" {
					v = tc.override
				}
				var got string
				if err := db.QueryRowContext(t.Context(), "SHOW "+setting).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != v {
					t.Errorf("%s = %s, want %s", setting, got, v)
				}
			}
		})
	}
}

func TestPostgresDSNAddsTimeouts(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"host=db user=bf dbname=c", "host=db user=bf dbname=c idle_in_transaction_session_timeout=10000 lock_timeout=10000 statement_timeout=30000"},
		{"host=db lock_timeout=1", "host=db lock_timeout=1 idle_in_transaction_session_timeout=10000 statement_timeout=30000"},
		{"postgres://bf:pw@db/c?sslmode=disable", "postgres://bf:pw@db/c?idle_in_transaction_session_timeout=10000&lock_timeout=10000&sslmode=disable&statement_timeout=30000"},
		{"postgres://bf@db/c?lock_timeout=1", "postgres://bf@db/c?idle_in_transaction_session_timeout=10000&lock_timeout=1&statement_timeout=30000"},
		{"postgres://bf:pw@db:notaport/c", "postgres://bf:pw@db:notaport/c"},
	} {
		if got := postgresDSN(tt.in); got != tt.want {
			t.Errorf("postgresDSN(%q) =\n %q, want\n %q", tt.in, got, tt.want)
		}
	}
}
