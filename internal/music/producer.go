package music

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kslog"
)

// ErrInvalidProducerOptions is returned by NewProducer for unusable options.
var ErrInvalidProducerOptions = errors.New("invalid producer options")

// ProducerOptions configures a Producer.
type ProducerOptions struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// RegistryURL is the schema registry base URL. Required.
	RegistryURL string
	// Topic receives the tracks. Required; it must already exist.
	Topic string
	// Rate is the target records per second; 0 produces as fast as the
	// broker acknowledges.
	Rate float64
	// Total stops the producer after this many records; 0 = unlimited.
	Total int64
	// Seed seeds the Generator, so equal seeds produce equal values.
	Seed int64
	// Logger receives producer and Kafka client logs. Default: discard.
	Logger *slog.Logger
}

// Producer writes generated Tracks to Kafka as Confluent-framed Avro.
type Producer struct {
	o   ProducerOptions
	log *slog.Logger

	produced atomic.Int64
	schemaID atomic.Int32

	errMu    sync.Mutex
	firstErr error
}

const (
	// maxBatch bounds how many records are handed to the client between
	// checks of ctx and of produce errors.
	maxBatch = 1000
	// minTick keeps the rate loop from spinning at high rates: at 10k/s a
	// 5ms tick hands over 50 records at a time.
	minTick = 5 * time.Millisecond
	// drainTimeout bounds the wait for acks of already buffered records
	// after the producer stops.
	drainTimeout = 30 * time.Second
)

// NewProducer validates o and returns a Producer. Nothing connects until Run.
func NewProducer(o ProducerOptions) (*Producer, error) {
	switch {
	case len(o.Brokers) == 0:
		return nil, fmt.Errorf("%w: no brokers", ErrInvalidProducerOptions)
	case o.RegistryURL == "":
		return nil, fmt.Errorf("%w: no registry url", ErrInvalidProducerOptions)
	case o.Topic == "":
		return nil, fmt.Errorf("%w: no topic", ErrInvalidProducerOptions)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return nil, fmt.Errorf("%w: rate %v", ErrInvalidProducerOptions, o.Rate)
	case o.Total < 0:
		return nil, fmt.Errorf("%w: total %d", ErrInvalidProducerOptions, o.Total)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Producer{o: o, log: log.With("topic", o.Topic)}, nil
}

// Produced returns how many records the broker has acknowledged so far.
func (p *Producer) Produced() int64 { return p.produced.Load() }

// SchemaID returns the registry id of TrackSchema once Run has registered
// it, 0 before.
func (p *Producer) SchemaID() int32 { return p.schemaID.Load() }

// Run registers TrackSchema under "<topic>-value", then produces records
// keyed by track_id until Total records are acknowledged or ctx is done.
// On either, it stops handing out new records and waits for the
// acknowledgements of those already buffered, then returns nil. A produce
// or registry error stops the run and is returned.
func (p *Producer) Run(ctx context.Context) error {
	id, err := p.register(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.schemaID.Store(id)

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(p.o.Brokers...),
		kgo.DefaultProduceTopic(p.o.Topic),
		kgo.WithLogger(kslog.New(p.log)),
	)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	// Buffered records carry a context that outlives ctx, so that
	// cancelling ctx stops new records without failing those in flight.
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()

	p.log.Info("producing tracks", "schema_id", id, "rate", p.o.Rate, "total", p.o.Total)
	loopErr := p.loop(ctx, drainCtx, cl, id)

	flushCtx, cancelFlush := context.WithTimeout(drainCtx, drainTimeout)
	defer cancelFlush()
	if err := cl.Flush(flushCtx); err != nil {
		cancelDrain()
		loopErr = errors.Join(loopErr, fmt.Errorf("wait for acks: %w", err))
	}
	if err := errors.Join(loopErr, p.err()); err != nil {
		return fmt.Errorf("produce to %s: %w", p.o.Topic, err)
	}
	p.log.Info("producer stopped", "produced", p.Produced())
	return nil
}

func (p *Producer) register(ctx context.Context) (int32, error) {
	rcl, err := sr.NewClient(sr.URLs(p.o.RegistryURL))
	if err != nil {
		return 0, fmt.Errorf("registry client: %w", err)
	}
	// Under the topic's own subject, as a serializer with the default
	// TopicNameStrategy does: the ingester rejects an id registered only
	// under another topic's subject (foreign-schema).
	subject := p.o.Topic + "-value"
	ss, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: TrackSchema(), Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("register %s: %w", subject, err)
	}
	if ss.ID <= 0 || ss.ID > math.MaxInt32 {
		return 0, fmt.Errorf("register %s: registry returned id %d", subject, ss.ID)
	}
	return int32(ss.ID), nil
}

// loop hands records to the client at the configured rate. It returns nil
// when Total is reached or ctx is done, and an error only for a failure to
// build a record; produce failures are collected by the promise.
func (p *Producer) loop(ctx, recCtx context.Context, cl *kgo.Client, schemaID int32) error {
	g := NewGenerator(p.o.Seed)
	var sent int64
	promise := func(_ *kgo.Record, err error) {
		if err == nil {
			p.produced.Add(1)
			return
		}
		// Produce blocked on a full buffer when ctx was cancelled; the
		// record was never sent, which is part of a clean stop.
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return
		}
		p.setErr(err)
	}
	produce := func(n int64) error {
		for range n {
			if ctx.Err() != nil {
				return nil
			}
			val := AppendWire(make([]byte, 0, 320), schemaID, nil)
			val, err := g.Next(val)
			if err != nil {
				return err
			}
			rec := &kgo.Record{Key: []byte(g.LastTrackID()), Value: val, Context: recCtx}
			cl.Produce(ctx, rec, promise)
			sent++
		}
		return nil
	}
	remaining := func() int64 {
		if p.o.Total == 0 {
			return math.MaxInt64
		}
		return p.o.Total - sent
	}

	if p.o.Rate == 0 {
		// Produce blocks once the client's buffer is full, which paces
		// this loop to the broker's acknowledgement rate.
		for remaining() > 0 && ctx.Err() == nil && p.err() == nil {
			if err := produce(min(maxBatch, remaining())); err != nil {
				return err
			}
		}
		return nil
	}

	// Token bucket refilled on each tick. The bucket holds at most one
	// second of records, so a stall is not followed by an unbounded burst.
	interval := max(minTick, time.Duration(float64(time.Second)/p.o.Rate))
	capacity := max(p.o.Rate, 1)
	tokens := 1.0
	last := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for remaining() > 0 && p.err() == nil {
		if n := min(int64(tokens), remaining()); n > 0 {
			tokens -= float64(n)
			if err := produce(n); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			tokens = min(capacity, tokens+p.o.Rate*now.Sub(last).Seconds())
			last = now
		}
	}
	return nil
}

func (p *Producer) setErr(err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.firstErr == nil {
		p.firstErr = err
		p.log.Error("produce", "err", err)
	}
}

func (p *Producer) err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.firstErr
}
