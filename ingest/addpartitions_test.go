package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/internal/eventually"
)

// Partitions added to a named topic while the pipeline runs are ingested
// within MetadataMaxAge (kafka.metadata_max_age), not after the client's
// default five minutes, during which their records sat unread while
// /readyz said ready and no lag gauge showed them.
func TestPartitionsAddedWhileRunningAreIngested(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(40, 1)
	opts := e.options()
	opts.MetadataMaxAge = 500 * time.Millisecond
	r := e.start(opts)
	e.waitWatermarks(40)

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreatePartitions(ctx, 2, testTopic)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	// Keyed by track id: the default partitioner spreads them over all
	// three partitions.
	e.produce(60, 2)

	// Well under the client's default metadata age of five minutes.
	eventually.Within(t, 20*time.Second, func() error {
		wm := e.watermarks()
		if sum := sumOf(wm); sum > 100 {
			t.Fatalf("watermarks %v sum beyond the 100 offsets produced", wm)
		} else if sum < 100 {
			return fmt.Errorf("watermarks %v after two partitions were added: the new partitions are not ingested", wm)
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
