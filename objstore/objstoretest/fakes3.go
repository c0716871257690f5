package objstoretest

import (
	"io"
	"log"
	"net"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/bigfather/bigfather/internal/faultproxy"
	"github.com/bigfather/bigfather/objstore"
)

// FakeS3 serves an in-memory gofakes3 on 127.0.0.1 with the given buckets,
// for the test's lifetime, and returns the S3 config that reaches it
// (Bucket and Prefix are left to the caller or the URL).
func FakeS3(t testing.TB, buckets ...string) objstore.S3Config {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(gofakes3.New(backend).Server())
	// gofakes3 writes some error headers twice; net/http's complaint about
	// it is noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return objstore.S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"}
}

// FaultyS3 is FakeS3 behind a faultproxy.Proxy applying rules (seed 1):
// the returned config reaches the proxy, and the proxy's counters show
// which faults were injected.
func FaultyS3(t testing.TB, rules []faultproxy.Rule, buckets ...string) (objstore.S3Config, *faultproxy.Proxy) {
	t.Helper()
	cfg := FakeS3(t, buckets...)
	target, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatalf("parse fake s3 endpoint: %v", err)
	}
	p := faultproxy.New(target, rules, 1, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	cfg.Endpoint = srv.URL
	return cfg, p
}
