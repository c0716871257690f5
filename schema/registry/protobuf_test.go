package registry

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/schematest"
)

const playsProto = `syntax = "proto3";
package music.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Device { DEVICE_UNKNOWN = 0; PHONE = 1; SPEAKER = 2; }

message Play {
  int64 user_id = 1;
  string track = 2;
  uint32 ms = 3;
  Device device = 4;
  optional string country = 5;
  google.protobuf.Timestamp at = 6;
  repeated string tags = 7;
  map<string, int64> counters = 8;
  Context ctx = 9;
  google.protobuf.StringValue referrer = 10;
  repeated Context history = 11;
  uint64 big = 12;
  message Context { string app = 1; int32 version = 2; }
}

message Other { bool flag = 1; }
`

// protoWire frames a message as the Confluent serializer does, with the
// message index path.
func protoWire(t *testing.T, idx []int, m proto.Message) []byte {
	t.Helper()
	var p []byte
	if len(idx) == 1 && idx[0] == 0 {
		p = binary.AppendVarint(p, 0)
	} else {
		p = binary.AppendVarint(p, int64(len(idx)))
		for _, i := range idx {
			p = binary.AppendVarint(p, int64(i))
		}
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(p, b...)
}

func TestProtobufConvertAndDecode(t *testing.T) {
	ps, err := CompileProto(5, playsProto)
	if err != nil {
		t.Fatal(err)
	}
	play := ps.file.Messages().ByName("Play")
	msg := dynamicpb.NewMessage(play)
	f := func(name string) protoreflect.FieldDescriptor { return play.Fields().ByName(protoreflect.Name(name)) }
	msg.Set(f("user_id"), protoreflect.ValueOfInt64(42))
	msg.Set(f("track"), protoreflect.ValueOfString("Gangnam"))
	msg.Set(f("ms"), protoreflect.ValueOfUint32(219000))
	msg.Set(f("device"), protoreflect.ValueOfEnum(2))
	msg.Set(f("at"), protoreflect.ValueOfMessage(timestamppb.New(time.UnixMilli(1_700_000_000_123)).ProtoReflect()))
	msg.Mutable(f("tags")).List().Append(protoreflect.ValueOfString("kpop"))
	msg.Mutable(f("counters")).Map().Set(protoreflect.ValueOfString("plays").MapKey(), protoreflect.ValueOfInt64(7))
	ctx := msg.Mutable(f("ctx")).Message()
	ctx.Set(ctx.Descriptor().Fields().ByName("app"), protoreflect.ValueOfString("web"))
	hist := msg.Mutable(f("history")).List()
	h := hist.NewElement()
	h.Message().Set(ctx.Descriptor().Fields().ByName("version"), protoreflect.ValueOfInt32(3))
	hist.Append(h)

	m, data, err := ps.Split(protoWire(t, []int{0}, msg))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := schema.ToIceberg(m.Writer.Avro)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"user_id": "long", "ms": "long", "device": "string", "country": "string",
		"at": "timestamptz", "tags": "list<string>", "counters": "map<string, long>", "ctx": "struct<", "referrer": "string", "big": "long"} {
		fld, ok := sc.FindFieldByName(name)
		if !ok || !strings.HasPrefix(fld.Type.String(), want) {
			t.Errorf("column %s: %v, want %s", name, fld.Type, want)
		}
	}
	if c, _ := sc.FindFieldByName("country"); c.Required {
		t.Error("a proto3 optional field must be nullable")
	}
	if u, _ := sc.FindFieldByName("user_id"); !u.Required {
		t.Error("a proto3 scalar without presence is required (its zero value when absent)")
	}
	payload, err := m.Convert(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.NewDecoder(m.Writer.Avro, sc)
	if err != nil {
		t.Fatal(err)
	}
	b := schematest.NewBuilder(t, sc)
	if err := d.Decode(payload, b); err != nil {
		t.Fatal(err)
	}
	schema.AppendMeta(b, &schema.Meta{Topic: "plays"})
	rec := b.NewRecordBatch()
	defer rec.Release()
	col := func(name string) int { return rec.Schema().FieldIndices(name)[0] }
	if v := rec.Column(col("device")).(*array.String).Value(0); v != "SPEAKER" {
		t.Errorf("device %q", v)
	}
	if !rec.Column(col("country")).IsNull(0) || !rec.Column(col("referrer")).IsNull(0) {
		t.Error("unset optional and wrapper fields must be null")
	}
	if v := rec.Column(col("ms")).(*array.Int64).Value(0); v != 219000 {
		t.Errorf("ms %d", v)
	}

	// The second message by index; bad indexes and values.
	other := dynamicpb.NewMessage(ps.file.Messages().ByName("Other"))
	other.Set(other.Descriptor().Fields().ByName("flag"), protoreflect.ValueOfBool(true))
	if m2, _, err := ps.Split(protoWire(t, []int{1}, other)); err != nil || m2.Writer.Avro.(interface{ FullName() string }).FullName() != "music.v1.Other" {
		t.Fatalf("message index [1]: %v, %v", m2, err)
	}
	if _, _, err := ps.Split(protoWire(t, []int{7}, other)); !errors.Is(err, ErrMalformedProtobuf) {
		t.Errorf("index 7: %v", err)
	}
	msg.Set(f("device"), protoreflect.ValueOfEnum(9))
	if _, err := m.Convert(nil, mustProto(t, msg)); !errors.Is(err, ErrMalformedProtobuf) || !strings.Contains(err.Error(), "device") {
		t.Errorf("unknown enum number: %v", err)
	}
	msg.Set(f("device"), protoreflect.ValueOfEnum(1))
	msg.Set(f("big"), protoreflect.ValueOfUint64(1<<63))
	if _, err := m.Convert(nil, mustProto(t, msg)); !errors.Is(err, ErrMalformedProtobuf) || !strings.Contains(err.Error(), "big") {
		t.Errorf("uint64 beyond int64: %v", err)
	}
	if _, err := m.Convert(nil, []byte{0xff, 0xff}); !errors.Is(err, ErrMalformedProtobuf) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := CompileProto(1, "syntax = \"proto3\"; message {"); !errors.Is(err, ErrUnsupportedSchema) {
		t.Errorf("bad proto text: %v", err)
	}
}

func mustProto(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzProtobufConvert: arbitrary message bytes convert to a payload the
// decoder accepts, or fail as ErrMalformedProtobuf.
func FuzzProtobufConvert(f *testing.F) {
	f.Add([]byte{0, 0x08, 0x2a, 0x12, 0x01, 'x'})
	f.Add([]byte{2, 2, 0x08, 0x01})
	f.Add([]byte{0, 0x4a, 0x02, 0x10, 0x03})
	ps, err := CompileProto(5, playsProto)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, data, err := ps.Split(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedProtobuf) {
				t.Fatalf("split: %v", err)
			}
			return
		}
		p, err := m.Convert(nil, data)
		if err != nil {
			if !errors.Is(err, ErrMalformedProtobuf) {
				t.Fatalf("convert: %v", err)
			}
			return
		}
		sc, err := schema.ToIceberg(m.Writer.Avro)
		if err != nil {
			t.Fatal(err)
		}
		d, err := decode.NewDecoder(m.Writer.Avro, sc)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Check(p); err != nil {
			t.Fatalf("converted %x does not decode: %v", in, err)
		}
	})
}
