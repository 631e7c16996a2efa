package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// newS3Reader reads objects from an S3-compatible endpoint with path-style
// addressing (what MinIO, Ceph and friends expect), using the standard
// credential chain (AWS_ACCESS_KEY_ID, ~/.aws/credentials, ...).
func newS3Reader(endpoint, region string) func(ctx context.Context, bucket, key string, limit int64) ([]byte, error) {
	return func(ctx context.Context, bucket, key string, limit int64) ([]byte, error) {
		client, err := newS3Client(ctx, endpoint, region)
		if err != nil {
			return nil, err
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, err
		}
		defer obj.Body.Close()
		b, err := io.ReadAll(io.LimitReader(obj.Body, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("the object is larger than %d bytes", limit)
		}
		return b, nil
	}
}

// newS3Uploader puts build logs into buckets at an S3-compatible endpoint,
// path-style, with the standard credential chain.
func newS3Uploader(endpoint, region string) func(ctx context.Context, bucket, key string, body *os.File) error {
	return func(ctx context.Context, bucket, key string, body *os.File) error {
		client, err := newS3Client(ctx, endpoint, region)
		if err != nil {
			return err
		}
		fi, err := body.Stat()
		if err != nil {
			return err
		}
		_, err = client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: &key, Body: body, ContentLength: aws.Int64(fi.Size()),
			ContentType: aws.String("text/plain; charset=utf-8"),
		})
		return err
	}
}

// newS3Opener streams objects from an S3-compatible endpoint (imports).
func newS3Opener(endpoint, region string) func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	return func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
		client, err := newS3Client(ctx, endpoint, region)
		if err != nil {
			return nil, err
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, err
		}
		return obj.Body, nil
	}
}

// newS3Client is a client of an S3-compatible endpoint with path-style
// addressing (what MinIO, Ceph and friends expect) and the standard
// credential chain (AWS_ACCESS_KEY_ID, ~/.aws/credentials, ...).
func newS3Client(ctx context.Context, endpoint, region string) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}), nil
}
