package ingest_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema/registry"
)

// Protobuf records through the registry: the wire header's message index
// picks the message, good records land in a table created from its Avro
// translation, malformed ones go to quarantine, and EO holds.
func TestProtobufThroughTheRegistry(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	const text = `syntax = "proto3"; package p;
message Play { int64 user_id = 1; string track = 2; optional string country = 3; repeated string tags = 4; }`
	rcl, err := sr.NewClient(sr.URLs(e.cluster.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.CreateSchema(context.Background(), testTopic+"-value", sr.Schema{Type: sr.TypeProtobuf, Schema: text})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md := playDescriptor(t, text)
	for i := range 25 {
		m := dynamicpb.NewMessage(md)
		m.Set(md.Fields().ByName("user_id"), protoreflect.ValueOfInt64(int64(i)))
		m.Set(md.Fields().ByName("track"), protoreflect.ValueOfString("t"))
		if i%2 == 0 {
			m.Set(md.Fields().ByName("country"), protoreflect.ValueOfString("KR"))
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		value := music.AppendWire(nil, int32(ss.ID), append([]byte{0}, b...)) // message index [0]
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: music.AppendWire(nil, int32(ss.ID), []byte{0, 0x0a, 0x05})}).FirstErr(); err != nil {
		t.Fatal(err) // field 1 as a length-delimited value: malformed
	}
	r := e.start(withQuarantine(e.options()))
	e.waitWatermarks(26)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep := e.verifyRoute()
	if rowsIn(rep) != 25 || rejectsIn(rep) != 1 {
		t.Fatalf("rows %d rejects %d, want 25 and 1", rowsIn(rep), rejectsIn(rep))
	}
	for _, row := range e.readRejects() {
		if row.reason != "malformed-protobuf" || row.schemaID == nil || int(*row.schemaID) != ss.ID {
			t.Errorf("reject %+v", row)
		}
	}
	tbl, err := e.cat.LoadTable(context.Background(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := tbl.Schema().FindFieldByName("country"); !ok || f.Required {
		t.Fatalf("column country %v: a proto3 optional field is nullable", f)
	}
}

// playDescriptor compiles text the way the registry client does and
// returns its first message, for building test records.
func playDescriptor(t *testing.T, text string) protoreflect.MessageDescriptor {
	t.Helper()
	ps, err := registry.CompileProto(1, text)
	if err != nil {
		t.Fatal(err)
	}
	return ps.Descriptor(0)
}
