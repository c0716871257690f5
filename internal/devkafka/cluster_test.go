package devkafka_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

func start(t *testing.T, o devkafka.Options) *devkafka.Cluster {
	t.Helper()
	if o.KafkaAddr == "" {
		o.KafkaAddr = "127.0.0.1:0"
	}
	if o.RegistryAddr == "" {
		o.RegistryAddr = "127.0.0.1:0"
	}
	c, err := devkafka.Start(t.Context(), o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() }) // tests that Close explicitly check its error
	return c
}

func consume(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	// The deadline only guards against a hang.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(recs), want, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func TestStartRejectsBadAddresses(t *testing.T) {
	tests := []struct {
		name    string
		o       devkafka.Options
		notLoop bool
	}{
		{"kafka all interfaces", devkafka.Options{KafkaAddr: "0.0.0.0:0", RegistryAddr: "127.0.0.1:0"}, true},
		{"registry other host", devkafka.Options{KafkaAddr: "127.0.0.1:0", RegistryAddr: "10.0.0.1:0"}, true},
		{"no port", devkafka.Options{KafkaAddr: "127.0.0.1", RegistryAddr: "127.0.0.1:0"}, false},
		{"port out of range", devkafka.Options{KafkaAddr: "127.0.0.1:70000", RegistryAddr: "127.0.0.1:0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := devkafka.Start(t.Context(), tt.o)
			if err == nil {
				_ = c.Close()
				t.Fatal("Start succeeded")
			}
			if got := errors.Is(err, devkafka.ErrNotLoopback); got != tt.notLoop {
				t.Fatalf("errors.Is(%v, ErrNotLoopback) = %v, want %v", err, got, tt.notLoop)
			}
		})
	}
}

func TestStartFixedPortsSeedsTopics(t *testing.T) {
	// Reserve two free ports, then ask for them by number, as `bigfather
	// dev` does with 9092 and 8081.
	ports := make([]string, 2)
	for i := range ports {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().String()
		ln.Close()
	}
	c := start(t, devkafka.Options{
		KafkaAddr:    ports[0],
		RegistryAddr: "localhost:" + ports[1][strings.LastIndex(ports[1], ":")+1:],
		Topics:       map[string]int32{"tracks": 3, "other": 1},
	})
	if got := c.Brokers(); len(got) != 1 || got[0] != ports[0] {
		t.Fatalf("Brokers() = %v, want [%s]", got, ports[0])
	}
	if got, want := c.RegistryURL(), "http://"+ports[1]; got != want {
		t.Fatalf("RegistryURL() = %s, want %s", got, want)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(t.Context())
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, b := range md.Brokers {
		if b.Host != "127.0.0.1" {
			t.Errorf("broker %d advertises %s, want 127.0.0.1", b.NodeID, b.Host)
		}
	}
	for topic, want := range map[string]int{"tracks": 3, "other": 1} {
		td, ok := md.Topics[topic]
		if !ok || len(td.Partitions) != want {
			t.Errorf("topic %s: present %v, %d partitions, want %d", topic, ok, len(td.Partitions), want)
		}
	}

	rcl, err := sr.NewClient(sr.URLs(c.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.CreateSchema(t.Context(), music.TracksSubject, sr.Schema{Schema: music.TrackSchema(), Type: sr.TypeAvro})
	if err != nil {
		t.Fatalf("register over http: %v", err)
	}
	if got, ok := c.Registry().GetSchema(music.TracksSubject, ss.Version); !ok || got.ID != ss.ID {
		t.Fatalf("Registry() does not hold what was registered over http: %+v %v", got, ok)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestRestartKeepsRecordsAndSchemas pins that DataDir carries both the log
// and the schema ids across a restart; ids framed into old records must
// still resolve.
func TestRestartKeepsRecordsAndSchemas(t *testing.T) {
	dir := t.TempDir()
	opts := devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", DataDir: dir,
		Topics: map[string]int32{"tracks": 3},
	}
	c1 := start(t, opts)
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: c1.Brokers(), RegistryURL: c1.RegistryURL(), Topic: "tracks", Total: 100, Seed: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if p.Produced() != 100 {
		t.Fatalf("produced %d, want 100", p.Produced())
	}
	if err := c1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	// A topic added to Options after the first run must be created even
	// though kfake ignores seed topics when it reloads from disk.
	opts.Topics = map[string]int32{"tracks": 3, "added": 2}
	c2 := start(t, opts)
	recs := consume(t, c2.Brokers(), "tracks", 100)
	if len(recs) != 100 {
		t.Fatalf("consumed %d after restart, want 100", len(recs))
	}
	rcl, err := sr.NewClient(sr.URLs(c2.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := rcl.SchemaByID(t.Context(), int(p.SchemaID()))
	if err != nil {
		t.Fatalf("schema id %d after restart: %v", p.SchemaID(), err)
	}
	if s.Schema == "" {
		t.Fatal("empty schema after restart")
	}
	// A new schema must get a fresh id, not reuse the restored one.
	other, err := rcl.CreateSchema(t.Context(), "other-value", sr.Schema{Schema: `"string"`, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == int(p.SchemaID()) {
		t.Fatalf("new schema reused id %d", other.ID)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c2.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(t.Context(), "added")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := td["added"]; !ok || d.Err != nil || len(d.Partitions) != 2 {
		t.Fatalf("topic added after restart: %+v", td)
	}
}

func TestKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not on PATH (Debian package kcat): external client interop not checked")
	}
	c := start(t, devkafka.Options{Topics: map[string]int32{"kc": 1}})
	broker := c.Brokers()[0]
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", broker}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}

	md := run("", "-L")
	if !strings.Contains(md, broker) || !strings.Contains(md, `topic "kc"`) {
		t.Fatalf("kcat -L does not show broker %s and topic kc:\n%s", broker, md)
	}

	run("k1:one\nk2:two\nk3:three\n", "-P", "-t", "kc", "-K:")
	recs := consume(t, c.Brokers(), "kc", 3)
	got := make([]string, 0, len(recs))
	for _, r := range recs {
		got = append(got, string(r.Key)+"="+string(r.Value))
	}
	if want := "k1=one k2=two k3=three"; strings.Join(got, " ") != want {
		t.Fatalf("kgo consumed %q, want %q", got, want)
	}

	// And the other way round: kcat reads what it wrote, end to end.
	out := run("", "-C", "-t", "kc", "-o", "beginning", "-c", "3", "-e", "-f", "%k=%s\n")
	if want := "k1=one\nk2=two\nk3=three\n"; out != want {
		t.Fatalf("kcat consumed %q, want %q", out, want)
	}
}
