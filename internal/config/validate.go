package config

import (
	"regexp"
	"slices"
	"strings"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/internal/confkey"
)

var (
	pipelineRe = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	// Namespace levels and the table name; hyphens are valid Iceberg
	// identifiers, spaces and slashes would break paths.
	tableRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)
	// A rule's name becomes the reason of the rejects it causes.
	ruleNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// Validate checks c and returns every problem found, each an *Error naming
// its key path and wrapping ErrInvalid, joined with errors.Join. Parse and
// Load call it; call it again after changing a Config in code.
func (c *Config) Validate() error {
	return c.validate().err()
}

func (c *Config) validate() errorList {
	var l errorList
	switch {
	case c.Pipeline == "":
		l.add(0, "pipeline", "required: a stable id for this pipeline, [a-zA-Z0-9._-]+")
	case !pipelineRe.MatchString(c.Pipeline) || len(c.Pipeline) > 200:
		l.add(0, "pipeline", "%q is invalid: want 1-200 characters of [a-zA-Z0-9._-]", c.Pipeline)
	}
	l.in("kafka", c.Kafka.Validate())
	if c.Pipeline != "" && c.Kafka.Group == "" {
		l.add(0, "kafka.group", "required")
	}
	l.in("schema_registry", c.SchemaRegistry.Validate())
	l.in("warehouse", c.Warehouse.Validate())
	l.in("catalog", c.Catalog.Validate())
	c.validateTables(&l)
	c.validateEnrichment(&l)
	c.validateQuarantine(&l)
	l.in("flush", c.Flush.Validate())
	l.in("validation", c.Validation.Validate())
	l.in("parquet", c.Parquet.Validate())
	if c.MemoryBudget <= 0 {
		l.add(0, "memory_budget", "must be > 0")
	}
	if c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < c.MemoryBudget) {
		l.add(0, "memory_limit", "must be 0 (1.5 × memory_budget) or at least memory_budget (%s), got %s", c.MemoryBudget, c.MemoryLimit)
	}
	if c.GCPercent < -1 {
		l.add(0, "gc_percent", "must be -1 (collect at the memory limit only), 0 (200) or a percentage, got %d", c.GCPercent)
	}
	if c.ShutdownTimeout <= 0 {
		l.add(0, "shutdown_timeout", "must be > 0")
	}
	if c.Metrics.Addr != "" {
		if msg := confkey.HostPort(c.Metrics.Addr); msg != "" {
			l.add(0, "metrics.addr", "%s (or \"\" to disable)", msg)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		l.add(0, "log.level", "%q is invalid: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		l.add(0, "log.format", "%q is invalid: want text or json", c.Log.Format)
	}
	return l
}

func (c *Config) validateTables(l *errorList) {
	if len(c.Tables) == 0 {
		l.add(0, "tables", "required: at least one topic to table route")
	}
	first := make(map[string]int, len(c.Tables))
	for i, r := range c.Tables {
		p := indexPath("tables", i)
		if len(r.AllTopics()) == 0 {
			l.add(0, p+".topic", "required (or topics)")
		}
		checkTopic := func(path, topic string) {
			if !ingest.ValidTopic(topic) {
				l.add(0, path, "%q is not a valid Kafka topic name", topic)
			} else if _, dup := first[topic]; !dup {
				first[topic] = i
			}
		}
		if r.Topic != "" {
			checkTopic(p+".topic", r.Topic)
		}
		for k, topic := range r.Topics {
			checkTopic(indexPath(p+".topics", k), topic)
		}
		for k, pat := range r.TopicPatterns {
			if _, err := regexp.Compile(pat); err != nil {
				l.add(0, indexPath(p+".topic_patterns", k), "%q is not a regular expression: %v", pat, err)
			}
		}
		validateRoute(l, p+".route", r.Route)
		for j, st := range r.Transforms {
			c.validateTransform(l, indexPath(p+".transforms", j), st)
		}
		switch {
		case r.Table == "":
			l.add(0, p+".table", "required")
		case !tableRe.MatchString(r.Table):
			l.add(0, p+".table", "want namespace.table (letters, digits, _ and -), got %q", r.Table)
		}
		switch {
		case r.Format != "" && r.Format != FormatAvro && r.Format != FormatJSON:
			l.add(0, p+".format", "%q is invalid: want avro or json", r.Format)
		case r.Format == FormatJSON && strings.TrimSpace(r.ValueSchema) == "":
			l.add(0, p+".value_schema", "required for format json: the fields as an Avro record schema")
		case r.Format != FormatJSON && r.ValueSchema != "":
			l.add(0, p+".value_schema", "only for format json: avro records carry their schema id")
		}
		for j, st := range r.Cleanse {
			l.in(indexPath(p+".cleanse", j), st.Validate())
		}
		for j, term := range r.PartitionBy {
			if strings.TrimSpace(term) == "" {
				l.add(0, indexPath(p+".partition_by", j), "empty partition term")
			}
		}
		names := map[string]int{}
		for j, rule := range r.Rules {
			rp := indexPath(p+".rules", j)
			switch {
			case rule.Name == "":
				l.add(0, rp+".name", "required: rejects are tagged with it")
			case !ruleNameRe.MatchString(rule.Name):
				l.add(0, rp+".name", "%q is invalid: want letters, digits, _ . and -", rule.Name)
			default:
				if k, dup := names[rule.Name]; dup {
					l.add(0, rp+".name", "%q is already the name of %s.rules[%d]", rule.Name, p, k)
				}
				names[rule.Name] = j
			}
			if strings.TrimSpace(rule.Expr) == "" {
				l.add(0, rp+".expr", "required: a CEL expression that is true for a valid record")
			}
		}
		switch {
		case r.Rejects == "":
		case !tableRe.MatchString(r.Rejects):
			l.add(0, p+".rejects", "want namespace.table (letters, digits, _ and -), got %q", r.Rejects)
		case r.Rejects == r.Table:
			l.add(0, p+".rejects", "%q is the route's own table: the quarantine table must be another", r.Rejects)
		}
	}
	c.validateSharedTopics(l)
	// A table is one route's data table or one route's quarantine table:
	// sharing would mix two watermark owners' rows.
	owner := map[string]string{}
	claim := func(name, path string) {
		if name == "" {
			return
		}
		if prev, ok := owner[name]; ok {
			l.add(0, path, "table %q is already used by %s", name, prev)
			return
		}
		owner[name] = path
	}
	for i, r := range c.Tables {
		claim(r.Table, indexPath("tables", i)+".table")
	}
	for i, r := range c.Tables {
		claim(r.Rejects, indexPath("tables", i)+".rejects")
	}
}

// validateTransform checks a step, and that an enrich step's lookup names
// an enrichment source.
func (c *Config) validateTransform(l *errorList, p string, st transform.Transform) {
	l.in(p, st.Validate())
	if st.Op == transform.OpEnrich && st.LookupName != "" &&
		!slices.ContainsFunc(c.Enrichment, func(e enrich.Source) bool { return e.Name == st.LookupName }) {
		l.add(0, p+".lookup", "%q is not the name of an enrichment source", st.LookupName)
	}
}

// validateEnrichment checks each source and that names are unique, which
// enrich steps need to refer to one.
func (c *Config) validateEnrichment(l *errorList) {
	names := map[string]int{}
	for i, e := range c.Enrichment {
		p := indexPath("enrichment", i)
		l.in(p, e.Validate())
		if k, dup := names[e.Name]; dup && e.Name != "" {
			l.add(0, p+".name", "%q is already the name of enrichment[%d]", e.Name, k)
		} else if !dup {
			names[e.Name] = i
		}
	}
}

// fieldPathRe is a dotted path of Avro field names.
var fieldPathRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

func validateRoute(l *errorList, p string, r ingest.Route) {
	set := 0
	for _, s := range []string{r.Field, r.Header, r.When} {
		if s != "" {
			set++
		}
	}
	switch {
	case set > 1:
		l.add(0, p, "set one of field, header and when")
	case r.Field != "" && !fieldPathRe.MatchString(r.Field):
		l.add(0, p+".field", "%q is not a field name or dotted path of field names", r.Field)
	case (r.Field != "" || r.Header != "") && len(r.Values) == 0:
		l.add(0, p+".values", "required with field or header: the values that send a record here")
	case r.When != "" && strings.TrimSpace(r.When) == "":
		l.add(0, p+".when", "empty expression")
	case r.When != "" && len(r.Values) > 0, !r.IsSet() && len(r.Values) > 0:
		l.add(0, p+".values", "only with field or header")
	}
}

// validateSharedTopics checks the topics named by several tables: each
// table but the last needs a route (the later ones would get nothing),
// they agree on the format, and there is a quarantine table to anchor the
// route's commits.
func (c *Config) validateSharedTopics(l *errorList) {
	byTopic := map[string][]int{}
	var topics []string
	for i, r := range c.Tables {
		for _, t := range r.AllTopics() {
			if len(byTopic[t]) == 0 {
				topics = append(topics, t)
			}
			if !slices.Contains(byTopic[t], i) {
				byTopic[t] = append(byTopic[t], i)
			}
		}
	}
	for _, topic := range topics {
		idx := byTopic[topic]
		if len(idx) < 2 {
			continue
		}
		for k, i := range idx {
			r := c.Tables[i]
			p := indexPath("tables", i)
			if k < len(idx)-1 && !r.Route.IsSet() {
				l.add(0, p+".route", "required: topic %q also feeds tables[%d], which would get nothing without a route here", topic, idx[k+1])
			}
			if f := c.Tables[idx[0]]; r.Format != f.Format || r.ValueSchema != f.ValueSchema {
				l.add(0, p+".format", "topic %q is read by tables[%d] too, with another format or value_schema: one topic has one encoding", topic, idx[0])
			}
		}
		if !c.Quarantine.Enabled {
			l.add(0, "quarantine.enabled", "topic %q feeds several tables (tables[%d] and tables[%d]), which needs quarantine tables", topic, idx[0], idx[1])
		}
	}
}

// validateQuarantine checks the quarantine and routing sections, and that
// the DLQ topic is not read back as input.
func (c *Config) validateQuarantine(l *errorList) {
	l.in("routing", c.Routing.Validate())
	l.in("quarantine", c.Quarantine.Validate())
	q := c.Quarantine
	if q.DLQTopic == "" {
		return
	}
	for i, r := range c.Tables {
		if slices.Contains(r.AllTopics(), q.DLQTopic) {
			l.add(0, "quarantine.dlq_topic", "%q is consumed by tables[%d]: rejects would be read back as input", q.DLQTopic, i)
		}
	}
}
