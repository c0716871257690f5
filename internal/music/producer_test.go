package music_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

const topic = "tracks"

func startCluster(t *testing.T) *devkafka.Cluster {
	t.Helper()
	c, err := devkafka.Start(t.Context(), devkafka.Options{
		KafkaAddr:    "127.0.0.1:0",
		RegistryAddr: "127.0.0.1:0",
		Topics:       map[string]int32{topic: 3},
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	return c
}

// consume reads want records from the start of topic with read_committed
// isolation. The deadline only guards against a hang.
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

func TestProducerRoundTrip(t *testing.T) {
	c := startCluster(t)
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers:     c.Brokers(),
		RegistryURL: c.RegistryURL(),
		Topic:       topic,
		Total:       500,
		Seed:        1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := p.Produced(); got != 500 {
		t.Fatalf("Produced() = %d, want 500", got)
	}

	// The id and schema the registry holds, not what the producer thinks.
	rcl, err := sr.NewClient(sr.URLs(c.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.SchemaByVersion(t.Context(), music.TracksSubject, -1)
	if err != nil {
		t.Fatalf("registered schema: %v", err)
	}
	if int32(ss.ID) != p.SchemaID() {
		t.Fatalf("registry id %d, producer id %d", ss.ID, p.SchemaID())
	}
	schema, err := avro.Parse(ss.Schema.Schema)
	if err != nil {
		t.Fatalf("parse registered schema: %v", err)
	}

	recs := consume(t, c.Brokers(), topic, 500)
	if len(recs) != 500 {
		t.Fatalf("consumed %d records, want 500", len(recs))
	}
	partitions := map[int32]int{}
	keys := map[string]bool{}
	for _, r := range recs {
		partitions[r.Partition]++
		v := r.Value
		if len(v) < music.WireHeaderLen || v[0] != 0 {
			t.Fatalf("offset %d: bad wire header %x", r.Offset, v[:min(len(v), 5)])
		}
		if id := int32(binary.BigEndian.Uint32(v[1:5])); id != int32(ss.ID) {
			t.Fatalf("offset %d: schema id %d, want %d", r.Offset, id, ss.ID)
		}
		var tr music.Track
		if err := avro.Unmarshal(schema, v[music.WireHeaderLen:], &tr); err != nil {
			t.Fatalf("offset %d: decode: %v", r.Offset, err)
		}
		checkTrack(t, &tr)
		if string(r.Key) != tr.TrackID {
			t.Fatalf("offset %d: key %q, track_id %q", r.Offset, r.Key, tr.TrackID)
		}
		keys[tr.TrackID] = true
	}
	if len(partitions) != 3 {
		t.Errorf("records landed in %d partitions, want 3: %v", len(partitions), partitions)
	}
	if len(keys) != 500 {
		t.Errorf("%d distinct track ids, want 500", len(keys))
	}
}

func TestProducerRateLimitedStopsAtTotal(t *testing.T) {
	c := startCluster(t)
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: c.Brokers(), RegistryURL: c.RegistryURL(), Topic: topic,
		Rate: 2000, Total: 150, Seed: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := p.Produced(); got != 150 {
		t.Fatalf("Produced() = %d, want 150", got)
	}
	if recs := consume(t, c.Brokers(), topic, 150); len(recs) != 150 {
		t.Fatalf("consumed %d, want 150", len(recs))
	}
}

func TestProducerCancelIsCleanStop(t *testing.T) {
	c := startCluster(t)
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: c.Brokers(), RegistryURL: c.RegistryURL(), Topic: topic,
		Rate: 5000, Seed: 3, // Total 0: runs until cancelled
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Cancel once some records are acknowledged; the poll is not a timing
	// assertion, only a wait for progress.
	eventually.Within(t, 30*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if n := p.Produced(); n < 50 {
			return fmt.Errorf("%d records acknowledged, want 50", n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v, want nil", err)
	}
	n := p.Produced()
	// Every acknowledged record is in the log, and nothing else is.
	recs := consume(t, c.Brokers(), topic, int(n))
	if int64(len(recs)) != n {
		t.Fatalf("consumed %d, Produced() = %d", len(recs), n)
	}
}

func TestNewProducerValidates(t *testing.T) {
	ok := music.ProducerOptions{Brokers: []string{"127.0.0.1:1"}, RegistryURL: "http://127.0.0.1:1", Topic: "t"}
	tests := []struct {
		name string
		mod  func(*music.ProducerOptions)
	}{
		{"no brokers", func(o *music.ProducerOptions) { o.Brokers = nil }},
		{"no registry", func(o *music.ProducerOptions) { o.RegistryURL = "" }},
		{"no topic", func(o *music.ProducerOptions) { o.Topic = "" }},
		{"negative rate", func(o *music.ProducerOptions) { o.Rate = -1 }},
		{"negative total", func(o *music.ProducerOptions) { o.Total = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mod(&o)
			if _, err := music.NewProducer(o); !errors.Is(err, music.ErrInvalidProducerOptions) {
				t.Fatalf("err = %v, want ErrInvalidProducerOptions", err)
			}
		})
	}
	if _, err := music.NewProducer(ok); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

func TestProducerRegistryDownIsError(t *testing.T) {
	c := startCluster(t)
	p, err := music.NewProducer(music.ProducerOptions{
		Brokers: c.Brokers(), RegistryURL: "http://127.0.0.1:1", Topic: topic, Total: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err == nil {
		t.Fatal("run with unreachable registry returned nil")
	}
	if p.Produced() != 0 {
		t.Fatalf("produced %d records without a schema", p.Produced())
	}
}
