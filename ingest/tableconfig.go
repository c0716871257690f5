package ingest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/internal/confkey"
)

// Value formats accepted in TableRoute.Format.
const (
	FormatAvro = "avro"
	FormatJSON = "json"
)

// TableRoute is one entry of the config file's tables: it sends the
// records of its topics to one table.
type TableRoute struct {
	// Topic is the Kafka topic. Required unless Topics is set.
	Topic string `yaml:"topic"`
	// Topics are more topics feeding the same table, with the same
	// settings; each keeps its own watermarks in the table. Default none.
	Topics []string `yaml:"topics"`
	// TopicPatterns are regular expressions (RE2) over whole topic names:
	// every matching topic feeds the table, including topics created while
	// the pipeline runs (picked up within kafka.metadata_max_age). Default
	// none.
	TopicPatterns []string `yaml:"topic_patterns"`
	// Route chooses which records of the topics go to this table, for a
	// topic feeding several tables. Tables sharing a topic are tried in
	// file order; the first whose route takes a record gets it. Default:
	// every record.
	Route Route `yaml:"route"`
	// Table is namespace.table; the last dot separates a (possibly nested)
	// namespace from the table name. Required.
	Table string `yaml:"table"`
	// Rejects is the route's quarantine table, namespace.table. Default
	// Table + quarantine.suffix; ignored when quarantine is disabled.
	Rejects string `yaml:"rejects"`
	// Format is how the topic's values are encoded: "avro" (Confluent wire
	// format, schemas from the registry) or "json" (plain JSON objects, no
	// registry, laid out by ValueSchema). Default "avro".
	Format string `yaml:"format"`
	// ValueSchema declares the fields of a json topic as an Avro record
	// schema (JSON text): names, types, logical types, nullability and
	// defaults. The table is created from it. Required for format json.
	ValueSchema string `yaml:"value_schema"`
	// Rules are validation rules, CEL predicates over the record (value,
	// key, topic, partition, offset, timestamp, headers), checked in order:
	// a record failing one is rejected at the validate stage, tagged with
	// the rule's name. Compiled at start; default none.
	Rules []rules.Rule `yaml:"rules"`
	// Filter is a CEL predicate over the record, like a rule's: a record for
	// which it is false is dropped, neither in the table nor in quarantine
	// (counted, and its offset listed in the commit's bigfather.skipped).
	// Applied after the rules. Default "" (keep everything).
	Filter string `yaml:"filter"`
	// PartitionBy is the table's Iceberg partition spec, applied when the
	// table is created: terms like "day(released_at)", "hour(at)",
	// "month(at)", "year(at)", "bucket(16, isrc)", "truncate(4, title)" or a
	// column name (identity), over top-level columns. Default none.
	PartitionBy []string `yaml:"partition_by"`
	// Cleanse steps run in order on top-level string columns, after the
	// transforms (they are transform steps, kept as their own key).
	// Default none.
	Cleanse []transform.CleanseStep `yaml:"cleanse"`
	// Transforms is the table's transform chain, applied in order to every
	// record routed here, after its rules and filter. The table is created
	// from the chain's output. Default none.
	Transforms []transform.Transform `yaml:"transforms"`
}

// Route chooses a table's records by a field, a header or a CEL
// expression; set one of field, header and when.
type Route struct {
	// Field is a record field (a dotted path for nested fields): the record
	// is taken when the field's value, as text, is one of Values.
	Field string `yaml:"field"`
	// Header is a Kafka header key: the record is taken when the header's
	// value is one of Values.
	Header string `yaml:"header"`
	// Values are the texts Field or Header must equal (enum symbols,
	// strings, integers in decimal, true or false).
	Values []string `yaml:"values"`
	// When is a CEL predicate over the record, like a rule's.
	When string `yaml:"when"`
}

// IsSet reports whether the route has a condition.
func (r Route) IsSet() bool { return r.Field != "" || r.Header != "" || r.When != "" }

// AllTopics returns Topic (when set) and Topics.
func (t TableRoute) AllTopics() []string {
	if t.Topic == "" {
		return t.Topics
	}
	return append([]string{t.Topic}, t.Topics...)
}

// Split returns the namespace levels and the table name of Table.
func (t TableRoute) Split() (namespace []string, name string) { return splitTable(t.Table) }

// SplitRejects returns the namespace levels and the table name of Rejects.
func (t TableRoute) SplitRejects() (namespace []string, name string) { return splitTable(t.Rejects) }

func splitTable(s string) ([]string, string) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return nil, s
	}
	return strings.Split(s[:i], "."), s[i+1:]
}

var (
	// Namespace levels and the table name; hyphens are valid Iceberg
	// identifiers, spaces and slashes would break paths.
	tableRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)
	// A rule's name becomes the reason of the rejects it causes.
	ruleNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	// fieldPathRe is a dotted path of Avro field names.
	fieldPathRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
)

// Validate checks the entry, defaults filled (Format, Rejects), naming the
// key of each problem. What takes several entries (a topic shared by
// tables, a table used twice) or other sections (an enrich step's source)
// is the caller's to check, and so are rule names used twice, whose error
// names the first by its full path; expressions are checked when compiled.
func (t TableRoute) Validate() error {
	var l confkey.List
	if len(t.AllTopics()) == 0 {
		l.Add("topic", "required (or topics)")
	}
	if t.Topic != "" && !ValidTopic(t.Topic) {
		l.Add("topic", "%q is not a valid Kafka topic name", t.Topic)
	}
	for k, topic := range t.Topics {
		if !ValidTopic(topic) {
			l.Add(confkey.Index("topics", k), "%q is not a valid Kafka topic name", topic)
		}
	}
	for k, pat := range t.TopicPatterns {
		if _, err := regexp.Compile(pat); err != nil {
			l.Add(confkey.Index("topic_patterns", k), "%q is not a regular expression: %v", pat, err)
		}
	}
	l.In("route", t.Route.Validate())
	for j, st := range t.Transforms {
		l.In(confkey.Index("transforms", j), st.Validate())
	}
	switch {
	case t.Table == "":
		l.Add("table", "required")
	case !tableRe.MatchString(t.Table):
		l.Add("table", "want namespace.table (letters, digits, _ and -), got %q", t.Table)
	}
	switch {
	case t.Format != "" && t.Format != FormatAvro && t.Format != FormatJSON:
		l.Add("format", "%q is invalid: want avro or json", t.Format)
	case t.Format == FormatJSON && strings.TrimSpace(t.ValueSchema) == "":
		l.Add("value_schema", "required for format json: the fields as an Avro record schema")
	case t.Format != FormatJSON && t.ValueSchema != "":
		l.Add("value_schema", "only for format json: avro records carry their schema id")
	}
	for j, st := range t.Cleanse {
		l.In(confkey.Index("cleanse", j), st.Validate())
	}
	for j, term := range t.PartitionBy {
		if strings.TrimSpace(term) == "" {
			l.Add(confkey.Index("partition_by", j), "empty partition term")
		}
	}
	for j, rule := range t.Rules {
		rp := confkey.Index("rules", j)
		switch {
		case rule.Name == "":
			l.Add(rp+".name", "required: rejects are tagged with it")
		case !ruleNameRe.MatchString(rule.Name):
			l.Add(rp+".name", "%q is invalid: want letters, digits, _ . and -", rule.Name)
		}
		if strings.TrimSpace(rule.Expr) == "" {
			l.Add(rp+".expr", "required: a CEL expression that is true for a valid record")
		}
	}
	switch {
	case t.Rejects == "":
	case !tableRe.MatchString(t.Rejects):
		l.Add("rejects", "want namespace.table (letters, digits, _ and -), got %q", t.Rejects)
	case t.Rejects == t.Table:
		l.Add("rejects", "%q is the route's own table: the quarantine table must be another", t.Rejects)
	}
	return l.Err()
}

// Validate checks the route, naming the key of each problem.
func (r Route) Validate() error {
	var l confkey.List
	set := 0
	for _, s := range []string{r.Field, r.Header, r.When} {
		if s != "" {
			set++
		}
	}
	switch {
	case set > 1:
		l.Add("", "set one of field, header and when")
	case r.Field != "" && !fieldPathRe.MatchString(r.Field):
		l.Add("field", "%q is not a field name or dotted path of field names", r.Field)
	case (r.Field != "" || r.Header != "") && len(r.Values) == 0:
		l.Add("values", "required with field or header: the values that send a record here")
	case r.When != "" && strings.TrimSpace(r.When) == "":
		l.Add("when", "empty expression")
	case r.When != "" && len(r.Values) > 0, !r.IsSet() && len(r.Values) > 0:
		l.Add("values", "only with field or header")
	}
	return l.Err()
}

// Expr is the route's condition as a CEL predicate: a field or header
// route compares the value's text with the listed values.
func (r Route) Expr() string {
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
