package table

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
)

// ErrStaleSchema means the schema handed to StageSchema was not planned
// from the transaction's current table schema: another writer changed the
// schema in between, differently. Plan again (schema.Evolve) from the
// reloaded table. Data files already written with the stale schema may
// carry field IDs the table gave to other columns: rewrite them rather
// than commit them.
var ErrStaleSchema = errors.New("schema change was planned from another table schema")

// StageSchema stages the change of tx's current table schema to next in
// tx, so that it commits atomically with whatever else tx stages (data
// files, properties). Call it before AddDataFiles (the snapshot records the
// schema that is current when its files are added), and at most once per
// transaction: each call requires the schema it started from to be current
// at commit, which two calls cannot both satisfy.
//
// next must be cur evolved by the rules of schema.Evolve: existing columns
// keep their IDs and names and may only widen (int→long, float→double,
// decimal precision) or become optional; new columns are optional, carry
// IDs above the table's last-column-id, and go at the end of their struct
// (top-level ones may sit anywhere, typically before the metadata columns).
// Anything else wraps ErrStaleSchema. When data written with next already
// fits the current schema (another writer committed the same evolution, or
// one with more columns), nothing is staged.
//
// The change goes through iceberg-go's UpdateSchema, replayed so that it
// assigns exactly next's IDs (checked before anything is staged). The
// commit then requires the table's current schema to be unchanged
// (assert-current-schema-id), so a concurrent schema change makes it fail
// with ErrCommitFailed instead of interleaving. iceberg-go v0.7.0 offers no
// way to add assert-last-assigned-field-id to a transaction, so a schema
// change that another writer committed and then rolled back, leaving the
// same current schema, goes unnoticed. A default name mapping, if the table
// has one, is extended with the new columns in the same commit.
func StageSchema(tx *icebergtable.Transaction, next *iceberg.Schema) error {
	if tx == nil || next == nil {
		return errors.New("stage schema: transaction and schema are required")
	}
	staged, err := tx.StagedTable()
	if err != nil {
		return fmt.Errorf("stage schema: %w", err)
	}
	meta := staged.Metadata()
	cur := meta.CurrentSchema()
	if fits(next, cur) {
		return nil
	}
	plan, err := planSchema(cur, next, meta.LastColumnID())
	if err != nil {
		return fmt.Errorf("stage schema: %w: %w", ErrStaleSchema, err)
	}
	var opts []icebergtable.UpdateSchemaOption
	if nm := meta.NameMapping(); nm != nil {
		opts = append(opts, icebergtable.WithNameMapping(nm))
	}
	// A dry run first: UpdateSchema assigns IDs itself, and a transaction
	// cannot take back a staged change. Apply stages nothing, but an
	// UpdateSchema cannot be applied twice, so the real one is a fresh
	// replay.
	got, err := plan.replay(tx.UpdateSchema(true, false, opts...)).Apply()
	if err != nil {
		return fmt.Errorf("stage schema: %w", err)
	}
	if !got.Equals(next) {
		return fmt.Errorf("stage schema: iceberg-go would stage %s, want %s", got, next)
	}
	if err := plan.replay(tx.UpdateSchema(true, false, opts...)).Commit(); err != nil {
		return fmt.Errorf("stage schema: %w", err)
	}
	return nil
}

// fits reports whether data written with schema w can go into a table of
// schema cur unchanged: every column of w is in cur with the same ID, name
// and type (a promoted type would not do: file statistics are encoded by the
// type the file was written with), cur is optional wherever w is, and cur's
// other columns are optional.
func fits(w, cur *iceberg.Schema) bool {
	p := &schemaPlan{fit: true}
	return p.fields(nil, w.Fields(), cur.Fields(), true) == nil
}

// schemaPlan is the UpdateSchema operations that turn one schema into
// another.
type schemaPlan struct {
	last    int  // last-column-id new IDs must exceed
	fit     bool // only check fits: no new IDs, no type changes
	updates []columnUpdate
	adds    []columnAdd
	moves   [][2][]string // path, moved before path
}

type columnUpdate struct {
	path     []string
	typ      iceberg.Type // nil: unchanged
	optional bool         // required → optional
}

type columnAdd struct {
	path  []string
	field iceberg.NestedField
}

// planSchema plans from → to by field ID. It fails unless to is from with
// optional columns added above last and existing ones widened or made
// optional.
func planSchema(from, to *iceberg.Schema, last int) (*schemaPlan, error) {
	p := &schemaPlan{last: last}
	if err := p.fields(nil, from.Fields(), to.Fields(), true); err != nil {
		return nil, err
	}
	// UpdateSchema numbers the columns it adds in the order they are added.
	slices.SortFunc(p.adds, func(a, b columnAdd) int { return a.field.ID - b.field.ID })
	return p, nil
}

func (p *schemaPlan) fields(path []string, from, to []iceberg.NestedField, top bool) error {
	byID := make(map[int]iceberg.NestedField, len(from))
	for _, f := range from {
		byID[f.ID] = f
	}
	kept := make(map[int]bool, len(from))
	for _, t := range to {
		fp := evolvePath(path, t.Name)
		f, ok := byID[t.ID]
		if !ok {
			if err := p.add(fp, t); err != nil {
				return err
			}
			continue
		}
		kept[t.ID] = true
		if f.Name != t.Name {
			return fmt.Errorf("field %d is %s, not %s", t.ID, strings.Join(evolvePath(path, f.Name), "."), strings.Join(fp, "."))
		}
		if err := p.slot(fp, f.Required, t.Required, f.Type, t.Type); err != nil {
			return err
		}
	}
	for _, f := range from {
		if !kept[f.ID] {
			return fmt.Errorf("column %s (id %d) is missing", strings.Join(evolvePath(path, f.Name), "."), f.ID)
		}
	}
	if top {
		// UpdateSchema appends new columns; move each before the column that
		// follows it. Moving a new nested column is broken in iceberg-go
		// v0.7.0 (it looks for the column's parent among the old columns
		// only), so new nested columns must come last, as schema.Evolve puts
		// them; the dry run in StageSchema catches any other layout.
		for i, t := range to {
			if kept[t.ID] {
				continue
			}
			for _, after := range to[i+1:] {
				if kept[after.ID] {
					p.moves = append(p.moves, [2][]string{{t.Name}, {after.Name}})
					break
				}
			}
		}
	}
	return nil
}

func (p *schemaPlan) add(path []string, f iceberg.NestedField) error {
	name := strings.Join(path, ".")
	if f.Required {
		return fmt.Errorf("new column %s is required", name)
	}
	if !p.fit {
		if id := minFieldID(f); id <= p.last {
			return fmt.Errorf("new column %s has field id %d, not above last-column-id %d", name, id, p.last)
		}
	}
	p.adds = append(p.adds, columnAdd{path: path, field: f})
	return nil
}

// slot plans one struct field, list element or map value.
func (p *schemaPlan) slot(path []string, fromReq, toReq bool, from, to iceberg.Type) error {
	name := strings.Join(path, ".")
	u := columnUpdate{path: path, optional: fromReq && !toReq}
	if !fromReq && toReq {
		return fmt.Errorf("column %s cannot become required", name)
	}
	switch f := from.(type) {
	case *iceberg.StructType:
		t, ok := to.(*iceberg.StructType)
		if !ok {
			return fmt.Errorf("column %s changes from %s to %s", name, from, to)
		}
		if err := p.fields(path, f.FieldList, t.FieldList, false); err != nil {
			return err
		}
	case *iceberg.ListType:
		t, ok := to.(*iceberg.ListType)
		if !ok || t.ElementID != f.ElementID {
			return fmt.Errorf("column %s changes from %s to %s", name, from, to)
		}
		if err := p.slot(evolvePath(path, "element"), f.ElementRequired, t.ElementRequired, f.Element, t.Element); err != nil {
			return err
		}
	case *iceberg.MapType:
		t, ok := to.(*iceberg.MapType)
		if !ok || t.KeyID != f.KeyID || t.ValueID != f.ValueID || !t.KeyType.Equals(f.KeyType) {
			return fmt.Errorf("column %s changes from %s to %s", name, from, to)
		}
		if err := p.slot(evolvePath(path, "value"), f.ValueRequired, t.ValueRequired, f.ValueType, t.ValueType); err != nil {
			return err
		}
	case iceberg.PrimitiveType:
		t, ok := to.(iceberg.PrimitiveType)
		if !ok || (!f.Equals(t) && (p.fit || !promotable(f, t))) {
			return fmt.Errorf("column %s changes from %s to %s", name, from, to)
		}
		if !f.Equals(t) {
			u.typ = t
		}
	default:
		return fmt.Errorf("column %s has unsupported type %s", name, from)
	}
	if u.typ != nil || u.optional {
		p.updates = append(p.updates, u)
	}
	return nil
}

// promotable reports whether the Iceberg spec lets a column of type from
// change to type to. iceberg.PromoteType is not used: it also accepts
// string↔binary and fixed[16]→uuid, read conversions the spec does not
// allow as schema changes.
func promotable(from, to iceberg.PrimitiveType) bool {
	switch f := from.(type) {
	case iceberg.Int32Type:
		_, ok := to.(iceberg.Int64Type)
		return ok
	case iceberg.Float32Type:
		_, ok := to.(iceberg.Float64Type)
		return ok
	case iceberg.DecimalType:
		t, ok := to.(iceberg.DecimalType)
		return ok && t.Scale() == f.Scale() && t.Precision() >= f.Precision()
	}
	return false
}

// replay records the plan's operations on u.
func (p *schemaPlan) replay(u *icebergtable.UpdateSchema) *icebergtable.UpdateSchema {
	for _, c := range p.updates {
		var cu icebergtable.ColumnUpdate
		if c.typ != nil {
			cu.FieldType = iceberg.Optional[iceberg.Type]{Valid: true, Val: c.typ}
		}
		if c.optional {
			cu.Required = iceberg.Optional[bool]{Valid: true, Val: false}
		}
		u.UpdateColumn(c.path, cu)
	}
	for _, a := range p.adds {
		u.AddColumn(a.path, a.field.Type, a.field.Doc, false, nil)
	}
	for _, m := range p.moves {
		u.MoveBefore(m[0], m[1])
	}
	return u
}

// minFieldID is the lowest field ID in f and its nested fields.
func minFieldID(f iceberg.NestedField) int {
	id := f.ID
	var walk func(t iceberg.Type)
	walk = func(t iceberg.Type) {
		for _, c := range evolveChildren(t) {
			id = min(id, c.ID)
			walk(c.Type)
		}
	}
	walk(f.Type)
	return id
}

func evolveChildren(t iceberg.Type) []iceberg.NestedField {
	switch t := t.(type) {
	case *iceberg.StructType:
		return t.FieldList
	case *iceberg.ListType:
		return []iceberg.NestedField{t.ElementField()}
	case *iceberg.MapType:
		return []iceberg.NestedField{t.KeyField(), t.ValueField()}
	}
	return nil
}

func evolvePath(parent []string, name string) []string {
	return append(slices.Clip(parent), name)
}
