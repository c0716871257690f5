package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/objstore/objstoretest"
)

// TestRunS3Warehouse runs the harness against an s3:// warehouse (an
// in-memory gofakes3 on 127.0.0.1): L3 and the pipeline upload through
// objstore's S3 provider, multipart included, and the report's byte
// counts come from listing the bucket.
func TestRunS3Warehouse(t *testing.T) {
	const bucket = "bench"
	s3 := objstoretest.FakeS3(t, bucket)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const records = 2000
	rep, err := Run(ctx, Config{
		Workload:       "small",
		Records:        records,
		Partitions:     2,
		Warehouse:      "s3://" + bucket + "/wh",
		S3:             s3,
		SampleInterval: 50 * time.Millisecond,
		StallTimeout:   20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Warehouse, "s3://") {
		t.Errorf("warehouse %s, want the s3:// one", rep.Warehouse)
	}
	checkReport(t, rep, records)

	// L3's uploads are removed once measured.
	b, err := objstore.Open(ctx, rep.Warehouse, s3)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := b.List(ctx, "bench/", func(o objstore.Object) error { left = append(left, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("L3 left %d objects behind: %v", len(left), left)
	}
}
