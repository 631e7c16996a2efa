package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Default limits. A zero field of Client means its default.
const (
	// DefaultConnectTimeout bounds one TCP connect, and separately the
	// TLS handshake after it.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultHeaderTimeout bounds the wait for response headers once
	// the request is sent.
	DefaultHeaderTimeout = 30 * time.Second
	// DefaultIdleTimeout is the longest a transfer may go without a
	// single byte moving: a stalled server frees its slot, a slow but
	// steady multi-gigabyte disk image does not fail.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultDocumentTimeout bounds a whole Read: documents are small
	// (kiln's callers ask for at most 64 KiB, Image Builder's component
	// quota), so a minute is generous and a trickling server cannot
	// keep an API request open for long.
	DefaultDocumentTimeout = 60 * time.Second
	// DefaultMaxRedirects is how many redirects a fetch follows.
	DefaultMaxRedirects = 5
)

// ErrRefused and ErrFailed are the only two things a fetch error says
// about the destination: kiln refused it by policy, or it could not be
// fetched (with, at most, the HTTP status code or a limit of kiln's own).
var (
	ErrRefused = errors.New("refused by kiln's fetch policy")
	ErrFailed  = errors.New("could not fetch")
)

// Error is a fetch failure safe to show a caller: Kind is ErrRefused or
// ErrFailed and Detail is in kiln's own words, never the remote end's.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Kind }

func refused(format string, args ...any) *Error {
	return &Error{Kind: ErrRefused, Detail: fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) *Error {
	return &Error{Kind: ErrFailed, Detail: fmt.Sprintf(format, args...)}
}

// policyError is what the dialer's Control returns; it travels up
// through net.OpError and url.Error and becomes an ErrRefused.
type policyError struct {
	// plain: the address is public, but plain http may go only to the
	// operator's ranges.
	plain bool
}

// Its text is the policy's, so an error that reaches a caller unsanitised
// (through a library's own wrapping) still says only that.
func (e *policyError) Error() string { return ErrRefused.Error() }

// Client fetches URLs under kiln's policy. The zero Client (and a nil
// one) connects to public addresses only, with the default limits.
type Client struct {
	Policy Policy
	// Trusted are host:port addresses dialled without the address check:
	// the operator's own --s3-endpoint, which they chose. Anything it
	// redirects to elsewhere is checked as usual.
	Trusted []string
	// PlainHTTPOnlyAllowed limits plain http:// to destinations in
	// Policy.Allow or Trusted: the operator's own network, where a
	// sidecar without TLS is a choice they made. Public destinations
	// must then use https, so nobody on the path can swap a document
	// that will run as root in a build.
	PlainHTTPOnlyAllowed bool
	// TLS is the base TLS configuration (nil: the system's roots).
	TLS *tls.Config
	// Resolver resolves host names (nil: the system's). Tests point it
	// at an in-process DNS server.
	Resolver *net.Resolver
	// Log gets what the caller is not told: the address refused, the
	// transport error.
	Log *slog.Logger

	ConnectTimeout  time.Duration
	HeaderTimeout   time.Duration
	IdleTimeout     time.Duration
	DocumentTimeout time.Duration
	MaxRedirects    int
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *Client) or() *Client {
	if c == nil {
		return &Client{}
	}
	return c
}

func (c *Client) trusted(addr string) bool {
	for _, t := range c.Trusted {
		if strings.EqualFold(t, addr) {
			return true
		}
	}
	return false
}

// dial connects to addr, checking the resolved address at connect time
// unless addr is trusted.
func (c *Client) dial(ctx context.Context, network, addr string, plain bool) (net.Conn, error) {
	d := &net.Dialer{Timeout: orDefault(c.ConnectTimeout, DefaultConnectTimeout), Resolver: c.Resolver}
	if !c.trusted(addr) {
		d.Control = c.control(plain)
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: conn, idle: orDefault(c.IdleTimeout, DefaultIdleTimeout)}, nil
}

// control is the dialer's check of each resolved address, run after the
// socket is made and before connect(2): a refused address never sees a
// packet. A plain connection under PlainHTTPOnlyAllowed must land in
// the operator's ranges.
func (c *Client) control(plain bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &policyError{}
		}
		if err := c.Policy.Check(ap.Addr()); err != nil {
			return &policyError{}
		}
		if plain && c.PlainHTTPOnlyAllowed && !c.Policy.allowed(ap.Addr().WithZone("")) {
			return &policyError{plain: true}
		}
		return nil
	}
}

// idleConn fails a read or write that makes no progress for idle.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}

// HTTPClient is an http.Client under the policy, for code that needs
// one (the AWS SDK's S3 client). Its errors are not sanitised: wrap them
// with Sanitize before showing them to a caller.
func (c *Client) HTTPClient() *http.Client {
	c = c.or()
	connect := orDefault(c.ConnectTimeout, DefaultConnectTimeout)
	tr := &http.Transport{
		// No proxy from the environment: the policy checks the
		// address kiln connects to, which must be the destination.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.dial(ctx, network, addr, true)
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := c.dial(ctx, network, addr, false)
			if err != nil {
				return nil, err
			}
			host, _, _ := net.SplitHostPort(addr)
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if c.TLS != nil {
				cfg = c.TLS.Clone()
			}
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
			cfg.NextProtos = []string{"http/1.1"}
			hctx, cancel := context.WithTimeout(ctx, connect)
			defer cancel()
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(hctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		},
		ResponseHeaderTimeout: orDefault(c.HeaderTimeout, DefaultHeaderTimeout),
		DisableKeepAlives:     true,
		// Go would otherwise ask for gzip and inflate it unbounded
		// before the size limit sees a byte.
		DisableCompression: true,
	}
	max := orDefault(c.MaxRedirects, DefaultMaxRedirects)
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > max {
				return refused("more than %d redirects", max)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return refused("redirected to a scheme other than http or https")
			}
			if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme == "http" {
				return refused("redirected from https to plain http")
			}
			return nil
		},
	}
}

// Sanitize turns any error of a fetch into an *Error: a policy refusal
// stays one (with its reason if it is kiln's own), anything else becomes
// a bare ErrFailed, and the full error goes to the log.
func (c *Client) Sanitize(uri string, err error) error {
	if err == nil {
		return nil
	}
	c = c.or()
	var fe *Error
	if errors.As(err, &fe) {
		c.logf("fetch", uri, err)
		return fe
	}
	var pe *policyError
	if errors.As(err, &pe) {
		c.logf("fetch refused", uri, err)
		if pe.plain {
			return refused("plain http goes only to ranges kiln serve --allow-fetch-cidr opens; use https")
		}
		return refused("the destination is not a public address (kiln serve --allow-fetch-cidr opens a range)")
	}
	// An HTTP answer of an SDK (the S3 client) keeps its status code
	// and loses its text.
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() != 0 {
		c.logf("fetch failed", uri, err)
		return failed("HTTP %d", status.HTTPStatusCode())
	}
	c.logf("fetch failed", uri, err)
	return &Error{Kind: ErrFailed}
}

func (c *Client) logf(msg, uri string, err error) {
	if c.Log != nil {
		c.Log.Warn(msg, "uri", uri, "err", err)
	}
}

// Open GETs rawURL (http or https) and returns its body, which fails
// once more than limit bytes come. The caller bounds the whole transfer
// with ctx; each read is bounded by the idle timeout.
func (c *Client) Open(ctx context.Context, rawURL string, limit int64) (io.ReadCloser, error) {
	c = c.or()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, failed("the URL is not valid")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, refused("the scheme %q is not http or https", u.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, failed("the URL is not valid")
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return nil, c.Sanitize(rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, failed("HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, failed("the body is larger than kiln's limit of %d bytes", limit)
	}
	return &limitedBody{c: c, uri: rawURL, r: resp.Body, left: limit, limit: limit}, nil
}

// limitedBody is a response body that fails past its limit and whose
// errors are sanitised.
type limitedBody struct {
	c     *Client
	uri   string
	r     io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly limit bytes from a
		// longer one.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, failed("the body is larger than kiln's limit of %d bytes", b.limit)
		}
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil {
			return 0, b.c.Sanitize(b.uri, err)
		}
		return 0, nil
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		err = b.c.Sanitize(b.uri, err)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// Read GETs rawURL and returns its whole body, at most limit bytes,
// within the document timeout.
func (c *Client) Read(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	c = c.or()
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.DocumentTimeout, DefaultDocumentTimeout))
	defer cancel()
	body, err := c.Open(ctx, rawURL, limit)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// TrustedAddr is the host:port an endpoint URL connects to, for Trusted.
func TrustedAddr(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an http or https URL", endpoint)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
