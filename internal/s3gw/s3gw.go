// Package s3gw starts a real S3-compatible server for tests: the Versity
// S3 gateway (versitygw) over a temporary directory, on a free loopback
// port, with one bucket created. Tests that need a bucket use it rather
// than a fake, so kiln's S3 code meets a real implementation's signing,
// listing, multipart and error behaviour. (The in-memory fake this
// replaced, internal/s3test, is gone: no test needed a fault from it. A
// test that must inject one serves just that answer from an httptest
// handler, as internal/blob's quirks tests do.)
package s3gw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Binary is where `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`
// puts the gateway (scripts/test.sh does that when it is missing):
// $GOPATH/bin, GOPATH defaulting to ~/go. KILN_VERSITYGW overrides it.
var Binary = func() string {
	gopath := filepath.Join(os.Getenv("HOME"), "go")
	if p := os.Getenv("GOPATH"); p != "" {
		gopath = filepath.SplitList(p)[0]
	}
	return filepath.Join(gopath, "bin", "versitygw")
}()

// Credentials of every gateway this package starts; they only ever guard
// a loopback port of a test. The gateway reports the root access key as
// every bucket's owner, so it is twelve digits, like the account id S3
// compares x-amz-expected-bucket-owner with.
const (
	AccessKey = "111122223333"
	Owner     = AccessKey
	SecretKey = "kilntestsecret0123456789"
	Region    = "us-east-1"
)

// Server is one running gateway.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	URL      string // the same as Endpoint, under the fake's old name
	Bucket   string // created at start
	Dir      string // the posix backend's root: one directory per bucket
	// Access and Secret are the root user's keys; the gateway names
	// Access as every bucket's owner.
	Access, Secret string

	t testing.TB
}

// Start runs a gateway for the test's lifetime and creates a bucket in it.
// Without the binary the test is skipped, or fails under CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartAs(t, AccessKey, SecretKey)
}

// StartAs is Start with the root user's keys chosen by the test: a test
// whose client signs with one key for kiln and S3 alike starts the
// gateway with that key.
func StartAs(t testing.TB, access, secret string) *Server {
	t.Helper()
	bin := Binary
	if p := os.Getenv("KILN_VERSITYGW"); p != "" {
		bin = p
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("versitygw is not installed at %s; scripts/test.sh installs it (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", bin)
		}
		t.Skipf("versitygw is not installed at %s (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", bin)
	}
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		s, err := start(t, bin, dir, access, secret)
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatal(err)
		}
	}
}

func start(t testing.TB, bin, dir, access, secret string) (*Server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	var logs strings.Builder
	var mu sync.Mutex
	cmd := exec.Command(bin, "--access", access, "--secret", secret, "--port", addr, "--region", Region, "posix", dir)
	w := lockedWriter{&mu, &logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			mu.Lock()
			defer mu.Unlock()
			return nil, fmt.Errorf("versitygw exited at start: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw did not listen on %s within 30s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(stop)
	s := &Server{Endpoint: "http://" + addr, URL: "http://" + addr, Bucket: "kiln-test", Dir: dir, Access: access, Secret: secret, t: t}
	if err := s.createBucket(context.Background(), s.Bucket); err != nil {
		return nil, err
	}
	return s, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 64<<10 {
		w.b.Write(p)
	}
	return len(p), nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Client returns an S3 client for the gateway (path-style, static keys).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func (s *Server) createBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil
		}
		return fmt.Errorf("creating bucket %s: %v", name, err)
	}
	return nil
}

// The helpers below have the names and shapes the in-memory fake had, so
// tests moved from it to the gateway by changing how they start the
// server. They fail the test on an error.

// CreateBucket creates another bucket (nothing when it exists).
func (s *Server) CreateBucket(name string) {
	s.t.Helper()
	if err := s.createBucket(context.Background(), name); err != nil {
		s.t.Fatal(err)
	}
}

// Put stores an object, creating the bucket if needed.
func (s *Server) Put(bucket, key string, data []byte) {
	s.t.Helper()
	s.CreateBucket(bucket)
	_, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		s.t.Fatalf("putting s3://%s/%s: %v", bucket, key, err)
	}
}

// Get returns an object's content; false when there is none.
func (s *Server) Get(bucket, key string) ([]byte, bool) {
	s.t.Helper()
	out, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		s.t.Fatalf("reading s3://%s/%s: %v", bucket, key, err)
	}
	return b, true
}

// Keys lists a bucket's keys in order.
func (s *Server) Keys(bucket string) []string {
	s.t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			s.t.Fatalf("listing s3://%s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Close does nothing: the gateway stops when the test ends. It is here
// for tests written against the fake.
func (s *Server) Close() {}

// Env is the environment a kiln process (or the aws CLI) needs to reach
// the gateway through the standard AWS credential chain.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.Access,
		"AWS_SECRET_ACCESS_KEY=" + s.Secret,
		"AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
