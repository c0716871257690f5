// Command s3bucket creates a bucket on an S3-compatible endpoint for the end-to-end test
// (.ci/e2e-s3.sh), so that script needs no AWS CLI, curl or jq on a fresh CI machine.
//
//	go run ./internal/tools/s3bucket -endpoint http://127.0.0.1:7070 \
//	    -access-key KEY -secret-key SECRET -bucket NAME [-wait 30s] [-put-key K -put-file F]
//
// Creating a bucket that already exists and is ours succeeds, so the tool is idempotent.
// With -wait it retries until the endpoint answers, which replaces a separate readiness
// probe for a gateway that was just started. With -put-key/-put-file it also uploads one
// object, which lets the script check where the gateway stores objects on disk.
//
// It exits 0 on success, 1 when the endpoint refuses or never answers, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// errUsage marks a bad command line, which exits 2 instead of 1.
var errUsage = errors.New("usage")

type options struct {
	endpoint  string
	region    string
	accessKey string
	secretKey string
	bucket    string
	wait      time.Duration
	putKey    string
	putFile   string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "s3bucket: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "s3bucket: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("s3bucket", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint URL, e.g. http://127.0.0.1:7070 (required)")
	fs.StringVar(&o.region, "region", "us-east-1", "signing region")
	fs.StringVar(&o.accessKey, "access-key", "", "access key id (required)")
	fs.StringVar(&o.secretKey, "secret-key", "", "secret access key (required)")
	fs.StringVar(&o.bucket, "bucket", "", "bucket to create (required)")
	fs.DurationVar(&o.wait, "wait", 0, "keep retrying this long while the endpoint does not answer (0: one attempt)")
	fs.StringVar(&o.putKey, "put-key", "", "also upload -put-file under this key")
	fs.StringVar(&o.putFile, "put-file", "", "local file to upload as -put-key")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	for _, req := range []struct{ name, val string }{
		{"-endpoint", o.endpoint}, {"-access-key", o.accessKey}, {"-secret-key", o.secretKey}, {"-bucket", o.bucket},
	} {
		if req.val == "" {
			return o, fmt.Errorf("%w: %s is required", errUsage, req.name)
		}
	}
	if (o.putKey == "") != (o.putFile == "") {
		return o, fmt.Errorf("%w: -put-key and -put-file go together", errUsage)
	}
	if o.wait < 0 {
		return o, fmt.Errorf("%w: -wait must not be negative", errUsage)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	client := s3.New(s3.Options{
		Region:       o.region,
		BaseEndpoint: aws.String(o.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(o.accessKey, o.secretKey, ""),
		// Plain checksums keep the requests acceptable to every S3-compatible gateway; the
		// SDK default (trailing CRC32 in aws-chunked bodies) is not universally supported.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})

	deadline := time.Now().Add(o.wait)
	for attempt := 1; ; attempt++ {
		err = ensureBucket(ctx, client, o.bucket)
		if err == nil || !retryable(err) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff(attempt)):
		}
	}
	if err != nil {
		return fmt.Errorf("create bucket %q at %s: %w", o.bucket, o.endpoint, err)
	}
	fmt.Fprintf(stdout, "bucket %s ready at %s\n", o.bucket, o.endpoint)

	if o.putKey != "" {
		if err := putFile(ctx, client, o.bucket, o.putKey, o.putFile); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "put s3://%s/%s from %s\n", o.bucket, o.putKey, o.putFile)
	}
	return nil
}

// ensureBucket creates bucket, treating "it already exists and we can reach it" as success.
func ensureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return nil
	}
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return nil
	}
	var exists *types.BucketAlreadyExists
	if errors.As(err, &exists) {
		// Some gateways answer BucketAlreadyExists even to the owner; HeadBucket tells
		// "ours" from "someone else's".
		if _, herr := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); herr != nil {
			return fmt.Errorf("bucket exists but is not accessible with these credentials: %w", herr)
		}
		return nil
	}
	return err
}

// retryable reports whether err looks like "the endpoint is not up yet" rather than an
// answer from it: an S3 API error is an answer, and retrying would not change it.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr smithy.APIError
	return !errors.As(err, &apiErr)
}

func backoff(attempt int) time.Duration {
	d := time.Duration(attempt) * 100 * time.Millisecond
	return min(d, time.Second)
}

func putFile(ctx context.Context, client *s3.Client, bucket, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open upload source: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat upload source: %w", err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          f,
		ContentLength: aws.Int64(st.Size()),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}
