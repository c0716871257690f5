// Package enrich holds reference data for stream–static lookup joins: a
// CSV, JSON-lines or Parquet file (local or in object storage) or an
// Iceberg table, indexed in memory by a key and refreshed in the
// background.
//
// Every row's added columns are encoded at load time as the Avro binary of
// ["null", T] union fields, so a lookup is a map probe plus an append of
// bytes: it allocates nothing and never blocks on a refresh. A refresh
// builds a complete new index off to the side and swaps it in atomically;
// readers see the old rows or the new ones, never a mix. A refresh that
// fails — unreadable data, or data that no longer fits the columns the
// lookup was opened with — keeps the old index, logs and is counted.
//
// Keys are matched as text: the key columns' canonical texts joined by a
// 0x00 byte, in the configured key order. The canonical text of a string is
// its bytes, of an integer its base-10 decimal ("-" for negatives, no "+",
// no leading zeros), of a boolean "true" or "false". Floating-point and
// other key types are a load error. A row with a null key column is not
// indexed (Stats.NullKeys). When two rows share a key the last one wins
// (Stats.DuplicateKeys).
//
// Per format:
//
//   - CSV: a header row is required (RFC 4180, a leading UTF-8 BOM is
//     dropped). Values are converted to Column.Type (default string). An
//     empty field is null for every type, strings included, since CSV has
//     no other way to write a null. Numbers may be surrounded by spaces;
//     booleans are what strconv.ParseBool accepts. Key columns are text,
//     unless the key column is also an added column with a type, in which
//     case its values are parsed and canonicalised ("007" as long is "7").
//   - JSON lines: one object per line, blank lines skipped. null and a
//     missing field are null; "" is an empty string. Without a Column.Type
//     the type is inferred from every line: only integral numbers → long,
//     any other number → double, strings → string, booleans → boolean; a
//     mix, an object or an array is a load error naming the line.
//   - Parquet and Iceberg: types come from the data (int8–int32, uint8 and
//     uint16 → int; int64, uint32 and uint64 → long; float32 → float;
//     float64 → double; bool → boolean; string kinds → string). A declared
//     Column.Type must be that type or a lossless widening of it (int → long,
//     float → double).
//
// A local file that is refreshed must be replaced atomically (written
// elsewhere and renamed over), or a refresh may read it half-written.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/objstore"
)

var (
	// ErrInvalidSource is wrapped by every Source validation error; the
	// message names the offending field.
	ErrInvalidSource = errors.New("invalid enrichment source")
	// ErrColumnMismatch is wrapped by load errors where the data lacks a
	// configured column or holds a type that does not fit it.
	ErrColumnMismatch = errors.New("reference data does not fit the configured columns")
)

// Column is one column the lookup adds to each record.
type Column struct {
	// Name is the column in the reference data. Required.
	Name string `yaml:"name"`
	// As is the name of the added field. Default: Name. It must be a valid
	// Avro name.
	As string `yaml:"as"`
	// Type is string, int, long, float, double or boolean. Default: string
	// for CSV; the data's own type for the other formats.
	Type string `yaml:"type"`
}

// Source describes reference data.
type Source struct {
	// Name identifies the source in errors, logs and metrics. Required.
	Name string `yaml:"name"`
	// Location is a local path, a file:// URL, an s3://bucket/key URL or an
	// Iceberg table "iceberg:ns.table". Required.
	Location string `yaml:"location"`
	// Format is csv, jsonl (or ndjson), parquet or iceberg. Default: from
	// the extension (.csv; .jsonl or .ndjson; .parquet) or the iceberg:
	// prefix.
	Format string `yaml:"format"`
	// Key are the key columns, in the order the stream side joins them.
	// Required.
	Key []string `yaml:"key"`
	// Columns are the columns to add, in order. At least one is required.
	Columns []Column `yaml:"columns"`
	// Refresh is the reload interval. Default (0): load once.
	Refresh time.Duration `yaml:"refresh"`
}

// Deps are what Open needs from its environment.
type Deps struct {
	// OpenBucket reaches s3:// locations; the daemon passes objstore.Open
	// with its S3 config. Required for s3:// locations. (file:// and plain
	// paths are read with os, so a missing file never creates directories.)
	OpenBucket func(ctx context.Context, url string) (objstore.Bucket, error)
	// Catalog serves iceberg: locations. Required for them.
	Catalog catalog.Catalog
	// Logger receives load and refresh events. Default: discarded.
	Logger *slog.Logger
	// Now is the clock for Stats.LastRefresh. Default: time.Now.
	Now func() time.Time
	// Registerer, when set, gets the source's metrics (labelled
	// source=Name). Default: none. Two sources with the same name in one
	// registry make Open fail.
	Registerer prometheus.Registerer
}

// Stats describe the current reference data and the lookups served.
type Stats struct {
	Rows          int64     // rows in the index
	Bytes         int64     // approximate memory held by the index
	Hits          int64     // lookups that found a row
	Misses        int64     // lookups that did not
	Refreshes     int64     // successful refreshes by Run (the load in Open is not one)
	RefreshErrors int64     // failed refreshes; the previous data was kept
	LastRefresh   time.Time // when the current data was loaded (an Iceberg refresh finding the same snapshot keeps it)
	DuplicateKeys int64     // rows of the current data overridden by a later row with the same key
	NullKeys      int64     // rows of the current data not indexed because a key column was null
}

// Table is loaded reference data. Lookup and Stats are safe for concurrent
// use with each other and with Run.
type Table struct {
	name   string
	spec   *loadSpec
	fields []*avro.Field
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration

	cur atomic.Pointer[index]
	// Hits and misses are bumped by every lookup on many cores; keeping
	// them on separate cache lines from each other and from cur stops the
	// counters from slowing the index pointer load.
	_             [64]byte
	hits          atomic.Int64
	_             [56]byte
	misses        atomic.Int64
	_             [56]byte
	refreshes     atomic.Int64
	refreshErrors atomic.Int64
}

// Open validates src, resolves its location and loads it once. Every error
// is prefixed with the source's name, and configuration errors wrap
// ErrInvalidSource.
func Open(ctx context.Context, src Source, deps Deps) (*Table, error) {
	spec, err := newLoadSpec(ctx, src, deps)
	if err != nil {
		return nil, fmt.Errorf("enrich %q: %w", src.Name, err)
	}
	t := &Table{name: src.Name, spec: spec, log: deps.Logger, now: deps.Now, every: src.Refresh}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.log = t.log.With("source", src.Name)
	if t.now == nil {
		t.now = time.Now
	}
	start := time.Now()
	idx, err := t.load(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("enrich %q: %w", src.Name, err)
	}
	// From here on the types are fixed: a refresh converts to them and
	// fails if the data no longer fits.
	for i := range spec.cols {
		spec.cols[i].typ = idx.types[i]
	}
	if t.fields, err = avroFields(spec.cols); err != nil {
		return nil, fmt.Errorf("enrich %q: %w", src.Name, err)
	}
	t.cur.Store(idx)
	if deps.Registerer != nil {
		if err := registerMetrics(deps.Registerer, t); err != nil {
			return nil, fmt.Errorf("enrich %q: metrics: %w", src.Name, err)
		}
	}
	t.log.Info("reference data loaded", "location", spec.location, "rows", idx.rows, "bytes", idx.bytes,
		"duration", time.Since(start))
	return t, nil
}

// load reads the data and builds an index, logging duplicate keys once.
// It returns errUnchanged if the data's version is still prev.
func (t *Table) load(ctx context.Context, prev string) (*index, error) {
	idx, err := t.spec.load(ctx, prev)
	if err != nil {
		return nil, err
	}
	idx.loadedAt = t.now()
	if idx.dups > 0 {
		t.log.Warn("duplicate keys in reference data; the last row wins", "location", t.spec.location,
			"duplicates", idx.dups, "example_key", idx.dupExample)
	}
	return idx, nil
}

// Fields are the added columns, each a ["null", T] union with a null
// default, in the configured order. They do not change across refreshes.
func (t *Table) Fields() []*avro.Field { return slices.Clone(t.fields) }

// Lookup appends to dst the Avro binary encoding of the added fields of
// the row whose key is key and reports whether there is one. On a miss dst
// is returned unchanged. It does not allocate beyond growing dst.
func (t *Table) Lookup(dst, key []byte) ([]byte, bool) {
	idx := t.cur.Load()
	sp, ok := idx.m[string(key)]
	if !ok {
		t.misses.Add(1)
		return dst, false
	}
	t.hits.Add(1)
	return append(dst, idx.vals[sp.off:sp.end]...), true
}

// Run reloads the data every Refresh until ctx is done, then returns nil.
// With no Refresh it only waits for ctx. Call it at most once.
func (t *Table) Run(ctx context.Context) error {
	if t.every <= 0 {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.refresh(ctx)
		}
	}
}

// refresh loads a new index and swaps it in, or keeps the old one.
func (t *Table) refresh(ctx context.Context) {
	start := time.Now()
	idx, err := t.load(ctx, t.cur.Load().version)
	if errors.Is(err, errUnchanged) {
		// The Iceberg snapshot we already hold: nothing to rebuild.
		t.refreshes.Add(1)
		t.log.Debug("reference data unchanged", "location", t.spec.location)
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down, not a failure of the data
		}
		t.refreshErrors.Add(1)
		t.log.Error("refresh reference data; keeping the previous data", "location", t.spec.location,
			"err", fmt.Errorf("enrich %q: %w", t.name, err))
		return
	}
	t.cur.Store(idx)
	t.refreshes.Add(1)
	t.log.Debug("reference data refreshed", "location", t.spec.location, "rows", idx.rows, "bytes", idx.bytes,
		"duration", time.Since(start))
}

// Stats returns the counters and the size of the current data.
func (t *Table) Stats() Stats {
	idx := t.cur.Load()
	return Stats{
		Rows:          idx.rows,
		Bytes:         idx.bytes,
		Hits:          t.hits.Load(),
		Misses:        t.misses.Load(),
		Refreshes:     t.refreshes.Load(),
		RefreshErrors: t.refreshErrors.Load(),
		LastRefresh:   idx.loadedAt,
		DuplicateKeys: idx.dups,
		NullKeys:      idx.nullKeys,
	}
}
