package table

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
)

// ObjectStoreCatalogType is what ObjectStoreCatalog.CatalogType returns.
const ObjectStoreCatalogType catalog.Type = "objectstore"

// Object-store catalog layout, relative to the warehouse bucket:
//
//	<ns>/.namespace.json                       namespace marker and properties
//	<ns>/<table>/metadata/v<N>.metadata.json   table metadata, N = 1, 2, 3, ...
//	<ns>/<table>/metadata/version-hint.text    last N written (a hint only)
//	.catalog/namespaces/<ns>                   listing index of namespaces
//	.catalog/tables/<ns>/<table>               listing index of tables
//
// A multi-level namespace a.b is the directory a/b. The listing indexes
// exist because Bucket.List has no delimiter: finding tables by listing a
// namespace directory would walk every data file of every table in it.
// They are written before, and removed after, the objects they index, so
// an index entry can be stale but never missing; listings skip stale ones.
const (
	namespaceMarker  = ".namespace.json"
	indexNamespaces  = ".catalog/namespaces/"
	indexTables      = ".catalog/tables/"
	versionHintName  = "version-hint.text"
	metadataDirName  = "metadata"
	maxLoadAttempts  = 3
	metadataFileTail = ".metadata.json"
)

// ObjectStoreCatalog is an Iceberg catalog kept entirely in object storage.
// Commits are atomic because each new metadata version vN+1 is created
// with Bucket.PutIfAbsent (S3 If-None-Match, an exclusive link on disk):
// of two writers that read the same vN, exactly one creates vN+1 and the
// other gets icebergtable.ErrCommitFailed.
type ObjectStoreCatalog struct {
	name  string
	b     objstore.Bucket
	props iceberg.Properties
	log   *slog.Logger
}

var _ catalog.Catalog = (*ObjectStoreCatalog)(nil)

// ObjectStoreOption configures an ObjectStoreCatalog.
type ObjectStoreOption func(*ObjectStoreCatalog)

// WithObjectStoreLogger sets the logger for best-effort failures (such as
// a version hint that could not be written). Default: discard.
func WithObjectStoreLogger(l *slog.Logger) ObjectStoreOption {
	return func(c *ObjectStoreCatalog) { c.log = l }
}

// NewObjectStoreCatalog returns a catalog whose warehouse is b. props are
// the iceberg-go IO properties (see IOProps) that tables loaded from it use
// to read and write manifests and data under the same warehouse.
func NewObjectStoreCatalog(name string, b objstore.Bucket, props iceberg.Properties, opts ...ObjectStoreOption) *ObjectStoreCatalog {
	c := &ObjectStoreCatalog{name: name, b: b, props: maps.Clone(props)}
	if c.props == nil {
		c.props = iceberg.Properties{}
	}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Name returns the catalog name.
func (c *ObjectStoreCatalog) Name() string { return c.name }

// CatalogType returns ObjectStoreCatalogType.
func (c *ObjectStoreCatalog) CatalogType() catalog.Type { return ObjectStoreCatalogType }

// validateComponents rejects identifier parts that would not map to one
// path segment, or that could collide with the catalog's own objects
// (names starting with ".").
func validateComponents(ident icebergtable.Identifier, what string) error {
	if len(ident) == 0 {
		return fmt.Errorf("%w: empty %s", catalog.ErrInvalidIdentifier, what)
	}
	for _, p := range ident {
		if p == "" || strings.HasPrefix(p, ".") || strings.ContainsAny(p, `/\`) ||
			strings.ContainsFunc(p, unicode.IsControl) {
			return fmt.Errorf("%w: %s %q: component %q must be non-empty, not start with '.', and contain no slash or control character",
				catalog.ErrInvalidIdentifier, what, strings.Join(ident, "."), p)
		}
	}
	return nil
}

func validateTableIdent(ident icebergtable.Identifier) error {
	if len(ident) < 2 {
		return fmt.Errorf("%w: table %q needs a namespace and a name", catalog.ErrInvalidIdentifier, strings.Join(ident, "."))
	}
	return validateComponents(ident, "table")
}

// encodeNamespace turns a namespace into one key segment for the listing
// index: components are path-escaped with '.' escaped too, then joined
// with '.', so decoding is unambiguous.
func encodeNamespace(ns icebergtable.Identifier) string {
	parts := make([]string, len(ns))
	for i, p := range ns {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), ".", "%2E")
	}
	return strings.Join(parts, ".")
}

func decodeNamespace(s string) (icebergtable.Identifier, error) {
	parts := strings.Split(s, ".")
	ns := make(icebergtable.Identifier, len(parts))
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("decode namespace index entry %q: %w", s, err)
		}
		ns[i] = v
	}
	return ns, nil
}

func namespaceDir(ns icebergtable.Identifier) string { return strings.Join(ns, "/") }

func tableDir(ident icebergtable.Identifier) string { return strings.Join(ident, "/") }

func metadataKey(ident icebergtable.Identifier, version int) string {
	return tableDir(ident) + "/" + metadataDirName + "/v" + strconv.Itoa(version) + metadataFileTail
}

func tableIndexKey(ident icebergtable.Identifier) string {
	return indexTables + encodeNamespace(catalog.NamespaceFromIdent(ident)) + "/" + catalog.TableNameFromIdent(ident)
}

// parseVersion returns N for a key ending in "/v<N>.metadata.json".
func parseVersion(key string) (int, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	digits, ok := strings.CutPrefix(name, "v")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, metadataFileTail)
	if !ok || digits == "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

func (c *ObjectStoreCatalog) readAll(ctx context.Context, key string) ([]byte, error) {
	rc, err := c.b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

func (c *ObjectStoreCatalog) exists(ctx context.Context, key string) (bool, error) {
	rc, err := c.b.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, rc.Close()
}

// listVersions returns every metadata version of ident, ascending.
func (c *ObjectStoreCatalog) listVersions(ctx context.Context, ident icebergtable.Identifier) ([]int, error) {
	var versions []int
	prefix := tableDir(ident) + "/" + metadataDirName + "/v"
	err := c.b.List(ctx, prefix, func(o objstore.Object) error {
		if n, ok := parseVersion(o.Key); ok && !strings.Contains(o.Key[len(prefix):], "/") {
			versions = append(versions, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list metadata versions of %s: %w", strings.Join(ident, "."), err)
	}
	slices.Sort(versions)
	return versions, nil
}

// currentVersion returns the highest metadata version of ident, 0 if the
// table does not exist. Versions are created strictly in sequence (vN+1
// only after reading vN) and only old ones are ever deleted (a stale
// writer's re-creation of a deleted one is removed again before its hint
// is written: checkNotSuperseded), so the existing versions form a
// contiguous range. That makes the hint safe to
// start from: if v<hint> exists, probing upward until a version is missing
// finds the highest. The hint is never trusted on its own; when it is
// missing, unreadable or names a deleted version, the metadata directory
// is listed.
func (c *ObjectStoreCatalog) currentVersion(ctx context.Context, ident icebergtable.Identifier) (int, error) {
	if hint := c.readHint(ctx, ident); hint > 0 {
		ok, err := c.exists(ctx, metadataKey(ident, hint))
		if err != nil {
			return 0, fmt.Errorf("probe metadata of %s: %w", strings.Join(ident, "."), err)
		}
		if ok {
			n := hint
			for {
				next, err := c.exists(ctx, metadataKey(ident, n+1))
				if err != nil {
					return 0, fmt.Errorf("probe metadata of %s: %w", strings.Join(ident, "."), err)
				}
				if !next {
					return n, nil
				}
				n++
			}
		}
	}
	versions, err := c.listVersions(ctx, ident)
	if err != nil || len(versions) == 0 {
		return 0, err
	}
	return versions[len(versions)-1], nil
}

func (c *ObjectStoreCatalog) readHint(ctx context.Context, ident icebergtable.Identifier) int {
	data, err := c.readAll(ctx, tableDir(ident)+"/"+metadataDirName+"/"+versionHintName)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// writeHint records version as the latest. Failure only costs the next
// reader a listing, so it is logged, not returned.
func (c *ObjectStoreCatalog) writeHint(ctx context.Context, ident icebergtable.Identifier, version int) {
	key := tableDir(ident) + "/" + metadataDirName + "/" + versionHintName
	if err := c.b.Upload(ctx, key, strings.NewReader(strconv.Itoa(version))); err != nil {
		c.log.Warn("write catalog version hint", "table", strings.Join(ident, "."), "version", version, "err", err)
	}
}

// loadCurrent returns the current version of ident and its metadata, or
// version 0 if the table does not exist.
func (c *ObjectStoreCatalog) loadCurrent(ctx context.Context, ident icebergtable.Identifier) (int, icebergtable.Metadata, error) {
	var lastErr error
	// vN can vanish between finding and reading it only if the table is
	// dropped or its old versions are being cleaned; look again.
	for range maxLoadAttempts {
		n, err := c.currentVersion(ctx, ident)
		if err != nil || n == 0 {
			return 0, nil, err
		}
		data, err := c.readAll(ctx, metadataKey(ident, n))
		if errors.Is(err, objstore.ErrNotExist) {
			lastErr = err
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read metadata v%d of %s: %w", n, strings.Join(ident, "."), err)
		}
		meta, err := icebergtable.ParseMetadataBytes(data)
		if err != nil {
			return 0, nil, fmt.Errorf("parse metadata v%d of %s: %w", n, strings.Join(ident, "."), err)
		}
		return n, meta, nil
	}
	return 0, nil, fmt.Errorf("load %s: current metadata kept disappearing: %w", strings.Join(ident, "."), lastErr)
}

func (c *ObjectStoreCatalog) newTable(ident icebergtable.Identifier, meta icebergtable.Metadata, version int) *icebergtable.Table {
	return c.tableAt(ident, meta, c.b.URL(metadataKey(ident, version)))
}

// tableAt binds committed metadata to a table of this catalog.
func (c *ObjectStoreCatalog) tableAt(ident icebergtable.Identifier, meta icebergtable.Metadata, loc string) *icebergtable.Table {
	return icebergtable.New(ident, meta, loc, icebergio.LoadFSFunc(c.props, loc), c)
}

// LoadTable returns the table at its highest metadata version.
func (c *ObjectStoreCatalog) LoadTable(ctx context.Context, ident icebergtable.Identifier) (*icebergtable.Table, error) {
	if err := validateTableIdent(ident); err != nil {
		return nil, err
	}
	n, meta, err := c.loadCurrent(ctx, ident)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNoSuchTable, strings.Join(ident, "."))
	}
	return c.newTable(ident, meta, n), nil
}

// CheckTableExists reports whether ident has any metadata version.
func (c *ObjectStoreCatalog) CheckTableExists(ctx context.Context, ident icebergtable.Identifier) (bool, error) {
	if err := validateTableIdent(ident); err != nil {
		return false, err
	}
	n, err := c.currentVersion(ctx, ident)
	return n > 0, err
}

// CreateTable writes v1 of a new table at <warehouse>/<ns>/<table>.
func (c *ObjectStoreCatalog) CreateTable(ctx context.Context, ident icebergtable.Identifier, sc *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error) {
	if err := validateTableIdent(ident); err != nil {
		return nil, err
	}
	name := strings.Join(ident, ".")
	cfg := catalog.NewCreateTableCfg()
	for _, o := range opts {
		o(&cfg)
	}
	ns := catalog.NamespaceFromIdent(ident)
	if ok, err := c.CheckNamespaceExists(ctx, ns); err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	} else if !ok {
		return nil, fmt.Errorf("create table %s: %w: %s", name, catalog.ErrNoSuchNamespace, strings.Join(ns, "."))
	}
	loc := c.b.URL(tableDir(ident))
	if cfg.Location != "" && cfg.Location != loc {
		return nil, fmt.Errorf("create table %s: location %q: the objectstore catalog keeps every table at %q",
			name, cfg.Location, loc)
	}
	// A half-dropped table still has its newest versions; writing v1 next
	// to them would not make a new table current.
	if n, err := c.currentVersion(ctx, ident); err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	} else if n > 0 {
		return nil, fmt.Errorf("%w: %s", catalog.ErrTableAlreadyExists, name)
	}
	meta, err := icebergtable.NewMetadata(sc, cfg.PartitionSpec, cfg.SortOrder, loc, cfg.Properties)
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("create table %s: encode metadata: %w", name, err)
	}
	if err := c.b.Upload(ctx, tableIndexKey(ident), strings.NewReader("")); err != nil {
		return nil, fmt.Errorf("create table %s: write listing index: %w", name, err)
	}
	err = c.b.PutIfAbsent(ctx, metadataKey(ident, 1), bytes.NewReader(data))
	if errors.Is(err, objstore.ErrExists) {
		return nil, fmt.Errorf("%w: %s", catalog.ErrTableAlreadyExists, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create table %s: write metadata v1: %w", name, err)
	}
	c.writeHint(ctx, ident, 1)
	return c.newTable(ident, meta, 1), nil
}

func hasAssertCreate(reqs []icebergtable.Requirement) bool {
	return slices.ContainsFunc(reqs, func(r icebergtable.Requirement) bool { return r.GetType() == "assert-create" })
}

// CommitTable validates reqs against the current metadata, applies
// updates, and creates the next metadata version with PutIfAbsent.
//
// Errors: a failed requirement, or another writer creating the same
// version first, wraps icebergtable.ErrCommitFailed (nothing was written:
// reload and retry). Any error from the write itself does not, because the
// write may have happened: the outcome is unknown and the caller must
// reload to find out. ErrExists is trusted to mean another writer's
// version because Bucket.PutIfAbsent never reports its own applied attempt
// as ErrExists: the S3 SDK retries a PUT whose response was lost, and
// objstore.S3 reads the object back before calling such a retry's 412 a
// conflict (issue 11: calling it one fenced batches that were committed).
func (c *ObjectStoreCatalog) CommitTable(ctx context.Context, ident icebergtable.Identifier, reqs []icebergtable.Requirement, updates []icebergtable.Update) (icebergtable.Metadata, string, error) {
	if err := validateTableIdent(ident); err != nil {
		return nil, "", err
	}
	name := strings.Join(ident, ".")
	reqs = expectedRequirements(ctx, reqs) // a Committer's (idle.go)
	n, base, err := c.loadCurrent(ctx, ident)
	if err != nil {
		return nil, "", fmt.Errorf("commit %s: %w", name, err)
	}
	baseLoc := ""
	if n == 0 {
		// Create-through-commit (iceberg-go's staged create) carries an
		// assert-create requirement; anything else needs the table.
		if !hasAssertCreate(reqs) {
			return nil, "", fmt.Errorf("commit %s: %w", name, catalog.ErrNoSuchTable)
		}
		ns := catalog.NamespaceFromIdent(ident)
		if ok, err := c.CheckNamespaceExists(ctx, ns); err != nil {
			return nil, "", fmt.Errorf("commit %s: %w", name, err)
		} else if !ok {
			return nil, "", fmt.Errorf("commit %s: %w: %s", name, catalog.ErrNoSuchNamespace, strings.Join(ns, "."))
		}
	} else {
		baseLoc = c.b.URL(metadataKey(ident, n))
	}
	for _, r := range reqs {
		if err := r.Validate(base); err != nil {
			return nil, "", fmt.Errorf("commit %s at v%d: %w: %w", name, n, icebergtable.ErrCommitFailed, err)
		}
	}
	if base == nil {
		if base, err = icebergtable.NewMetadata(iceberg.NewSchema(0), nil, icebergtable.UnsortedSortOrder, "", nil); err != nil {
			return nil, "", fmt.Errorf("commit %s: empty base metadata: %w", name, err)
		}
	}
	updated, err := icebergtable.UpdateTableMetadata(base, updates, baseLoc)
	if err != nil {
		return nil, "", fmt.Errorf("commit %s: apply updates: %w", name, err)
	}
	if want := c.b.URL(tableDir(ident)); updated.Location() != want {
		return nil, "", fmt.Errorf("commit %s: location %q: the objectstore catalog keeps every table at %q",
			name, updated.Location(), want)
	}
	if n > 0 && updated.Equals(base) {
		return base, baseLoc, nil
	}
	data, err := json.Marshal(updated)
	if err != nil {
		return nil, "", fmt.Errorf("commit %s: encode metadata: %w", name, err)
	}
	if n == 0 {
		if err := c.b.Upload(ctx, tableIndexKey(ident), strings.NewReader("")); err != nil {
			return nil, "", fmt.Errorf("commit %s: write listing index: %w", name, err)
		}
	}
	key := metadataKey(ident, n+1)
	err = c.b.PutIfAbsent(ctx, key, bytes.NewReader(data))
	if errors.Is(err, objstore.ErrExists) {
		return nil, "", fmt.Errorf("commit %s: %w: metadata v%d was created by a concurrent commit", name, icebergtable.ErrCommitFailed, n+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("commit %s: write metadata v%d (outcome unknown): %w", name, n+1, err)
	}
	if err := c.checkNotSuperseded(ctx, ident, n+1, updated); err != nil {
		return nil, "", fmt.Errorf("commit %s: %w", name, err)
	}
	c.writeHint(ctx, ident, n+1)
	// Detached so that committed tables do not keep each other alive.
	return detachMetadata(updated), c.b.URL(key), nil
}

// DropTable deletes the table's metadata versions, oldest first so that
// readers see the current version until the very end, then its hint and
// index entry. Manifests and data files are left for orphan cleanup.
func (c *ObjectStoreCatalog) DropTable(ctx context.Context, ident icebergtable.Identifier) error {
	if err := validateTableIdent(ident); err != nil {
		return err
	}
	name := strings.Join(ident, ".")
	versions, err := c.listVersions(ctx, ident)
	if err != nil {
		return fmt.Errorf("drop table %s: %w", name, err)
	}
	if len(versions) == 0 {
		return fmt.Errorf("drop table %s: %w", name, catalog.ErrNoSuchTable)
	}
	keys := make([]string, 0, len(versions)+2)
	for _, v := range versions {
		keys = append(keys, metadataKey(ident, v))
	}
	keys = append(keys, tableDir(ident)+"/"+metadataDirName+"/"+versionHintName, tableIndexKey(ident))
	for _, k := range keys {
		if err := c.b.Delete(ctx, k); err != nil {
			return fmt.Errorf("drop table %s: %w", name, err)
		}
	}
	return nil
}

// RenameTable always fails with errors.ErrUnsupported: a rename would copy
// the metadata to a new key and delete the old one, and object stores
// cannot do that atomically, so a concurrent commit could be lost.
func (c *ObjectStoreCatalog) RenameTable(_ context.Context, from, to icebergtable.Identifier) (*icebergtable.Table, error) {
	return nil, fmt.Errorf("rename table %s to %s: %w: object stores have no atomic rename, so the objectstore catalog cannot rename without risking lost commits",
		strings.Join(from, "."), strings.Join(to, "."), errors.ErrUnsupported)
}

// ListTables lists the tables of namespace ns in key order.
func (c *ObjectStoreCatalog) ListTables(ctx context.Context, ns icebergtable.Identifier) iter.Seq2[icebergtable.Identifier, error] {
	return func(yield func(icebergtable.Identifier, error) bool) {
		idents, err := c.listTables(ctx, ns)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, id := range idents {
			if !yield(id, nil) {
				return
			}
		}
	}
}

func (c *ObjectStoreCatalog) listTables(ctx context.Context, ns icebergtable.Identifier) ([]icebergtable.Identifier, error) {
	if err := validateComponents(ns, "namespace"); err != nil {
		return nil, err
	}
	nsName := strings.Join(ns, ".")
	if ok, err := c.CheckNamespaceExists(ctx, ns); err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", nsName, err)
	} else if !ok {
		return nil, fmt.Errorf("list tables of %s: %w", nsName, catalog.ErrNoSuchNamespace)
	}
	prefix := indexTables + encodeNamespace(ns) + "/"
	var names []string
	err := c.b.List(ctx, prefix, func(o objstore.Object) error {
		if rest := o.Key[len(prefix):]; rest != "" && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", nsName, err)
	}
	idents := make([]icebergtable.Identifier, 0, len(names))
	for _, n := range names {
		id := append(slices.Clone(ns), n)
		// Skip index entries whose table was never finished or was dropped.
		v, err := c.currentVersion(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", nsName, err)
		}
		if v > 0 {
			idents = append(idents, id)
		}
	}
	return idents, nil
}
