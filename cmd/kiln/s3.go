package main

import (
	"context"
	"fmt"
	"github.com/kiln-build/kiln/internal/caller"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kiln-build/kiln/internal/fetch"
)

// newS3Reader reads documents from an S3-compatible endpoint, within
// kiln's document time limit.
func newS3Reader(endpoint, region string, fc *fetch.Client, buckets *caller.BucketOwners) func(ctx context.Context, bucket, key string, limit int64) ([]byte, error) {
	return func(ctx context.Context, bucket, key string, limit int64) ([]byte, error) {
		if err := buckets.Check(ctx, bucket); err != nil {
			return nil, err
		}
		uri := "s3://" + bucket + "/" + key
		ctx, cancel := context.WithTimeout(ctx, fetch.DefaultDocumentTimeout)
		defer cancel()
		client, err := newS3Client(ctx, endpoint, region, fc)
		if err != nil {
			return nil, fc.Sanitize(uri, err)
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, fc.Sanitize(uri, err)
		}
		defer obj.Body.Close()
		b, err := io.ReadAll(io.LimitReader(obj.Body, limit+1))
		if err != nil {
			return nil, fc.Sanitize(uri, err)
		}
		if int64(len(b)) > limit {
			return nil, &fetch.Error{Kind: fetch.ErrFailed, Detail: fmt.Sprintf("the body is larger than kiln's limit of %d bytes", limit)}
		}
		return b, nil
	}
}

// newS3Uploader puts build logs into buckets at an S3-compatible endpoint,
// path-style, with the standard credential chain.
func newS3Uploader(endpoint, region string, fc *fetch.Client, buckets *caller.BucketOwners) func(ctx context.Context, bucket, key string, body *os.File) error {
	return func(ctx context.Context, bucket, key string, body *os.File) error {
		if err := buckets.Check(ctx, bucket); err != nil {
			return err
		}
		client, err := newS3Client(ctx, endpoint, region, fc)
		if err != nil {
			return fc.Sanitize("s3://"+bucket+"/"+key, err)
		}
		fi, err := body.Stat()
		if err != nil {
			return err
		}
		_, err = client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: &key, Body: body, ContentLength: aws.Int64(fi.Size()),
			ContentType: aws.String("text/plain; charset=utf-8"),
		})
		return fc.Sanitize("s3://"+bucket+"/"+key, err)
	}
}

// newS3Opener streams objects from an S3-compatible endpoint (imports).
func newS3Opener(endpoint, region string, fc *fetch.Client, buckets *caller.BucketOwners) func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	return func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
		if err := buckets.Check(ctx, bucket); err != nil {
			return nil, err
		}
		uri := "s3://" + bucket + "/" + key
		client, err := newS3Client(ctx, endpoint, region, fc)
		if err != nil {
			return nil, fc.Sanitize(uri, err)
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, fc.Sanitize(uri, err)
		}
		return sanitizedBody{obj.Body, fc, uri}, nil
	}
}

// sanitizedBody is an object body whose read errors are in kiln's words.
type sanitizedBody struct {
	io.ReadCloser
	fc  *fetch.Client
	uri string
}

func (b sanitizedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.fc.Sanitize(b.uri, err)
	}
	return n, err
}

// newS3Client is a client of an S3-compatible endpoint with path-style
// addressing (what MinIO, Ceph and friends expect) and the standard
// credential chain (AWS_ACCESS_KEY_ID, ~/.aws/credentials, ...). Its
// requests go through fc, kiln's guarded fetcher; the credential chain
// keeps the SDK's own client, because it is kiln's configuration (an
// instance role on EC2 comes from the metadata service fc refuses).
func newS3Client(ctx context.Context, endpoint, region string, fc *fetch.Client) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
		o.HTTPClient = fc.HTTPClient()
	}), nil
}
