package service

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// DocumentFetcher reads a document that a request names by `uri`.
type DocumentFetcher interface {
	Fetch(ctx context.Context, uri string, limit int64) ([]byte, error)
}

// documentData returns the document a Create call carries: exactly one of
// inline data or a uri, which is fetched now (Image Builder copies the
// document at create time; later changes to the object do not matter).
func (s *Service) documentData(ctx context.Context, data, uri string) (string, error) {
	switch {
	case data != "" && uri != "":
		return "", awsapi.Errorf("InvalidParameterCombinationException", "You must specify either 'data' or 'uri', not both.")
	case data == "" && uri == "":
		return "", awsapi.Errorf("InvalidParameterCombinationException", "You must specify either 'data' or 'uri'.")
	case data != "":
		return data, nil
	}
	if s.Fetch == nil {
		return "", badValue("uri", "kiln has no document source configured for '%s'.", uri)
	}
	b, err := s.Fetch.Fetch(ctx, uri, maxComponentDocumentBytes)
	if err != nil {
		return "", badValue("uri", "The document at '%s' could not be read: %v", uri, err)
	}
	if strings.IndexByte(string(b), 0) >= 0 {
		return "", badValue("uri", "The document at '%s' contains a NUL byte.", uri)
	}
	return string(b), nil
}

// Fetcher reads documents over https (and plain http to loopback hosts,
// which only a local test server or sidecar can be) and from S3 through
// the operator's S3-compatible endpoint.
type Fetcher struct {
	HTTP *http.Client
	// S3 reads s3://bucket/key; nil when no S3 endpoint is configured.
	S3 func(ctx context.Context, bucket, key string, limit int64) ([]byte, error)
}

// Fetch implements DocumentFetcher.
func (f *Fetcher) Fetch(ctx context.Context, uri string, limit int64) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "s3":
		if f.S3 == nil {
			return nil, fmt.Errorf("no S3 endpoint is configured (kiln serve --s3-endpoint)")
		}
		return f.S3(ctx, u.Host, strings.TrimPrefix(u.Path, "/"), limit)
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("plain http is allowed only to loopback hosts; use https")
		}
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want s3 or https)", u.Scheme)
	}
	client := f.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET answered %s", resp.Status)
	}
	return readLimited(resp.Body, limit)
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the document is larger than %d bytes", limit)
	}
	return b, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
