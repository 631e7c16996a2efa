package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/sigv4"
)

// edgeConfig is how kiln meets the network: timeouts, the connection cap,
// TLS and the Host allow-list.
type edgeConfig struct {
	maxConnections   int
	headerTimeout    time.Duration
	bodyTimeout      time.Duration
	uploadTimeout    time.Duration
	idleTimeout      time.Duration
	tlsCert          string
	tlsKey           string
	allowHost        stringList
	metricsTokenFile string
}

// maxHeaderBytes bounds a request's header block. SigV4 headers, registry
// bearer tokens and ECR authorization tokens are a few kilobytes; the
// default of http.Server (1 MiB) only gives a slow client more to trickle.
const maxHeaderBytes = 64 << 10

func (c *edgeConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.maxConnections, "max-connections", 1024, "most client connections open at once; more are closed as they arrive (KILN_MAX_CONNECTIONS)")
	fs.DurationVar(&c.headerTimeout, "header-timeout", 10*time.Second, "longest a client may take to send a request's headers or the TLS handshake (KILN_HEADER_TIMEOUT)")
	fs.DurationVar(&c.bodyTimeout, "body-timeout", server.DefaultBodyTimeout, "longest an API request body may take, and longest any upload may stall (KILN_BODY_TIMEOUT)")
	fs.DurationVar(&c.uploadTimeout, "upload-timeout", server.DefaultUploadTimeout, "longest one registry upload request body may take (KILN_UPLOAD_TIMEOUT)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 2*time.Minute, "idle keep-alive connections are closed after this long (KILN_IDLE_TIMEOUT)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve everything over TLS; needs --tls-key (KILN_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert (KILN_TLS_KEY)")
	fs.Var(&c.allowHost, "allow-host", "another host name (or host:port) clients may use in loopback mode, besides localhost, loopback addresses, the listen address and --registry-host; repeatable (KILN_ALLOW_HOST)")
	fs.StringVar(&c.metricsTokenFile, "metrics-token-file", "", "file holding a bearer token that may read /metrics under --auth strict, for Prometheus (KILN_METRICS_TOKEN_FILE)")
}

// check validates the edge flags before anything is opened.
func (c *edgeConfig) check() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if c.maxConnections < 1 {
		return fmt.Errorf("--max-connections %d: want at least 1", c.maxConnections)
	}
	for name, d := range map[string]time.Duration{"--header-timeout": c.headerTimeout, "--body-timeout": c.bodyTimeout,
		"--upload-timeout": c.uploadTimeout, "--idle-timeout": c.idleTimeout} {
		if d <= 0 {
			return fmt.Errorf("%s %s: want a positive duration", name, d)
		}
	}
	return nil
}

func (c *edgeConfig) tls() bool { return c.tlsCert != "" }

// edge is the listener side of `kiln serve`, made by openEdge.
type edge struct {
	ln     net.Listener // capped, TLS-wrapped when configured
	addr   string       // the bound host:port
	scheme string       // http or https
	http   *http.Server
	cert   *tls.Certificate
}

// openEdge validates the edge flags, loads the TLS certificate and binds
// the capped listener.
func openEdge(cfg serveConfig, log *slog.Logger) (*edge, error) {
	c := cfg.edge
	if err := c.check(); err != nil {
		return nil, err
	}
	e := &edge{scheme: "http"}
	if c.tls() {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		e.cert, e.scheme = &cert, "https"
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, err
	}
	e.addr = ln.Addr().String()
	e.ln = newCapListener(ln, c.maxConnections, log)
	if e.cert != nil {
		e.ln = tls.NewListener(e.ln, &tls.Config{
			Certificates: []tls.Certificate{*e.cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
	}
	return e, nil
}

// configureEdge gives srv the edge's policy and builds the http.Server.
//
// Timeouts: ReadHeaderTimeout bounds the headers and the TLS handshake;
// IdleTimeout frees keep-alive connections nobody uses. There is no
// http.Server.ReadTimeout or WriteTimeout: a read timeout would cover the
// whole body, so it could not be both short for a stalled 1 MiB API body
// and long for a multi-gigabyte layer upload; server.Server instead sets
// per-request read deadlines (--body-timeout for the API and for stalls,
// --upload-timeout for registry uploads). A write timeout would cut
// `kiln logs --follow` and large blob and disk downloads, whose pace is
// the client's; a client that stops reading is bounded by the kernel's
// TCP timeouts and, for keep-alive, by --idle-timeout.
func configureEdge(cfg serveConfig, mode sigv4.Mode, e *edge, srv *server.Server, registryHost string, stderr io.Writer) error {
	c := cfg.edge
	srv.BodyTimeout, srv.UploadTimeout = c.bodyTimeout, c.uploadTimeout
	switch mode {
	case sigv4.ModeLoopback:
		// The Host allow-list guards loopback mode, which trusts every
		// caller. Under strict the signature covers Host, so a rebound
		// page cannot forge a request; under open the operator exposed
		// kiln on purpose and may reach it by any name. Either way Go's
		// server already refuses a missing or malformed Host.
		srv.Hosts = server.NewHostAllowList(cfg.listen, e.addr, registryHost)
		for _, h := range c.allowHost {
			srv.Hosts.Add(h)
		}
	case sigv4.ModeStrict:
		srv.MetricsAuth = true
		if !e.isTLS() && !isLoopbackAddr(cfg.listen) {
			fmt.Fprintf(stderr, "\n"+
				"**********************************************************************\n"+
				"WARNING: --auth strict on %s without TLS.\n"+
				"Requests, answers, registry passwords and image content cross the\n"+
				"network in clear text. Give --tls-cert FILE --tls-key FILE.\n"+
				"**********************************************************************\n\n", cfg.listen)
		}
	}
	if c.metricsTokenFile != "" {
		b, err := os.ReadFile(c.metricsTokenFile)
		if err != nil {
			return fmt.Errorf("--metrics-token-file: %w", err)
		}
		if srv.MetricsToken = strings.TrimSpace(string(b)); srv.MetricsToken == "" {
			return fmt.Errorf("--metrics-token-file %s is empty", c.metricsTokenFile)
		}
	}
	e.http = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: c.headerTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slogAsLog(srv.Log),
	}
	return nil
}

func (e *edge) isTLS() bool { return e.cert != nil }

// serve runs the HTTP server until it is shut down.
func (e *edge) serve() error { return e.http.Serve(e.ln) }

// ownRegistryTransport is how the build engine reaches kiln's own registry
// (parent images pulled from it) when kiln serves TLS: the certificate is
// pinned, so a self-signed one works and the name in it need not be the
// address the engine dials. Other registries get the default transport.
func ownRegistryTransport(cfg serveConfig, host string) (http.RoundTripper, error) {
	if !cfg.edge.tls() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.edge.tlsCert, cfg.edge.tlsKey)
	if err != nil {
		return nil, err
	}
	leaf := cert.Certificate[0]
	pinned := http.DefaultTransport.(*http.Transport).Clone()
	pinned.TLSClientConfig = &tls.Config{
		// The chain and name are not verified by the usual rules; the
		// one certificate kiln itself serves is required instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("kiln's own registry presented a certificate other than --tls-cert")
			}
			return nil
		},
	}
	return hostRoutes{host: host, own: pinned, other: remote.DefaultTransport}, nil
}

type hostRoutes struct {
	host       string
	own, other http.RoundTripper
}

func (h hostRoutes) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == h.host {
		return h.own.RoundTrip(r)
	}
	return h.other.RoundTrip(r)
}

// capListener closes connections beyond a cap as they arrive, so idle or
// stalled clients cannot take every file descriptor. Refusing at once (not
// leaving connections in the kernel's backlog, as blocking in Accept would)
// gives a client over the cap an immediate error instead of a hang; the
// idle and header timeouts then free the slots of those who hold them.
type capListener struct {
	net.Listener
	slots   chan struct{}
	log     *slog.Logger
	refused atomic.Uint64
	lastLog atomic.Int64 // unix seconds of the last warning
}

func newCapListener(ln net.Listener, max int, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, slots: make(chan struct{}, max), log: log}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &cappedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		c.Close()
		n := l.refused.Add(1)
		now := time.Now().Unix()
		if last := l.lastLog.Load(); now-last >= 10 && l.lastLog.CompareAndSwap(last, now) && l.log != nil {
			l.log.Warn("connection cap reached: closing new connections", "max", cap(l.slots), "refusedSoFar", n)
		}
	}
}

// cappedConn gives its slot back once, when closed.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// tightenDataDir makes an existing data directory private: it holds the
// registry's blobs, build logs and the pagination key, which no other
// local user should read.
func tightenDataDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making %s private: %w", dir, err)
		}
		log.Warn("the data directory was readable by other users; it is now 0700", "dir", dir, "was", fmt.Sprintf("%#o", perm))
	}
	return nil
}

// slogAsLog routes the http.Server's own complaints (TLS handshake
// errors, oversized headers) to kiln's log at debug level: a port scanner
// must not flood the log.
func slogAsLog(l *slog.Logger) *log.Logger {
	if l == nil {
		return nil
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
