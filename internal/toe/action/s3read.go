package action

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MaxDocumentSize bounds a component document or run configuration read
// from S3: Image Builder's own limit on a component's data is 16 000
// characters inline and 64 MiB from S3, so 64 MiB refuses nothing real.
const MaxDocumentSize = 64 << 20

// ReadS3Object reads one object named by an s3://bucket/key URL through
// opts' endpoint with the standard credential chain, for documents and
// run configurations awstoe accepts from S3. owner, when set, is the
// bucket owner the request expects (awstoe's --document-s3-bucket-owner):
// S3 refuses the read when the bucket belongs to another account.
func ReadS3Object(ctx context.Context, opts S3Options, uri, owner string) ([]byte, error) {
	bucket, key, err := parseS3URL(uri)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s names no object key", uri)
	}
	client, err := newS3Client(ctx, opts)
	if err != nil {
		return nil, err
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ExpectedBucketOwner: optionalString(owner),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	if len(b) > MaxDocumentSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", uri, MaxDocumentSize)
	}
	return b, nil
}
