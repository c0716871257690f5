package config

import (
	"strings"

	"github.com/bigfather/bigfather/ingest/rules"
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
	Cleanse []CleanseStep `yaml:"cleanse"`
	// Transforms is the table's transform chain, applied in order to every
	// record routed here, after its rules and filter. The table is created
	// from the chain's output. Default none.
	Transforms []Transform `yaml:"transforms"`
}

// Transform is one step of a table's transform chain. Which keys apply
// depends on op; a key that does not apply is an error at start.
type Transform struct {
	// Op is rename, drop, keep, cast, default, parse_timestamp, trim,
	// lower, upper, empty_to_null, hash, mask, derive, flatten, filter or
	// enrich. Required.
	Op string `yaml:"op"`
	// Name is the step's name in errors, and the quarantine reason of the
	// records it rejects. Default: op.
	Name string `yaml:"name"`
	// Columns are the top-level columns the step applies to.
	Columns []string `yaml:"columns"`
	// Renames maps old column names to new ones (rename).
	Renames map[string]string `yaml:"renames"`
	// To is a cast's target type: string, int, long, float, double,
	// boolean, timestamp or date.
	To string `yaml:"to"`
	// Value is a default step's value (typed as YAML types it: 5, 2.5,
	// true, "text"; timestamps in RFC 3339, dates YYYY-MM-DD).
	Value Scalar `yaml:"value"`
	// From takes a default step's value from the record instead:
	// kafka_timestamp, for timestamp columns.
	From string `yaml:"from"`
	// Formats are parse_timestamp's formats, tried in order: rfc3339,
	// rfc3339nano, iso8601, unix_seconds, unix_millis, unix_micros, or Go
	// layouts ("2006-01-02 15:04:05"). Default [rfc3339].
	Formats []string `yaml:"formats"`
	// Zone is the IANA zone of parsed times that carry no offset. Default UTC.
	Zone string `yaml:"zone"`
	// KeyEnv names the environment variable holding a hash step's
	// HMAC-SHA256 key; the key never appears in the file or the logs.
	KeyEnv string `yaml:"key_env"`
	// KeepLast is how many trailing characters a mask step keeps.
	KeepLast int `yaml:"keep_last"`
	// Column is the column a derive step writes (replaced, or appended).
	Column string `yaml:"column"`
	// Expr is a derive step's CEL expression or a filter step's predicate,
	// over the record as the previous steps left it.
	Expr string `yaml:"expr"`
	// Type is a derive step's result type: string, long, double, boolean,
	// timestamp or date.
	Type string `yaml:"type"`
	// Separator joins parent and child names in flatten. Default "_".
	Separator string `yaml:"separator"`
	// Lookup names the enrichment source an enrich step joins with.
	Lookup string `yaml:"lookup"`
	// KeyColumns are the record's columns forming an enrich step's join
	// key, in the order of the source's key.
	KeyColumns []string `yaml:"key_columns"`
	// OnMiss is what an enrich step does when no row matches: null (the
	// added columns are null), default (defaults), or quarantine.
	// Default null.
	OnMiss string `yaml:"on_miss"`
	// Defaults are the added columns' values for on_miss default.
	Defaults map[string]Scalar `yaml:"defaults"`
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

// CleanseStep is one cleansing operation on some string columns.
type CleanseStep struct {
	// Op is trim (strip and fold white space), lower, upper, empty_to_null
	// (the columns must be optional), hash (hex HMAC-SHA256) or mask (keep
	// the last keep_last characters). Required.
	Op string `yaml:"op"`
	// Columns are top-level string columns. Required.
	Columns []string `yaml:"columns"`
	// KeyEnv names the environment variable holding a hash step's key; the
	// key itself never appears in the file or the logs. Required for hash.
	KeyEnv string `yaml:"key_env"`
	// KeepLast is how many trailing characters a mask step keeps.
	// Default 0.
	KeepLast int `yaml:"keep_last"`
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
