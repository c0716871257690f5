package rules

import (
	"errors"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"

	"github.com/bigfather/bigfather/schema"
)

// Transform steps (derive, filter) evaluate CEL over the lazily read record
// exactly as rules do, but want the value an expression evaluates to rather
// than a pass or fail. They reuse Rules and RuleEvaluator with one program
// each; what is added here is compiling an expression of any result type and
// evaluating it to a value.

// CompileExpr compiles expr, in the rules' environment env, into Rules
// holding that one program under name. accept judges the expression's
// static result type. Errors carry no rule name: the caller names the step.
func CompileExpr(env *cel.Env, name, expr string, accept func(*cel.Type) error) (*Rules, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("expression is empty")
	}
	checked, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(formatIssues(iss))
	}
	if err := accept(checked.OutputType()); err != nil {
		return nil, err
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	out := &Rules{rules: []compiledRule{{name: name, prg: prg}}, adapter: env.CELTypeAdapter()}
	reads := &pathNode{}
	collectPaths(checked.NativeRep().Expr(), reads, false)
	if reads.whole || len(reads.children) > 0 {
		out.reads = reads
	}
	return out, nil
}

// ReadsValue reports whether the expressions read value at all; when they
// do not, the payload given to Eval or evalValue is never looked at.
func (e *RuleEvaluator) ReadsValue() bool { return e.plan != nil || e.whole != nil }

// EvalValue evaluates the first program of e's rules over one record and
// returns its value. The value may alias payload and headers, so the caller
// must be done with it before calling e.Release, which it must call once
// EvalValue returns, whatever the result. A CEL evaluation error is returned
// as is; a payload that cannot be read as far as the expression needs gives
// an error wrapping ErrMalformed.
func (e *RuleEvaluator) EvalValue(payload []byte, meta *schema.Meta, headers []schema.Header) (ref.Val, error) {
	e.payload = payload
	e.vars.reset(meta, headers)
	if err := e.read(payload); err != nil {
		return nil, err
	}
	out, _, err := e.rules.rules[0].prg.Eval(&e.vars)
	if err != nil {
		return nil, err
	}
	return out, nil
}
