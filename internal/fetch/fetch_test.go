package fetch

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const secret = "TOP-SECRET-db-password-4711"

// secretServer is a loopback service holding a secret, counting the
// requests that reach it.
func secretServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, secret)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func mustPrefixes(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseCIDRs(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addrOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	return srv.Listener.Addr().String()
}

// wantErr checks that err is an *Error of kind and that its text carries
// nothing the remote end said.
func wantErr(t *testing.T, err error, kind error) {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, kind) {
		t.Fatalf("err = %v (%T), want %v", err, err, kind)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error echoes the remote body: %v", err)
	}
}

func TestPolicyCheck(t *testing.T) {
	for _, tc := range []struct {
		ip    string
		allow []string
		ok    bool
	}{
		{"93.184.216.34", nil, true},
		{"2606:2800:220:1:248:1893:25c8:1946", nil, true},
		{"127.0.0.1", nil, false},
		{"127.1.2.3", nil, false},
		{"::1", nil, false},
		{"0.0.0.0", nil, false},
		{"::", nil, false},
		{"169.254.169.254", nil, false},
		{"fd00:ec2::254", nil, false},
		{"fe80::1", nil, false},
		{"fe80::1%eth0", nil, false},
		{"10.1.2.3", nil, false},
		{"172.16.0.1", nil, false},
		{"172.31.255.255", nil, false},
		{"172.32.0.1", nil, true},
		{"192.168.1.1", nil, false},
		{"100.64.0.1", nil, false},
		{"100.128.0.1", nil, true},
		{"224.0.0.1", nil, false},
		{"255.255.255.255", nil, false},
		{"ff02::1", nil, false},
		{"fc00::1", nil, false},
		{"::ffff:127.0.0.1", nil, false},
		{"::ffff:169.254.169.254", nil, false},
		{"::ffff:10.0.0.1", nil, false},
		{"::ffff:93.184.216.34", nil, true},
		{"::127.0.0.1", nil, false},
		{"64:ff9b::7f00:1", nil, false},
		{"64:ff9b::a9fe:a9fe", nil, false},
		{"64:ff9b::5db8:d822", nil, true},
		{"2002:7f00:1::1", nil, false},
		{"2002:5db8:d822::1", nil, true},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", nil, false},
		{"127.0.0.1", []string{"127.0.0.0/8"}, true},
		{"::ffff:127.0.0.1", []string{"127.0.0.0/8"}, true},
		{"127.0.0.1", []string{"127.0.0.2"}, false},
		{"127.0.0.2", []string{"127.0.0.2"}, true},
		{"10.9.8.7", []string{"10.0.0.0/8"}, true},
		{"169.254.169.254", []string{"10.0.0.0/8"}, false},
		{"fd12::1", []string{"fd00::/8"}, true},
	} {
		t.Run(fmt.Sprintf("%s allow %v", tc.ip, tc.allow), func(t *testing.T) {
			p := Policy{Allow: mustPrefixes(t, tc.allow...)}
			err := p.Check(netip.MustParseAddr(tc.ip))
			if (err == nil) != tc.ok {
				t.Errorf("Check(%s) = %v, want allowed %v", tc.ip, err, tc.ok)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"127.0.0.0/8", "127.0.0.0/8", true},
		{"10.1.2.3/8", "10.0.0.0/8", true},
		{"192.168.1.5", "192.168.1.5/32", true},
		{"fd00::/8", "fd00::/8", true},
		{"::1", "::1/128", true},
		{"", "", false},
		{"localhost", "", false},
		{"10.0.0.0/33", "", false},
		{"fe80::1%eth0", "", false},
	} {
		got, err := ParseCIDRs([]string{tc.in})
		if (err == nil) != tc.ok || (tc.ok && got[0].String() != tc.want) {
			t.Errorf("ParseCIDRs(%q) = %v, %v; want %s ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"127.0.0.0/8", "::1", "10.0.0.1/33", "fe80::%x/10", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseCIDRs([]string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p.Masked() != p {
				t.Fatalf("ParseCIDRs(%q) = %v: not a valid masked prefix", s, p)
			}
		}
	})
}

// FuzzCheck: no spelling of an IPv4 address as IPv6 is judged
// differently from the address itself.
func FuzzCheck(f *testing.F) {
	for _, b := range [][]byte{{127, 0, 0, 1}, {169, 254, 169, 254}, {93, 184, 216, 34}, {10, 0, 0, 1}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 {
			return
		}
		v4 := netip.AddrFrom4([4]byte(b))
		mapped := netip.AddrFrom16(v4.As16())
		var p Policy
		if (p.Check(v4) == nil) != (p.Check(mapped) == nil) {
			t.Fatalf("%s and %s are judged differently", v4, mapped)
		}
		nat := netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
		if p.Check(v4) != nil && p.Check(nat) == nil {
			t.Fatalf("NAT64 %s of refused %s is allowed", nat, v4)
		}
	})
}

// TestRefusedDestinations: the host's loopback, the metadata service and
// private addresses are refused at connect, before a byte is sent, and
// the answer is the same whether something listens there or not.
func TestRefusedDestinations(t *testing.T) {
	srv, hits := secretServer(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	var c Client
	for _, u := range []string{
		srv.URL + "/secret",
		closedURL + "/",
		"http://localhost:" + srv.Listener.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):] + "/",
		// The metadata service: refused by the dialer's Control,
		// which runs before connect(2), so nothing is sent there.
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://[::ffff:169.254.169.254]/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"https://169.254.169.254/",
		"http://0.0.0.0:" + srv.Listener.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):] + "/",
		"http://[::1]:1/",
	} {
		t.Run(u, func(t *testing.T) {
			b, err := c.Read(context.Background(), u, 1<<20)
			wantErr(t, err, ErrRefused)
			if len(b) != 0 {
				t.Fatalf("read %q", b)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback service got %d requests", n)
	}
	// Every refusal reads the same: nothing tells an open port from a
	// closed one.
	_, open := c.Read(context.Background(), srv.URL, 10)
	_, shut := c.Read(context.Background(), closedURL, 10)
	if open.Error() != shut.Error() {
		t.Fatalf("open port: %q, closed port: %q", open, shut)
	}
}

func TestAllowedRange(t *testing.T) {
	srv, hits := secretServer(t)
	c := Client{Policy: Policy{Allow: mustPrefixes(t, "127.0.0.0/8")}}
	b, err := c.Read(context.Background(), srv.URL, 1<<20)
	if err != nil || string(b) != secret || hits.Load() != 1 {
		t.Fatalf("Read = %q, %v", b, err)
	}
	c.Policy.Allow = mustPrefixes(t, "127.0.0.2/32")
	_, err = c.Read(context.Background(), srv.URL, 1<<20)
	wantErr(t, err, ErrRefused)
}

// dnsServer answers every A query with ip and every other query with no
// records, over the stream the resolver's Dial hands it: an in-process
// resolver, so a public-looking name can resolve to loopback without
// touching /etc/hosts.
func dnsResolver(t *testing.T, ip netip.Addr) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			for {
				var n uint16
				if err := binary.Read(server, binary.BigEndian, &n); err != nil {
					return
				}
				q := make([]byte, n)
				if _, err := io.ReadFull(server, q); err != nil || len(q) < 12 {
					return
				}
				end := 12
				for end < len(q) && q[end] != 0 {
					end += int(q[end]) + 1
				}
				end++ // the root label
				if end+4 > len(q) {
					return
				}
				qtype := binary.BigEndian.Uint16(q[end:])
				question := q[12 : end+4]
				resp := append([]byte{}, q[0:2]...)
				resp = append(resp, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0)
				resp = append(resp, question...)
				if qtype == 1 {
					resp[7] = 1 // ANCOUNT
					a := ip.As4()
					resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
					resp = append(resp, a[:]...)
				}
				if err := binary.Write(server, binary.BigEndian, uint16(len(resp))); err != nil {
					return
				}
				if _, err := server.Write(resp); err != nil {
					return
				}
			}
		}()
		return client, nil
	}}
}

// TestNameResolvingToLoopback: a public-looking host name whose address
// is loopback is refused: the check is on the address connected to, not
// on the name.
func TestNameResolvingToLoopback(t *testing.T) {
	srv, hits := secretServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	c := Client{Resolver: dnsResolver(t, netip.MustParseAddr("127.0.0.1"))}
	u := fmt.Sprintf("http://docs.example.com:%d/component.yaml", port)
	_, err := c.Read(context.Background(), u, 1<<20)
	wantErr(t, err, ErrRefused)
	if hits.Load() != 0 {
		t.Fatal("the loopback service was reached")
	}
	// The same name with the operator's opt-in works: the resolver is
	// really in use.
	c.Policy.Allow = mustPrefixes(t, "127.0.0.0/8")
	if b, err := c.Read(context.Background(), u, 1<<20); err != nil || string(b) != secret {
		t.Fatalf("with the range allowed: %q, %v", b, err)
	}
}

// listen127 serves h on 127.0.0.2, a second loopback address, so one
// test can have an allowed server and a refused one.
func listen127(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestRedirects(t *testing.T) {
	secretSrv, hits := secretServer(t) // on 127.0.0.1
	redirector := func(to string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, to, http.StatusFound)
		})
	}
	toSecret := listen127(t, redirector(secretSrv.URL+"/secret"))
	toMetadata := listen127(t, redirector("http://169.254.169.254/latest/meta-data/"))
	toFile := listen127(t, redirector("file:///etc/passwd"))
	var loop *httptest.Server
	loop = listen127(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+r.URL.Path+"x", http.StatusFound)
	}))
	plain := listen127(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }))
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tls" {
			io.WriteString(w, "tls")
			return
		}
		redirector(plain.URL).ServeHTTP(w, r)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip(err)
	}
	tlsSrv.Listener = ln
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	// httptest's certificate names example.com, not 127.0.0.2.
	tlsConfig := &tls.Config{RootCAs: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}

	allowed := Policy{Allow: mustPrefixes(t, "127.0.0.2/32")}
	for _, tc := range []struct {
		name string
		c    Client
		url  string
	}{
		{"allowed server to loopback", Client{Policy: allowed}, toSecret.URL},
		{"trusted endpoint to loopback", Client{Trusted: []string{addrOf(t, toSecret)}}, toSecret.URL},
		{"allowed server to the metadata service", Client{Policy: allowed}, toMetadata.URL},
		{"to file://", Client{Policy: allowed}, toFile.URL},
		{"a redirect loop", Client{Policy: allowed}, loop.URL + "/"},
		{"https to plain http", Client{Policy: allowed, TLS: tlsConfig}, tlsSrv.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Read(context.Background(), tc.url, 1<<20)
			wantErr(t, err, ErrRefused)
		})
	}
	if hits.Load() != 0 {
		t.Fatal("a redirect reached the loopback service")
	}
	// Redirects within the allowed range are followed.
	ok := listen127(t, redirector(plain.URL+"/there"))
	c := Client{Policy: allowed}
	if b, err := c.Read(context.Background(), ok.URL, 100); err != nil || string(b) != "plain" {
		t.Fatalf("an allowed redirect: %q, %v", b, err)
	}
	// https through kiln's own handshake, and a trusted endpoint
	// reached without an allowed range.
	c.TLS = tlsConfig
	if b, err := c.Read(context.Background(), tlsSrv.URL+"/tls", 100); err != nil || string(b) != "tls" {
		t.Fatalf("https: %q, %v", b, err)
	}
	trusted := Client{Trusted: []string{addrOf(t, plain)}}
	if b, err := trusted.Read(context.Background(), plain.URL, 100); err != nil || string(b) != "plain" {
		t.Fatalf("the trusted endpoint: %q, %v", b, err)
	}
}

func TestSizeLimit(t *testing.T) {
	chunk := strings.Repeat("x", 32<<10)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)
	declared := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000000")
		io.WriteString(w, secret)
	}))
	t.Cleanup(declared.Close)
	exact := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("y", 1000))
	}))
	t.Cleanup(exact.Close)
	c := Client{Policy: Policy{Allow: mustPrefixes(t, "127.0.0.0/8")}}
	for _, u := range []string{endless.URL, declared.URL} {
		b, err := c.Read(context.Background(), u, 1<<20)
		wantErr(t, err, ErrFailed)
		if !strings.Contains(err.Error(), "larger than kiln's limit of 1048576 bytes") || len(b) != 0 {
			t.Errorf("%s: %d bytes, %v", u, len(b), err)
		}
	}
	// A stream is cut at the limit too.
	body, err := c.Open(context.Background(), endless.URL, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, body)
	body.Close()
	wantErr(t, err, ErrFailed)
	if n != 1<<20 {
		t.Errorf("copied %d bytes before the limit, want %d", n, 1<<20)
	}
	if b, err := c.Read(context.Background(), exact.URL, 1000); err != nil || len(b) != 1000 {
		t.Errorf("a body of exactly the limit: %d bytes, %v", len(b), err)
	}
}

// TestStalledServers: a server that never answers, or stops sending
// half-way, fails the fetch. The servers stall until the test ends, so
// any finite limit passes; nothing here measures time.
func TestStalledServers(t *testing.T) {
	stop := make(chan struct{})
	noHeaders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	stalledBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(noHeaders.Close)
	t.Cleanup(stalledBody.Close)
	t.Cleanup(func() { close(stop) })
	allow := Policy{Allow: mustPrefixes(t, "127.0.0.0/8")}
	for _, tc := range []struct {
		name string
		c    Client
		url  string
		open bool
	}{
		{"no headers", Client{Policy: allow, HeaderTimeout: 50 * time.Millisecond}, noHeaders.URL, false},
		{"stalled document", Client{Policy: allow, DocumentTimeout: 50 * time.Millisecond}, stalledBody.URL, false},
		{"stalled stream", Client{Policy: allow, IdleTimeout: 50 * time.Millisecond}, stalledBody.URL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.open {
				var body io.ReadCloser
				if body, err = tc.c.Open(context.Background(), tc.url, 1<<20); err == nil {
					_, err = io.ReadAll(body)
					body.Close()
				}
			} else {
				_, err = tc.c.Read(context.Background(), tc.url, 1<<20)
			}
			wantErr(t, err, ErrFailed)
		})
	}
}

// TestErrorsCarryNoRemoteText: an error status says its code, nothing of
// the body or the reason phrase.
func TestErrorsCarryNoRemoteText(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Secret", secret)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, secret)
	}))
	t.Cleanup(srv.Close)
	c := Client{Policy: Policy{Allow: mustPrefixes(t, "127.0.0.0/8")}}
	_, err := c.Read(context.Background(), srv.URL, 1<<20)
	wantErr(t, err, ErrFailed)
	if err.Error() != "could not fetch: HTTP 403" {
		t.Errorf("err = %q", err)
	}
	for _, u := range []string{"ftp://example.com/x", "file:///etc/passwd", "gopher://x/"} {
		_, err := c.Read(context.Background(), u, 10)
		wantErr(t, err, ErrRefused)
	}
}

func TestTrustedAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:9000", "127.0.0.1:9000"},
		{"https://minio.internal", "minio.internal:443"},
		{"http://minio.internal/", "minio.internal:80"},
		{"http://[::1]:9000", "[::1]:9000"},
		{"minio:9000", ""},
	} {
		got, err := TrustedAddr(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("TrustedAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestControl: the dialer's check, on addresses it is never connected to.
func TestControl(t *testing.T) {
	allow := Policy{Allow: mustPrefixes(t, "10.0.0.0/8")}
	for _, tc := range []struct {
		name    string
		c       Client
		address string
		plain   bool
		ok      bool
	}{
		{"public https", Client{}, "93.184.216.34:443", false, true},
		{"public plain http", Client{}, "93.184.216.34:80", true, true},
		{"public plain http for documents", Client{PlainHTTPOnlyAllowed: true}, "93.184.216.34:80", true, false},
		{"public https for documents", Client{PlainHTTPOnlyAllowed: true}, "93.184.216.34:443", false, true},
		{"allowed plain http for documents", Client{Policy: allow, PlainHTTPOnlyAllowed: true}, "10.1.1.1:80", true, true},
		{"metadata", Client{Policy: allow}, "169.254.169.254:80", true, false},
		{"mapped metadata", Client{Policy: allow}, "[::ffff:169.254.169.254]:80", true, false},
		{"not an address", Client{}, "example.com:80", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.control(tc.plain)("tcp", tc.address, nil)
			if (err == nil) != tc.ok {
				t.Errorf("control(%s) = %v, want allowed %v", tc.address, err, tc.ok)
			}
		})
	}
}
