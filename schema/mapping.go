package schema

import (
	"fmt"

	"github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
)

// Names of the metadata columns that every table carries after its data
// columns. They make exactly-once checkable and offset ranges replayable.
const (
	ColKafkaTopic     = "_kafka_topic"
	ColKafkaPartition = "_kafka_partition"
	ColKafkaOffset    = "_kafka_offset"
	ColKafkaTimestamp = "_kafka_timestamp"
	ColKafkaKey       = "_kafka_key"
	ColIngestedAt     = "_ingested_at"
)

// metaFields lists the metadata columns in table order. Their IDs are
// provisional; ToIceberg assigns the real ones.
func metaFields() []iceberg.NestedField {
	return []iceberg.NestedField{
		{Name: ColKafkaTopic, Type: iceberg.PrimitiveTypes.String, Required: true},
		{Name: ColKafkaPartition, Type: iceberg.PrimitiveTypes.Int32, Required: true},
		{Name: ColKafkaOffset, Type: iceberg.PrimitiveTypes.Int64, Required: true},
		{Name: ColKafkaTimestamp, Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
		{Name: ColKafkaKey, Type: iceberg.PrimitiveTypes.Binary, Required: false},
		{Name: ColIngestedAt, Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
	}
}

// IsMetaColumn reports whether name is one of the metadata columns.
func IsMetaColumn(name string) bool {
	switch name {
	case ColKafkaTopic, ColKafkaPartition, ColKafkaOffset, ColKafkaTimestamp, ColKafkaKey, ColIngestedAt:
		return true
	}
	return false
}

// ToIceberg maps an Avro record schema to an Iceberg table schema: the
// record's fields become the top-level columns, followed by the metadata
// columns. Field IDs follow Iceberg's fresh-ID assignment (the same one a
// catalog applies on table creation): top-level columns get 1..n in order,
// then nested fields are numbered struct by struct.
func ToIceberg(s avro.Schema) (*iceberg.Schema, error) {
	rec, ok := avrobin.Deref(s).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("avro to iceberg: top-level schema is %s, want a record", s.Type())
	}
	m := mapper{seen: map[string]bool{}}
	fields, err := m.recordFields(rec, "")
	if err != nil {
		return nil, fmt.Errorf("avro to iceberg: %w", err)
	}
	for _, f := range fields {
		if IsMetaColumn(f.Name) {
			return nil, fmt.Errorf("avro to iceberg: field %q collides with a metadata column", f.Name)
		}
	}
	for _, f := range metaFields() {
		f.ID = m.next()
		fields = append(fields, f)
	}
	sc, err := iceberg.AssignFreshSchemaIDs(iceberg.NewSchema(0, fields...), nil)
	if err != nil {
		return nil, fmt.Errorf("avro to iceberg: assign field ids: %w", err)
	}
	return sc, nil
}

// IcebergType maps one Avro schema to its Iceberg type the way ToIceberg
// maps a field. The decoder uses it to read a writer's primitive, fixed or
// enum value as the table's column type; field ids are not assigned.
func IcebergType(s avro.Schema, path string) (iceberg.Type, error) {
	m := mapper{seen: map[string]bool{}}
	return m.typeOf(s, path)
}

// mapper carries provisional IDs (unique, later renumbered) and the named
// records on the current path, to reject recursive types that Iceberg
// cannot represent.
type mapper struct {
	id   int
	seen map[string]bool
}

func (m *mapper) next() int { m.id++; return m.id }

func (m *mapper) recordFields(rec *avro.RecordSchema, path string) ([]iceberg.NestedField, error) {
	name := rec.FullName()
	if m.seen[name] {
		return nil, fmt.Errorf("field %q: recursive record %s is not supported", path, name)
	}
	m.seen[name] = true
	defer delete(m.seen, name)

	fields := make([]iceberg.NestedField, 0, len(rec.Fields()))
	for _, f := range rec.Fields() {
		fp := avrobin.JoinPath(path, f.Name())
		typ, required, err := m.fieldType(f.Type(), fp)
		if err != nil {
			return nil, err
		}
		fields = append(fields, iceberg.NestedField{
			ID:       m.next(),
			Name:     f.Name(),
			Type:     typ,
			Required: required,
			Doc:      f.Doc(),
		})
	}
	return fields, nil
}

// fieldType maps a field, list element or map value type and reports
// whether it is required (not a nullable union).
func (m *mapper) fieldType(s avro.Schema, path string) (iceberg.Type, bool, error) {
	inner, nullable, err := avrobin.UnwrapNullable(s, path)
	if err != nil {
		return nil, false, err
	}
	typ, err := m.typeOf(inner, path)
	return typ, !nullable, err
}

func (m *mapper) typeOf(s avro.Schema, path string) (iceberg.Type, error) {
	switch t := s.(type) {
	case *avro.PrimitiveSchema:
		return primitiveType(t, path)
	case *avro.FixedSchema:
		if ls, ok := t.Logical().(*avro.DecimalLogicalSchema); ok {
			return decimalType(ls, path)
		}
		if l := t.Logical(); l != nil && l.Type() == avro.UUID && t.Size() == 16 {
			return iceberg.PrimitiveTypes.UUID, nil
		}
		return iceberg.FixedTypeOf(t.Size()), nil
	case *avro.EnumSchema:
		return iceberg.PrimitiveTypes.String, nil
	case *avro.RecordSchema:
		fields, err := m.recordFields(t, path)
		if err != nil {
			return nil, err
		}
		return &iceberg.StructType{FieldList: fields}, nil
	case *avro.ArraySchema:
		elemPath := path + ".element"
		elem, required, err := m.fieldType(t.Items(), elemPath)
		if err != nil {
			return nil, err
		}
		return &iceberg.ListType{ElementID: m.next(), Element: elem, ElementRequired: required}, nil
	case *avro.MapSchema:
		val, required, err := m.fieldType(t.Values(), path+".value")
		if err != nil {
			return nil, err
		}
		return &iceberg.MapType{
			KeyID: m.next(), KeyType: iceberg.PrimitiveTypes.String,
			ValueID: m.next(), ValueType: val, ValueRequired: required,
		}, nil
	case *avro.NullSchema:
		return nil, fmt.Errorf("field %q: a null-only type is not supported", path)
	case *avro.UnionSchema:
		return nil, fmt.Errorf("field %q: nested unions are not supported", path)
	}
	return nil, fmt.Errorf("field %q: avro type %s is not supported", path, s.Type())
}

func primitiveType(t *avro.PrimitiveSchema, path string) (iceberg.Type, error) {
	if l := t.Logical(); l != nil {
		switch lt := l.(type) {
		case *avro.DecimalLogicalSchema:
			if t.Type() == avro.Bytes {
				return decimalType(lt, path)
			}
		default:
			switch {
			case l.Type() == avro.Date && t.Type() == avro.Int:
				return iceberg.PrimitiveTypes.Date, nil
			case l.Type() == avro.TimeMillis && t.Type() == avro.Int,
				l.Type() == avro.TimeMicros && t.Type() == avro.Long:
				return iceberg.PrimitiveTypes.Time, nil
			case (l.Type() == avro.TimestampMillis || l.Type() == avro.TimestampMicros) && t.Type() == avro.Long:
				return iceberg.PrimitiveTypes.TimestampTz, nil
			case (l.Type() == avro.LocalTimestampMillis || l.Type() == avro.LocalTimestampMicros) && t.Type() == avro.Long:
				return iceberg.PrimitiveTypes.Timestamp, nil
			case l.Type() == avro.UUID && t.Type() == avro.String:
				return iceberg.PrimitiveTypes.UUID, nil
			}
		}
		// The Avro spec says an unknown or misplaced logical type falls
		// back to the underlying type.
	}
	switch t.Type() {
	case avro.Boolean:
		return iceberg.PrimitiveTypes.Bool, nil
	case avro.Int:
		return iceberg.PrimitiveTypes.Int32, nil
	case avro.Long:
		return iceberg.PrimitiveTypes.Int64, nil
	case avro.Float:
		return iceberg.PrimitiveTypes.Float32, nil
	case avro.Double:
		return iceberg.PrimitiveTypes.Float64, nil
	case avro.String:
		return iceberg.PrimitiveTypes.String, nil
	case avro.Bytes:
		return iceberg.PrimitiveTypes.Binary, nil
	}
	return nil, fmt.Errorf("field %q: avro type %s is not supported", path, t.Type())
}

// maxDecimalPrecision is the widest decimal Iceberg (and Decimal128) holds.
const maxDecimalPrecision = 38

func decimalType(d *avro.DecimalLogicalSchema, path string) (iceberg.Type, error) {
	if d.Precision() < 1 || d.Precision() > maxDecimalPrecision || d.Scale() < 0 || d.Scale() > d.Precision() {
		return nil, fmt.Errorf("field %q: decimal(%d,%d) is out of Iceberg's range", path, d.Precision(), d.Scale())
	}
	return iceberg.DecimalTypeOf(d.Precision(), d.Scale()), nil
}

// BindFields pairs each field of writer record w with the table field it
// writes to, as an index into targets or -1. An exact name match wins; a
// writer field left unmatched then binds through its aliases, so a field
// renamed on the writer side (the old name kept as an alias) keeps writing
// its column. A table field is bound at most once, and at the table's top
// level (top) the metadata columns are never bound to writer data, even if
// a writer field has the name. Evolve binds the same way, so the schema it
// plans is the one the decoder resolves against.
func BindFields(w *avro.RecordSchema, targets []iceberg.NestedField, top bool) []int {
	byName := make(map[string]int, len(targets))
	for i, t := range targets {
		if top && IsMetaColumn(t.Name) {
			continue
		}
		byName[t.Name] = i
	}
	fields := w.Fields()
	bound := make([]int, len(fields))
	used := make([]bool, len(targets))
	for i, f := range fields {
		bound[i] = -1
		if j, ok := byName[f.Name()]; ok {
			bound[i], used[j] = j, true
		}
	}
	for i, f := range fields {
		if bound[i] >= 0 {
			continue
		}
		for _, a := range f.Aliases() {
			if j, ok := byName[a]; ok && !used[j] {
				bound[i], used[j] = j, true
				break
			}
		}
	}
	return bound
}

// field compiles a writer value (possibly a nullable union) bound to a
// table type.
