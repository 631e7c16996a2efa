package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/toe/action"
)

// toeDocuments reads the document and run-configuration locations awstoe
// accepts besides local files: s3://bucket/key, through the S3 endpoint
// kiln toe is given (--s3-endpoint, as S3Download uses it) and the
// standard credential chain; and Image Builder component ARNs, whose
// document kiln fetches with GetComponent from a kiln (--endpoint or
// KILN_ENDPOINT), signed with the caller's credentials, so a component is
// read only by an account that may see it.
type toeDocuments struct {
	s3 action.S3Options
	// s3Owner is --document-s3-bucket-owner: the account S3 documents'
	// buckets must belong to.
	s3Owner  string
	endpoint string
}

// remoteDocument reports whether a location is one toeDocuments reads
// rather than a local file.
func remoteDocument(location string) bool {
	return strings.HasPrefix(location, "s3://") || strings.HasPrefix(location, "arn:")
}

// read returns the document at location: S3, a component ARN or a local
// file.
func (d *toeDocuments) read(ctx context.Context, location string) ([]byte, error) {
	switch {
	case strings.HasPrefix(location, "s3://"):
		return action.ReadS3Object(ctx, d.s3, location, d.s3Owner)
	case strings.HasPrefix(location, "arn:"):
		return d.component(ctx, location)
	}
	return os.ReadFile(location)
}

// component fetches a component's document through GetComponent.
func (d *toeDocuments) component(ctx context.Context, location string) ([]byte, error) {
	a, err := arn.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", location, err)
	}
	if a.Type != arn.TypeComponent {
		return nil, fmt.Errorf("%s is not a component ARN (arn:aws:imagebuilder:REGION:ACCOUNT:component/NAME/VERSION/BUILD)", location)
	}
	endpoint := strings.TrimRight(d.endpoint, "/")
	u := endpoint + "/GetComponent?" + url.Values{"componentBuildVersionArn": {location}}.Encode()
	resp, err := signedRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, action.MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading GetComponent's answer from %s: %w", location, endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return nil, fmt.Errorf("%s: GetComponent at %s answered %s %s: %s", location, endpoint, resp.Status, e.Type, e.Message)
	}
	var out struct {
		Component struct {
			Data string `json:"data"`
		} `json:"component"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: GetComponent at %s: %w", location, endpoint, err)
	}
	if out.Component.Data == "" {
		return nil, fmt.Errorf("%s: the component has no document", location)
	}
	return []byte(out.Component.Data), nil
}

// register adds the flags that say where remote documents come from, to
// `kiln toe run` and `validate` alike.
func (d *toeDocuments) register(fs *flag.FlagSet) {
	fs.StringVar(&d.s3Owner, "document-s3-bucket-owner", "", "account that must own the buckets of s3:// documents")
	fs.StringVar(&d.s3.Endpoint, "s3-endpoint", "", "S3-compatible endpoint for s3:// documents, S3Download and S3Upload")
	fs.StringVar(&d.s3.Region, "s3-region", "", "region for S3 (default from the AWS configuration, else us-east-1)")
	fs.BoolVar(&d.s3.UsePathStyle, "s3-path-style", false, "use path-style S3 addressing")
	fs.StringVar(&d.endpoint, "endpoint", defaultEndpoint(), "kiln's URL, for component ARNs in --documents and ExecuteDocument (KILN_ENDPOINT)")
}
