package objstore

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bigfather/bigfather/internal/confkey"
	"github.com/bigfather/bigfather/internal/redact"
)

// Config is the warehouse section of the config file: where data and
// metadata files are stored.
type Config struct {
	// URL is file://path or s3://bucket/prefix. A relative file:// path is
	// made absolute against the working directory when the config is
	// loaded. Default "file://./warehouse".
	URL string `yaml:"url"`
	// S3 configures the client for s3:// URLs; its Bucket and Prefix come
	// from URL.
	S3 S3Config `yaml:"s3"`
}

// DefaultConfig returns the warehouse settings used for every key the file
// does not set. The S3 region is the AWS config chain's (DefaultRegion).
func DefaultConfig(ctx context.Context) Config {
	return Config{URL: "file://./warehouse", S3: S3Config{Region: DefaultRegion(ctx)}}
}

// Open returns the warehouse's bucket.
func (c Config) Open(ctx context.Context) (Bucket, error) { return Open(ctx, c.URL, c.S3) }

// LocalDir returns the directory of a file:// warehouse URL.
func (c Config) LocalDir() (string, bool) {
	p, ok := strings.CutPrefix(c.URL, "file://")
	if !ok {
		return "", false
	}
	return filepath.FromSlash(p), true
}

// S3Location returns the bucket and key prefix (without slashes around it)
// of an s3:// warehouse URL.
func (c Config) S3Location() (bucket, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(c.URL, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/"), true
}

// S3 bucket naming rules, simplified to the character set and length.
var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the section without contacting any server; every problem
// is a *confkey.Error naming its key ("url", "s3.region", ...).
func (c Config) Validate() error {
	var l confkey.List
	if dir, ok := c.LocalDir(); ok {
		if dir == "" {
			l.Add("url", "file:// needs a path")
		}
	} else if bucket, _, ok := c.S3Location(); ok {
		if !bucketRe.MatchString(bucket) {
			l.Add("url", "%q is not a valid S3 bucket name", bucket)
		}
		if c.S3.Region == "" {
			l.Add("s3.region", "required for an s3:// warehouse")
		}
	} else {
		l.Add("url", "%q is invalid: want file://path or s3://bucket/prefix", redact.URL(c.URL))
	}
	s := c.S3
	if s.Endpoint != "" {
		if _, msg := confkey.HTTPURL(s.Endpoint); msg != "" {
			l.Add("s3.endpoint", "%s", msg)
		}
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		l.Add("s3.access_key_id", "access_key_id and secret_access_key go together: set both or neither")
	}
	if s.SessionToken != "" && s.AccessKeyID == "" {
		l.Add("s3.session_token", "needs access_key_id and secret_access_key")
	}
	return l.Err()
}
