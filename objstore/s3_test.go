package objstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bigfather/bigfather/internal/faultproxy"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/objstore/objstoretest"
)

func fakeS3Config(t *testing.T, prefix string) objstore.S3Config {
	const bucket = "warehouse"
	return objstore.S3Config{
		Bucket:          bucket,
		Prefix:          prefix,
		Endpoint:        objstoretest.FakeS3(t, bucket).Endpoint,
		Region:          "us-east-1",
		PathStyle:       true,
		AccessKeyID:     "test",
		SecretAccessKey: "test",
		// The smallest part S3 allows, so the suite's 20 MiB body takes
		// several parts.
		PartSize:    5 << 20,
		Concurrency: 2,
	}
}

func newS3(t *testing.T, cfg objstore.S3Config) *objstore.S3 {
	t.Helper()
	b, err := objstore.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	// Every failed upload must have been aborted, or parts stay billed.
	t.Cleanup(func() { assertNoMultipartUploads(t, b, cfg.Bucket, cfg.Prefix) })
	return b
}

func assertNoMultipartUploads(t *testing.T, b *objstore.S3, bucket, prefix string) {
	t.Helper()
	out, err := b.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(bucket),
		Prefix: aws.String(prefix),
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload" {
		return // gofakes3's answer for a bucket that never had an upload
	}
	if err != nil {
		t.Errorf("list multipart uploads: %v", err)
		return
	}
	for _, u := range out.Uploads {
		t.Errorf("multipart upload left behind: key %s id %s", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

func TestS3AcceptanceGofakes3(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		return newS3(t, fakeS3Config(t, ""))
	})
}

// The prefix must be applied to writes and stripped from listed keys.
func TestS3AcceptanceGofakes3Prefix(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		return newS3(t, fakeS3Config(t, "lake/house/"))
	})
}

// TestS3AcceptanceServer runs the suite against a real S3 server, in CI
// versitygw. Each bucket is a fresh random prefix in the configured bucket.
func TestS3AcceptanceServer(t *testing.T) {
	endpoint := os.Getenv("BIGFATHER_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("set BIGFATHER_TEST_S3_ENDPOINT (with BIGFATHER_TEST_S3_ACCESS_KEY, BIGFATHER_TEST_S3_SECRET_KEY, BIGFATHER_TEST_S3_BUCKET) to run against a real S3 server")
	}
	bucket := os.Getenv("BIGFATHER_TEST_S3_BUCKET")
	if bucket == "" {
		t.Fatal("BIGFATHER_TEST_S3_ENDPOINT is set but BIGFATHER_TEST_S3_BUCKET is not")
	}
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		var r [8]byte
		_, _ = rand.Read(r[:])
		cfg := objstore.S3Config{
			Bucket:          bucket,
			Prefix:          "objstoretest/" + hex.EncodeToString(r[:]),
			Endpoint:        endpoint,
			Region:          os.Getenv("BIGFATHER_TEST_S3_REGION"),
			PathStyle:       true,
			AccessKeyID:     os.Getenv("BIGFATHER_TEST_S3_ACCESS_KEY"),
			SecretAccessKey: os.Getenv("BIGFATHER_TEST_S3_SECRET_KEY"),
			PartSize:        5 << 20,
		}
		b := newS3(t, cfg)
		t.Cleanup(func() { deleteAll(t, b) })
		return b
	})
}

func deleteAll(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	var ks []string
	if err := b.List(ctx, "", func(o objstore.Object) error { ks = append(ks, o.Key); return nil }); err != nil {
		t.Errorf("clean-up list: %v", err)
		return
	}
	for _, k := range ks {
		if err := b.Delete(ctx, k); err != nil {
			t.Errorf("clean-up delete %s: %v", k, err)
		}
	}
}

func TestS3URL(t *testing.T) {
	for _, tc := range []struct {
		prefix, key, want string
	}{
		{"", "a/b.parquet", "s3://bkt/a/b.parquet"},
		{"wh", "a/b.parquet", "s3://bkt/wh/a/b.parquet"},
		{"/wh/x/", "a", "s3://bkt/wh/x/a"},
		{"wh", "", "s3://bkt/wh"},
		{"", "", "s3://bkt"},
	} {
		b, err := objstore.NewS3(t.Context(), objstore.S3Config{
			Bucket: "bkt", Prefix: tc.prefix, Region: "us-east-1",
			AccessKeyID: "k", SecretAccessKey: "s",
		})
		if err != nil {
			t.Fatalf("NewS3: %v", err)
		}
		if got := b.URL(tc.key); got != tc.want {
			t.Errorf("prefix %q: URL(%q) = %q, want %q", tc.prefix, tc.key, got, tc.want)
		}
	}
}

func TestS3ConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  objstore.S3Config
		want string
	}{
		{"ok", objstore.S3Config{Bucket: "b"}, ""},
		{"no bucket", objstore.S3Config{}, "bucket is required"},
		{"slash in bucket", objstore.S3Config{Bucket: "a/b"}, "contains a slash"},
		{"bad prefix", objstore.S3Config{Bucket: "b", Prefix: "a/../b"}, "invalid object key"},
		{"small part", objstore.S3Config{Bucket: "b", PartSize: 1 << 20}, "below the S3 minimum"},
		{"negative concurrency", objstore.S3Config{Bucket: "b", Concurrency: -1}, "negative"},
		{"half credentials", objstore.S3Config{Bucket: "b", AccessKeyID: "k"}, "set together"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

// statusServer answers every request with one S3 error, to pin the mapping
// of error codes the fake never produces (409 ConditionalRequestConflict).
func statusServer(t *testing.T, status int, code string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>m</Message></Error>`)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestS3ErrorMapping(t *testing.T) {
	t.Parallel() // its own servers; the time is the SDK's retry backoff
	for _, tc := range []struct {
		status int
		code   string
		exists bool
	}{
		{http.StatusPreconditionFailed, "PreconditionFailed", true},
		{http.StatusConflict, "ConditionalRequestConflict", true},
		{http.StatusConflict, "OperationAborted", false},
		{http.StatusInternalServerError, "InternalError", false},
	} {
		b, err := objstore.NewS3(t.Context(), objstore.S3Config{
			Bucket: "b", Endpoint: statusServer(t, tc.status, tc.code), Region: "us-east-1",
			PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s",
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		err = b.PutIfAbsent(ctx, "k", strings.NewReader("x"))
		cancel()
		if got := errors.Is(err, objstore.ErrExists); got != tc.exists {
			t.Errorf("%d %s: PutIfAbsent = %v, ErrExists=%v want %v", tc.status, tc.code, err, got, tc.exists)
		}
	}
}

// TestS3PutIfAbsentRetriedAfterLostResponse covers the SDK's own retries of
// a conditional PUT: the first attempt is applied and its response lost
// (the proxy resets the connection, or answers 500), the SDK retries, and the retry gets
// 412 because of the first attempt. That write was ours: PutIfAbsent must
// not report ErrExists for it, or the object-store catalog reports its own
// commit as a conflict (issue 11 item 3). A key that really was taken
// stays ErrExists, and when the check cannot be made the outcome is
// unknown: an error that is not ErrExists.
func TestS3PutIfAbsentRetriedAfterLostResponse(t *testing.T) {
	t.Parallel() // its own gofakes3 and proxy; the time is the SDK's retry backoff
	cfg, proxy := objstoretest.FaultyS3(t, []faultproxy.Rule{
		{Name: "lost", Method: "PUT", Path: regexp.MustCompile(`/lost$`), Drop: 1, Max: 1},
		// Max 2: the other writer's Upload loses its first response too.
		{Name: "taken", Method: "PUT", Path: regexp.MustCompile(`/taken$`), Drop: 1, Max: 2},
		{Name: "5xx", Method: "PUT", Path: regexp.MustCompile(`/after5xx$`), FailAfter: 1, Max: 1},
		{Name: "unknown", Method: "PUT", Path: regexp.MustCompile(`/unknown$`), Drop: 1, Max: 1},
		{Name: "unknown-get", Method: "GET", Path: regexp.MustCompile(`/unknown$`), Fail: 1},
	}, "warehouse")
	cfg.Bucket = "warehouse"
	b := newS3(t, cfg)
	ctx := t.Context()

	if err := b.PutIfAbsent(ctx, "k/lost", strings.NewReader("mine")); err != nil {
		t.Fatalf("PutIfAbsent whose applied first attempt lost its response: %v, want nil (the write is ours)", err)
	}
	if st := proxy.Stats()["lost"]; st.Dropped != 1 || st.Matched != 2 {
		t.Fatalf("proxy stats %+v: want the first attempt dropped and one SDK retry", st)
	}
	if got := string(getAll(t, b, "k/lost")); got != "mine" {
		t.Fatalf("content %q, want mine", got)
	}

	// A 500 after the write was applied is retried by the SDK the same way.
	if err := b.PutIfAbsent(ctx, "k/after5xx", strings.NewReader("mine")); err != nil {
		t.Fatalf("PutIfAbsent whose applied first attempt was answered 500: %v, want nil (the write is ours)", err)
	}
	if st := proxy.Stats()["5xx"]; st.FailedAfter != 1 || st.Matched != 2 {
		t.Fatalf("proxy stats %+v: want the first attempt answered 500 and one SDK retry", st)
	}

	if err := b.Upload(ctx, "k/taken", strings.NewReader("theirs")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(ctx, "k/taken", strings.NewReader("mine")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent over another writer's object, after a retry: %v, want ErrExists", err)
	}
	if st := proxy.Stats()["taken"]; st.Dropped != 2 || st.Matched != 4 {
		t.Fatalf("proxy stats %+v: want the first attempt dropped and one SDK retry", st)
	}

	err := b.PutIfAbsent(ctx, "k/unknown", strings.NewReader("mine"))
	if err == nil || errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent whose retry got 412 and whose read-back failed: %v, want an unknown outcome (not nil, not ErrExists)", err)
	}
}

func getAll(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
