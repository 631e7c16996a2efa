package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options says how registries are reached.
type Options struct {
	// Insecure lists registry hosts ("host:port") that may be reached over plain HTTP;
	// loopback hosts (127.0.0.0/8, ::1, localhost) always may.
	Insecure []string
	// PlainHTTPOnlyListed takes loopback's exemption away: plain HTTP
	// only to the Insecure hosts. Pushes to a registry the operator
	// mapped (package registrymap) use it, so a registry that happens to
	// be on this host still gets verified TLS unless listed.
	PlainHTTPOnlyListed bool
	// Auth, when set, gives credentials per registry host (nil: anonymous).
	Auth     authn.Keychain
	Platform v1.Platform // default linux/amd64
	// Transport carries the requests (nil: go-containerregistry's
	// default). kiln serve gives its guarded fetcher's, so a parent image
	// cannot name a registry on the host's loopback or network, routed to
	// a transport pinned to kiln's own certificate for its own registry
	// when it serves TLS.
	Transport http.RoundTripper
}

// platform is opt's platform with the default filled in.
func (o Options) platform() v1.Platform {
	p := o.Platform
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = "amd64"
	}
	return p
}

func (o Options) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return remote.DefaultTransport
}

// plainHTTPAllowed reports whether host ("host" or "host:port") may be
// spoken to without TLS: loopback always (the traffic never leaves the
// machine), anything else only when the operator listed it.
func (o Options) plainHTTPAllowed(host string) bool {
	if isLoopback(host) && !o.PlainHTTPOnlyListed {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	return slices.Contains(o.Insecure, host) || slices.Contains(o.Insecure, h)
}

func isLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// parseRef parses a reference, marking its registry insecure (HTTP is
// tried after HTTPS) exactly when plain HTTP is allowed for it.
// go-containerregistry on its own also falls back to HTTP for private
// (RFC 1918) addresses; the transport's guard refuses those unless listed.
func (o Options) parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("oci: invalid image reference %q: %w", ref, err)
	}
	if o.plainHTTPAllowed(r.Context().RegistryStr()) {
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("oci: invalid image reference %q: %w", ref, err)
		}
	}
	return r, nil
}

func (o Options) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithPlatform(o.platform()),
		remote.WithTransport(&httpGuard{base: o.transport(), allowed: o.plainHTTPAllowed}),
	}
	if o.Auth != nil {
		opts = append(opts, remote.WithAuthFromKeychain(o.Auth))
	} else {
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	return opts
}

// errPlainHTTP is returned for a plain-HTTP request to a host that may
// not be reached without TLS.
var errPlainHTTP = errors.New("plain HTTP is allowed only for loopback registries and those listed as insecure")

// httpGuard refuses plain-HTTP requests to hosts that are not allowed
// them, whoever made the request: the registry client's fallback, a token
// endpoint, or a redirect to blob storage.
type httpGuard struct {
	base    http.RoundTripper
	allowed func(host string) bool
}

func (g *httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !g.allowed(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("oci: %s %s: %w", req.Method, req.URL.Redacted(), errPlainHTTP)
	}
	return g.base.RoundTrip(req)
}

// Pull resolves ref (tag or digest; an index resolves to Options.Platform's manifest) to an image.
// The manifest and config are fetched now; layers are fetched when read,
// with ctx, so ctx must outlive the use of the image.
func Pull(ctx context.Context, ref string, opt Options) (v1.Image, error) {
	r, err := opt.parseRef(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, opt.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("oci: pulling %s: %w", ref, err)
	}
	if _, err := img.RawConfigFile(); err != nil {
		return nil, fmt.Errorf("oci: pulling %s: config: %w", ref, err)
	}
	return img, nil
}

// Push writes img to ref in a remote registry and returns the manifest digest.
// Blobs the registry already has are not uploaded again, and layers pulled
// from another repository of the same registry are mounted, not copied.
func Push(ctx context.Context, img v1.Image, ref string, opt Options) (string, error) {
	r, err := opt.parseRef(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, opt.remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("oci: pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// CheckPush asks the registry of ref whether opt's credentials may push
// to ref's repository, by starting an upload and cancelling it, so a
// build can fail before it runs rather than after. go-containerregistry
// gives it no context: the transport's own timeouts bound it.
func CheckPush(ref string, opt Options) error {
	r, err := opt.parseRef(ref)
	if err != nil {
		return err
	}
	kc := opt.Auth
	if kc == nil {
		kc = anonymous{}
	}
	if err := remote.CheckPushPermission(r, kc, &httpGuard{base: opt.transport(), allowed: opt.plainHTTPAllowed}); err != nil {
		return fmt.Errorf("oci: checking a push to %s: %w", ref, err)
	}
	return nil
}

// anonymous is a keychain without credentials.
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }
