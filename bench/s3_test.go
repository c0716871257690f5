package bench

import (
	"context"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/bigfather/bigfather/objstore"
)

// TestRunS3Warehouse runs the harness against an s3:// warehouse (an
// in-memory gofakes3 on 127.0.0.1): L3 and the pipeline upload through
// objstore's S3 provider, multipart included, and the report's byte
// counts come from listing the bucket.
func TestRunS3Warehouse(t *testing.T) {
	const bucket = "bench"
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(gofakes3.New(backend).Server())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // gofakes3 writes some headers twice
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const records = 2000
	rep, err := Run(ctx, Config{
		Workload:       "small",
		Records:        records,
		Partitions:     2,
		Warehouse:      "s3://" + bucket + "/wh",
		S3:             objstore.S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"},
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
	b, err := objstore.Open(ctx, rep.Warehouse, objstore.S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"})
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
