package transform

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/ingest/rules"
)

// A transform chain turns each record of a table, as Avro binary under its
// writer schema, into Avro binary under an output schema, before the record
// is decoded into the table. The chain is compiled once (CompileTransforms),
// bound to each writer schema (Transforms.Bind, cached by the caller, as a
// decode.Decoder is) and applied per record (TransformProgram.Apply). The output
// schema is what the table is created or evolved from (schema.ToIceberg) and what
// the decoder reads.
//
// Every step addresses top-level fields of the record as the previous step
// left it, by exact name (aliases are not consulted). Steps other than
// derive and filter apply without allocating once the program's buffers
// have grown to the records' size.

// The ops a Transform step can have.
const (
	OpRename         = "rename"          // Renames: old → new field names
	OpDrop           = "drop"            // Columns: removed
	OpKeep           = "keep"            // Columns: kept, in record order; the rest removed
	OpCast           = "cast"            // Columns converted to To
	OpDefault        = "default"         // Columns: null becomes Value (or From); the column becomes required
	OpParseTimestamp = "parse_timestamp" // Columns: text or unix time → timestamp-micros (UTC)
	OpTrim           = "trim"            // Columns: surrounding white space stripped, inner runs folded to one space
	OpLower          = "lower"           // Columns: lower-cased
	OpUpper          = "upper"           // Columns: upper-cased
	OpEmptyToNull    = "empty_to_null"   // Columns: "" becomes null; the column becomes nullable
	OpHash           = "hash"            // Columns: hex HMAC-SHA256 under Key
	OpMask           = "mask"            // Columns: all but the last KeepLast characters become '*'
	OpDerive         = "derive"          // Column set to the CEL Expr, of Type, nullable
	OpFlatten        = "flatten"         // Columns (default: every record column) replaced by their leaves
	OpFilter         = "filter"          // records for which the CEL predicate Expr is false are dropped
	OpEnrich         = "enrich"          // Lookup's fields added, joined on KeyColumns
)

// Transform is one step of a transform chain. Which fields apply depends on
// Op (see the Op constants); setting one that does not apply is an error.
// Key and Lookup are not read from YAML: the configuration layer sets them
// (the key from a secret, the lookup from reference data).
type Transform struct {
	Op string `yaml:"op"`
	// Name names the step in errors and is the quarantine reason of the
	// records it rejects. Default: Op.
	Name string `yaml:"name"`
	// Columns are the fields the step applies to.
	Columns []string `yaml:"columns"`
	// Renames maps old field names to new ones (rename). All renames of a
	// step apply at once, so {a: b, b: a} swaps two fields.
	Renames map[string]string `yaml:"renames"`
	// To is the cast target: string, int, long, float, double, boolean,
	// timestamp or date.
	To string `yaml:"to"`
	// Value is the default of a default step: a string, bool, integer or
	// float, converted to each column's type at Bind. Timestamps are
	// RFC 3339 text, dates YYYY-MM-DD.
	Value any `yaml:"value"`
	// From, instead of Value, takes the default from the record:
	// "kafka_timestamp" (timestamp columns only) is the Kafka timestamp.
	From string `yaml:"from"`
	// Formats are tried in order by parse_timestamp: the names rfc3339,
	// rfc3339nano (both accept a fraction of up to nine digits and need an
	// offset), iso8601 (YYYY-MM-DD, or a date and time without offset, 'T'
	// or ' ' between), unix_seconds, unix_millis, unix_micros (integers;
	// unix_seconds and unix_millis also take a decimal fraction), or Go
	// time layouts. Default: [rfc3339]. The named formats parse without
	// allocating; Go layouts use time.ParseInLocation, which may.
	Formats []string `yaml:"formats"`
	// Zone is the IANA zone of times parse_timestamp reads without an
	// offset. Default: UTC.
	Zone string `yaml:"zone"`
	// Key is the HMAC-SHA256 key of a hash step. It never appears in an
	// error or in String, nor in the config file: see KeyEnv.
	Key []byte `yaml:"-"`
	// KeyEnv names the environment variable the config file's hash step
	// takes Key from, so the key never appears in the file or the logs.
	// The caller reads it (Compile takes Key).
	KeyEnv string `yaml:"key_env"`
	// KeepLast is how many trailing characters (runes) mask leaves.
	KeepLast int `yaml:"keep_last"`
	// Column is the field a derive step writes: replaced in place if it
	// exists, else appended.
	Column string `yaml:"column"`
	// Expr is the CEL expression of derive, or the predicate of filter. It
	// sees the variables of a Rule, value being the current record.
	Expr string `yaml:"expr"`
	// Type is the derive result type: string, long, double, boolean,
	// timestamp or date.
	Type string `yaml:"type"`
	// Separator joins parent and child names in flatten. Default: "_".
	Separator string `yaml:"separator"`
	// Lookup is the reference data of enrich.
	Lookup Lookup `yaml:"-"`
	// LookupName names, in the config file, the enrichment source an
	// enrich step joins with; the caller binds Lookup to it.
	LookupName string `yaml:"lookup"`
	// KeyColumns are the fields whose values, in order, form the enrich
	// join key (see AppendLookupKey).
	KeyColumns []string `yaml:"key_columns"`
	// OnMiss says what enrich does when no row matches (or a key column is
	// null): null (the default; the added fields become nullable), default
	// (Defaults) or quarantine (the record is rejected).
	OnMiss string `yaml:"on_miss"`
	// Defaults gives, for on_miss default, a value for every added field,
	// by field name; nil is null, for a nullable field.
	Defaults map[string]any `yaml:"defaults"`
}

// String renders t for logs: the op and the parameters set, with Key
// redacted and Lookup shown by type only.
func (t Transform) String() string {
	var b strings.Builder
	b.WriteString("{op: " + t.Op)
	if t.Name != "" {
		b.WriteString(", name: " + t.Name)
	}
	values := [...]any{t.Columns, t.Renames, t.To, t.Value, t.From, t.Formats, t.Zone, "REDACTED", t.KeepLast,
		t.Column, t.Expr, t.Type, t.Separator, fmt.Sprintf("%T", t.Lookup), t.KeyColumns, t.OnMiss, t.Defaults}
	set := t.params()
	for i, name := range paramNames {
		if set&(1<<i) != 0 {
			fmt.Fprintf(&b, ", %s: %v", name, values[i])
		}
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so that %#v does not print Key either.
func (t Transform) GoString() string { return t.String() }

// Lookup is the reference data an enrich step joins records with.
type Lookup interface {
	// Fields are the columns the lookup adds, in order; each field's type
	// is a primitive Avro type (logical types allowed) or a ["null", T]
	// union of one. They must not change for the lookup's life.
	Fields() []*avro.Field
	// Lookup appends to dst the Avro binary encoding of the fields of the
	// row whose key is key (see AppendLookupKey) — the encoding of a
	// record of exactly Fields — and reports whether there is one. It must
	// leave dst[:len(dst)] as it was, be safe for concurrent use and not
	// allocate. key is valid only during the call.
	Lookup(dst, key []byte) ([]byte, bool)
}

// ErrTransform is wrapped by every error CompileTransforms and Bind return:
// a chain that is invalid, or that does not fit a writer schema.
var ErrTransform = errors.New("invalid transform")

// stepError is a compile or bind error of one step.
type stepError struct {
	index    int
	name, op string
	err      error
}

func (e *stepError) Error() string {
	if e.name == e.op {
		return fmt.Sprintf("transform %q (step %d): %v", e.name, e.index, e.err)
	}
	return fmt.Sprintf("transform %q (step %d, %s): %v", e.name, e.index, e.op, e.err)
}

func (e *stepError) Unwrap() []error { return []error{ErrTransform, e.err} }

// TransformError is why a step could not transform one record: a value it
// cannot convert or parse, a CEL runtime error, a quarantining enrich miss.
// It is permanent for the record; Step is the quarantine reason.
type TransformError struct {
	Step  string // the step's Name
	Index int    // the step's position in the chain, from 0
	Err   error
}

func (e *TransformError) Error() string {
	return fmt.Sprintf("transform %q (step %d): %v", e.Step, e.Index, e.Err)
}

func (e *TransformError) Unwrap() error { return e.Err }

// Transforms is a compiled, immutable transform chain, safe for concurrent
// use. Bind it to each writer schema.
type Transforms struct {
	steps []*compiledStep
}

// compiledStep is one validated step with everything that does not depend
// on the writer schema prepared.
type compiledStep struct {
	index    int
	name, op string
	t        Transform // the parameters, Key and maps copied

	cast     castTarget
	formats  []tsFormat
	loc      *time.Location
	derive   castTarget   // derive: the result type
	rules    *rules.Rules // derive, filter
	enrich   *enrichSpec
	kafkaDef bool // default From kafka_timestamp
}

func (s *compiledStep) errorf(format string, args ...any) error {
	return &stepError{index: s.index, name: s.name, op: s.op, err: fmt.Errorf(format, args...)}
}

// CompileTransforms validates every step's parameters and compiles its CEL,
// reporting every invalid step. Each error wraps ErrTransform and names the
// step and its index:
//
//	transform "year" (step 2, cast): to "integer" is not one of string, int, long, float, double, boolean, timestamp, date
func CompileTransforms(steps []Transform) (*Transforms, error) {
	env := sync.OnceValues(rules.Env)
	out := &Transforms{}
	var errs []error
	for i, t := range steps {
		s, err := compileStep(env, i, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.steps = append(out.steps, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Parameters of a step, as bits, to reject those its op does not use.
type param uint32

const (
	pColumns param = 1 << iota
	pRenames
	pTo
	pValue
	pFrom
	pFormats
	pZone
	pKey
	pKeepLast
	pColumn
	pExpr
	pType
	pSeparator
	pLookup
	pKeyColumns
	pOnMiss
	pDefaults
)

var paramNames = [...]string{"columns", "renames", "to", "value", "from", "formats", "zone", "key", "keep_last",
	"column", "expr", "type", "separator", "lookup", "key_columns", "on_miss", "defaults"}

var opParams = map[string]param{
	OpRename:         pRenames,
	OpDrop:           pColumns,
	OpKeep:           pColumns,
	OpCast:           pColumns | pTo,
	OpDefault:        pColumns | pValue | pFrom,
	OpParseTimestamp: pColumns | pFormats | pZone,
	OpTrim:           pColumns,
	OpLower:          pColumns,
	OpUpper:          pColumns,
	OpEmptyToNull:    pColumns,
	OpHash:           pColumns | pKey,
	OpMask:           pColumns | pKeepLast,
	OpDerive:         pColumn | pExpr | pType,
	OpFlatten:        pColumns | pSeparator,
	OpFilter:         pExpr,
	OpEnrich:         pLookup | pKeyColumns | pOnMiss | pDefaults,
}

func (t *Transform) params() param {
	var p param
	set := func(b param, ok bool) {
		if ok {
			p |= b
		}
	}
	set(pColumns, t.Columns != nil)
	set(pRenames, t.Renames != nil)
	set(pTo, t.To != "")
	set(pValue, t.Value != nil)
	set(pFrom, t.From != "")
	set(pFormats, t.Formats != nil)
	set(pZone, t.Zone != "")
	set(pKey, t.Key != nil)
	set(pKeepLast, t.KeepLast != 0)
	set(pColumn, t.Column != "")
	set(pExpr, t.Expr != "")
	set(pType, t.Type != "")
	set(pSeparator, t.Separator != "")
	set(pLookup, t.Lookup != nil)
	set(pKeyColumns, t.KeyColumns != nil)
	set(pOnMiss, t.OnMiss != "")
	set(pDefaults, t.Defaults != nil)
	return p
}

func compileStep(env func() (*cel.Env, error), i int, t Transform) (*compiledStep, error) {
	s := &compiledStep{index: i, name: t.Name, op: t.Op}
	if s.name == "" {
		s.name = t.Op
	}
	allowed, ok := opParams[t.Op]
	if !ok {
		if t.Op == "" {
			return nil, s.errorf("op is empty")
		}
		return nil, s.errorf("unknown op %q", t.Op)
	}
	if extra := t.params() &^ allowed; extra != 0 {
		var names []string
		for b := range paramNames {
			if extra&(1<<b) != 0 {
				names = append(names, paramNames[b])
			}
		}
		return nil, s.errorf("%s does not apply to %s", strings.Join(names, ", "), t.Op)
	}
	// Copy what the caller could change under a compiled chain.
	t.Columns = append([]string(nil), t.Columns...)
	t.KeyColumns = append([]string(nil), t.KeyColumns...)
	t.Key = append([]byte(nil), t.Key...)
	s.t = t
	if err := s.compile(env); err != nil {
		return nil, &stepError{index: i, name: s.name, op: s.op, err: err}
	}
	return s, nil
}

func (s *compiledStep) compile(env func() (*cel.Env, error)) error {
	t := &s.t
	switch t.Op {
	case OpRename:
		return checkRenames(t.Renames)
	case OpDrop, OpKeep, OpTrim, OpLower, OpUpper, OpEmptyToNull:
		return checkColumns("columns", t.Columns, true)
	case OpCast:
		if err := checkColumns("columns", t.Columns, true); err != nil {
			return err
		}
		to, ok := castTargets[t.To]
		if !ok || to == tNone {
			return fmt.Errorf("to %q is not one of string, int, long, float, double, boolean, timestamp, date", t.To)
		}
		s.cast = to
	case OpDefault:
		if err := checkColumns("columns", t.Columns, true); err != nil {
			return err
		}
		switch {
		case t.From == "" && t.Value == nil:
			return errors.New("value or from is required")
		case t.From != "" && t.Value != nil:
			return errors.New("value and from are exclusive")
		case t.From != "" && t.From != "kafka_timestamp":
			return fmt.Errorf("from %q is not kafka_timestamp", t.From)
		case t.From != "":
			s.kafkaDef = true
		default:
			if !plainValue(t.Value) {
				return fmt.Errorf("value of type %T is not a string, bool, integer or float", t.Value)
			}
		}
	case OpParseTimestamp:
		if err := checkColumns("columns", t.Columns, true); err != nil {
			return err
		}
		return s.compileFormats()
	case OpHash:
		if err := checkColumns("columns", t.Columns, true); err != nil {
			return err
		}
		if len(t.Key) == 0 {
			return errors.New("key is required")
		}
	case OpMask:
		if err := checkColumns("columns", t.Columns, true); err != nil {
			return err
		}
		if t.KeepLast < 0 {
			return fmt.Errorf("keep_last %d is negative", t.KeepLast)
		}
	case OpDerive:
		if !validName(t.Column) {
			return fmt.Errorf("column %q is not a valid field name", t.Column)
		}
		to, ok := castTargets[t.Type]
		if !ok || to == tInt || to == tFloat || to == tNone {
			return fmt.Errorf("type %q is not one of string, long, double, boolean, timestamp, date", t.Type)
		}
		s.derive = to
		e, err := env()
		if err != nil {
			return err
		}
		s.rules, err = rules.CompileExpr(e, s.name, t.Expr, func(out *cel.Type) error {
			want := to.celType()
			if out.IsExactType(cel.DynType) || cel.NullableType(want).IsAssignableType(out) {
				return nil
			}
			return fmt.Errorf("expression type is %s, want %s (type %s)", out, want, t.Type)
		})
		return err
	case OpFilter:
		e, err := env()
		if err != nil {
			return err
		}
		s.rules, err = rules.CompileExpr(e, s.name, t.Expr, func(out *cel.Type) error {
			if out.IsExactType(cel.BoolType) {
				return nil
			}
			hint := ""
			if out.IsExactType(cel.DynType) {
				hint = " (compare it, e.g. value.flag == true)"
			}
			return fmt.Errorf("expression type is %s, want bool%s", out, hint)
		})
		return err
	case OpFlatten:
		if err := checkColumns("columns", t.Columns, false); err != nil {
			return err
		}
		if t.Separator == "" {
			t.Separator = "_"
		}
		for _, c := range t.Separator {
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("separator %q has characters a field name cannot hold", t.Separator)
			}
		}
	case OpEnrich:
		var err error
		s.enrich, err = compileEnrich(t)
		return err
	}
	return nil
}

func checkColumns(what string, cols []string, required bool) error {
	if required && len(cols) == 0 {
		return fmt.Errorf("%s is required", what)
	}
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		switch {
		case c == "":
			return fmt.Errorf("%s has an empty name", what)
		case seen[c]:
			return fmt.Errorf("%s names %q twice", what, c)
		}
		seen[c] = true
	}
	return nil
}

func checkRenames(renames map[string]string) error {
	if len(renames) == 0 {
		return errors.New("renames is required")
	}
	to := make(map[string]string, len(renames))
	for old, name := range renames {
		switch {
		case old == "":
			return errors.New("renames has an empty name")
		case !validName(name):
			return fmt.Errorf("renames %q to %q, which is not a valid field name", old, name)
		}
		if o, ok := to[name]; ok {
			a, b := min(o, old), max(o, old) // map order is random; the message is not
			return fmt.Errorf("renames both %q and %q to %q", a, b, name)
		}
		to[name] = old
	}
	return nil
}

// validName reports whether s is a valid Avro name: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// plainValue reports whether v is a scalar YAML can produce.
func plainValue(v any) bool {
	switch v.(type) {
	case string, bool, float32, float64:
		return true
	}
	_, ok := intOf(v)
	return ok
}

// castTarget is a cast target or derive result type.
type castTarget uint8

const (
	tNone castTarget = iota
	tString
	tInt
	tLong
	tFloat
	tDouble
	tBool
	tTimestamp
	tDate
)

var castTargets = map[string]castTarget{
	"string": tString, "int": tInt, "long": tLong, "float": tFloat, "double": tDouble,
	"boolean": tBool, "timestamp": tTimestamp, "date": tDate,
}

func (c castTarget) String() string {
	return [...]string{"none", "string", "int", "long", "float", "double", "boolean", "timestamp", "date"}[c]
}

func (c castTarget) celType() *cel.Type {
	switch c {
	case tString:
		return cel.StringType
	case tInt, tLong:
		return cel.IntType
	case tFloat, tDouble:
		return cel.DoubleType
	case tBool:
		return cel.BoolType
	}
	return cel.TimestampType
}

// schema is the Avro type of a value of the target type.
func (c castTarget) schema() avro.Schema {
	switch c {
	case tString:
		return avro.NewPrimitiveSchema(avro.String, nil)
	case tInt:
		return avro.NewPrimitiveSchema(avro.Int, nil)
	case tLong:
		return avro.NewPrimitiveSchema(avro.Long, nil)
	case tFloat:
		return avro.NewPrimitiveSchema(avro.Float, nil)
	case tDouble:
		return avro.NewPrimitiveSchema(avro.Double, nil)
	case tBool:
		return avro.NewPrimitiveSchema(avro.Boolean, nil)
	case tTimestamp:
		return avro.NewPrimitiveSchema(avro.Long, avro.NewPrimitiveLogicalSchema(avro.TimestampMicros))
	case tDate:
		return avro.NewPrimitiveSchema(avro.Int, avro.NewPrimitiveLogicalSchema(avro.Date))
	}
	return avro.NewNullSchema()
}
