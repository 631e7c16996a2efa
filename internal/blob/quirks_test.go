package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kiln-build/kiln/internal/blob"
)

// quirkyS3 answers the few requests these tests make the way some
// S3-compatible stores do, where they differ from AWS: listings that say
// they are truncated without a continuation token (older radosgw), and
// missing objects as a 404 whose code is NotFound or absent. A real
// server will not produce these on demand, so this is a fake: it injects
// faults, nothing more.
type quirkyS3 struct {
	keys     []string
	pageSize int
	tokens   bool   // send NextContinuationToken
	notFound string // error code of a missing object's 404; "" sends no body
}

func (q *quirkyS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.URL.Query().Get("list-type") == "2" {
		after := r.URL.Query().Get("start-after")
		if tok := r.URL.Query().Get("continuation-token"); tok != "" {
			after = tok
		}
		var page []string
		for _, k := range q.keys {
			if k > after && strings.HasPrefix(k, r.URL.Query().Get("prefix")) && len(page) < q.pageSize {
				page = append(page, k)
			}
		}
		truncated := len(page) == q.pageSize && page[len(page)-1] != q.keys[len(q.keys)-1]
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>%t</IsTruncated>`, truncated)
		if truncated && q.tokens {
			fmt.Fprintf(w, `<NextContinuationToken>%s</NextContinuationToken>`, page[len(page)-1])
		}
		for _, k := range page {
			fmt.Fprintf(w, `<Contents><Key>%s</Key><Size>1</Size></Contents>`, k)
		}
		io.WriteString(w, `</ListBucketResult>`)
		return
	}
	if rest != "" {
		if q.notFound == "" || r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>gone</Message></Error>`, q.notFound)
		return
	}
	w.WriteHeader(http.StatusBadRequest)
}

func quirkyStore(t *testing.T, q *quirkyS3) *blob.S3 {
	srv := httptest.NewServer(q)
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	return blob.NewS3(client, "bucket", "")
}

func TestS3ListingQuirks(t *testing.T) {
	var keys []string
	for i := range 25 {
		keys = append(keys, fmt.Sprintf("p/%03d", i))
	}
	for _, tc := range []struct {
		name   string
		tokens bool
	}{{"continuation tokens", true}, {"truncated without a token", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := quirkyStore(t, &quirkyS3{keys: keys, pageSize: 10, tokens: tc.tokens})
			var got []string
			if err := s.List(context.Background(), "p/", func(i blob.Info) error { got = append(got, i.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(keys, ",") {
				t.Fatalf("listed %d keys: %q", len(got), got)
			}
		})
	}
}

func TestS3NotFoundQuirks(t *testing.T) {
	for _, code := range []string{"NoSuchKey", "NotFound", ""} {
		t.Run("code "+code, func(t *testing.T) {
			s := quirkyStore(t, &quirkyS3{notFound: code})
			ctx := context.Background()
			if _, err := s.Open(ctx, "a/b"); !errors.Is(err, blob.ErrNotExist) {
				t.Errorf("Open: %v", err)
			}
			if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, blob.ErrNotExist) {
				t.Errorf("Stat: %v", err)
			}
			if ok, err := blob.Exists(ctx, s, "a/b"); ok || err != nil {
				t.Errorf("Exists = %v, %v", ok, err)
			}
		})
	}
}
