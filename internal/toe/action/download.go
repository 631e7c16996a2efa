package action

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func init() {
	register(s3Download)
	register(s3Upload)
	register(newWebDownload(webDownloadTries, exponentialBackoff))
}

// maxPrefixObjects is how many objects one S3Download prefix operation
// may fetch (AWS's documented limit).
const maxPrefixObjects = 1000

// parseS3URL splits s3://bucket/key. The key may be empty or end in "/"
// (a prefix) or "/*" (everything under a prefix).
func parseS3URL(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key URL", s)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q has no bucket name", s)
	}
	return bucket, key, nil
}

// checkS3URL is a Validate helper for an s3:// input.
func checkS3URL(in values, name string) []Problem {
	v := in[name]
	if v == nil || isPlaceholder(v) {
		return nil
	}
	if _, _, err := parseS3URL(scalarText(v)); err != nil {
		return []Problem{{Path: name, Message: err.Error()}}
	}
	return nil
}

// newS3Client builds a client for env.S3 with credentials from the
// standard chain. For a custom endpoint the SDK's newer default request
// and response checksums are limited to where S3 requires them, because
// S3-compatible servers commonly reject or lack them.
func newS3Client(ctx context.Context, opts S3Options) (*s3.Client, error) {
	var load []func(*config.LoadOptions) error
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		o.UsePathStyle = opts.UsePathStyle
	}), nil
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// s3Download fetches one object to a file, or every object under a
// prefix (source ending in "/*") into a folder. As AWS documents, the
// destination's parent folder must already exist (unlike WebDownload).
var s3Download = &batchModule{
	name: "S3Download",
	schema: schema{
		{name: "source", kind: kindString, required: true},
		{name: "destination", kind: kindString, required: true},
		{name: "expectedBucketOwner", kind: kindString},
		overwriteField,
	},
	extra: func(op values) []Problem { return checkS3URL(op, "source") },
	run: func(ctx context.Context, env *Env, op values) (map[string]string, error) {
		bucket, key, _ := parseS3URL(op.str("source"))
		client, err := newS3Client(ctx, env.S3)
		if err != nil {
			return nil, err
		}
		dl := s3Fetcher{client: client, bucket: bucket, owner: op.str("expectedBucketOwner"), overwrite: op.boolean("overwrite", true)}
		dest := op.str("destination")
		if prefix, ok := strings.CutSuffix(key, "*"); ok && (prefix == "" || strings.HasSuffix(prefix, "/")) {
			return nil, dl.prefix(ctx, prefix, env.abs(dest))
		}
		target := env.abs(dest)
		if endsWithSeparator(dest) || isDir(target) {
			target = filepath.Join(target, path.Base(key))
		}
		if !isDir(filepath.Dir(target)) {
			return nil, fmt.Errorf("destination folder %s does not exist", filepath.Dir(target))
		}
		return nil, dl.object(ctx, key, target)
	},
}

// s3Fetcher downloads objects of one bucket.
type s3Fetcher struct {
	client    *s3.Client
	bucket    string
	owner     string
	overwrite bool
}

// object downloads one object to target through a temporary file, so a
// failed transfer never leaves a half-written destination.
func (f s3Fetcher) object(ctx context.Context, key, target string) error {
	if exists(target) && !f.overwrite {
		return fmt.Errorf("%s: File already exists and \"overwrite\" property for \"destination\" file is set to false", target)
	}
	out, err := f.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(key), ExpectedBucketOwner: optionalString(f.owner),
	})
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", f.bucket, key, err)
	}
	defer out.Body.Close()
	return writeAtomically(target, out.Body, nil, nil)
}

// prefix downloads everything under prefix into dir, recreating the
// key hierarchy below the prefix.
func (f s3Fetcher) prefix(ctx context.Context, prefix, dir string) error {
	if !isDir(filepath.Dir(dir)) {
		return fmt.Errorf("destination folder %s does not exist", filepath.Dir(dir))
	}
	list, err := f.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(f.bucket), Prefix: optionalString(prefix),
		MaxKeys: aws.Int32(maxPrefixObjects), ExpectedBucketOwner: optionalString(f.owner),
	})
	if err != nil {
		return fmt.Errorf("listing s3://%s/%s: %w", f.bucket, prefix, err)
	}
	if aws.ToBool(list.IsTruncated) {
		return fmt.Errorf("s3://%s/%s holds more than %d objects", f.bucket, prefix, maxPrefixObjects)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, obj := range list.Contents {
		key := aws.ToString(obj.Key)
		rel := strings.TrimPrefix(key, prefix)
		if rel == "" {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if !within(target, dir) {
			return fmt.Errorf("object key %q leads outside %s", key, dir)
		}
		if strings.HasSuffix(rel, "/") { // a "folder" marker object
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := f.object(ctx, key, target); err != nil {
			return err
		}
	}
	return nil
}

// s3Upload uploads a file to a key, or the files matched by a wildcard
// (or a folder's files) under a prefix; recurse also uploads the folders
// among them, keeping their relative paths in the keys. recurse is a
// "String" in AWS's table but boolean in use, so both are accepted.
var s3Upload = &batchModule{
	name: "S3Upload",
	schema: schema{
		{name: "source", kind: kindString, required: true},
		{name: "destination", kind: kindString, required: true},
		{name: "recurse", kind: kindBool},
		{name: "expectedBucketOwner", kind: kindString},
	},
	extra: func(op values) []Problem { return checkS3URL(op, "destination") },
	run: func(ctx context.Context, env *Env, op values) (map[string]string, error) {
		dest := op.str("destination")
		bucket, key, _ := parseS3URL(dest)
		src := env.abs(op.str("source"))
		matches, wildcard, err := expandSource(src)
		if err != nil {
			return nil, err
		}
		if !wildcard && isDir(src) {
			if matches, err = filepath.Glob(filepath.Join(src, "*")); err != nil {
				return nil, err
			}
			wildcard = true
		}
		uploads := map[string]string{} // key -> local file
		var order []string
		add := func(k, file string) {
			if _, dup := uploads[k]; !dup {
				order = append(order, k)
			}
			uploads[k] = file
		}
		if !wildcard {
			if key == "" || strings.HasSuffix(key, "/") {
				key += filepath.Base(src)
			}
			add(key, src)
		} else {
			if key != "" && !strings.HasSuffix(key, "/") {
				return nil, fmt.Errorf("%s: uploading several files needs a destination prefix ending in /", dest)
			}
			recurse := op.boolean("recurse", false)
			for _, m := range matches {
				if !isDir(m) {
					add(key+filepath.Base(m), m)
					continue
				}
				if !recurse {
					continue
				}
				err := filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					rel, err := filepath.Rel(filepath.Dir(m), p)
					if err != nil {
						return err
					}
					if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
						add(key+filepath.ToSlash(rel), p)
					}
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
		}
		if len(order) == 0 {
			return nil, fmt.Errorf("%s: no files to upload", op.str("source"))
		}
		client, err := newS3Client(ctx, env.S3)
		if err != nil {
			return nil, err
		}
		owner := optionalString(op.str("expectedBucketOwner"))
		for _, k := range order {
			if err := putFile(ctx, client, bucket, k, uploads[k], owner); err != nil {
				return nil, err
			}
		}
		return nil, nil
	},
}

func putFile(ctx context.Context, client *s3.Client, bucket, key, file string, owner *string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: f,
		ContentLength: aws.Int64(fi.Size()), ExpectedBucketOwner: owner,
	})
	if err != nil {
		return fmt.Errorf("uploading %s to s3://%s/%s: %w", file, bucket, key, err)
	}
	return nil
}

// writeAtomically copies r into a temporary file beside target and
// renames it into place. h, if set, sees every byte, and check, if set,
// may still refuse the content before it replaces target. The file ends
// up 0644 (downloads are data, not secrets).
func writeAtomically(target string, r io.Reader, h hash.Hash, check func() error) error {
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := io.Writer(tmp)
	if h != nil {
		w = io.MultiWriter(tmp, h)
	}
	if _, err := io.Copy(w, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), target)
}

// webDownloadTries is how many times WebDownload tries one transfer
// before failing (AWS documents 5 with exponential backoff), independent
// of the step's maxAttempts.
const webDownloadTries = 5

// exponentialBackoff waits 1s, 2s, 4s, 8s between tries.
func exponentialBackoff(try int) time.Duration { return time.Second << (try - 1) }

// checksumAlgorithms maps WebDownload's algorithm names (any case).
var checksumAlgorithms = map[string]func() hash.Hash{
	"MD5": md5.New, "SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New,
}

// webDownloader is WebDownload with its retry schedule as a parameter,
// so tests need not wait for real backoff.
type webDownloader struct {
	tries   int
	backoff func(try int) time.Duration
}

func newWebDownload(tries int, backoff func(int) time.Duration) Module {
	d := webDownloader{tries: tries, backoff: backoff}
	return &batchModule{
		name: "WebDownload",
		schema: schema{
			{name: "source", kind: kindString, required: true},
			{name: "destination", kind: kindString, required: true},
			overwriteField,
			{name: "checksum", kind: kindString},
			{name: "algorithm", kind: kindString},
			{name: "ignoreCertificateErrors", kind: kindBool},
		},
		extra: checkWebDownload,
		run:   d.run,
	}
}

func checkWebDownload(op values) []Problem {
	var ps []Problem
	if src := op["source"]; !isPlaceholder(src) {
		u, err := url.Parse(scalarText(src))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps = append(ps, Problem{Path: "source", Message: "must be an http:// or https:// URL"})
		}
	}
	switch {
	case op.has("checksum") && !op.has("algorithm"):
		ps = append(ps, Problem{Path: "algorithm", Message: "is required with checksum (MD5, SHA1, SHA256 or SHA512)"})
	case op.has("algorithm") && !op.has("checksum"):
		ps = append(ps, Problem{Path: "checksum", Message: "is required with algorithm"})
	}
	if a := op["algorithm"]; a != nil && !isPlaceholder(a) {
		if checksumAlgorithms[strings.ToUpper(scalarText(a))] == nil {
			ps = append(ps, Problem{Path: "algorithm", Message: "must be MD5, SHA1, SHA256 or SHA512"})
		}
	}
	return ps
}

// run downloads one URL. An existing destination is kept when overwrite
// is true and it already matches the given checksum.
func (d webDownloader) run(ctx context.Context, env *Env, op values) (map[string]string, error) {
	source, dest := op.str("source"), op.str("destination")
	target := env.abs(dest)
	if endsWithSeparator(dest) {
		u, _ := url.Parse(source)
		name := path.Base(u.Path)
		if name == "/" || name == "." || name == "" {
			return nil, fmt.Errorf("%s: no file name in the URL to put into %s", source, dest)
		}
		target = filepath.Join(target, name)
	}
	var newHash func() hash.Hash
	want := strings.ToLower(strings.TrimSpace(op.str("checksum")))
	if want != "" {
		newHash = checksumAlgorithms[strings.ToUpper(op.str("algorithm"))]
	}
	if fi, err := os.Stat(target); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a folder; end the destination with / to download into it", target)
		}
		if !op.boolean("overwrite", true) {
			return nil, fmt.Errorf("%s: already exists and overwrite is false", target)
		}
		if newHash != nil {
			if got, err := fileHash(target, newHash()); err == nil && got == want {
				return map[string]string{"destination": target}, nil
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return nil, err
	}
	client := http.DefaultClient
	if op.boolean("ignoreCertificateErrors", false) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		client = &http.Client{Transport: tr}
	}
	var err error
	for try := 1; try <= d.tries; try++ {
		err = fetchOnce(ctx, client, source, target, newHash, want)
		if err == nil {
			return map[string]string{"destination": target}, nil
		}
		if !transient(ctx, err) || try == d.tries {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d.backoff(try)):
		}
	}
	return nil, fmt.Errorf("downloading %s: %w", source, err)
}

// httpStatusError is a final HTTP status other than 200.
type httpStatusError struct{ status int }

func (e httpStatusError) Error() string {
	return fmt.Sprintf("HTTP status %d %s", e.status, http.StatusText(e.status))
}

// transient reports whether a failed try is worth repeating: network
// errors, server errors, 408 and 429; not other client errors, and not a
// step that was cancelled or timed out.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se httpStatusError
	if errors.As(err, &se) {
		return se.status >= 500 || se.status == http.StatusRequestTimeout || se.status == http.StatusTooManyRequests
	}
	var pe *fs.PathError
	var ce checksumError
	// Local file errors and wrong content will not fix themselves.
	return !errors.As(err, &pe) && !errors.As(err, &ce)
}

// checksumError is a download whose content does not match the
// checksum input; the destination is left untouched.
type checksumError struct{ got, want string }

func (e checksumError) Error() string {
	return fmt.Sprintf("checksum mismatch: got %s, want %s", e.got, e.want)
}

// fetchOnce performs one GET into target. With newHash set, content
// whose hex digest is not want never replaces target.
func fetchOnce(ctx context.Context, client *http.Client, source, target string, newHash func() hash.Hash, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return httpStatusError{resp.StatusCode}
	}
	if newHash == nil {
		return writeAtomically(target, resp.Body, nil, nil)
	}
	h := newHash()
	return writeAtomically(target, resp.Body, h, func() error {
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return checksumError{got: got, want: want}
		}
		return nil
	})
}

func fileHash(path string, h hash.Hash) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
