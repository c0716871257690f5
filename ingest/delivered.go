package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
		// Only offsets below the last stable offset can be delivered yet.
		lso, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, tp.Topic)
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
