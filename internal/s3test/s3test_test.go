package s3test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// client returns an SDK client with the SDK's default checksum
// behaviour, so uploads arrive the way a stock client sends them.
func client(srv *Server) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
}

func TestRoundTripWithSDK(t *testing.T) {
	srv := Start()
	defer srv.Close()
	ctx := context.Background()
	c := client(srv)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("0123456789", 10000)
	for _, key := range []string{"dir/one", "dir/two", "other"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Body: strings.NewReader(payload + key)})
		if err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/two")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != payload+"dir/two" {
		t.Errorf("GetObject body has %d bytes, want %d", len(body), len(payload)+7)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("other")}); err != nil {
		t.Errorf("HeadObject: %v", err)
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("dir/"), MaxKeys: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if strings.Join(keys, ",") != "dir/one,dir/two" {
		t.Errorf("listed %v", keys)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("nope")})
	var nsk interface{ ErrorCode() string }
	if !errors.As(err, &nsk) || nsk.ErrorCode() != "NoSuchKey" {
		t.Errorf("missing key: %v", err)
	}
}

func TestChunkedReader(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n", "hello world", true},
		{"3\r\nabc\r\n0\r\n\r\n", "abc", true},
		{"0\r\n", "", true},
		{"zz\r\nabc", "", false},
		{"5\r\nab", "", false},
		{"3\r\nabcX", "", false},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(&chunkedReader{r: bufio.NewReader(strings.NewReader(tt.in))})
		if (err == nil) != tt.ok || (tt.ok && string(got) != tt.want) {
			t.Errorf("decode(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzChunkedReader checks that encoding then decoding returns the data
// and that arbitrary input never panics or loops.
func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("hello"), 2)
	f.Add([]byte(""), 1)
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\n"), 7)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		io.ReadAll(&chunkedReader{r: bufio.NewReader(bytes.NewReader(data))})
		if chunk <= 0 || chunk > 1<<16 {
			return
		}
		var enc bytes.Buffer
		for rest := data; len(rest) > 0; {
			n := min(chunk, len(rest))
			enc.WriteString(strconv.FormatInt(int64(n), 16) + ";chunk-signature=x\r\n")
			enc.Write(rest[:n])
			enc.WriteString("\r\n")
			rest = rest[n:]
		}
		enc.WriteString("0\r\n\r\n")
		got, err := io.ReadAll(&chunkedReader{r: bufio.NewReader(&enc)})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, data)
		}
	})
}
