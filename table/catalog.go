package table

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	icebergtable "github.com/apache/iceberg-go/table"

	// iceberg-go links no S3 client by itself: this registers the s3://
	// scheme so manifests and metadata can be read and written in an S3
	// warehouse with the properties IOProps returns.
	_ "github.com/apache/iceberg-go/io/gocloud/s3"
	// PostgreSQL driver ("postgres") for the multi-instance SQL catalog.
	_ "github.com/lib/pq"
	// Pure-Go SQLite driver ("sqlite") for the embedded SQL catalog.
	_ "modernc.org/sqlite"

	"github.com/bigfather/bigfather/internal/redact"
	"github.com/bigfather/bigfather/objstore"
)

// Catalog types accepted by CatalogConfig.Type.
const (
	CatalogSQL         = "sql"
	CatalogREST        = "rest"
	CatalogObjectStore = "objectstore"
)

// SQL drivers accepted by CatalogConfig.SQL.Driver.
const (
	SQLDriverSQLite   = "sqlite"
	SQLDriverPostgres = "postgres"
)

// DefaultCatalogName is the catalog name used when CatalogConfig.Name is
// empty. The SQL catalog stores it in every row, so changing it hides the
// tables registered under the old name.
const DefaultCatalogName = "bigfather"

// ErrInvalidCatalogOptions is wrapped by every CatalogOptions validation
// error; the message names the offending option.
var ErrInvalidCatalogOptions = errors.New("invalid catalog options")

// CatalogOptions selects and configures the Iceberg catalog: the catalog
// section and the warehouse it stores metadata in.
type CatalogOptions struct {
	CatalogConfig
	// Warehouse is file:///abs/path or s3://bucket/prefix. Required for
	// "sql" and "objectstore".
	Warehouse string
	// S3 configures access to an s3:// warehouse (endpoint, region, path
	// style, static keys; empty keys mean the AWS default chain). Bucket and
	// Prefix are taken from Warehouse.
	S3 objstore.S3Config
}

func (o CatalogOptions) withDefaults() CatalogOptions {
	if o.Type == "" {
		o.Type = CatalogSQL
	}
	o.Type = strings.ToLower(o.Type)
	if o.Name == "" {
		o.Name = DefaultCatalogName
	}
	if o.SQL.Driver == "" {
		o.SQL.Driver = SQLDriverSQLite
	}
	o.SQL.Driver = strings.ToLower(o.SQL.Driver)
	return o
}

// Validate checks the options after defaults are applied, without
// contacting any server.
func (o CatalogOptions) Validate() error {
	o = o.withDefaults()
	switch o.Type {
	case CatalogSQL, CatalogObjectStore:
		if o.Warehouse == "" {
			return fmt.Errorf("%w: warehouse is required for catalog type %q", ErrInvalidCatalogOptions, o.Type)
		}
	case CatalogREST:
		if o.REST.URI == "" {
			return fmt.Errorf("%w: rest_uri is required for catalog type %q", ErrInvalidCatalogOptions, o.Type)
		}
	case string(catalog.Hadoop):
		return fmt.Errorf("%w: type %q: iceberg-go's hadoop catalog publishes metadata with a claim-and-rename "+
			"that is not atomic on S3, so concurrent writers can lose commits; use %q, %q or %q",
			ErrInvalidCatalogOptions, o.Type, CatalogSQL, CatalogREST, CatalogObjectStore)
	default:
		return fmt.Errorf("%w: type %q: want %q, %q or %q", ErrInvalidCatalogOptions, o.Type,
			CatalogSQL, CatalogREST, CatalogObjectStore)
	}
	if o.Warehouse != "" {
		if _, _, err := parseWarehouse(o.Warehouse); err != nil {
			return err
		}
	}
	if o.Type == CatalogSQL {
		switch o.SQL.Driver {
		case SQLDriverSQLite:
			if o.SQL.DSN == "" && !strings.HasPrefix(o.Warehouse, "file://") {
				return fmt.Errorf("%w: sql_dsn is required for sqlite with a non-file warehouse %q",
					ErrInvalidCatalogOptions, o.Warehouse)
			}
		case SQLDriverPostgres:
			if o.SQL.DSN == "" {
				return fmt.Errorf("%w: sql_dsn is required for sql_driver %q", ErrInvalidCatalogOptions, o.SQL.Driver)
			}
		default:
			return fmt.Errorf("%w: sql_driver %q: want %q or %q", ErrInvalidCatalogOptions, o.SQL.Driver,
				SQLDriverSQLite, SQLDriverPostgres)
		}
	}
	return nil
}

// parseWarehouse splits a warehouse URL into its scheme ("file" or "s3")
// and the rest: the absolute directory for file, bucket[/prefix] for s3.
func parseWarehouse(w string) (scheme, rest string, err error) {
	scheme, rest, ok := strings.Cut(w, "://")
	if !ok {
		return "", "", fmt.Errorf("%w: warehouse %q: want file:///abs/path or s3://bucket/prefix",
			ErrInvalidCatalogOptions, w)
	}
	switch strings.ToLower(scheme) {
	case "file":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("%w: warehouse %q: file path must be absolute (file:///abs/path)",
				ErrInvalidCatalogOptions, w)
		}
		return "file", filepath.Clean(rest), nil
	case "s3":
		if b, _, _ := strings.Cut(rest, "/"); b == "" {
			return "", "", fmt.Errorf("%w: warehouse %q: no bucket name", ErrInvalidCatalogOptions, w)
		}
		return "s3", strings.TrimRight(rest, "/"), nil
	default:
		return "", "", fmt.Errorf("%w: warehouse %q: unsupported scheme %q (want file:// or s3://)",
			ErrInvalidCatalogOptions, w, scheme)
	}
}

// IOProps returns the iceberg-go IO properties that let iceberg-go read and
// write manifests, manifest lists and metadata in o's warehouse. They are
// empty for file:// warehouses. For S3 they carry the endpoint, region,
// static credentials and addressing style of o.S3. Without an explicit
// region, a custom endpoint gets "us-east-1" (S3-compatible servers ignore
// it but SigV4 needs one), and AWS proper uses the SDK's default chain.
func IOProps(o CatalogOptions) iceberg.Properties {
	props := iceberg.Properties{}
	if scheme, _, err := parseWarehouse(o.Warehouse); err != nil || scheme != "s3" {
		return props
	}
	s3 := o.S3
	if s3.Endpoint != "" {
		props[icebergio.S3EndpointURL] = s3.Endpoint
	}
	switch {
	case s3.Region != "":
		props[icebergio.S3Region] = s3.Region
	case s3.Endpoint != "":
		props[icebergio.S3Region] = objstore.FallbackRegion
	}
	if s3.AccessKeyID != "" {
		props[icebergio.S3AccessKeyID] = s3.AccessKeyID
		props[icebergio.S3SecretAccessKey] = s3.SecretAccessKey
	}
	if s3.SessionToken != "" {
		props[icebergio.S3SessionToken] = s3.SessionToken
	}
	// Always explicit: iceberg-go otherwise guesses path style from whether
	// an endpoint is set, which disagrees with objstore for virtual-hosted
	// S3-compatible endpoints.
	props[icebergio.S3ForceVirtualAddressing] = strconv.FormatBool(!s3.PathStyle)
	return props
}

// OpenCatalog opens the catalog o describes. For "sql" it creates the
// catalog tables if they are missing. The returned catalog may implement
// catalog.Closer; callers should close it when done.
func OpenCatalog(ctx context.Context, o CatalogOptions) (catalog.Catalog, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	switch o.Type {
	case CatalogSQL:
		return openSQLCatalog(ctx, o)
	case CatalogREST:
		return openRESTCatalog(ctx, o)
	default: // CatalogObjectStore; Validate rejected everything else.
		b, err := objstore.Open(ctx, o.Warehouse, o.S3)
		if err != nil {
			return nil, fmt.Errorf("open objectstore catalog %s: %w", o.Name, err)
		}
		return NewObjectStoreCatalog(o.Name, b, IOProps(o)), nil
	}
}

func openSQLCatalog(ctx context.Context, o CatalogOptions) (catalog.Catalog, error) {
	dialect := sqlcat.Postgres
	dsn := o.SQL.DSN
	// The driver echoes a DSN that does not parse, password included.
	scrub := redact.NewScrubber(redact.DSNSecrets(o.SQL.DSN)...)
	if o.SQL.Driver == SQLDriverSQLite {
		dialect = sqlcat.SQLite
		var err error
		if dsn, err = sqliteDSN(o); err != nil {
			return nil, err
		}
	} else {
		dsn = postgresDSN(dsn)
	}
	db, err := sql.Open(o.SQL.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open sql catalog %s (%s): %w", o.Name, o.SQL.Driver, scrub.Error(err))
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sql catalog %s (%s): %w", o.Name, o.SQL.Driver, scrub.Error(err))
	}
	ioProps := IOProps(o)
	props := maps.Clone(ioProps)
	props["warehouse"] = o.Warehouse
	// Tables are created below with ctx rather than by NewCatalog with
	// context.Background.
	props["init_catalog_tables"] = "false"
	inner, err := sqlcat.NewCatalog(o.Name, db, dialect, props)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sql catalog %s: %w", o.Name, err)
	}
	if err := inner.CreateSQLTables(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sql catalog %s: create catalog tables: %w", o.Name, err)
	}
	return &sqlCatalog{Catalog: inner, db: db, warehouse: o.Warehouse, ioProps: ioProps}, nil
}

// PostgreSQL session timeouts of catalog connections, unless the DSN sets
// its own. A commit's transaction is one short conditional UPDATE (the
// metadata file is written before it), so these only ever end a session
// that stopped: without them, a process frozen (SIGSTOP, a VM pause)
// inside a commit holds the table's row lock until TCP gives up, and every
// other instance's commit of that table waits behind it.
var postgresTimeouts = []struct{ key, value string }{
	// Ends a transaction whose client stopped talking, releasing its locks.
	{"idle_in_transaction_session_timeout", "10000"},
	// A commit waiting on another's row lock fails after this and is
	// reconciled like any other failed commit, instead of queueing.
	{"lock_timeout", "10000"},
	// Bounds any single catalog statement.
	{"statement_timeout", "30000"},
}

// postgresDSN adds postgresTimeouts to a lib/pq DSN, in URL or keyword/value
// form; lib/pq sends parameters it does not know to the server as run-time
// settings of the session.
func postgresDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn // lib/pq reports it
		}
		q := u.Query()
		for _, t := range postgresTimeouts {
			if !q.Has(t.key) {
				q.Set(t.key, t.value)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, t := range postgresTimeouts {
		if !strings.Contains(dsn, t.key) {
			dsn = strings.TrimSpace(dsn + " " + t.key + "=" + t.value)
		}
	}
	return dsn
}

// sqliteDSN builds the modernc.org/sqlite DSN. WAL lets readers run while a
// commit writes; busy_timeout makes concurrent committers wait for the lock
// instead of failing with SQLITE_BUSY; _txlock=immediate takes the write
// lock at BEGIN so a read-then-write transaction cannot deadlock on lock
// upgrade (read-only transactions still begin deferred).
func sqliteDSN(o CatalogOptions) (string, error) {
	if strings.HasPrefix(o.SQL.DSN, "file:") {
		return o.SQL.DSN, nil
	}
	path := o.SQL.DSN
	if path == "" {
		_, dir, _ := parseWarehouse(o.Warehouse)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("sql catalog: create warehouse directory: %w", err)
		}
		path = filepath.Join(dir, "catalog.db")
	}
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("%w: sql_dsn %q: a sqlite path must not contain '?' or '#' (pass a full file: DSN instead)",
			ErrInvalidCatalogOptions, path)
	}
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate", nil
}

// restOption maps a RESTProps key to the iceberg-go REST client option it
// sets; ok is false for keys sent as additional properties instead.
func restOption(key, value string) (opt rest.Option, ok bool, err error) {
	switch key {
	case "credential":
		return rest.WithCredential(value), true, nil
	case "token":
		return rest.WithOAuthToken(value), true, nil
	case "warehouse":
		return rest.WithWarehouseLocation(value), true, nil
	case "prefix":
		return rest.WithPrefix(value), true, nil
	case "scope":
		return rest.WithScope(value), true, nil
	case "oauth2-server-uri":
		u, err := url.Parse(value)
		if err != nil {
			return nil, false, fmt.Errorf("%w: rest_props oauth2-server-uri %q: %w", ErrInvalidCatalogOptions,
				redact.URL(value), redact.NewScrubber(redact.URLSecrets(value)...).Error(err))
		}
		return rest.WithAuthURI(u), true, nil
	default:
		return nil, false, nil
	}
}

func openRESTCatalog(ctx context.Context, o CatalogOptions) (catalog.Catalog, error) {
	extra := IOProps(o)
	var opts []rest.Option
	if o.Warehouse != "" {
		opts = append(opts, rest.WithWarehouseLocation(o.Warehouse))
	}
	for k, v := range o.REST.Properties {
		opt, ok, err := restOption(k, v)
		if err != nil {
			return nil, err
		}
		if ok {
			opts = append(opts, opt)
			continue
		}
		extra[k] = v
	}
	if len(extra) > 0 {
		opts = append(opts, rest.WithAdditionalProps(extra))
	}
	cat, err := rest.NewCatalog(ctx, o.Name, o.REST.URI, opts...)
	if err != nil {
		// The client's errors may carry the URI and the credentials.
		secrets := redact.URLSecrets(o.REST.URI)
		for k, v := range o.REST.Properties {
			if redact.SecretKey(k) {
				_, sec, _ := strings.Cut(v, ":")
				secrets = append(secrets, v, sec)
			} else if strings.Contains(v, "://") {
				secrets = append(secrets, redact.URLSecrets(v)...)
			}
		}
		return nil, fmt.Errorf("open rest catalog %s at %s: %w", o.Name, redact.URL(o.REST.URI),
			redact.NewScrubber(secrets...).Error(err))
	}
	return cat, nil
}

// CreateCatalog is what EnsureTable needs of a catalog. Every
// catalog.Catalog is one.
type CreateCatalog interface {
	LoadTable(ctx context.Context, ident icebergtable.Identifier) (*icebergtable.Table, error)
	CheckNamespaceExists(ctx context.Context, ns icebergtable.Identifier) (bool, error)
	CreateNamespace(ctx context.Context, ns icebergtable.Identifier, props iceberg.Properties) error
	CreateTable(ctx context.Context, ident icebergtable.Identifier, sch *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error)
}

// EnsureTable loads ident, or creates its namespace and the table on first
// use. It is safe against concurrent creators: whoever loses the race loads
// the winner's table. Catalogs opened by OpenCatalog with a warehouse place
// the table at <warehouse>/<ns>/<table>; a REST server chooses its own
// location. An existing table is returned as is, even if its schema
// differs from sch: evolution is the caller's decision. A created table
// gets DefaultTableProperties under props.
func EnsureTable(ctx context.Context, cat CreateCatalog, ident icebergtable.Identifier, sch *iceberg.Schema, props iceberg.Properties, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error) {
	name := strings.Join(ident, ".")
	tbl, err := cat.LoadTable(ctx, ident)
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, catalog.ErrNoSuchTable) && !errors.Is(err, catalog.ErrNoSuchNamespace) {
		return nil, fmt.Errorf("ensure table %s: load: %w", name, err)
	}
	ns := catalog.NamespaceFromIdent(ident)
	if len(ns) == 0 {
		return nil, fmt.Errorf("ensure table %s: %w: identifier needs a namespace", name, catalog.ErrInvalidIdentifier)
	}
	exists, err := cat.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("ensure table %s: check namespace: %w", name, err)
	}
	if !exists {
		err := cat.CreateNamespace(ctx, ns, nil)
		if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return nil, fmt.Errorf("ensure table %s: create namespace: %w", name, err)
		}
	}
	tbl, err = cat.CreateTable(ctx, ident, sch, append([]catalog.CreateTableOpt{catalog.WithProperties(withDefaultProperties(props))}, opts...)...)
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, catalog.ErrTableAlreadyExists) {
		return nil, fmt.Errorf("ensure table %s: create: %w", name, err)
	}
	tbl, err = cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("ensure table %s: load after concurrent create: %w", name, err)
	}
	return tbl, nil
}

// sqlCatalog adapts iceberg-go's SQL catalog to Big Father's contract:
//   - a failed commit requirement wraps icebergtable.ErrCommitFailed (the
//     SQL catalog returns it bare, which callers would have to treat as an
//     unknown outcome);
//   - tables default to <warehouse>/<ns>/<table>, like the object-store
//     catalog, instead of <warehouse>/<ns>.db/<table>;
//   - tables it returns commit through the adapter, not the inner catalog.
//
// Every other method, including Close and PurgeTable, is the inner one.
type sqlCatalog struct {
	*sqlcat.Catalog
	db        *sql.DB
	warehouse string
	ioProps   iceberg.Properties
}

// Close releases the inner catalog and the database handle it was given.
func (c *sqlCatalog) Close() error {
	return errors.Join(c.Catalog.Close(), c.db.Close())
}

func (c *sqlCatalog) rebind(t *icebergtable.Table) *icebergtable.Table {
	return c.tableAt(t.Identifier(), t.Metadata(), t.MetadataLocation())
}

// tableAt binds committed metadata to a table of this adapter.
func (c *sqlCatalog) tableAt(ident icebergtable.Identifier, meta icebergtable.Metadata, loc string) *icebergtable.Table {
	return icebergtable.New(ident, meta, loc, icebergio.LoadFSFunc(c.ioProps, loc), c)
}

// CreateTable creates the table at <warehouse>/<ns>/<table> unless a
// location is given.
func (c *sqlCatalog) CreateTable(ctx context.Context, ident icebergtable.Identifier, sc *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error) {
	var cfg catalog.CreateTableCfg
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.Location == "" && len(ident) >= 2 {
		opts = append(opts, catalog.WithLocation(strings.TrimRight(c.warehouse, "/")+"/"+strings.Join(ident, "/")))
	}
	t, err := c.Catalog.CreateTable(ctx, ident, sc, opts...)
	if err != nil {
		return nil, err
	}
	return c.rebind(t), nil
}

// LoadTable loads the table bound to this adapter.
func (c *sqlCatalog) LoadTable(ctx context.Context, ident icebergtable.Identifier) (*icebergtable.Table, error) {
	t, err := c.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return c.rebind(t), nil
}

// RenameTable renames and returns the table bound to this adapter.
func (c *sqlCatalog) RenameTable(ctx context.Context, from, to icebergtable.Identifier) (*icebergtable.Table, error) {
	t, err := c.Catalog.RenameTable(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return c.rebind(t), nil
}

// CommitTable commits through the SQL catalog with each requirement's
// failure marked as a clean conflict. The SQL catalog validates
// requirements before writing anything, so such a failure never hides a
// commit that happened. The requirements a Committer puts in ctx
// (idle.go) are checked with the others. The metadata returned is detached from the
// transaction (detachMetadata), so committed tables do not keep each
// other alive.
func (c *sqlCatalog) CommitTable(ctx context.Context, ident icebergtable.Identifier, reqs []icebergtable.Requirement, updates []icebergtable.Update) (icebergtable.Metadata, string, error) {
	reqs = expectedRequirements(ctx, reqs)
	wrapped := make([]icebergtable.Requirement, len(reqs))
	for i, r := range reqs {
		wrapped[i] = conflictRequirement{r}
	}
	meta, loc, err := c.Catalog.CommitTable(ctx, ident, wrapped, updates)
	if err != nil {
		return meta, loc, err
	}
	return detachMetadata(meta), loc, nil
}

// conflictRequirement makes a requirement's failure wrap ErrCommitFailed.
type conflictRequirement struct{ icebergtable.Requirement }

func (r conflictRequirement) Validate(meta icebergtable.Metadata) error {
	if err := r.Requirement.Validate(meta); err != nil {
		return fmt.Errorf("%w: %w", icebergtable.ErrCommitFailed, err)
	}
	return nil
}
