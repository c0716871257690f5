package table

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/google/uuid"
)

// ErrPartitionSpec is wrapped by every error of ParsePartitionSpec.
var ErrPartitionSpec = errors.New("invalid partition spec")

var partitionTermRe = regexp.MustCompile(`^\s*(?:(identity|year|month|day|hour|bucket|truncate)\s*\(\s*(?:(\d+)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)|([A-Za-z_][A-Za-z0-9_]*))\s*$`)

// ParsePartitionSpec builds an Iceberg partition spec over sch from terms
// such as "day(released_at)", "bucket(16, isrc)", "truncate(4, title)",
// "identity(genre)" or a bare column "genre". Sources must be top-level
// columns. Partition fields are named <column>_<transform> (the column
// itself for identity), with ids from 1000.
func ParsePartitionSpec(sch *iceberg.Schema, terms []string) (*iceberg.PartitionSpec, error) {
	fields := make([]iceberg.PartitionField, 0, len(terms))
	names := map[string]bool{}
	for i, term := range terms {
		m := partitionTermRe.FindStringSubmatch(term)
		if m == nil {
			return nil, fmt.Errorf("%w: %q: want transform(column), bucket(N, column), truncate(W, column) or a column", ErrPartitionSpec, term)
		}
		kind, width, col := m[1], m[2], m[3]
		if kind == "" {
			kind, col = "identity", m[4]
		}
		if (kind == "bucket" || kind == "truncate") != (width != "") {
			return nil, fmt.Errorf("%w: %q: bucket and truncate take a number and a column, the others a column", ErrPartitionSpec, term)
		}
		spec := kind
		if width != "" {
			spec += "[" + width + "]"
		}
		tr, err := iceberg.ParseTransform(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrPartitionSpec, term, err)
		}
		src, ok := topLevel(sch, col)
		if !ok {
			return nil, fmt.Errorf("%w: %q: no top-level column %q", ErrPartitionSpec, term, col)
		}
		if !tr.CanTransform(src.Type) {
			return nil, fmt.Errorf("%w: %q: %s cannot partition a %s column", ErrPartitionSpec, term, kind, src.Type)
		}
		name := col + "_" + kind
		if kind == "identity" {
			name = col
		}
		if names[name] {
			return nil, fmt.Errorf("%w: %q: partition field %q twice", ErrPartitionSpec, term, name)
		}
		names[name] = true
		fields = append(fields, iceberg.PartitionField{SourceIDs: []int{src.ID}, FieldID: 1000 + i, Name: name, Transform: tr})
	}
	spec := iceberg.NewPartitionSpec(fields...)
	return &spec, nil
}

func topLevel(sch *iceberg.Schema, name string) (iceberg.NestedField, bool) {
	for _, f := range sch.Fields() {
		if f.Name == name {
			return f, true
		}
	}
	return iceberg.NestedField{}, false
}

// Partitioner splits Arrow record batches of a table schema by the
// partition they belong to under a spec.
type Partitioner struct {
	fields []partitionColumn
	mem    memory.Allocator
	keyBuf strings.Builder
}

type partitionColumn struct {
	fieldID int
	col     int                   // source column index in the record
	apply   func(any) (any, bool) // partition value, valid (false: null)
}

// NewPartitioner prepares spec over table schema sch for records whose
// Arrow schema is arr. It returns nil for an unpartitioned spec.
func NewPartitioner(sch *iceberg.Schema, spec iceberg.PartitionSpec, arr *arrow.Schema) (*Partitioner, error) {
	if spec.NumFields() == 0 {
		return nil, nil
	}
	p := &Partitioner{mem: memory.DefaultAllocator}
	for _, f := range spec.Fields() {
		src, ok := sch.FindFieldByID(f.SourceID())
		if !ok {
			return nil, fmt.Errorf("partition field %s: source %d is not in the schema", f.Name, f.SourceID())
		}
		idx := arr.FieldIndices(src.Name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("partition field %s: source %s is not a top-level column", f.Name, src.Name)
		}
		apply, err := transformer(f.Transform, src.Type)
		if err != nil {
			return nil, fmt.Errorf("partition field %s: %w", f.Name, err)
		}
		p.fields = append(p.fields, partitionColumn{fieldID: f.FieldID, col: idx[0], apply: apply})
	}
	return p, nil
}

func transformer(tr iceberg.Transform, src iceberg.Type) (func(any) (any, bool), error) {
	opt := func(f func(any) iceberg.Optional[int32], date bool) func(any) (any, bool) {
		return func(v any) (any, bool) {
			o := f(v)
			if !o.Valid {
				return nil, false
			}
			if date {
				return iceberg.Date(o.Val), true
			}
			return o.Val, true
		}
	}
	switch t := tr.(type) {
	case iceberg.IdentityTransform:
		return func(v any) (any, bool) { return v, v != nil }, nil
	case iceberg.BucketTransform:
		return opt(t.Transformer(src), false), nil
	case iceberg.TruncateTransform:
		f, err := t.Transformer(src)
		if err != nil {
			return nil, err
		}
		return func(v any) (any, bool) { r := f(v); return r, r != nil }, nil
	case iceberg.YearTransform:
		f, err := t.Transformer(src)
		return opt(f, false), err
	case iceberg.MonthTransform:
		f, err := t.Transformer(src)
		return opt(f, false), err
	case iceberg.DayTransform:
		f, err := t.Transformer(src)
		return opt(f, true), err
	case iceberg.HourTransform:
		f, err := t.Transformer(src)
		return opt(f, false), err
	}
	return nil, fmt.Errorf("transform %s is not supported for writing", tr)
}

// PartitionGroup is the rows of one record batch that share a partition.
type PartitionGroup struct {
	Key    string      // stable text form of Values, for grouping
	Values map[int]any // partition field id → value (nil: null)
	Rows   []int64
}

// Split groups the rows of rec by partition, in order of first appearance.
func (p *Partitioner) Split(rec arrow.RecordBatch) ([]*PartitionGroup, error) {
	byKey := map[string]*PartitionGroup{}
	var out []*PartitionGroup
	vals := make([]any, len(p.fields))
	for row := range int(rec.NumRows()) {
		p.keyBuf.Reset()
		for i, f := range p.fields {
			v, err := arrowValue(rec.Column(f.col), row)
			if err != nil {
				return nil, err
			}
			pv, ok := f.apply(v)
			if !ok {
				pv = nil
			}
			vals[i] = pv
			p.keyBuf.WriteString(partitionKeyPart(pv))
			p.keyBuf.WriteByte(0)
		}
		key := p.keyBuf.String()
		g, ok := byKey[key]
		if !ok {
			g = &PartitionGroup{Key: key, Values: make(map[int]any, len(p.fields))}
			for i, f := range p.fields {
				g.Values[f.fieldID] = vals[i]
			}
			byKey[key] = g
			out = append(out, g)
		}
		g.Rows = append(g.Rows, int64(row))
	}
	return out, nil
}

// Arrange returns rec's rows reordered so that each group's rows are
// contiguous, in the order of groups, with one take for the whole batch:
// slice it by the groups' lengths (rec.NewSlice) to get each partition's
// rows without copying again. A single group is rec itself, retained.
func (p *Partitioner) Arrange(ctx context.Context, rec arrow.RecordBatch, groups []*PartitionGroup) (arrow.RecordBatch, error) {
	if len(groups) == 1 {
		rec.Retain()
		return rec, nil
	}
	b := array.NewInt64Builder(p.mem)
	b.Reserve(int(rec.NumRows()))
	for _, g := range groups {
		b.AppendValues(g.Rows, nil)
	}
	idx := b.NewInt64Array()
	b.Release()
	defer idx.Release()
	st := array.RecordToStructArray(rec)
	defer st.Release()
	out, err := compute.TakeArray(ctx, st, idx)
	if err != nil {
		return nil, fmt.Errorf("arrange partition rows: %w", err)
	}
	defer out.Release()
	return array.RecordFromStructArray(out.(*array.Struct), rec.Schema()), nil
}

// partitionKeyPart renders one partition value for the grouping key.
func partitionKeyPart(v any) string {
	switch x := v.(type) {
	case nil:
		return "\x01"
	case []byte:
		return "b" + string(x)
	case string:
		return "s" + x
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// arrowValue reads row of col as the Go value iceberg-go's transforms
// take for the column's Iceberg type; nil for null.
func arrowValue(col arrow.Array, row int) (any, error) {
	if col.IsNull(row) {
		return nil, nil
	}
	switch a := col.(type) {
	case *array.Int32:
		return a.Value(row), nil
	case *array.Int64:
		return a.Value(row), nil
	case *array.String:
		return a.Value(row), nil
	case *array.Binary:
		return a.Value(row), nil
	case *array.Boolean:
		return a.Value(row), nil
	case *array.Float32:
		return a.Value(row), nil
	case *array.Float64:
		return a.Value(row), nil
	case *array.Date32:
		return iceberg.Date(a.Value(row)), nil
	case *array.Timestamp:
		return iceberg.Timestamp(a.Value(row)), nil
	case *array.Time64:
		return iceberg.Time(a.Value(row)), nil
	case *array.Decimal128:
		dt := a.DataType().(*arrow.Decimal128Type)
		return iceberg.Decimal{Val: a.Value(row), Scale: int(dt.Scale)}, nil
	case *array.FixedSizeBinary:
		return a.Value(row), nil
	case array.ExtensionArray:
		if s, ok := a.Storage().(*array.FixedSizeBinary); ok {
			u, err := uuid.FromBytes(s.Value(row))
			if err != nil {
				return nil, err
			}
			return u, nil
		}
	}
	return nil, fmt.Errorf("partition source of arrow type %s is not supported", col.DataType())
}
