package ingest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/table"
)

// BaseKafkaOpts returns the connection options of o (brokers, client id,
// TLS, SASL), for tools that talk to the same cluster as the pipeline.
func BaseKafkaOpts(o Options) []kgo.Opt {
	kopts := []kgo.Opt{kgo.SeedBrokers(o.Brokers...)}
	if o.ClientID != "" {
		kopts = append(kopts, kgo.ClientID(o.ClientID))
	}
	if o.TLS != nil {
		kopts = append(kopts, kgo.DialTLSConfig(o.TLS))
	}
	if o.SASL != nil {
		kopts = append(kopts, kgo.SASL(o.SASL))
	}
	return kopts
}

// Delivered returns a table.DeliveredFunc that reads a partition range
// with a read_committed consumer, the way the pipeline sees it: aborted
// transactional records, control markers and compacted-away offsets are
// not delivered, so they are not expected in the table.
func Delivered(base []kgo.Opt) table.DeliveredFunc {
	return func(ctx context.Context, tp table.TP, from, to int64) ([]int64, error) {
		cl, err := kgo.NewClient(append(base[:len(base):len(base)],
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NoResetOffset()),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(from)}}),
		)...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		// Below the log start retention deleted the records: fetching there
		// is out of range, so the caller is told where the log starts.
		belowStart := func(at int64) error {
			starts, err := adm.ListStartOffsets(ctx, tp.Topic)
			if err != nil {
				return fmt.Errorf("list log start offsets: %w", err)
			}
			so, ok := starts.Lookup(tp.Topic, tp.Partition)
			if !ok || so.Err != nil {
				return fmt.Errorf("log start offset of %s: %v", tp, so.Err)
			}
			if at < so.Offset {
				return &table.BelowLogStartError{TP: tp, From: from, LogStart: so.Offset}
			}
			return nil
		}
		if err := belowStart(from); err != nil {
			return nil, err
		}
		// Only offsets below the last stable offset can be delivered yet.
		lso, err := adm.ListCommittedOffsets(ctx, tp.Topic)
		if err != nil {
			return nil, fmt.Errorf("list last stable offsets: %w", err)
		}
		lo, ok := lso.Lookup(tp.Topic, tp.Partition)
		if !ok || lo.Err != nil {
			return nil, fmt.Errorf("last stable offset of %s: %v", tp, lo.Err)
		}
		target := min(to, lo.Offset)
		var out []int64
		next := from
		for next < target {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			fetches := cl.PollFetches(pctx)
			cancel()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			progressed := false
			var ferr error
			fetches.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					ferr = err
				}
			})
			if errors.Is(ferr, kerr.OffsetOutOfRange) {
				// Retention moved the log start past next while reading.
				if err := belowStart(next); err != nil {
					return nil, err
				}
			}
			if ferr != nil {
				return nil, ferr
			}
			fetches.EachRecord(func(r *kgo.Record) {
				progressed = true
				if r.Offset >= target {
					next = target
					return
				}
				out = append(out, r.Offset)
				next = r.Offset + 1
			})
			if !progressed {
				// Nothing more is delivered below target: the rest are
				// markers or aborted records.
				break
			}
		}
		return out, nil
	}
}

// Subscription is what a pipeline consumes, for VerifyPartitions: topics
// by name, and every existing topic whose whole name matches a pattern.
type Subscription struct {
	Topics   []string
	Patterns []*regexp.Regexp
	// StartKind and StartAt are the pipeline's start (Options.StartKind).
	StartKind string
	StartAt   time.Time
}

// VerifyPartitions lists, for table.WithKafkaPartitions, every partition
// of every topic sub names or matches, with its log start, log end and
// last stable offset, and where the pipeline begins on it while it is not
// committed. It also returns the named topics Kafka does not have.
func VerifyPartitions(ctx context.Context, base []kgo.Opt, sub Subscription) (map[table.TP]table.KafkaPartition, []string, error) {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := slices.Clone(sub.Topics)
	var absent []string
	if len(sub.Patterns) > 0 {
		// Internal topics are left out, as the consumer leaves them out.
		all, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list topics: %w", err)
		}
		for _, name := range all.Names() {
			if matchesAny(sub.Patterns, name) && !slices.Contains(topics, name) {
				topics = append(topics, name)
			}
		}
	}
	out := map[table.TP]table.KafkaPartition{}
	if len(topics) == 0 {
		return out, nil, nil
	}
	listed := []offsetListing{
		{"log start", adm.ListStartOffsets, func(k *table.KafkaPartition, o int64) { k.LogStart = o }},
		{"log end", adm.ListEndOffsets, func(k *table.KafkaPartition, o int64) { k.LogEnd = o }},
		{"last stable", adm.ListCommittedOffsets, func(k *table.KafkaPartition, o int64) { k.Stable = o }},
	}
	switch sub.StartKind {
	case StartLatest:
	case StartTimestamp:
		ms := sub.StartAt.UnixMilli()
		listed = append(listed, offsetListing{"start time", func(ctx context.Context, t ...string) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, ms, t...)
		}, func(k *table.KafkaPartition, o int64) { k.Start = o }})
	default:
		listed[0].set = func(k *table.KafkaPartition, o int64) { k.LogStart, k.Start = o, o }
	}
	for i, l := range listed {
		offs, err := l.list(ctx, topics...)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s offsets: %w", l.what, err)
		}
		for topic, parts := range offs {
			for part, lo := range parts {
				if part < 0 {
					// kadm's marker for a topic that does not exist.
					if i == 0 {
						absent = append(absent, topic)
					}
					continue
				}
				if lo.Err != nil {
					return nil, nil, fmt.Errorf("%s offset of %s/%d: %w", l.what, topic, part, lo.Err)
				}
				tp := table.TP{Topic: topic, Partition: part}
				k, ok := out[tp]
				if !ok {
					if i > 0 {
						continue // created between the listings: checked next time
					}
					k.Start = -1
				}
				l.set(&k, lo.Offset)
				out[tp] = k
			}
		}
	}
	slices.Sort(absent)
	return out, absent, nil
}

// offsetListing is one kadm listing VerifyPartitions makes, and the field
// of table.KafkaPartition it fills.
type offsetListing struct {
	what string
	list func(context.Context, ...string) (kadm.ListedOffsets, error)
	set  func(*table.KafkaPartition, int64)
}
