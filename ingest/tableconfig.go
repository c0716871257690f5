package ingest

import (
	"strings"

	"github.com/bigfather/bigfather/ingest/rules"
	"github.com/bigfather/bigfather/ingest/transform"
)

// TableRoute sends every record of its topics to one table.
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

// Routing configures topics that feed several tables.
type Routing struct {
	// Unrouted is what happens to a record no table's route takes:
	// "quarantine" puts it in the quarantine table of the topic's first
	// table that has one, with stage route and reason unrouted; "drop"
	// passes over it (counted in bigfather_ingest_unrouted_records_total,
	// listed in the commit's bigfather.skipped). Default quarantine.
	Unrouted string `yaml:"unrouted"`
}

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
