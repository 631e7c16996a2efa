package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// PartSize is the size of a multipart upload's first parts, and so the
// memory one Put holds for most objects. S3 wants at least 5 MiB for every
// part but the last; parts grow for large objects (see partSizeFor).
const PartSize = 8 << 20

// maxCopySize is the largest object CopyObject copies in one request;
// larger ones are copied part by part.
const maxCopySize = 5 << 30

// S3 stores objects in one bucket of an S3-compatible store, under an
// optional key prefix. Several kiln nodes share one S3 store.
//
// What differs between implementations, and how this code copes:
//   - Missing objects: AWS answers GetObject with NoSuchKey, HeadObject
//     with a bare 404 (no body to carry a code); SeaweedFS and radosgw
//     have answered either form to either call across versions. Any 404,
//     or an error code NoSuchKey/NotFound, counts as "not there".
//   - Listing: ListObjectsV2 pages are followed by NextContinuationToken;
//     a truncated page without a token (seen from older radosgw and some
//     gateways) continues with StartAfter the last key instead, and a
//     page that makes no progress stops the listing rather than looping.
//   - Multipart: parts are 8 MiB or more (every implementation requires
//     5 MiB for non-final parts; SeaweedFS does not enforce it, radosgw
//     does), and an upload that fails is aborted so no implementation
//     keeps orphan parts. Completion sends every part's ETag as returned.
//   - Checksums: the SDK's default CRC32 trailing checksums use
//     aws-chunked encoding, which older SeaweedFS and radosgw refuse; the
//     client only sends checksums an operation requires. Integrity is
//     kiln's own concern anyway: registry content is verified against its
//     digest as it streams.
//   - Addressing: with an endpoint the client uses path-style URLs
//     (http://host/bucket/key), which every S3-compatible store serves;
//     virtual-host style needs wildcard DNS.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends in "/"
}

// ParseURL splits s3://BUCKET[/PREFIX] into the bucket and the key prefix
// (without a trailing slash). Bucket names follow S3's rules: 3 to 63
// lowercase letters, digits, dots and hyphens.
func ParseURL(raw string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(raw, "s3://")
	if !ok {
		return "", "", fmt.Errorf("blob store %q: want s3://BUCKET[/PREFIX]", raw)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return "", "", fmt.Errorf("blob store %q: bucket %q is not a valid S3 bucket name", raw, bucket)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" && !ValidKey(prefix) {
		return "", "", fmt.Errorf("blob store %q: prefix %q is not a valid key prefix", raw, prefix)
	}
	return bucket, prefix, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return b[0] != '.' && b[0] != '-' && b[len(b)-1] != '.' && b[len(b)-1] != '-'
}

// OpenS3 opens the bucket named by an s3://BUCKET[/PREFIX] URL.
// Credentials and region come from the standard AWS chain (environment,
// shared config and credentials files, instance roles); the region
// defaults to us-east-1, which S3-compatible stores accept. endpoint,
// when set, is the store's URL (http://host:port) and switches to
// path-style addressing.
func OpenS3(ctx context.Context, rawURL, endpoint string) (*S3, error) {
	bucket, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 endpoint %q: want http(s)://HOST[:PORT]", endpoint)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: loading AWS configuration: %w", rawURL, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return NewS3(client, bucket, prefix), nil
}

// NewS3 stores objects in bucket under prefix through client.
func NewS3(client *s3.Client, bucket, prefix string) *S3 {
	if prefix != "" {
		prefix = strings.Trim(prefix, "/") + "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

// Ping checks that the bucket is reachable with kiln's credentials, for
// /healthz.
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", s.bucket, err)
	}
	return nil
}

// String names the store, for logs: s3://bucket/prefix.
func (s *S3) String() string {
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

func (s *S3) key(k string) (string, error) {
	if err := checkKey(k); err != nil {
		return "", err
	}
	return s.prefix + k, nil
}

// isNotFound reports whether err says the object (or upload) is not there,
// in any of the ways S3 implementations say it.
func isNotFound(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return true
		}
	}
	return false
}

func (s *S3) wrap(op, key string, err error) error {
	if isNotFound(err) {
		return &os.PathError{Op: op, Path: s.String() + "/" + key, Err: ErrNotExist}
	}
	return fmt.Errorf("blob: %s %s/%s: %w", op, s.bucket, key, err)
}

// partSizeFor grows the part size as an upload grows, so that objects up
// to S3's 5 TiB limit fit in its 10,000 parts while small ones hold little
// memory: 8 MiB parts for the first 1,000, then 64 MiB.
func partSizeFor(part int) int {
	if part < 1000 {
		return PartSize
	}
	return 8 * PartSize
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	k, err := s.key(key)
	if err != nil {
		return 0, err
	}
	r = contextReader{ctx, r}
	buf := make([]byte, PartSize)
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			return 0, s.wrap("put", key, err)
		}
		return int64(n), nil
	}
	if err != nil {
		return 0, err
	}
	return s.putMultipart(ctx, k, key, r, buf)
}

// putMultipart uploads first (a full part) and the rest of r as a
// multipart upload, completing it only once r reached EOF cleanly.
func (s *S3) putMultipart(ctx context.Context, k, key string, r io.Reader, first []byte) (int64, error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return 0, s.wrap("put", key, err)
	}
	abort := func(cause error) (int64, error) {
		// A fresh context: the caller's may be what ended the upload.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &k, UploadId: up.UploadId})
		return 0, cause
	}
	var parts []s3types.CompletedPart
	var total int64
	chunk := first
	for num := int32(1); ; num++ {
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.bucket, Key: &k, UploadId: up.UploadId, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk))),
		})
		if err != nil {
			return abort(s.wrap("put", key, err))
		}
		parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		total += int64(len(chunk))
		if num >= 10000 {
			if extra, _ := r.Read(make([]byte, 1)); extra > 0 {
				return abort(fmt.Errorf("blob: put %s: object exceeds S3's 10,000 parts", key))
			}
		}
		size := partSizeFor(int(num))
		if cap(chunk) < size {
			chunk = make([]byte, size)
		}
		n, rerr := io.ReadFull(r, chunk[:size])
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return abort(rerr)
		}
		chunk = chunk[:n]
		if rerr == io.ErrUnexpectedEOF {
			// The last, short part: upload it and finish.
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &s.bucket, Key: &k, UploadId: up.UploadId, PartNumber: aws.Int32(num + 1),
				Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(n)),
			})
			if err != nil {
				return abort(s.wrap("put", key, err))
			}
			parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num + 1)})
			total += int64(n)
			break
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &k, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(s.wrap("put", key, err))
	}
	return total, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	k, err := s.key(key)
	if err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return Info{}, s.wrap("stat", key, err)
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return nil, s.wrap("open", key, err)
	}
	return &s3Object{s: s, ctx: ctx, key: key, k: k, size: aws.ToInt64(out.ContentLength), body: out.Body}, nil
}

// s3Object reads an object as one GET from the current offset; a Seek
// drops the GET and the next Read starts a ranged one where it points.
// Seeking to the end to learn the size (as http.ServeContent does) costs
// no request.
type s3Object struct {
	s    *S3
	ctx  context.Context
	key  string
	k    string
	size int64
	off  int64
	body io.ReadCloser
}

func (o *s3Object) Size() int64 { return o.size }

func (o *s3Object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.body == nil {
		out, err := o.s.client.GetObject(o.ctx, &s3.GetObjectInput{
			Bucket: &o.s.bucket, Key: &o.k, Range: aws.String(fmt.Sprintf("bytes=%d-", o.off)),
		})
		if err != nil {
			return 0, o.s.wrap("read", o.key, err)
		}
		o.body = out.Body
	}
	if rest := o.size - o.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if err == io.EOF && o.off < o.size {
		err = io.ErrUnexpectedEOF // the object changed or the connection dropped
	}
	return n, err
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, errors.New("blob: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("blob: negative position")
	}
	if abs != o.off && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.off = abs
	return abs, nil
}

func (o *s3Object) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}

func (s *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	for {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return s.wrap("list", prefix, err)
		}
		last := ""
		for _, o := range out.Contents {
			full := aws.ToString(o.Key)
			last = full
			key := strings.TrimPrefix(full, s.prefix)
			if !strings.HasPrefix(key, prefix) || !ValidKey(key) {
				continue
			}
			if err := fn(Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		switch {
		case aws.ToString(out.NextContinuationToken) != "":
			in.ContinuationToken, in.StartAfter = out.NextContinuationToken, nil
		case last != "" && last != aws.ToString(in.StartAfter):
			in.ContinuationToken, in.StartAfter = nil, aws.String(last)
		default:
			return fmt.Errorf("blob: list %s/%s: the store says the listing is truncated but gives no way to continue", s.bucket, s.prefix+prefix)
		}
	}
}

func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil && !isNotFound(err) {
		return s.wrap("delete", key, err)
	}
	return nil
}

func (s *S3) Move(ctx context.Context, src, dst string) error {
	from, err := s.key(src)
	if err != nil {
		return err
	}
	to, err := s.key(dst)
	if err != nil {
		return err
	}
	info, err := s.Stat(ctx, src)
	if err != nil {
		return err
	}
	source := s.bucket + "/" + url.PathEscape(from)
	source = strings.ReplaceAll(source, "%2F", "/")
	if info.Size <= maxCopySize {
		if _, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &to, CopySource: &source}); err != nil {
			return s.wrap("copy", src, err)
		}
	} else if err := s.copyParts(ctx, source, to, dst, info.Size); err != nil {
		return err
	}
	return s.Delete(ctx, src)
}

// copyParts copies an object larger than CopyObject allows, 1 GiB per
// UploadPartCopy.
func (s *S3) copyParts(ctx context.Context, source, to, dst string, size int64) error {
	const step = 1 << 30
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &to})
	if err != nil {
		return s.wrap("copy", dst, err)
	}
	var parts []s3types.CompletedPart
	for num, off := int32(1), int64(0); off < size; num, off = num+1, off+step {
		end := min(off+step, size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &s.bucket, Key: &to, UploadId: up.UploadId, PartNumber: aws.Int32(num),
			CopySource: &source, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
		})
		if err != nil {
			s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &to, UploadId: up.UploadId})
			return s.wrap("copy", dst, err)
		}
		parts = append(parts, s3types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(num)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &to, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &to, UploadId: up.UploadId})
		return s.wrap("copy", dst, err)
	}
	return nil
}

// Client is the S3 client the store uses, for stores on other prefixes
// of the same bucket.
func (s *S3) Client() *s3.Client { return s.client }
