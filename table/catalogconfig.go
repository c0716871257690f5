package table

import (
	"path/filepath"

	"github.com/apache/iceberg-go/catalog"

	"github.com/bigfather/bigfather/internal/confkey"
)

// CatalogConfig is the catalog section of the config file: which Iceberg
// catalog commits table metadata.
type CatalogConfig struct {
	// Type is sql, rest or objectstore. Default "sql". The hadoop catalog is
	// rejected: iceberg-go's is not atomic on S3 (DESIGN.md §3 rule 10).
	Type string `yaml:"type"`
	// Name is the catalog's name. Default "bigfather". The SQL catalog
	// stores it in every row, so changing it hides the tables registered
	// under the old name.
	Name string `yaml:"name"`
	// SQL configures the sql catalog.
	SQL SQLCatalogConfig `yaml:"sql"`
	// REST configures the rest catalog.
	REST RESTCatalogConfig `yaml:"rest"`
}

// SQLCatalogConfig configures the SQL catalog.
type SQLCatalogConfig struct {
	// Driver is sqlite or postgres. Default "sqlite".
	Driver string `yaml:"driver"`
	// DSN is the database: for sqlite a file path (default catalog.db in a
	// file:// warehouse directory; required for s3:// ones) or a full
	// "file:" DSN passed through unchanged; for postgres a lib/pq DSN
	// (required).
	DSN string `yaml:"dsn"`
}

// RESTCatalogConfig configures an Iceberg REST catalog.
type RESTCatalogConfig struct {
	// URI is the catalog's base URL. Required for type rest.
	URI string `yaml:"uri"`
	// Properties are passed to iceberg-go's REST catalog: "credential",
	// "token", "warehouse", "prefix", "scope" and "oauth2-server-uri" set
	// the matching client options; every other key is sent as an
	// additional property. Default empty.
	Properties map[string]string `yaml:"properties"`
}

// DefaultCatalogConfig returns the catalog settings used for every key the
// file does not set.
func DefaultCatalogConfig() CatalogConfig {
	return CatalogConfig{Type: CatalogSQL, Name: DefaultCatalogName, SQL: SQLCatalogConfig{Driver: SQLDriverSQLite}}
}

// WithWarehouse fills the defaults that depend on the warehouse: a sqlite
// catalog without a DSN lives in catalog.db in a file:// warehouse's
// directory (dir, "" for other warehouses).
func (c CatalogConfig) WithWarehouse(dir string) CatalogConfig {
	if c.Type == CatalogSQL && c.SQL.Driver == SQLDriverSQLite && c.SQL.DSN == "" && dir != "" {
		c.SQL.DSN = filepath.Join(dir, "catalog.db")
	}
	return c
}

// Validate checks the section as the file gives it, defaults filled (see
// WithWarehouse), without contacting any server; every problem is a
// *confkey.Error naming its key ("type", "sql.dsn", ...).
func (c CatalogConfig) Validate() error {
	var l confkey.List
	switch c.Type {
	case CatalogSQL:
		switch c.SQL.Driver {
		case SQLDriverSQLite:
			if c.SQL.DSN == "" {
				l.Add("sql.dsn", "required for sqlite unless warehouse.url is file:// (then it defaults to catalog.db in the warehouse directory)")
			}
		case SQLDriverPostgres:
			if c.SQL.DSN == "" {
				l.Add("sql.dsn", "required for postgres")
			}
		default:
			l.Add("sql.driver", "%q is not supported: want sqlite or postgres", c.SQL.Driver)
		}
	case CatalogREST:
		if c.REST.URI == "" {
			l.Add("rest.uri", "required for catalog.type rest")
		} else if _, msg := confkey.HTTPURL(c.REST.URI); msg != "" {
			l.Add("rest.uri", "%s", msg)
		}
	case CatalogObjectStore:
	case string(catalog.Hadoop):
		l.Add("type", "%q is not supported: iceberg-go's hadoop catalog is not atomic on S3; use objectstore, sql or rest", c.Type)
	default:
		l.Add("type", "%q is not supported: want sql, rest or objectstore", c.Type)
	}
	if c.Name == "" {
		l.Add("name", "required")
	}
	return l.Err()
}
