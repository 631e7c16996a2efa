package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/kiln-build/kiln/internal/caller"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/container"
	"github.com/kiln-build/kiln/internal/engine/machine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/fetch"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
)

// fetchers are the guarded clients every outbound fetch of kiln's own
// goes through, all under one policy: public addresses, plus the ranges
// the operator opened with --allow-fetch-cidr.
type fetchers struct {
	// web fetches documents, ADD URLs and https:// imports.
	web *fetch.Client
	// s3 reaches the operator's --s3-endpoint, which is trusted because
	// the operator chose it; where it redirects to is checked as usual.
	// nil without an endpoint.
	s3       *fetch.Client
	endpoint string
	region   string
	// buckets says which account may use which bucket through kiln's S3
	// credentials.
	buckets *caller.BucketOwners
}

func newFetchers(cfg serveConfig, mode sigv4.Mode, log *slog.Logger) (*fetchers, error) {
	allow, err := fetch.ParseCIDRs(cfg.allowFetchCIDR)
	if err != nil {
		return nil, fmt.Errorf("--allow-fetch-cidr: %w", err)
	}
	// In loopback mode kiln serves one trusted account, so buckets nobody
	// claimed are its; on a shared server only the buckets the operator
	// gave an account are usable, and only by that account.
	buckets := &caller.BucketOwners{Unlisted: mode == sigv4.ModeLoopback}
	for _, v := range cfg.s3BucketOwner {
		if err := buckets.ParseBucketOwner(v); err != nil {
			return nil, err
		}
	}
	f := &fetchers{web: &fetch.Client{Policy: fetch.Policy{Allow: allow}, Log: log}, endpoint: cfg.s3Endpoint, region: cfg.region, buckets: buckets}
	if cfg.s3Endpoint != "" {
		addr, err := fetch.TrustedAddr(cfg.s3Endpoint)
		if err != nil {
			return nil, fmt.Errorf("--s3-endpoint: %w", err)
		}
		s3 := *f.web
		s3.Trusted = []string{addr}
		f.s3 = &s3
	}
	return f, nil
}

// documents is the service's source of documents named by `uri`.
func (f *fetchers) documents() *service.Fetcher {
	d := &service.Fetcher{HTTP: f.web}
	if f.s3 != nil {
		d.S3 = newS3Reader(f.endpoint, f.region, f.s3, f.buckets)
	}
	return d
}

// wire gives the build engine's executors and log uploader the guarded
// clients.
func (f *fetchers) wire(e *engine.Engine) {
	if f.s3 != nil {
		e.UploadLog = newS3Uploader(f.endpoint, f.region, f.s3, f.buckets)
	}
	for _, x := range e.Executors {
		switch x := x.(type) {
		case *container.Executor:
			x.Fetch = f.web
			x.Pull.Transport = guardPulls(x.Pull.Transport, f.registries(x.Tools).HTTPClient().Transport)
		case *machine.Executor:
			x.Fetch = f.web
			x.Pull.Transport = guardPulls(x.Pull.Transport, f.registries(x.Tools).HTTPClient().Transport)
			if f.s3 != nil {
				x.S3 = newS3Opener(f.endpoint, f.region, f.s3, f.buckets)
			}
		}
	}
}

// guardPulls puts the guarded transport under whatever routing the edge
// set up: with TLS, kiln's own registry keeps its pinned transport and
// every other registry goes through the guard.
func guardPulls(current, guarded http.RoundTripper) http.RoundTripper {
	if routes, ok := current.(hostRoutes); ok {
		routes.other = guarded
		return routes
	}
	return guarded
}

// registries is the client parent images are pulled with: kiln's own
// registry and the operator's --insecure-registry hosts are trusted (the
// operator named them); every other registry, and every redirect, is
// checked like any fetch, so a recipe's parentImage cannot point kiln at
// a service on its host or network.
func (f *fetchers) registries(t sandboxed.Tools) *fetch.Client {
	c := *f.web
	c.Trusted = nil
	for _, h := range append([]string{t.RegistryHost}, t.Pull.Insecure...) {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err == nil {
			c.Trusted = append(c.Trusted, h)
			continue
		}
		c.Trusted = append(c.Trusted, net.JoinHostPort(h, "443"), net.JoinHostPort(h, "80"))
	}
	return &c
}
