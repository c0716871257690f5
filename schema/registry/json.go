package registry

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
)

// ErrMalformedJSON means a JSON record is not valid JSON, or does not fit
// the schema declared for it. The error names the field path.
var ErrMalformedJSON = errors.New("schema: malformed json record")

// JSONRecords turns plain JSON records (no registry, no wire header) into
// Avro binary payloads of a declared schema, so that they go through the
// same decoder, validation rules and evolution as registry-framed Avro. The
// declaration is an Avro record schema: it names the fields, their types
// (logical types included) and which may be null.
//
// A JSON record is an object whose members are the fields:
//   - a field that is missing or null is null, or the field's default when
//     it has one; a missing non-nullable field without a default is an error;
//   - members the declaration does not name are ignored;
//   - int and long take integral JSON numbers (no fraction, in range);
//     float and double take any number; decimals take a number or a string
//     of one ("12.34"), and must fit the scale;
//   - bytes and fixed take base64 text; enums take one of the symbols;
//   - date takes "2006-01-02" or days since the epoch; timestamps take
//     RFC 3339 text or epoch milliseconds (timestamp-millis) or
//     microseconds (timestamp-micros); time takes "15:04:05.999999" or
//     milliseconds/microseconds since midnight; uuid takes its text form.
//
// It is safe for concurrent use.
type JSONRecords struct {
	schema avro.Schema
}

// NewJSONRecords parses the declared Avro record schema.
func NewJSONRecords(declared string) (*JSONRecords, error) {
	s, err := avro.Parse(declared)
	if err != nil {
		return nil, fmt.Errorf("json record schema: %w", err)
	}
	if _, ok := avrobin.Deref(s).(*avro.RecordSchema); !ok {
		return nil, fmt.Errorf("json record schema: top level is %s, want a record", s.Type())
	}
	return &JSONRecords{schema: s}, nil
}

// Schema is the declared schema, the writer schema of every payload
// Convert returns.
func (j *JSONRecords) Schema() avro.Schema { return j.schema }

// maxJSONDepth bounds nesting in a JSON record, like maxDepth for Avro.
const maxJSONDepth = 64

// Convert appends the Avro binary encoding of one JSON record to dst.
func (j *JSONRecords) Convert(dst, record []byte) ([]byte, error) {
	if err := checkJSONDepth(record); err != nil {
		return dst, err
	}
	dec := json.NewDecoder(bytes.NewReader(record))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	if dec.More() {
		return dst, fmt.Errorf("%w: data after the record", ErrMalformedJSON)
	}
	native, err := toAvro(j.schema, v, "")
	if err != nil {
		return dst, err
	}
	enc, err := avro.Marshal(j.schema, native)
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	return append(dst, enc...), nil
}

// checkJSONDepth refuses nesting deeper than maxJSONDepth before the
// decoder builds anything, so a hostile record costs one linear scan.
func checkJSONDepth(b []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > maxJSONDepth {
				return fmt.Errorf("%w: nested deeper than %d levels", ErrMalformedJSON, maxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func jsonErr(path, format string, args ...any) error {
	if path == "" {
		path = "(record)"
	}
	return fmt.Errorf("%w: field %q: %s", ErrMalformedJSON, path, fmt.Sprintf(format, args...))
}

// toAvro converts a decoded JSON value (json.Number for numbers) to the Go
// value hamba/avro encodes for s.
func toAvro(s avro.Schema, v any, path string) (any, error) {
	s = avrobin.Deref(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		inner, nullable, err := avrobin.UnwrapNullable(u, path)
		if err != nil {
			return nil, jsonErr(path, "%v", err)
		}
		if v == nil {
			if !nullable {
				return nil, jsonErr(path, "null where a value is required")
			}
			return nil, nil
		}
		if inner == nil {
			return nil, jsonErr(path, "only null is allowed")
		}
		val, err := toAvro(inner, v, path)
		if err != nil {
			return nil, err
		}
		// hamba/avro encodes a generic union value given as a one-entry
		// map that names its branch.
		return map[string]any{unionBranchName(inner): val}, nil
	}
	if v == nil && s.Type() != avro.Null {
		return nil, jsonErr(path, "null where a value is required")
	}
	switch ts := s.(type) {
	case *avro.NullSchema:
		if v != nil {
			return nil, jsonErr(path, "want null")
		}
		return nil, nil
	case *avro.RecordSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, jsonErr(path, "want an object, got %s", jsonKind(v))
		}
		out := make(map[string]any, len(ts.Fields()))
		for _, f := range ts.Fields() {
			fp := avrobin.JoinPath(path, f.Name())
			fv, present := obj[f.Name()]
			if !present || fv == nil {
				// Absent takes the default; an explicit null is null where
				// the field allows it, else the default too.
				switch nullable := isNullable(f.Type()); {
				case present && nullable, !f.HasDefault() && nullable:
					out[f.Name()] = nil
				case f.HasDefault():
					dv, err := toAvro(f.Type(), jsonDefault(f.Default()), fp)
					if err != nil {
						return nil, err
					}
					out[f.Name()] = dv
				default:
					return nil, jsonErr(fp, "missing, and the field is neither nullable nor defaulted")
				}
				continue
			}
			cv, err := toAvro(f.Type(), fv, fp)
			if err != nil {
				return nil, err
			}
			out[f.Name()] = cv
		}
		return out, nil
	case *avro.ArraySchema:
		arr, ok := v.([]any)
		if !ok {
			return nil, jsonErr(path, "want an array, got %s", jsonKind(v))
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			cv, err := toAvro(ts.Items(), e, path+".element")
			if err != nil {
				return nil, err
			}
			out[i] = cv
		}
		return out, nil
	case *avro.MapSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, jsonErr(path, "want an object, got %s", jsonKind(v))
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			cv, err := toAvro(ts.Values(), e, path+".value")
			if err != nil {
				return nil, err
			}
			out[k] = cv
		}
		return out, nil
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok {
			return nil, jsonErr(path, "want a string, got %s", jsonKind(v))
		}
		for _, sym := range ts.Symbols() {
			if sym == str {
				return str, nil
			}
		}
		return nil, jsonErr(path, "%q is not one of the enum's symbols", str)
	case *avro.FixedSchema:
		if l := ts.Logical(); l != nil && l.Type() == avro.Decimal {
			return jsonDecimal(v, l.(*avro.DecimalLogicalSchema), path)
		}
		b, err := jsonBase64(v, path)
		if err != nil {
			return nil, err
		}
		if len(b) != ts.Size() {
			return nil, jsonErr(path, "%d bytes, the fixed type has %d", len(b), ts.Size())
		}
		// hamba/avro encodes a generic fixed from a [size]byte array.
		arr := reflect.New(reflect.ArrayOf(ts.Size(), reflect.TypeFor[byte]())).Elem()
		reflect.Copy(arr, reflect.ValueOf(b))
		return arr.Interface(), nil
	case *avro.PrimitiveSchema:
		return jsonPrimitive(ts, v, path)
	}
	return nil, jsonErr(path, "avro type %s is not supported for json records", s.Type())
}

// unionBranchName names a union branch as hamba/avro does: the full name
// of a named type, else the type with its logical type ("long.timestamp-micros").
func unionBranchName(s avro.Schema) string {
	s = avrobin.Deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	name := string(s.Type())
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		name += "." + string(ls.Logical().Type())
	}
	return name
}

// jsonDefault turns a schema default (decoded by hamba/avro from the
// schema text) back into the JSON shapes toAvro reads.
func jsonDefault(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.Itoa(x))
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'g', -1, 32))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonDefault(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonDefault(e)
		}
		return out
	}
	return v
}

func isNullable(s avro.Schema) bool {
	s = avrobin.Deref(s)
	if s.Type() == avro.Null {
		return true
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, t := range u.Types() {
			if avrobin.Deref(t).Type() == avro.Null {
				return true
			}
		}
	}
	return false
}

func jsonPrimitive(s *avro.PrimitiveSchema, v any, path string) (any, error) {
	var logical avro.LogicalType
	if l := s.Logical(); l != nil {
		logical = l.Type()
	}
	switch s.Type() {
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, jsonErr(path, "want a boolean, got %s", jsonKind(v))
		}
		return b, nil
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, jsonErr(path, "want a string, got %s", jsonKind(v))
		}
		if logical == avro.UUID {
			if _, err := uuid.Parse(str); err != nil {
				return nil, jsonErr(path, "%q is not a uuid", str)
			}
		}
		return str, nil
	case avro.Bytes:
		if logical == avro.Decimal {
			return jsonDecimal(v, s.Logical().(*avro.DecimalLogicalSchema), path)
		}
		return jsonBase64(v, path)
	case avro.Float, avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return nil, jsonErr(path, "want a number, got %s", jsonKind(v))
		}
		f, err := n.Float64()
		if err != nil {
			return nil, jsonErr(path, "%s is not a number", n)
		}
		if s.Type() == avro.Float {
			if math.Abs(f) > math.MaxFloat32 {
				return nil, jsonErr(path, "%s does not fit a float", n)
			}
			return float32(f), nil
		}
		return f, nil
	case avro.Int:
		switch logical {
		case avro.Date:
			if str, ok := v.(string); ok {
				t, err := time.Parse(time.DateOnly, str)
				if err != nil {
					return nil, jsonErr(path, "%q is not a date (2006-01-02)", str)
				}
				return t, nil
			}
			d, err := jsonInt(v, math.MinInt32, math.MaxInt32, path)
			if err != nil {
				return nil, err
			}
			return time.Unix(d*86400, 0).UTC(), nil
		case avro.TimeMillis:
			if str, ok := v.(string); ok {
				d, err := clockDuration(str, path)
				return d, err
			}
			ms, err := jsonInt(v, 0, 86_400_000-1, path)
			return time.Duration(ms) * time.Millisecond, err
		}
		n, err := jsonInt(v, math.MinInt32, math.MaxInt32, path)
		return int32(n), err
	case avro.Long:
		switch logical {
		case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros:
			if str, ok := v.(string); ok {
				t, err := time.Parse(time.RFC3339Nano, str)
				if err != nil {
					return nil, jsonErr(path, "%q is not an RFC 3339 timestamp", str)
				}
				return t.UTC(), nil
			}
			n, err := jsonInt(v, math.MinInt64, math.MaxInt64, path)
			if err != nil {
				return nil, err
			}
			if logical == avro.TimestampMillis || logical == avro.LocalTimestampMillis {
				return time.UnixMilli(n).UTC(), nil
			}
			return time.UnixMicro(n).UTC(), nil
		case avro.TimeMicros:
			if str, ok := v.(string); ok {
				return clockDuration(str, path)
			}
			us, err := jsonInt(v, 0, 86_400_000_000-1, path)
			return time.Duration(us) * time.Microsecond, err
		}
		return jsonInt(v, math.MinInt64, math.MaxInt64, path)
	}
	return nil, jsonErr(path, "avro type %s is not supported for json records", s.Type())
}

func jsonInt(v any, lo, hi int64, path string) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, jsonErr(path, "want an integer, got %s", jsonKind(v))
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, jsonErr(path, "%s is not an integer in range", n)
	}
	if i < lo || i > hi {
		return 0, jsonErr(path, "%d is out of range [%d, %d]", i, lo, hi)
	}
	return i, nil
}

func clockDuration(s, path string) (time.Duration, error) {
	t, err := time.Parse("15:04:05.999999", s)
	if err != nil {
		return 0, jsonErr(path, "%q is not a time of day (15:04:05.999999)", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
}

func jsonBase64(v any, path string) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, jsonErr(path, "want base64 text, got %s", jsonKind(v))
	}
	b, err := base64.StdEncoding.DecodeString(str)
	if err != nil {
		return nil, jsonErr(path, "not base64: %v", err)
	}
	return b, nil
}

func jsonDecimal(v any, d *avro.DecimalLogicalSchema, path string) (*big.Rat, error) {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		text = x
	default:
		return nil, jsonErr(path, "want a decimal number, got %s", jsonKind(v))
	}
	if len(text) > 80 {
		return nil, jsonErr(path, "decimal text of %d characters", len(text))
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, jsonErr(path, "%q is not a decimal number", text)
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale())), nil)))
	if !scaled.IsInt() {
		return nil, jsonErr(path, "%s has more than %d decimal places", text, d.Scale())
	}
	if digits := len(new(big.Int).Abs(scaled.Num()).String()); digits > d.Precision() && scaled.Num().Sign() != 0 {
		return nil, jsonErr(path, "%s needs more than %d digits", text, d.Precision())
	}
	return r, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
