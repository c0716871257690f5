// Package rules is the validate stage: CEL predicates over a record's Avro
// binary, its Kafka key, topic, partition, offset, timestamp and headers
// (Rule). Rules compile once at start-up (CompileRules), bind to each
// writer schema (Rules.Bind) and evaluate per record (RuleEvaluator)
// without decoding the record into Go values: a Walker reads, lazily and
// bounds-checked, only the fields the rules read.
//
// The compiled value view (Type, Kind, Compiler, Walker) and the
// expression entry points (Env, CompileExpr, RuleEvaluator.EvalValue) are
// exported for ingest/transform, whose derive and filter steps are CEL
// expressions over the same values. The package decides nothing about a
// record beyond pass or fail: quarantine and routing are the pipeline's.
package rules
