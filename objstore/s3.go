package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

const (
	// DefaultS3PartSize is the multipart part size used when S3Config.PartSize
	// is zero. Memory per upload is about PartSize × (Concurrency + 1).
	DefaultS3PartSize = 8 << 20
	// DefaultS3Concurrency is the number of parts uploaded in parallel per
	// upload when S3Config.Concurrency is zero.
	DefaultS3Concurrency = 2
	// abortTimeout bounds the clean-up request sent after a failed multipart
	// upload; it runs on a context detached from the caller's, which may be
	// the very thing that was cancelled.
	abortTimeout = 30 * time.Second
)

// FallbackRegion signs requests when neither the configuration nor the AWS
// config chain names a region: S3-compatible servers ignore the region, but
// SigV4 needs one.
const FallbackRegion = "us-east-1"

// DefaultRegion returns the region the AWS config chain names (AWS_REGION,
// AWS_DEFAULT_REGION, the shared config file's profile), or FallbackRegion
// when it names none or cannot be read; an unreadable shared config is
// reported by NewS3, which reads the chain again.
func DefaultRegion(ctx context.Context) string {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil || awsCfg.Region == "" {
		return FallbackRegion
	}
	return awsCfg.Region
}

// S3Config configures an S3 bucket. The zero value of every field except
// Bucket is usable.
type S3Config struct {
	// Bucket is the S3 bucket name. Required. Not a key of the config
	// file: Open takes it from the warehouse URL.
	Bucket string `yaml:"-"`
	// Prefix is prepended (with a slash) to every key. Default: none. Not
	// a key of the config file: Open takes it from the warehouse URL.
	Prefix string `yaml:"-"`
	// Endpoint overrides the AWS endpoint for S3-compatible servers, e.g.
	// "http://127.0.0.1:7070". Default: AWS.
	Endpoint string `yaml:"endpoint"`
	// Region is the signing region. Default: from the AWS config chain, or
	// "us-east-1" if that has none.
	Region string `yaml:"region"`
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint; most S3-compatible servers need it. Default: false.
	PathStyle bool `yaml:"path_style"`
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials.
	// Default (AccessKeyID empty): the standard AWS credential chain
	// (environment, shared config, web identity, IMDS).
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`
	// PartSize is the multipart part size in bytes, at least 5 MiB.
	// Default: DefaultS3PartSize (8 MiB). Not a key of the config file.
	PartSize int64 `yaml:"-"`
	// Concurrency is the number of parts uploaded in parallel per upload.
	// Default: DefaultS3Concurrency (2). Not a key of the config file.
	Concurrency int `yaml:"-"`
}

// Validate checks cfg without contacting the server.
func (cfg S3Config) Validate() error {
	if cfg.Bucket == "" {
		return errors.New("s3: bucket is required")
	}
	if strings.Contains(cfg.Bucket, "/") {
		return fmt.Errorf("s3: bucket %q contains a slash", cfg.Bucket)
	}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		if err := ValidateKey(p); err != nil {
			return fmt.Errorf("s3: prefix: %w", err)
		}
	}
	if cfg.PartSize != 0 && cfg.PartSize < manager.MinUploadPartSize {
		return fmt.Errorf("s3: part size %d is below the S3 minimum of %d bytes", cfg.PartSize, manager.MinUploadPartSize)
	}
	if cfg.Concurrency < 0 {
		return fmt.Errorf("s3: concurrency %d is negative", cfg.Concurrency)
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return errors.New("s3: access key id and secret access key must be set together")
	}
	return nil
}

// S3 is a Bucket in an S3 (or S3-compatible) bucket under an optional key
// prefix.
type S3 struct {
	client *s3.Client
	//nolint:staticcheck // see NewS3.
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ending in "/"
}

var _ Bucket = (*S3)(nil)

// NewS3 builds an S3 bucket client. It does not contact the server:
// credentials and the bucket are checked by the first request.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var loadOpts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %s: load aws config: %w", cfg.Bucket, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = FallbackRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Objects written by multipart upload or by S3-compatible servers
		// often carry no checksum; the SDK would log that on every read to
		// stderr, bypassing our logger.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultS3PartSize
	}
	concurrency := cfg.Concurrency
	if concurrency == 0 {
		concurrency = DefaultS3Concurrency
	}
	//nolint:staticcheck // manager is deprecated for transfermanager, which is pre-1.0; manager is stable and in go.mod.
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.Concurrency = concurrency
		// The manager would abort a failed multipart upload itself, but with
		// the caller's context: after a cancellation that request never
		// leaves and the parts stay billed. Upload aborts on a detached
		// context instead.
		u.LeavePartsOnError = true
	})
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, uploader: uploader, bucket: cfg.Bucket, prefix: prefix}, nil
}

// Client returns the underlying S3 client, for callers (tests, tooling)
// that need an operation this package does not wrap.
func (b *S3) Client() *s3.Client { return b.client }

func (b *S3) objectKey(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return b.prefix + key, nil
}

// Upload streams r with a multipart upload once it exceeds one part, so
// memory stays bounded by the part size. A failed or cancelled multipart
// upload is aborted, so no object appears and no parts are left behind.
func (b *S3) Upload(ctx context.Context, key string, r io.Reader) error {
	k, err := b.objectKey(key)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	//nolint:staticcheck // see NewS3.
	_, err = b.uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(k),
		Body:   r,
	})
	if err == nil {
		return nil
	}
	var mu manager.MultiUploadFailure
	if errors.As(err, &mu) && mu.UploadID() != "" {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_, aerr := b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(b.bucket),
			Key:      aws.String(k),
			UploadId: aws.String(mu.UploadID()),
		})
		if aerr != nil && !isS3NotFound(aerr) {
			err = errors.Join(err, fmt.Errorf("abort multipart upload %s: %w", mu.UploadID(), aerr))
		}
	}
	return fmt.Errorf("upload %s: %w", b.URL(key), err)
}

// PutIfAbsent sends one PutObject with If-None-Match: *, which S3 evaluates
// atomically. The body is read into memory first because a conditional
// write cannot be multipart-streamed portably; it is meant for metadata
// files, not data files.
//
// The SDK retries a PUT whose response was lost (connection reset, 5xx).
// If the lost attempt was applied, the retry gets 412 from our own write,
// so a 412 or 409 after a retry is not taken as ErrExists: the object is
// read back, and if it holds exactly our bytes the write was ours and
// PutIfAbsent succeeds. Another writer's identical bytes would pass too,
// which leaves the key in the state this call asked for. If the object
// cannot be read back the outcome is unknown, and the error is not
// ErrExists (DESIGN.md §3 rule 6). A 412 on the first attempt is a clean
// ErrExists: nothing of this call can have been applied before it.
func (b *S3) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	k, err := b.objectKey(key)
	if err != nil {
		return fmt.Errorf("put-if-absent: %w", err)
	}
	body, err := io.ReadAll(ctxReader{ctx: ctx, r: r})
	if err != nil {
		return fmt.Errorf("put-if-absent %s: read body: %w", b.URL(key), err)
	}
	var attempts attemptCounter
	_, err = b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(k),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		IfNoneMatch:   aws.String("*"),
	}, attempts.option)
	if err == nil {
		return nil
	}
	if !isS3Exists(err) {
		return fmt.Errorf("put-if-absent %s: %w", b.URL(key), err)
	}
	if attempts.n.Load() <= 1 {
		return fmt.Errorf("put-if-absent %s: %w", b.URL(key), ErrExists)
	}
	same, rerr := b.holds(ctx, key, body)
	switch {
	case rerr != nil:
		return fmt.Errorf("put-if-absent %s: outcome unknown: attempt %d got %w after an earlier attempt may have been applied, and reading the object back failed: %w",
			b.URL(key), attempts.n.Load(), err, rerr)
	case same:
		return nil
	default:
		return fmt.Errorf("put-if-absent %s: %w", b.URL(key), ErrExists)
	}
}

// holds reports whether key's object is exactly want.
func (b *S3) holds(ctx context.Context, key string, want []byte) (bool, error) {
	rc, err := b.Get(ctx, key)
	if err != nil {
		// Missing although a write was refused for its existence: deleted
		// since, or the refusal was a 409 for a write still in flight
		// (possibly our own lost attempt). Either way, unknown.
		return false, err
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(want))+1))
	if err != nil {
		return false, fmt.Errorf("read back %s: %w", b.URL(key), err)
	}
	return bytes.Equal(got, want), nil
}

// attemptCounter counts the HTTP attempts of one operation: its
// middleware sits inside the SDK's retry loop.
type attemptCounter struct{ n atomic.Int32 }

func (c *attemptCounter) option(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("bigfatherCountAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.n.Add(1)
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

// Get opens the object for streaming reads.
func (b *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := b.objectKey(key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(k),
	})
	if err != nil {
		if isS3NotFound(err) {
			return nil, fmt.Errorf("get %s: %w", b.URL(key), ErrNotExist)
		}
		return nil, fmt.Errorf("get %s: %w", b.URL(key), err)
	}
	return out.Body, nil
}

// List pages through ListObjectsV2, which S3 returns in UTF-8 binary
// (lexical) key order.
func (b *S3) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", b.URL(prefix), err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), b.prefix)
			obj := Object{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}
			if err := fn(obj); err != nil {
				return fmt.Errorf("list %s: %w", b.URL(prefix), err)
			}
		}
	}
	return nil
}

// Delete removes key. S3 already treats a missing key as success; a 404 from
// a stricter S3-compatible server is mapped to success too.
func (b *S3) Delete(ctx context.Context, key string) error {
	k, err := b.objectKey(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(k),
	})
	if err != nil && !isS3NotFound(err) {
		return fmt.Errorf("delete %s: %w", b.URL(key), err)
	}
	return nil
}

// URL returns "s3://bucket/prefix/key".
func (b *S3) URL(key string) string {
	if key == "" {
		return strings.TrimSuffix("s3://"+b.bucket+"/"+b.prefix, "/")
	}
	return "s3://" + b.bucket + "/" + b.prefix + key
}

// isS3NotFound reports a missing key (or upload) by error code or status.
func isS3NotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return true
		}
	}
	return httpStatus(err) == http.StatusNotFound
}

// isS3Exists reports a failed If-None-Match: 412 when the key exists, 409
// when another conditional write to the key is in flight (AWS returns
// ConditionalRequestConflict; the other writer may yet win, and in either
// case this one did not).
func isS3Exists(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	// A bare 409 can mean other conflicts (OperationAborted), so only 412
	// counts without an error code.
	return httpStatus(err) == http.StatusPreconditionFailed
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
