package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/fetch"
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
		return "", awsapi.Errorf(awsapi.ErrCodeInvalidParameterCombinationException, "You must specify either 'data' or 'uri', not both.")
	case data == "" && uri == "":
		return "", awsapi.Errorf(awsapi.ErrCodeInvalidParameterCombinationException, "You must specify either 'data' or 'uri'.")
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

// Fetcher reads documents over https, plain http (only from ranges the
// operator opened with --allow-fetch-cidr: their own network) and from S3
// through the operator's S3-compatible endpoint. Every connection goes
// through kiln's guarded fetcher, so a uri cannot reach the host's
// loopback services, the metadata service or a private network, and its
// errors never carry what the remote end said.
type Fetcher struct {
	// HTTP fetches http(s) URLs; nil means the default policy (public
	// addresses only).
	HTTP *fetch.Client
	// S3 reads s3://bucket/key; nil when no S3 endpoint is configured.
	S3 func(ctx context.Context, bucket, key string, limit int64) ([]byte, error)
}

// Fetch implements DocumentFetcher.
func (f *Fetcher) Fetch(ctx context.Context, uri string, limit int64) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, errors.New("the URI is not valid")
	}
	switch u.Scheme {
	case "s3":
		if f.S3 == nil {
			return nil, fmt.Errorf("no S3 endpoint is configured (kiln serve --s3-endpoint)")
		}
		return f.S3(ctx, u.Host, strings.TrimPrefix(u.Path, "/"), limit)
	case "https", "http":
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want s3 or https)", u.Scheme)
	}
	var c fetch.Client
	if f.HTTP != nil {
		c = *f.HTTP
	}
	// A document runs as root in builds: in clear text it may come only
	// from the operator's own network.
	c.PlainHTTPOnlyAllowed = true
	return c.Read(ctx, uri, limit)
}
