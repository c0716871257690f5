package objstore

import (
	"context"
	"fmt"
	"strings"
)

// Open returns the bucket for a warehouse URL:
//
//   - "file:///abs/path", "file://./rel/path" or a plain path: a filesystem
//     bucket (NewFS) at that directory;
//   - "s3://bucket" or "s3://bucket/prefix": an S3 bucket (NewS3) whose Bucket
//     and Prefix come from the URL and every other setting from s3cfg.
//
// Bucket and Prefix in s3cfg are ignored, so one S3 section of the config
// file serves every warehouse URL.
func Open(ctx context.Context, url string, s3cfg S3Config) (Bucket, error) {
	scheme, rest, hasScheme := strings.Cut(url, "://")
	if !hasScheme {
		if url == "" {
			return nil, fmt.Errorf("open bucket: empty URL")
		}
		return openFS(url, url)
	}
	switch strings.ToLower(scheme) {
	case "file":
		// Parsed by hand rather than with net/url, which would read
		// "file://./rel" as host "." and path "/rel".
		if strings.HasPrefix(rest, "localhost/") {
			rest = strings.TrimPrefix(rest, "localhost")
		}
		if rest == "" {
			return nil, fmt.Errorf("open bucket %q: no path", url)
		}
		return openFS(url, rest)
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("open bucket %q: no bucket name", url)
		}
		if strings.ContainsAny(rest, "?#") {
			return nil, fmt.Errorf("open bucket %q: query and fragment are not supported", url)
		}
		s3cfg.Bucket = bucket
		s3cfg.Prefix = strings.Trim(prefix, "/")
		b, err := NewS3(ctx, s3cfg)
		if err != nil {
			return nil, fmt.Errorf("open bucket %q: %w", url, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("open bucket %q: unsupported scheme %q (want file:// or s3://)", url, scheme)
	}
}

func openFS(url, path string) (Bucket, error) {
	b, err := NewFS(path)
	if err != nil {
		return nil, fmt.Errorf("open bucket %q: %w", url, err)
	}
	return b, nil
}
