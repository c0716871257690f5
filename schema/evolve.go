package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
)

// ErrIncompatible means a writer schema cannot be written into a table
// without breaking it: no schema change that Iceberg allows (adding an
// optional column, widening a type, making a column optional) makes the
// table hold the writer's data. Every *IncompatibleError wraps it.
var ErrIncompatible = errors.New("incompatible schema")

// IncompatibleError says which writer field makes a schema incompatible
// and why. Its message is "incompatible schema: <field>: <why>"; a caller
// that knows the writer schema's registry id sets SchemaID to get
// "incompatible schema <id>: <field>: <why>":
//
//	if ie, ok := errors.AsType[*schema.IncompatibleError](err); ok {
//		ie.SchemaID = ws.ID
//	}
type IncompatibleError struct {
	// SchemaID is the writer schema's registry id; 0, which the registry
	// never assigns, leaves it out of the message.
	SchemaID int
	// Field is the dotted path of the writer field (list elements and map
	// values are "element" and "value"); empty when the writer schema as a
	// whole is unusable.
	Field string
	Why   string
}

func (e *IncompatibleError) Error() string {
	var b strings.Builder
	b.WriteString("incompatible schema")
	if e.SchemaID != 0 {
		b.WriteString(" " + strconv.Itoa(e.SchemaID))
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Why)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrIncompatible) hold.
func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

// ChangeKind names one kind of schema change Evolve makes.
type ChangeKind string

// The changes Evolve makes: the ones the Iceberg spec allows without
// rewriting data, minus those that could break existing readers (adding a
// required column).
const (
	ChangeAddColumn    ChangeKind = "add-column"
	ChangeWidenType    ChangeKind = "widen-type"
	ChangeMakeOptional ChangeKind = "make-optional"
)

// Change describes one change of a table schema, for logs and snapshot
// summaries.
type Change struct {
	Kind ChangeKind
	// Field is the dotted path of the table column (list elements and map
	// values are "element" and "value", as Iceberg names them).
	Field   string
	FieldID int
	// OldType and NewType are Iceberg type strings. OldType is empty for an
	// added column; both are the column's type when it becomes optional.
	OldType string
	NewType string
}

func (c Change) String() string {
	switch c.Kind {
	case ChangeAddColumn:
		return fmt.Sprintf("%s %s (id %d): %s", c.Kind, c.Field, c.FieldID, c.NewType)
	case ChangeMakeOptional:
		return fmt.Sprintf("%s %s (id %d)", c.Kind, c.Field, c.FieldID)
	}
	return fmt.Sprintf("%s %s (id %d): %s -> %s", c.Kind, c.Field, c.FieldID, c.OldType, c.NewType)
}

// Evolve decides how table schema cur must change so that writer schema w
// can be written into it, following the Iceberg spec's schema evolution
// rules. lastColumnID is the table metadata's last-column-id: new fields get
// IDs from lastColumnID+1 upward, so IDs stay stable and are never reused.
// It returns the schema to move to (cur itself, unchanged, when nothing is
// needed), the list of changes, and an error wrapping ErrIncompatible when w
// cannot be written without breaking the table.
//
// Writer fields bind to table columns as the decoder binds them (exact name,
// then the writer field's aliases; see decode.NewDecoder), so decode.NewDecoder(w, next)
// succeeds whenever Evolve does. Then:
//   - a writer field the table lacks, at any depth, becomes an optional
//     column mapped as ToIceberg maps it (fields nested in it keep their
//     nullability). New top-level columns go just before the metadata
//     columns, which stay last as ToIceberg lays them out (where
//     AppendMeta finds them without a lookup that allocates); new nested
//     fields go last in their struct;
//   - a table int, float or decimal(P,S) takes a writer long, double or
//     decimal(P',S) with P' > P by widening; a narrower writer type is read
//     as is and changes nothing;
//   - a required column becomes optional when the writer field is nullable
//     or missing; a missing column is kept and written as null;
//   - anything else (another kind of type, a changed decimal scale or fixed
//     size, a union of several non-null types, a field named like a metadata
//     column, an identifier column becoming optional) is incompatible.
//
// Existing field IDs never change. New IDs are assigned one added column at
// a time, in writer order, each subtree the way iceberg-go's UpdateSchema
// assigns them, so replaying the changes through it reproduces next exactly.
// The table's new last-column-id is max(lastColumnID, next.HighestFieldID()).
// next.ID is cur.ID+1, a placeholder: the catalog assigns the real id when
// the schema is added (iceberg.Schema.Equals ignores it).
func Evolve(cur *iceberg.Schema, lastColumnID int, w avro.Schema) (*iceberg.Schema, []Change, error) {
	if cur == nil {
		return nil, nil, errors.New("evolve: table schema is nil")
	}
	if hi := cur.HighestFieldID(); lastColumnID < hi {
		return nil, nil, fmt.Errorf("evolve: last-column-id %d is below the schema's highest field id %d", lastColumnID, hi)
	}
	rec, ok := avrobin.Deref(w).(*avro.RecordSchema)
	if !ok {
		return nil, nil, &IncompatibleError{Why: fmt.Sprintf("writer schema is %s, want a record", w.Type())}
	}
	e := evolver{last: lastColumnID, identifiers: map[int]bool{}}
	for _, id := range cur.IdentifierFieldIDs {
		e.identifiers[id] = true
	}
	fields, changed, err := e.record(rec, cur.Fields(), "", "", true)
	if err != nil {
		return nil, nil, err
	}
	if !changed {
		return cur, nil, nil
	}
	return iceberg.NewSchemaWithIdentifiers(cur.ID+1, cur.IdentifierFieldIDs, fields...), e.changes, nil
}

// evolver walks a writer schema along a table schema, collecting changes.
type evolver struct {
	last        int // last assigned field ID
	identifiers map[int]bool
	changes     []Change
}

func (e *evolver) nextID() int { e.last++; return e.last }

// record evolves the table fields targets to hold writer record w. wpath
// and tpath are the record's writer and table paths (they differ below a
// field bound through an alias); top marks the table's top level.
func (e *evolver) record(w *avro.RecordSchema, targets []iceberg.NestedField, wpath, tpath string, top bool) ([]iceberg.NestedField, bool, error) {
	bound := BindFields(w, targets, top)
	out := make([]iceberg.NestedField, len(targets))
	copy(out, targets)
	used := make([]bool, len(targets))
	var added []iceberg.NestedField
	changed := false
	for i, f := range w.Fields() {
		wp := avrobin.JoinPath(wpath, f.Name())
		j := bound[i]
		if j < 0 {
			if top && IsMetaColumn(f.Name()) {
				return nil, false, &IncompatibleError{Field: wp, Why: "collides with a metadata column"}
			}
			nf, err := e.add(f, wp, avrobin.JoinPath(tpath, f.Name()))
			if err != nil {
				return nil, false, err
			}
			added = append(added, nf)
			changed = true
			continue
		}
		used[j] = true
		t := targets[j]
		typ, required, ch, err := e.slot(f.Type(), t.ID, t.Type, t.Required, wp, avrobin.JoinPath(tpath, t.Name))
		if err != nil {
			return nil, false, err
		}
		if ch {
			out[j].Type, out[j].Required = typ, required
			changed = true
		}
	}
	for j, t := range targets {
		if used[j] || (top && IsMetaColumn(t.Name)) || !t.Required {
			continue
		}
		// The writer no longer has the field: keep the column, written as
		// null from now on.
		tp := avrobin.JoinPath(tpath, t.Name)
		if err := e.makeOptional(t.ID, t.Type, avrobin.JoinPath(wpath, t.Name), tp); err != nil {
			return nil, false, err
		}
		out[j].Required = false
		changed = true
	}
	if len(added) == 0 {
		return out, changed, nil
	}
	at := len(out)
	if top {
		for j, f := range out {
			if IsMetaColumn(f.Name) {
				at = j
				break
			}
		}
	}
	fields := make([]iceberg.NestedField, 0, len(out)+len(added))
	fields = append(fields, out[:at]...)
	fields = append(fields, added...)
	return append(fields, out[at:]...), true, nil
}

// slot evolves one table slot (a struct field, list element or map value)
// of type t to hold writer type w, possibly a nullable union.
func (e *evolver) slot(w avro.Schema, id int, t iceberg.Type, required bool, wp, tp string) (iceberg.Type, bool, bool, error) {
	inner, nullable, err := nullableBranch(w, wp)
	if err != nil {
		return nil, false, false, err
	}
	changed := false
	if inner != nil { // nil: the writer value is always null
		var ch bool
		if t, ch, err = e.value(inner, id, t, wp, tp); err != nil {
			return nil, false, false, err
		}
		changed = ch
	}
	if nullable && required {
		if err := e.makeOptional(id, t, wp, tp); err != nil {
			return nil, false, false, err
		}
		required, changed = false, true
	}
	return t, required, changed, nil
}

// nullableBranch returns the single non-null branch of w and whether w
// admits null. The branch is nil when w is always null.
func nullableBranch(w avro.Schema, wp string) (avro.Schema, bool, error) {
	w = avrobin.Deref(w)
	u, ok := w.(*avro.UnionSchema)
	if !ok {
		if w.Type() == avro.Null {
			return nil, true, nil
		}
		return w, false, nil
	}
	inner, nullable, names := avrobin.UnionBranches(u)
	if len(names) > 1 {
		return nil, false, &IncompatibleError{Field: wp, Why: fmt.Sprintf("union of several non-null types [%s] is not supported", strings.Join(names, " "))}
	}
	return inner, nullable, nil
}

// value evolves table type t (of the slot with field ID id) to hold the
// non-union writer type w.
func (e *evolver) value(w avro.Schema, id int, t iceberg.Type, wp, tp string) (iceberg.Type, bool, error) {
	switch ws := w.(type) {
	case *avro.RecordSchema:
		st, ok := t.(*iceberg.StructType)
		if !ok {
			return nil, false, kindError(wp, w, t)
		}
		fields, changed, err := e.record(ws, st.FieldList, wp, tp, false)
		if err != nil || !changed {
			return t, false, err
		}
		return &iceberg.StructType{FieldList: fields}, true, nil
	case *avro.ArraySchema:
		lt, ok := t.(*iceberg.ListType)
		if !ok {
			return nil, false, kindError(wp, w, t)
		}
		elem, required, changed, err := e.slot(ws.Items(), lt.ElementID, lt.Element, lt.ElementRequired, wp+".element", tp+".element")
		if err != nil || !changed {
			return t, false, err
		}
		return &iceberg.ListType{ElementID: lt.ElementID, Element: elem, ElementRequired: required}, true, nil
	case *avro.MapSchema:
		mt, ok := t.(*iceberg.MapType)
		if !ok || !mt.KeyType.Equals(iceberg.PrimitiveTypes.String) {
			return nil, false, kindError(wp, w, t)
		}
		val, required, changed, err := e.slot(ws.Values(), mt.ValueID, mt.ValueType, mt.ValueRequired, wp+".value", tp+".value")
		if err != nil || !changed {
			return t, false, err
		}
		return &iceberg.MapType{
			KeyID: mt.KeyID, KeyType: mt.KeyType,
			ValueID: mt.ValueID, ValueType: val, ValueRequired: required,
		}, true, nil
	}
	m := mapper{seen: map[string]bool{}}
	wt, err := m.typeOf(w, wp)
	if err != nil {
		return nil, false, mapperError(err, wp)
	}
	nt, why := widen(wt, t)
	switch {
	case why != "":
		return nil, false, &IncompatibleError{Field: wp, Why: why}
	case nt == nil:
		return t, false, nil
	}
	e.changes = append(e.changes, Change{Kind: ChangeWidenType, Field: tp, FieldID: id, OldType: t.String(), NewType: nt.String()})
	return nt, true, nil
}

// widen decides how table type t takes writer type wt: unchanged (nil, ""),
// widened to a new type, or not at all (a reason).
func widen(wt, t iceberg.Type) (iceberg.Type, string) {
	if wt.Equals(t) {
		return nil, ""
	}
	switch tt := t.(type) {
	case iceberg.Int32Type:
		if _, ok := wt.(iceberg.Int64Type); ok {
			return iceberg.PrimitiveTypes.Int64, ""
		}
	case iceberg.Int64Type:
		if _, ok := wt.(iceberg.Int32Type); ok {
			return nil, "" // read as long
		}
	case iceberg.Float32Type:
		if _, ok := wt.(iceberg.Float64Type); ok {
			return iceberg.PrimitiveTypes.Float64, ""
		}
	case iceberg.Float64Type:
		if _, ok := wt.(iceberg.Float32Type); ok {
			return nil, "" // read as double
		}
	case iceberg.DecimalType:
		wd, ok := wt.(iceberg.DecimalType)
		if !ok {
			break
		}
		if wd.Scale() != tt.Scale() {
			return nil, fmt.Sprintf("decimal scale changes from %d to %d", tt.Scale(), wd.Scale())
		}
		if wd.Precision() > tt.Precision() {
			return iceberg.DecimalTypeOf(wd.Precision(), tt.Scale()), ""
		}
		return nil, ""
	case iceberg.FixedType:
		if wf, ok := wt.(iceberg.FixedType); ok {
			return nil, fmt.Sprintf("fixed size changes from %d to %d", tt.Len(), wf.Len())
		}
	}
	return nil, fmt.Sprintf("writer type %s cannot be written to a column of type %s", wt, t)
}

func kindError(wp string, w avro.Schema, t iceberg.Type) error {
	return &IncompatibleError{Field: wp, Why: fmt.Sprintf("writer type %s cannot be written to a column of type %s", avrobin.TypeName(w), t)}
}

// add maps writer field f, which the table lacks, to a new optional column
// with fresh IDs.
func (e *evolver) add(f *avro.Field, wp, tp string) (iceberg.NestedField, error) {
	m := mapper{seen: map[string]bool{}}
	typ, _, err := m.fieldType(f.Type(), wp)
	if err != nil {
		return iceberg.NestedField{}, mapperError(err, wp)
	}
	// Optional whatever the writer says: Iceberg adds a required column only
	// with a default, and rows written before have no value.
	field := iceberg.NestedField{Name: f.Name(), Type: typ, Required: false, Doc: f.Doc()}
	// The same assignment iceberg-go's UpdateSchema.AddColumn makes: the
	// column, then its nested fields struct by struct.
	sc, err := iceberg.AssignFreshSchemaIDs(iceberg.NewSchema(0, field), e.nextID)
	if err != nil {
		return iceberg.NestedField{}, fmt.Errorf("evolve: field %q: assign field ids: %w", wp, err)
	}
	nf := sc.Field(0)
	e.changes = append(e.changes, Change{Kind: ChangeAddColumn, Field: tp, FieldID: nf.ID, NewType: nf.Type.String()})
	return nf, nil
}

func (e *evolver) makeOptional(id int, t iceberg.Type, wp, tp string) error {
	if e.identifiers[id] {
		return &IncompatibleError{Field: wp, Why: "identifier column " + tp + " cannot become optional"}
	}
	e.changes = append(e.changes, Change{Kind: ChangeMakeOptional, Field: tp, FieldID: id, OldType: t.String(), NewType: t.String()})
	return nil
}

// mapperError turns a mapper error, which reads `field "<path>": <why>`,
// into an IncompatibleError naming that path (it may lie below wp, inside
// a new record).
func mapperError(err error, wp string) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "field "); ok {
		if q, qerr := strconv.QuotedPrefix(rest); qerr == nil {
			if why, ok := strings.CutPrefix(rest[len(q):], ": "); ok {
				if p, uerr := strconv.Unquote(q); uerr == nil {
					return &IncompatibleError{Field: p, Why: why}
				}
			}
		}
	}
	return &IncompatibleError{Field: wp, Why: msg}
}
