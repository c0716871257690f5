package objstore_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigfather/bigfather/objstore"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s3cfg := objstore.S3Config{
		Bucket: "ignored", Prefix: "ignored", Region: "us-east-1",
		AccessKeyID: "k", SecretAccessKey: "s",
	}
	for _, tc := range []struct {
		url     string
		wantURL string // of key "k"
	}{
		{"file://" + dir + "/abs", "file://" + dir + "/abs/k"},
		{"file://./rel", "file://" + dir + "/rel/k"},
		{"file://rel2/", "file://" + dir + "/rel2/k"},
		{"file://localhost" + dir + "/host", "file://" + dir + "/host/k"},
		{"plain/path", "file://" + dir + "/plain/path/k"},
		{dir + "/plainabs", "file://" + dir + "/plainabs/k"},
		{"s3://bkt", "s3://bkt/k"},
		{"s3://bkt/", "s3://bkt/k"},
		{"s3://bkt/wh/x/", "s3://bkt/wh/x/k"},
		{"S3://bkt/wh", "s3://bkt/wh/k"},
	} {
		b, err := objstore.Open(t.Context(), tc.url, s3cfg)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if got := b.URL("k"); got != tc.wantURL {
			t.Errorf("Open(%q).URL(k) = %q, want %q", tc.url, got, tc.wantURL)
		}
		if fsb, ok := b.(*objstore.FS); ok && !filepath.IsAbs(fsb.Root()) {
			t.Errorf("Open(%q): relative root %q", tc.url, fsb.Root())
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"", "empty URL"},
		{"gs://bkt/x", `unsupported scheme "gs"`},
		{"s3://", "no bucket name"},
		{"s3:///prefix", "no bucket name"},
		{"s3://bkt/a/../b", "invalid object key"},
		{"s3://bkt/x?versionId=1", "query"},
		{"file://", "no path"},
	} {
		_, err := objstore.Open(t.Context(), tc.url, objstore.S3Config{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.url) {
			t.Errorf("Open(%q) = %v, want error naming the URL and containing %q", tc.url, err, tc.want)
		}
	}
}
