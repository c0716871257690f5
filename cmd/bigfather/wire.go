package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/internal/redact"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// env is everything built from one config file.
type env struct {
	cfg    *config.Config
	log    *slog.Logger
	cat    catalog.Catalog
	bucket objstore.Bucket
	opts   ingest.Options // without registry, metrics and hooks
}

// newLogger writes cfg's format and level to w, with scrub's secrets
// replaced in every line.
func newLogger(cfg config.Log, w io.Writer, scrub *redact.Scrubber) *slog.Logger {
	ho := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler = slog.NewTextHandler(w, ho)
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, ho)
	}
	return slog.New(redact.Handler(h, scrub))
}

func catalogOptions(cfg *config.Config) table.CatalogOptions {
	return table.CatalogOptions{
		CatalogConfig: cfg.Catalog,
		Warehouse:     cfg.Warehouse.URL,
		S3:            cfg.Warehouse.S3,
	}
}

// newEnv opens the catalog and the warehouse named by cfg.
func newEnv(ctx context.Context, cfg *config.Config, log *slog.Logger) (*env, error) {
	e := &env{cfg: cfg, log: log}
	var err error
	if e.bucket, err = cfg.Warehouse.Open(ctx); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	if e.cat, err = table.OpenCatalog(ctx, catalogOptions(cfg)); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	e.opts = ingest.Options{
		Pipeline:        cfg.Pipeline,
		DataFile:        cfg.Parquet.DataFileOptions(),
		MemoryBudget:    int64(cfg.MemoryBudget),
		ShutdownTimeout: cfg.ShutdownTimeout,
		Catalog:         e.cat,
		Warehouse:       e.bucket,
		Logger:          log,
	}
	if err := e.opts.Apply(cfg.Kafka, cfg.Flush, cfg.Quarantine, cfg.Validation, cfg.Routing); err != nil {
		return nil, err
	}
	if e.opts.Tables, e.opts.JSON, err = tableOptions(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// pipelineOptions completes the ingest options with a registry client,
// a metrics registry, the crash-point hook and the tables' transform
// chains, with the reference data their enrich steps join (loaded now;
// the caller runs their refresh loops).
func (e *env) pipelineOptions(ctx context.Context, reg prometheus.Registerer) (ingest.Options, []*enrich.Table, error) {
	lookups, err := e.openLookups(ctx, reg)
	if err != nil {
		return ingest.Options{}, nil, err
	}
	byName := map[string]transform.Lookup{}
	for i, l := range lookups {
		byName[e.cfg.Enrichment[i].Name] = l
	}
	o := e.opts
	o.Tables = slices.Clone(o.Tables)
	for i, t := range e.cfg.Tables {
		p := fmt.Sprintf("config: tables[%d]", i)
		steps, err := chainSteps(t, p, byName)
		if err != nil {
			return ingest.Options{}, nil, err
		}
		if len(steps) == 0 {
			continue
		}
		if o.Tables[i].Transforms, err = transform.CompileTransforms(steps); err != nil {
			return ingest.Options{}, nil, fmt.Errorf("%s.transforms: %w", p, err)
		}
	}
	for i, t := range o.Tables {
		if err := e.checkPartitionBy(ctx, t); err != nil {
			return ingest.Options{}, nil, fmt.Errorf("config: tables[%d].partition_by: %w", i, err)
		}
	}
	registry, err := e.cfg.SchemaRegistry.Open(e.log)
	if err != nil {
		return ingest.Options{}, nil, err
	}
	o.Registry = registry
	o.SubjectNameStrategy = e.cfg.SchemaRegistry.SubjectNameStrategy
	o.Registerer = reg
	o.Hooks.At = crashHook(os.Getenv("BIGFATHER_CRASH_AT"), e.log)
	return o, lookups, nil
}

// checkPartitionBy refuses partition_by terms that name a column the
// table cannot have, when its columns are known before any record: the
// table exists, or its topic's schema is declared (format json, through
// the transform chain). Otherwise the first record's schema decides, and
// a misfit halts the partition then.
func (e *env) checkPartitionBy(ctx context.Context, t ingest.TableOptions) error {
	if len(t.PartitionBy) == 0 {
		return nil
	}
	name := strings.Join(t.ID, ".")
	if tbl, err := e.cat.LoadTable(ctx, t.ID); err == nil {
		if _, err := table.ParsePartitionSpec(tbl.Schema(), t.PartitionBy); err != nil {
			return fmt.Errorf("does not fit the columns of the existing table %s: %w", name, err)
		}
		return nil
	}
	var declared *registry.JSONRecords
	for _, topic := range t.Topics {
		if declared = e.opts.JSON[topic]; declared != nil {
			break
		}
	}
	if declared == nil {
		return nil
	}
	avroSchema := declared.Schema()
	if t.Transforms != nil {
		prog, err := t.Transforms.Bind(avroSchema)
		if err != nil {
			return nil // a chain that does not fit is reported by ingest.New
		}
		avroSchema = prog.Schema()
	}
	sch, err := schema.ToIceberg(avroSchema)
	if err != nil {
		return nil // reported when the first record creates the table
	}
	if _, err := table.ParsePartitionSpec(sch, t.PartitionBy); err != nil {
		return fmt.Errorf("does not fit the declared value_schema of %s (after its transforms): %w", name, err)
	}
	return nil
}

// crashHook implements BIGFATHER_CRASH_AT=point[:n] for crash tests: the
// process kills itself with SIGKILL the n-th time (default 1st) it reaches
// the named point, so no deferred code or shutdown path runs.
func crashHook(spec string, log *slog.Logger) func(string) {
	if spec == "" {
		return nil
	}
	point, nth := spec, int64(1)
	if p, n, ok := strings.Cut(spec, ":"); ok {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > 0 {
			point, nth = p, v
		}
	}
	var hits atomic.Int64
	return func(at string) {
		if at != point || hits.Add(1) != nth {
			return
		}
		log.Warn("crash point reached, killing process", "point", at)
		syscall.Kill(os.Getpid(), syscall.SIGKILL) //nolint:errcheck // the process does not outlive this call
		select {}
	}
}

// tableOptions builds the pipeline's tables from the config, compiling
// every expression, so that one that does not compile stops the start,
// naming the table entry, the rule and the position in its expression.
func tableOptions(cfg *config.Config) ([]ingest.TableOptions, map[string]*registry.JSONRecords, error) {
	var out []ingest.TableOptions
	jsonTopics := map[string]*registry.JSONRecords{}
	for i, t := range cfg.Tables {
		p := fmt.Sprintf("config: tables[%d]", i)
		ns, name := t.Split()
		o := ingest.TableOptions{
			ID:          append(append(icebergtable.Identifier{}, ns...), name),
			Topics:      t.AllTopics(),
			PartitionBy: t.PartitionBy,
		}
		if t.Rejects != "" {
			ns, name := t.SplitRejects()
			o.Rejects = append(append(icebergtable.Identifier{}, ns...), name)
		}
		for k, pat := range t.TopicPatterns {
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return nil, nil, fmt.Errorf("%s.topic_patterns[%d]: %w", p, k, err)
			}
			o.TopicPatterns = append(o.TopicPatterns, re)
		}
		var err error
		if o.Rules, err = compileRules(t.Rules); err != nil {
			return nil, nil, fmt.Errorf("%s.rules: %w", p, err)
		}
		if o.Filter, err = compileOne("filter", t.Filter); err != nil {
			return nil, nil, fmt.Errorf("%s.filter: %w", p, err)
		}
		if o.Route, err = compileOne("route", t.Route.Expr()); err != nil {
			return nil, nil, fmt.Errorf("%s.route: %w", p, err)
		}
		if t.Format == ingest.FormatJSON {
			j, err := registry.NewJSONRecords(t.ValueSchema)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.value_schema: %w", p, err)
			}
			for _, topic := range t.AllTopics() {
				jsonTopics[topic] = j
			}
		}
		out = append(out, o)
	}
	return out, jsonTopics, nil
}

// compileRules compiles a table's validation rules (nil: none).
func compileRules(specs []rules.Rule) (*rules.Rules, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	return rules.CompileRules(specs)
}

// compileOne compiles expr as a one-rule set named name (nil when empty).
func compileOne(name, expr string) (*rules.Rules, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	return rules.CompileRules([]rules.Rule{{Name: name, Expr: expr}})
}

// chainSteps turns a table's transforms, then its cleanse steps, into
// transform steps, reading hash keys from the environment (never from the
// file, never logged) and binding enrich steps to their lookups.
func chainSteps(t ingest.TableRoute, p string, lookups map[string]transform.Lookup) ([]transform.Transform, error) {
	key := func(path, env string) ([]byte, error) {
		if env == "" {
			return nil, nil
		}
		k := os.Getenv(env)
		if k == "" {
			return nil, fmt.Errorf("%s.key_env: environment variable %s is not set or empty", path, env)
		}
		return []byte(k), nil
	}
	var out []transform.Transform
	for j, st := range t.Transforms {
		if len(st.Defaults) == 0 {
			// "defaults: {}" in the file sets nothing, as for every op.
			st.Defaults = nil
		}
		if st.LookupName != "" {
			st.Lookup = lookups[st.LookupName]
		}
		var err error
		if st.Key, err = key(fmt.Sprintf("%s.transforms[%d]", p, j), st.KeyEnv); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	for j, c := range t.Cleanse {
		st := c.Step()
		var err error
		if st.Key, err = key(fmt.Sprintf("%s.cleanse[%d]", p, j), st.KeyEnv); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// openLookups loads every enrichment source, failing the start on the
// first that cannot be loaded; their refresh loops are started by the
// caller (enrich.Table.Run).
func (e *env) openLookups(ctx context.Context, reg prometheus.Registerer) ([]*enrich.Table, error) {
	var out []*enrich.Table
	for i, src := range e.cfg.Enrichment {
		t, err := enrich.Open(ctx, src, enrich.Deps{
			OpenBucket: func(ctx context.Context, url string) (objstore.Bucket, error) {
				return objstore.Open(ctx, url, e.cfg.Warehouse.S3)
			},
			Catalog:    e.cat,
			Logger:     e.log,
			Registerer: reg,
		})
		if err != nil {
			return nil, fmt.Errorf("config: enrichment[%d]: %w", i, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// openToolEnv loads the config of a one-shot command (verify, inspect,
// query) and opens its environment, logging at WARN to stderr. Errors may
// embed a URL or DSN with its password (a driver's parse error, a
// client's request error), so the error returned here is scrubbed, and
// the caller passes its own through the scrubber returned.
func openToolEnv(ctx context.Context, cf *configFlags, stderr io.Writer) (*env, *redact.Scrubber, error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, nil, err
	}
	scrub := redact.NewScrubber(cfg.Secrets()...)
	e, err := newEnv(ctx, cfg, newLogger(config.Log{Level: "warn"}, stderr, scrub))
	if err != nil {
		return nil, nil, scrub.Error(err)
	}
	return e, scrub, nil
}
