package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

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

func s3Config(cfg *config.Config) objstore.S3Config {
	s := cfg.Warehouse.S3
	return objstore.S3Config{
		Endpoint: s.Endpoint, Region: s.Region, PathStyle: s.PathStyle,
		AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken,
	}
}

func catalogOptions(cfg *config.Config) table.CatalogOptions {
	return table.CatalogOptions{
		Type:      cfg.Catalog.Type,
		Name:      cfg.Catalog.Name,
		SQLDriver: cfg.Catalog.SQL.Driver,
		SQLDSN:    cfg.Catalog.SQL.DSN,
		RESTURI:   cfg.Catalog.REST.URI,
		RESTProps: cfg.Catalog.REST.Properties,
		Warehouse: cfg.Warehouse.URL,
		S3:        s3Config(cfg),
	}
}

// newEnv opens the catalog and the warehouse named by cfg.
func newEnv(ctx context.Context, cfg *config.Config, log *slog.Logger) (*env, error) {
	e := &env{cfg: cfg, log: log}
	var err error
	if e.bucket, err = objstore.Open(ctx, cfg.Warehouse.URL, s3Config(cfg)); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	if e.cat, err = table.OpenCatalog(ctx, catalogOptions(cfg)); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	kt, err := tlsConfig(cfg.Kafka.TLS)
	if err != nil {
		return nil, fmt.Errorf("kafka.tls: %w", err)
	}
	tables, jsonTopics, err := tableOptions(cfg)
	if err != nil {
		return nil, err
	}
	k := cfg.Kafka
	e.opts = ingest.Options{
		Pipeline:           cfg.Pipeline,
		Brokers:            k.Brokers,
		Group:              k.Group,
		ClientID:           k.ClientID,
		TLS:                kt,
		SASL:               saslMechanism(k.SASL),
		StartKind:          k.Start.Kind,
		StartAt:            k.Start.At,
		OnGap:              k.OnGap,
		FetchMaxBytes:      int32(min(int64(k.FetchMaxBytes), 1<<30)),
		Tables:             tables,
		JSON:               jsonTopics,
		Unrouted:           cfg.Routing.Unrouted,
		MetadataMaxAge:     k.MetadataMaxAge,
		MaxOpenFiles:       cfg.Flush.MaxOpenFiles,
		ParallelFiles:      cfg.Flush.ParallelFiles,
		DLQTopic:           cfg.Quarantine.DLQTopic,
		MaxRecordBytes:     int(min(int64(cfg.Validation.MaxRecordBytes), 1<<30)),
		FlushMaxLatency:    cfg.Flush.MaxLatency,
		IdleCommitInterval: cfg.Flush.IdleCommitInterval,
		TargetFileSize:     int64(cfg.Flush.TargetFileSize),
		FlushMaxRecords:    cfg.Flush.MaxRecords,
		DataFile:           dataFileOptions(cfg.Parquet),
		MemoryBudget:       int64(cfg.MemoryBudget),
		ShutdownTimeout:    cfg.ShutdownTimeout,
		KafkaOpts:          groupOpts(k),
		Catalog:            e.cat,
		Warehouse:          e.bucket,
		Logger:             log,
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
	r := e.cfg.SchemaRegistry
	rt, err := tlsConfig(r.TLS)
	if err != nil {
		return ingest.Options{}, nil, fmt.Errorf("schema_registry.tls: %w", err)
	}
	registry, err := registry.NewRegistry(registry.RegistryOptions{
		URL: r.URL, Username: r.Username, Password: r.Password, TLS: rt, Logger: e.log,
	})
	if err != nil {
		return ingest.Options{}, nil, fmt.Errorf("schema_registry: %w", err)
	}
	o.Registry = registry
	o.SubjectNameStrategy = r.SubjectNameStrategy
	o.Registerer = reg
	o.Hooks.At = crashHook(os.Getenv("BIGFATHER_CRASH_AT"), e.log)
	return o, lookups, nil
}

// groupOpts are the consumer group's timeouts and static membership. The
// heartbeat stays at franz-go's 3s unless a shorter session needs a
// third of it, so a member is not timed out between two heartbeats.
func groupOpts(k config.Kafka) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SessionTimeout(k.SessionTimeout),
		kgo.RebalanceTimeout(k.RebalanceTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, k.SessionTimeout/3)),
	}
	if k.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(k.InstanceID))
	}
	return opts
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

func tlsConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in by config
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func saslMechanism(s config.SASL) sasl.Mechanism {
	switch s.Mechanism {
	case config.SASLPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
	case config.SASLSCRAMSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case config.SASLSCRAMSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
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
		if o.Route, err = compileOne("route", routeExpr(t.Route)); err != nil {
			return nil, nil, fmt.Errorf("%s.route: %w", p, err)
		}
		if t.Format == config.FormatJSON {
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
func compileRules(specs []config.Rule) (*rules.Rules, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	rs := make([]rules.Rule, len(specs))
	for j, r := range specs {
		rs[j] = rules.Rule{Name: r.Name, Expr: r.Expr}
	}
	return rules.CompileRules(rs)
}

// compileOne compiles expr as a one-rule set named name (nil when empty).
func compileOne(name, expr string) (*rules.Rules, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	return rules.CompileRules([]rules.Rule{{Name: name, Expr: expr}})
}

// routeExpr is a route condition as a CEL predicate: a field or header
// route compares the value's text with the listed values.
func routeExpr(r config.Route) string {
	quoted := make([]string, len(r.Values))
	for i, v := range r.Values {
		quoted[i] = strconv.Quote(v)
	}
	list := "[" + strings.Join(quoted, ", ") + "]"
	switch {
	case r.Field != "":
		return fmt.Sprintf("has(value.%s) && string(value.%s) in %s", r.Field, r.Field, list)
	case r.Header != "":
		h := strconv.Quote(r.Header)
		return fmt.Sprintf("%s in headers && string(headers[%s]) in %s", h, h, list)
	}
	return r.When
}

// chainSteps turns a table's transforms, then its cleanse steps, into
// transform steps, reading hash keys from the environment (never from the
// file, never logged) and binding enrich steps to their lookups.
func chainSteps(t config.TableRoute, p string, lookups map[string]transform.Lookup) ([]transform.Transform, error) {
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
		path := fmt.Sprintf("%s.transforms[%d]", p, j)
		step := transform.Transform{
			Op: st.Op, Name: st.Name, Columns: st.Columns, Renames: st.Renames, To: st.To, Value: st.Value.V, From: st.From,
			Formats: st.Formats, Zone: st.Zone, KeepLast: st.KeepLast, Column: st.Column, Expr: st.Expr, Type: st.Type,
			Separator: st.Separator, KeyColumns: st.KeyColumns, OnMiss: st.OnMiss,
		}
		if len(st.Defaults) > 0 {
			step.Defaults = make(map[string]any, len(st.Defaults))
			for k, v := range st.Defaults {
				step.Defaults[k] = v.V
			}
		}
		if st.Lookup != "" {
			step.Lookup = lookups[st.Lookup]
		}
		var err error
		if step.Key, err = key(path, st.KeyEnv); err != nil {
			return nil, err
		}
		out = append(out, step)
	}
	for j, st := range t.Cleanse {
		step := transform.Transform{Op: st.Op, Columns: st.Columns, KeepLast: st.KeepLast}
		var err error
		if step.Key, err = key(fmt.Sprintf("%s.cleanse[%d]", p, j), st.KeyEnv); err != nil {
			return nil, err
		}
		out = append(out, step)
	}
	return out, nil
}

// openLookups loads every enrichment source, failing the start on the
// first that cannot be loaded; their refresh loops are started by the
// caller (enrich.Table.Run).
func (e *env) openLookups(ctx context.Context, reg prometheus.Registerer) ([]*enrich.Table, error) {
	var out []*enrich.Table
	for i, src := range e.cfg.Enrichment {
		cols := make([]enrich.Column, len(src.Columns))
		for j, c := range src.Columns {
			cols[j] = enrich.Column{Name: c.Name, As: c.As, Type: c.Type}
		}
		t, err := enrich.Open(ctx, enrich.Source{
			Name: src.Name, Location: src.Location, Format: src.Format, Key: src.Key, Columns: cols, Refresh: src.Refresh,
		}, enrich.Deps{
			OpenBucket: func(ctx context.Context, url string) (objstore.Bucket, error) {
				return objstore.Open(ctx, url, s3Config(e.cfg))
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

// dataFileOptions maps the parquet section onto the data file writer's
// options.
func dataFileOptions(p config.Parquet) table.DataFileOptions {
	o := table.DefaultDataFileOptions()
	o.Compression, o.ZstdLevel, o.DictionaryEnabled = p.Compression, p.ZstdLevel, p.Dictionary
	o.RowGroupBytes, o.PageBytes = int64(p.RowGroupSize), int64(p.PageSize)
	return o
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
