package config

import (
	"regexp"
	"slices"

	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/internal/confkey"
)

var pipelineRe = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

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
	for i, r := range c.Tables {
		p := indexPath("tables", i)
		l.in(p, r.Validate())
		names := map[string]int{}
		for j, rule := range r.Rules {
			if k, dup := names[rule.Name]; dup && rule.Name != "" {
				l.add(0, indexPath(p+".rules", j)+".name", "%q is already the name of %s.rules[%d]", rule.Name, p, k)
			} else if !dup {
				names[rule.Name] = j
			}
		}
		for j, st := range r.Transforms {
			c.checkLookup(l, indexPath(p+".transforms", j), st)
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

// checkLookup checks that an enrich step's lookup names an enrichment
// source.
func (c *Config) checkLookup(l *errorList, p string, st transform.Transform) {
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
