package registry

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/bigfather/bigfather/internal/avrobin"
)

// ErrMalformedProtobuf means a Protobuf record does not decode as the
// message its wire header names, or holds a value its Avro translation
// cannot (an unknown enum number, a uint64 beyond int64).
var ErrMalformedProtobuf = errors.New("schema: malformed protobuf record")

// ProtoSchema is a registry Protobuf schema: one .proto file (the
// well-known google/protobuf imports are built in), whose messages records
// name by the message indexes of the Confluent wire format. Each message
// reads as the Avro record translated from it (ProtoMessage), so Protobuf
// records take the Avro path after one conversion.
//
// Translation: double, float → double, float; int32, sint32, sfixed32 →
// int; int64, sint64, sfixed64, uint32, fixed32, uint64, fixed64 → long
// (a uint64 beyond int64 is malformed); bool, string, bytes as such; enums
// → Avro enums; messages → nullable records; repeated → arrays; maps →
// maps (keys as text); google.protobuf.Timestamp → nullable
// timestamp-micros; wrapper types → nullable primitives. A field with
// presence (proto2, proto3 optional, oneof members) is nullable; a proto3
// scalar without presence is required and reads as its zero value when
// absent. Recursive messages cannot be tables and are ErrUnsupportedSchema.
type ProtoSchema struct {
	file protoreflect.FileDescriptor
	id   int

	mu   sync.Mutex
	msgs map[string]*ProtoMessage // by index path
	bad  map[string]error         // index paths whose message cannot be translated
}

// ProtoMessage is one message of a ProtoSchema and its Avro translation.
type ProtoMessage struct {
	desc   protoreflect.MessageDescriptor
	schema avro.Schema
	// Writer is the writer schema the message's records decode with; its
	// ID is the registry id of the file.
	Writer *WriterSchema
}

// protoFileName is the name the schema text is compiled under.
const protoFileName = "registry.proto"

// CompileProto compiles a registry Protobuf schema. id is its registry id.
func CompileProto(id int, text string) (*ProtoSchema, error) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{protoFileName: text}),
		}),
	}
	files, err := c.Compile(context.Background(), protoFileName)
	if err != nil {
		return nil, fmt.Errorf("%w: protobuf schema: %v", ErrUnsupportedSchema, err)
	}
	if files[0].Messages().Len() == 0 {
		return nil, fmt.Errorf("%w: protobuf schema defines no message", ErrUnsupportedSchema)
	}
	return &ProtoSchema{file: files[0], id: id, msgs: map[string]*ProtoMessage{}, bad: map[string]error{}}, nil
}

// Descriptor returns the i-th top-level message of the file, for producers
// that build records of it (tests, tools).
func (s *ProtoSchema) Descriptor(i int) protoreflect.MessageDescriptor {
	return s.file.Messages().Get(i)
}

// maxMessageIndexes bounds the index path in a wire header.
const maxMessageIndexes = 32

// Split reads the message indexes after the 5-byte header (body is the
// value without it) and returns the message they name and the Protobuf
// bytes after them.
func (s *ProtoSchema) Split(body []byte) (*ProtoMessage, []byte, error) {
	n, k := binary.Varint(body)
	if k <= 0 || n < 0 || n > maxMessageIndexes {
		return nil, nil, fmt.Errorf("%w: bad message index count", ErrMalformedProtobuf)
	}
	body = body[k:]
	idx := []int{0} // a count of 0 is the first message
	if n > 0 {
		idx = idx[:0]
		for range n {
			v, k := binary.Varint(body)
			if k <= 0 || v < 0 || v > math.MaxInt32 {
				return nil, nil, fmt.Errorf("%w: bad message index", ErrMalformedProtobuf)
			}
			idx = append(idx, int(v))
			body = body[k:]
		}
	}
	m, err := s.message(idx)
	if err != nil {
		return nil, nil, err
	}
	return m, body, nil
}

func (s *ProtoSchema) message(idx []int) (*ProtoMessage, error) {
	key := fmt.Sprint(idx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.msgs[key]; ok {
		return m, nil
	}
	if err := s.bad[key]; err != nil {
		return nil, err
	}
	m, err := s.translate(idx)
	if err != nil {
		if errors.Is(err, ErrUnsupportedSchema) {
			s.bad[key] = err
		}
		return nil, err
	}
	s.msgs[key] = m
	return m, nil
}

// translate finds the message idx names and its Avro translation.
func (s *ProtoSchema) translate(idx []int) (*ProtoMessage, error) {
	msgs := s.file.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i >= msgs.Len() {
			return nil, fmt.Errorf("%w: message index %v is not in the schema", ErrMalformedProtobuf, idx)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	t := protoTranslator{defined: map[protoreflect.FullName]bool{}, path: map[protoreflect.FullName]bool{}}
	rec, err := t.message(md, "")
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: protobuf %s: %v", ErrUnsupportedSchema, md.FullName(), err)
	}
	as, err := avro.ParseBytesWithCache(raw, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%w: protobuf %s as avro: %v", ErrUnsupportedSchema, md.FullName(), err)
	}
	return &ProtoMessage{desc: md, schema: as, Writer: &WriterSchema{ID: s.id, Avro: as}}, nil
}

type protoTranslator struct {
	defined map[protoreflect.FullName]bool // named Avro types already emitted
	path    map[protoreflect.FullName]bool // messages on the current path
}

func (t *protoTranslator) message(md protoreflect.MessageDescriptor, path string) (any, error) {
	name := md.FullName()
	if t.path[name] {
		return nil, fmt.Errorf("%w: protobuf field %q: recursive message %s", ErrUnsupportedSchema, path, name)
	}
	if t.defined[name] {
		return string(name), nil
	}
	t.path[name] = true
	defer delete(t.path, name)
	fields := make([]any, 0, md.Fields().Len())
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		fp := avrobin.JoinPath(path, string(fd.Name()))
		typ, nullable, def, err := t.field(fd, fp)
		if err != nil {
			return nil, err
		}
		f := map[string]any{"name": string(fd.Name()), "type": typ}
		if nullable {
			f["type"], f["default"] = []any{"null", typ}, nil
		} else if def != nil {
			f["default"] = def
		}
		fields = append(fields, f)
	}
	t.defined[name] = true
	return map[string]any{"type": "record", "name": string(name), "fields": fields}, nil
}

// field returns a field's Avro type, whether it is nullable, and the
// default of a non-nullable one (its proto zero value).
func (t *protoTranslator) field(fd protoreflect.FieldDescriptor, path string) (any, bool, any, error) {
	if fd.IsMap() {
		vt, vNull, _, err := t.single(fd.MapValue(), path+".value")
		if err != nil {
			return nil, false, nil, err
		}
		if vNull {
			vt = []any{"null", vt}
		}
		return map[string]any{"type": "map", "values": vt}, false, map[string]any{}, nil
	}
	typ, nullable, def, err := t.single(fd, path)
	if err != nil {
		return nil, false, nil, err
	}
	if fd.IsList() {
		if nullable {
			typ = []any{"null", typ}
		}
		return map[string]any{"type": "array", "items": typ}, false, []any{}, nil
	}
	return typ, nullable || fd.HasPresence(), def, nil
}

var protoWrappers = map[protoreflect.FullName]string{
	"google.protobuf.DoubleValue": "double", "google.protobuf.FloatValue": "float",
	"google.protobuf.Int64Value": "long", "google.protobuf.UInt64Value": "long",
	"google.protobuf.Int32Value": "int", "google.protobuf.UInt32Value": "long",
	"google.protobuf.BoolValue": "boolean", "google.protobuf.StringValue": "string",
	"google.protobuf.BytesValue": "bytes",
}

func (t *protoTranslator) single(fd protoreflect.FieldDescriptor, path string) (any, bool, any, error) {
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		return "double", false, 0.0, nil
	case protoreflect.FloatKind:
		return "float", false, 0.0, nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "int", false, 0, nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "long", false, 0, nil
	case protoreflect.BoolKind:
		return "boolean", false, false, nil
	case protoreflect.StringKind:
		return "string", false, "", nil
	case protoreflect.BytesKind:
		return "bytes", false, "", nil
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if t.defined[ed.FullName()] {
			return string(ed.FullName()), false, string(ed.Values().Get(0).Name()), nil
		}
		syms := make([]any, ed.Values().Len())
		for i := range ed.Values().Len() {
			syms[i] = string(ed.Values().Get(i).Name())
		}
		t.defined[ed.FullName()] = true
		return map[string]any{"type": "enum", "name": string(ed.FullName()), "symbols": syms}, false, syms[0], nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		if md.FullName() == "google.protobuf.Timestamp" {
			return map[string]any{"type": "long", "logicalType": "timestamp-micros"}, true, nil, nil
		}
		if w, ok := protoWrappers[md.FullName()]; ok {
			return w, true, nil, nil
		}
		rec, err := t.message(md, path)
		return rec, true, nil, err
	}
	return nil, false, nil, fmt.Errorf("%w: protobuf field %q: kind %s is not supported", ErrUnsupportedSchema, path, fd.Kind())
}

// Convert appends the Avro encoding of one Protobuf record of m to dst.
func (m *ProtoMessage) Convert(dst, data []byte) ([]byte, error) {
	msg := dynamicpb.NewMessage(m.desc)
	if err := (proto.UnmarshalOptions{RecursionLimit: avrobin.MaxDepth}).Unmarshal(data, msg); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrMalformedProtobuf, err)
	}
	native, err := protoRecord(msg, "")
	if err != nil {
		return dst, err
	}
	enc, err := avro.Marshal(m.schema, native)
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrMalformedProtobuf, err)
	}
	return append(dst, enc...), nil
}

func protoErr(path, format string, args ...any) error {
	return fmt.Errorf("%w: field %q: %s", ErrMalformedProtobuf, path, fmt.Sprintf(format, args...))
}

func protoRecord(msg protoreflect.Message, path string) (map[string]any, error) {
	fields := msg.Descriptor().Fields()
	out := make(map[string]any, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		fp := avrobin.JoinPath(path, name)
		switch {
		case fd.IsMap():
			mm := msg.Get(fd).Map()
			vals := make(map[string]any, mm.Len())
			var err error
			mm.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				var cv any
				if cv, err = protoValue(fd.MapValue(), v, fp+".value"); err != nil {
					return false
				}
				vals[k.String()] = wrapNullable(fd.MapValue(), cv)
				return true
			})
			if err != nil {
				return nil, err
			}
			out[name] = vals
		case fd.IsList():
			l := msg.Get(fd).List()
			items := make([]any, l.Len())
			for j := range l.Len() {
				cv, err := protoValue(fd, l.Get(j), fp+".element")
				if err != nil {
					return nil, err
				}
				items[j] = wrapNullable(fd, cv)
			}
			out[name] = items
		case (fd.HasPresence() || fd.Message() != nil) && !msg.Has(fd):
			out[name] = nil
		default:
			cv, err := protoValue(fd, msg.Get(fd), fp)
			if err != nil {
				return nil, err
			}
			if fd.HasPresence() || fd.Message() != nil {
				cv = wrapNullable(fd, cv)
			}
			out[name] = cv
		}
	}
	return out, nil
}

// wrapNullable names the union branch of a value of a nullable Avro type,
// as hamba/avro's generic encoding wants it; values of non-nullable types
// pass through.
func wrapNullable(fd protoreflect.FieldDescriptor, v any) any {
	if fd.Message() == nil && !fd.HasPresence() {
		return v
	}
	if fd.IsList() || fd.IsMap() {
		if fd.Message() == nil {
			return v
		}
	}
	if v == nil {
		return nil
	}
	var branch string
	switch md := fd.Message(); {
	case md == nil && fd.Kind() == protoreflect.EnumKind:
		branch = string(fd.Enum().FullName())
	case md == nil:
		branch = protoScalarAvro(fd.Kind())
	case md.FullName() == "google.protobuf.Timestamp":
		branch = "long.timestamp-micros"
	default:
		if w, ok := protoWrappers[md.FullName()]; ok {
			branch = w
		} else {
			branch = string(md.FullName())
		}
	}
	return map[string]any{branch: v}
}

func protoScalarAvro(k protoreflect.Kind) string {
	switch k {
	case protoreflect.DoubleKind:
		return "double"
	case protoreflect.FloatKind:
		return "float"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "int"
	case protoreflect.BoolKind:
		return "boolean"
	case protoreflect.StringKind:
		return "string"
	case protoreflect.BytesKind:
		return "bytes"
	}
	return "long"
}

func protoValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) (any, error) {
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		return v.Float(), nil
	case protoreflect.FloatKind:
		return float32(v.Float()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return int32(v.Int()), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u := v.Uint()
		if u > math.MaxInt64 {
			return nil, protoErr(path, "%d does not fit a long", u)
		}
		return int64(u), nil
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		return v.Bytes(), nil
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return nil, protoErr(path, "enum number %d is not in %s", v.Enum(), fd.Enum().FullName())
		}
		return string(ev.Name()), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message()
		md := m.Descriptor()
		if md.FullName() == "google.protobuf.Timestamp" {
			secs := m.Get(md.Fields().ByName("seconds")).Int()
			nanos := m.Get(md.Fields().ByName("nanos")).Int()
			return time.Unix(secs, nanos).UTC(), nil
		}
		if _, ok := protoWrappers[md.FullName()]; ok {
			inner := md.Fields().ByName("value")
			return protoValue(inner, m.Get(inner), path)
		}
		return protoRecord(m, path)
	}
	return nil, protoErr(path, "kind %s is not supported", fd.Kind())
}
