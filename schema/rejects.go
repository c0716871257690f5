package schema

import (
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
)

// Columns of a quarantine (rejects) table besides the metadata columns.
// The raw record is kept whole so that a fixed pipeline can replay it.
const (
	ColRawValue   = "raw_value"   // the Kafka value as received (null for a tombstone)
	ColRawHeaders = "raw_headers" // list<struct<key, value>>: headers may repeat keys
	ColSchemaID   = "schema_id"   // the Confluent schema id, when the wire header had one
	ColStage      = "stage"       // decode | validate | transform | route
	ColReason     = "reason"      // a stable name: the rule or error class
	ColMessage    = "message"     // human-readable detail
)

// Stages that can reject a record.
const (
	StageDecode    = "decode"
	StageValidate  = "validate"
	StageTransform = "transform"
	StageRoute     = "route"
)

// MaxRejectMessage caps the message stored per reject, in bytes, so a
// pathological error text cannot bloat the quarantine table.
const MaxRejectMessage = 4096

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Reject is why and what was rejected: one row of a quarantine table
// together with the Meta of the record.
type Reject struct {
	Value    []byte // nil is written as null
	Headers  []Header
	SchemaID int32 // written only when HasID
	HasID    bool
	Stage    string
	Reason   string
	Message  string
}

// RejectsSchema is the schema of every quarantine table: the raw record
// and the verdict, then the same metadata columns as the data tables, so
// that exactly-once can be checked across a table and its quarantine.
func RejectsSchema() *iceberg.Schema {
	fields := []iceberg.NestedField{
		{ID: 1, Name: ColRawValue, Type: iceberg.PrimitiveTypes.Binary},
		{ID: 2, Name: ColRawHeaders, Type: &iceberg.ListType{
			ElementID: 14, ElementRequired: true,
			Element: &iceberg.StructType{FieldList: []iceberg.NestedField{
				{ID: 15, Name: "key", Type: iceberg.PrimitiveTypes.String, Required: true},
				{ID: 16, Name: "value", Type: iceberg.PrimitiveTypes.Binary},
			}},
		}},
		{ID: 3, Name: ColSchemaID, Type: iceberg.PrimitiveTypes.Int32},
		{ID: 4, Name: ColStage, Type: iceberg.PrimitiveTypes.String, Required: true},
		{ID: 5, Name: ColReason, Type: iceberg.PrimitiveTypes.String, Required: true},
		{ID: 6, Name: ColMessage, Type: iceberg.PrimitiveTypes.String, Required: true},
	}
	for i, f := range metaFields() {
		f.ID = 20 + i
		fields = append(fields, f)
	}
	// Renumbered the way a catalog numbers a new table (top-level columns
	// first, then nested fields), so the IDs here are the IDs it stores.
	sc, err := iceberg.AssignFreshSchemaIDs(iceberg.NewSchema(0, fields...), nil)
	if err != nil {
		// The schema above is a constant; a failure is a programming error
		// that every test run would catch.
		panic("schema: rejects schema: " + err.Error())
	}
	return sc
}

// AppendReject appends one quarantine row to b, whose schema must be
// ArrowSchema(RejectsSchema()). Columns are addressed by position, which
// RejectsSchema fixes.
func AppendReject(b *array.RecordBuilder, m *Meta, r *Reject) {
	if v, ok := b.Field(0).(*array.BinaryBuilder); ok {
		if r.Value == nil {
			v.AppendNull()
		} else {
			v.Append(r.Value)
		}
	}
	if lb, ok := b.Field(1).(*array.ListBuilder); ok {
		if len(r.Headers) == 0 {
			lb.AppendNull()
		} else {
			lb.Append(true)
			sb := lb.ValueBuilder().(*array.StructBuilder)
			kb := sb.FieldBuilder(0).(*array.StringBuilder)
			vb := sb.FieldBuilder(1).(*array.BinaryBuilder)
			for _, h := range r.Headers {
				sb.Append(true)
				kb.Append(validUTF8(h.Key))
				if h.Value == nil {
					vb.AppendNull()
				} else {
					vb.Append(h.Value)
				}
			}
		}
	}
	if ib, ok := b.Field(2).(*array.Int32Builder); ok {
		if r.HasID {
			ib.Append(r.SchemaID)
		} else {
			ib.AppendNull()
		}
	}
	for i, s := range [...]string{r.Stage, r.Reason, truncateUTF8(r.Message, MaxRejectMessage)} {
		if sb, ok := b.Field(3 + i).(*array.StringBuilder); ok {
			sb.Append(validUTF8(s))
		}
	}
	AppendMeta(b, m)
}

// validUTF8 makes s safe for a string column: Parquet readers reject
// invalid UTF-8, and header keys or error texts quoting input may hold it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
