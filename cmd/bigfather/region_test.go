package main

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/bigfather/bigfather/internal/config"
)

// sigV4Region matches the region of a SigV4 credential scope:
// Credential=<key>/<date>/<region>/s3/aws4_request.
var sigV4Region = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request`)

// regionRecordingS3 serves gofakes3 with bucket and records the signing
// region of every request, so a test sees the region the client chose.
func regionRecordingS3(t *testing.T, bucket string) (url string, regions func() []string) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := sigV4Region.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			mu.Lock()
			seen = append(seen, m[1])
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// warehouse.s3.region, when the file does not set it, comes from the AWS
// config chain (AWS_REGION here), and is us-east-1 when the chain has none,
// as documented; the warehouse client signs with it.
func TestS3RegionComesFromTheAWSChain(t *testing.T) {
	endpoint, regions := regionRecordingS3(t, "warehouse")
	base := []byte(`pipeline: p
kafka: {brokers: ["127.0.0.1:9092"]}
schema_registry: {url: "http://127.0.0.1:8081"}
catalog: {type: objectstore}
warehouse:
  url: s3://warehouse/p
  s3: {endpoint: "` + endpoint + `", path_style: true, access_key_id: test, secret_access_key: test}
tables: [{topic: tracks, table: music.tracks}]
`)
	for _, tc := range []struct{ name, env, sets, want string }{
		{name: "AWS_REGION", env: "eu-west-2", want: "eu-west-2"},
		{name: "unset everywhere", want: "us-east-1"},
		{name: "the file wins", env: "eu-west-2", sets: "warehouse.s3.region=ap-south-1", want: "ap-south-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing of the machine's own AWS setup may leak in.
			none := filepath.Join(t.TempDir(), "none")
			t.Setenv("AWS_CONFIG_FILE", none)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_DEFAULT_REGION", "")
			t.Setenv("AWS_REGION", tc.env)
			var sets []string
			if tc.sets != "" {
				sets = append(sets, tc.sets)
			}
			cfg, err := config.Parse(base, sets...)
			if err != nil {
				t.Fatal(err)
			}
			e, err := newEnv(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			before := len(regions())
			if err := e.bucket.Upload(t.Context(), "probe-"+tc.want, strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
			got := regions()[before:]
			if len(got) == 0 {
				t.Fatal("no signed request reached the server")
			}
			for _, r := range got {
				if r != tc.want {
					t.Fatalf("requests signed for region %q (all: %v), want %q", r, got, tc.want)
				}
			}
		})
	}
}
