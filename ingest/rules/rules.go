package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// Rule is one validation rule: a CEL predicate over a decoded record. A
// record passes the rule when Expr evaluates to true.
//
// Expr sees these variables:
//
//	value      map(string, dyn)            the Avro record (see RuleEvaluator for the types)
//	key        google.protobuf.BytesValue  the Kafka key: bytes, or null when the record has none
//	topic      string
//	partition  int
//	offset     int
//	timestamp  google.protobuf.Timestamp   the Kafka record timestamp
//	headers    map(string, bytes)          the Kafka headers; of repeated keys the last wins
type Rule struct {
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`
}

// Rules is a compiled, immutable set of rules. It is safe for concurrent use;
// Bind it to each writer schema to evaluate records.
type Rules struct {
	rules []compiledRule
	// reads is what the rules read of value, nil when no rule reads it.
	reads   *pathNode
	adapter types.Adapter
}

type compiledRule struct {
	name string
	prg  cel.Program
}

// Names of the variables a rule sees.
const (
	varValue     = "value"
	varKey       = "key"
	varTopic     = "topic"
	varPartition = "partition"
	varOffset    = "offset"
	varTimestamp = "timestamp"
	varHeaders   = "headers"
)

// CompileRules parses, type-checks and plans every rule, once, at start-up.
// It reports every rule that is invalid, each error naming the rule and,
// for syntax and type errors, the line:column in Expr:
//
//	rule "isrc_format": 1:12: undeclared reference to 'isrc' (in container '')
//
// A rule's result type must be bool; names must be non-empty and unique.
// value is declared map(string, dyn), so rules compile without knowing any
// writer schema: a misspelt field is found only when a record lacks it.
func CompileRules(rules []Rule) (*Rules, error) {
	env, err := Env()
	if err != nil {
		return nil, err
	}
	out := &Rules{adapter: env.CELTypeAdapter()}
	var errs []error
	seen := make(map[string]bool, len(rules))
	reads := &pathNode{}
	for i, r := range rules {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("rule %d: name is empty", i))
			continue
		case seen[r.Name]:
			errs = append(errs, fmt.Errorf("rule %q: duplicate name", r.Name))
			continue
		}
		seen[r.Name] = true
		prg, checked, err := compileRule(env, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		collectPaths(checked.NativeRep().Expr(), reads, false)
		out.rules = append(out.rules, compiledRule{name: r.Name, prg: prg})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if reads.whole || len(reads.children) > 0 {
		out.reads = reads
	}
	return out, nil
}

// Env declares the variables a rule sees. Transform expressions
// (derive, filter) see the same ones.
func Env() (*cel.Env, error) {
	env, err := cel.NewEnv(
		cel.Variable(varValue, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varKey, cel.NullableType(cel.BytesType)),
		cel.Variable(varTopic, cel.StringType),
		cel.Variable(varPartition, cel.IntType),
		cel.Variable(varOffset, cel.IntType),
		cel.Variable(varTimestamp, cel.TimestampType),
		cel.Variable(varHeaders, cel.MapType(cel.StringType, cel.BytesType)),
	)
	if err != nil {
		return nil, fmt.Errorf("rules environment: %w", err)
	}
	return env, nil
}

func compileRule(env *cel.Env, r Rule) (cel.Program, *cel.Ast, error) {
	if strings.TrimSpace(r.Expr) == "" {
		return nil, nil, fmt.Errorf("rule %q: expression is empty", r.Name)
	}
	checked, iss := env.Compile(r.Expr)
	if iss != nil && iss.Err() != nil {
		return nil, nil, fmt.Errorf("rule %q: %s", r.Name, formatIssues(iss))
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) {
		hint := ""
		if t.IsExactType(cel.DynType) {
			// A bare field of value is dyn; say how to make it a predicate.
			hint = " (compare it, e.g. value.flag == true)"
		}
		return nil, nil, fmt.Errorf("rule %q: result type is %s, want bool%s", r.Name, t, hint)
	}
	// OptOptimize folds constant lists into sets for `in` and compiles
	// constant `matches` patterns once here instead of on every record; a
	// bad pattern therefore fails now.
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, fmt.Errorf("rule %q: %w", r.Name, err)
	}
	return prg, checked, nil
}

// formatIssues renders CEL issues one per clause as line:column: message,
// with the column 1-based as CEL itself displays it, and without CEL's
// multi-line source snippet so that the error fits in one log line.
func formatIssues(iss *cel.Issues) string {
	var b strings.Builder
	for i, e := range iss.Errors() {
		if i > 0 {
			b.WriteString("; ")
		}
		if e.Location.Line() > 0 {
			fmt.Fprintf(&b, "%d:%d: ", e.Location.Line(), e.Location.Column()+1)
		}
		b.WriteString(e.Message)
	}
	return b.String()
}

// pathNode is a trie of the field paths rules read under value. A node is
// read whole when a rule uses its value as such (compares it, iterates it,
// passes it to a function); otherwise the rules only select fields of it or
// test its presence with has(). The root is value itself.
type pathNode struct {
	name     string
	whole    bool
	children []*pathNode
}

func (n *pathNode) child(name string) *pathNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	c := &pathNode{name: name}
	n.children = append(n.children, c)
	return c
}

func (n *pathNode) at(path []string) *pathNode {
	for _, p := range path {
		n = n.child(p)
	}
	return n
}

// merge adds what o reads to n.
func (n *pathNode) merge(o *pathNode) {
	n.whole = n.whole || o.whole
	for _, c := range o.children {
		n.child(c.name).merge(c)
	}
}

// collectPaths adds to root every path under value that e reads. shadowed
// is set inside a comprehension that names one of its own variables value.
func collectPaths(e ast.Expr, root *pathNode, shadowed bool) {
	if p, ok := valuePath(e, shadowed); ok {
		n := root.at(p)
		if !(e.Kind() == ast.SelectKind && e.AsSelect().IsTestOnly()) {
			n.whole = true
		}
		return
	}
	switch e.Kind() {
	case ast.SelectKind:
		collectPaths(e.AsSelect().Operand(), root, shadowed)
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			collectPaths(c.Target(), root, shadowed)
		}
		for _, a := range c.Args() {
			collectPaths(a, root, shadowed)
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			collectPaths(el, root, shadowed)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			collectPaths(en.AsMapEntry().Key(), root, shadowed)
			collectPaths(en.AsMapEntry().Value(), root, shadowed)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			collectPaths(f.AsStructField().Value(), root, shadowed)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		collectPaths(c.IterRange(), root, shadowed)
		collectPaths(c.AccuInit(), root, shadowed)
		accu := shadowed || c.AccuVar() == varValue
		loop := accu || c.IterVar() == varValue || (c.HasIterVar2() && c.IterVar2() == varValue)
		collectPaths(c.LoopCondition(), root, loop)
		collectPaths(c.LoopStep(), root, loop)
		collectPaths(c.Result(), root, accu)
	}
}

// valuePath reports whether e is value followed by constant field
// selections or string-literal indexes, and returns those field names.
func valuePath(e ast.Expr, shadowed bool) ([]string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return []string{}, !shadowed && e.AsIdent() == varValue
	case ast.SelectKind:
		s := e.AsSelect()
		op := s.Operand()
		if op.Kind() == ast.SelectKind && op.AsSelect().IsTestOnly() {
			return nil, false
		}
		p, ok := valuePath(op, shadowed)
		if !ok {
			return nil, false
		}
		return append(p, s.FieldName()), true
	case ast.CallKind:
		c := e.AsCall()
		if c.FunctionName() != operators.Index || c.IsMemberFunction() || len(c.Args()) != 2 {
			return nil, false
		}
		k := c.Args()[1]
		if k.Kind() != ast.LiteralKind {
			return nil, false
		}
		name, ok := k.AsLiteral().(types.String)
		if !ok {
			return nil, false
		}
		p, ok := valuePath(c.Args()[0], shadowed)
		if !ok {
			return nil, false
		}
		return append(p, string(name)), true
	}
	return nil, false
}
