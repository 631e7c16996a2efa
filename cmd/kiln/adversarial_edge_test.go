package main

// Adversarial tests of kiln's edge: what a hostile client on the network
// (or a web page using DNS rebinding) can do to the listener. Each fails
// if the hole it names reopens. They drive the real binary.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/sigv4"
)

var (
	edgeAlice = kilntest.Creds{AccessKeyID: "AKIDEDGEALICE", SecretAccessKey: "alice-edge-secret"}
	edgeBob   = kilntest.Creds{AccessKeyID: "AKIDEDGEBOB", SecretAccessKey: "bob-edge-secret"}
)

// edgeCredentials writes a credentials file naming Alice and Bob.
func edgeCredentials(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	body := fmt.Sprintf("[alice]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = 111111111111\n\n"+
		"[bob]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = 222222222222\n",
		edgeAlice.AccessKeyID, edgeAlice.SecretAccessKey, edgeBob.AccessKeyID, edgeBob.SecretAccessKey)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// kilnPID finds the `kiln serve` process of srv by its data directory.
func kilnPID(t *testing.T, srv *kilntest.Server) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 1 && args[1] == "serve" && strings.Contains(string(b), "\x00"+srv.DataDir+"\x00") {
			return pid
		}
	}
	t.Fatalf("no kiln serve process for %s", srv.DataDir)
	return 0
}

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// openFDs counts a process's open file descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// signedHead signs a PUT /CreateComponent whose declared body of size
// bytes will be sent (in part) later, and returns the header block. host
// is the Host the request names.
func signedHead(t *testing.T, creds kilntest.Creds, host string, size int) string {
	t.Helper()
	req, _ := http.NewRequest("PUT", "http://"+host+"/CreateComponent", nil)
	sum := sha256.Sum256(bytes.Repeat([]byte("x"), size))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "imagebuilder", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PUT /CreateComponent HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nContent-Type: application/json\r\n", host, size)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// stalledBody is one slowloris client: it sends the head and part of the
// body, then stops, and records what the server answered and when the
// server ended the connection.
type stalledBody struct {
	answer string
	closed time.Duration // from the first byte sent to the server's close
	err    error
}

func sendStalled(addr, head string, sent int, guard time.Duration) stalledBody {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return stalledBody{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(guard)) // a guard against a hang, not a measurement
	start := time.Now()
	go func() {
		io.WriteString(conn, head)
		conn.Write(bytes.Repeat([]byte("x"), sent)) // the server may close first
	}()
	b, err := io.ReadAll(conn)
	res := stalledBody{answer: string(b), closed: time.Since(start)}
	if err != nil {
		res.err = err
	}
	return res
}

// TestEdgeSlowlorisBodies: many clients that send most of a large body and
// stall. Strangers are refused from their headers, with nothing buffered;
// a principal's stalled bodies are cut by --body-timeout.
func TestEdgeSlowlorisBodies(t *testing.T) {
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", edgeCredentials(t), "--body-timeout", "2s")
	pid := kilnPID(t, srv)
	c := srv.Client(edgeAlice)
	ctx := kilntest.Context(t)
	for range 5 { // warm up: the first requests allocate what every request reuses
		if _, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	base := rssKiB(t, pid)

	const clients, size, sent = 100, 1 << 20, 900 << 10
	stranger := kilntest.Creds{AccessKeyID: "AKIDSTRANGER", SecretAccessKey: "guess"}
	run := func(creds kilntest.Creds) ([]stalledBody, int) {
		head := signedHead(t, creds, srv.Addr, size)
		results := make([]stalledBody, clients)
		var wg sync.WaitGroup
		peak := 0
		done := make(chan struct{})
		go func() { // sample the server's memory while the clients hold on
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					if r := rssKiB(t, pid); r > peak {
						peak = r
					}
				}
			}
		}()
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = sendStalled(srv.Addr, head, sent, time.Minute) }()
		}
		wg.Wait()
		close(done)
		return results, peak
	}

	results, peak := run(stranger)
	for i, r := range results {
		if !strings.Contains(r.answer, "UnrecognizedClientException") {
			t.Fatalf("stranger %d: answer %q (err %v)", i, r.answer, r.err)
		}
	}
	t.Logf("100 strangers' stalled 900 KiB bodies: server RSS %d KiB before, peak %d KiB (+%d KiB)", base, peak, peak-base)
	// Before the fix the bodies were buffered: +108 MiB for these clients.
	if grow := peak - base; grow > 40<<10 {
		t.Errorf("strangers' stalled bodies grew the server by %d KiB; they must not be buffered", grow)
	}

	// A principal's body must be read before its signature can be checked
	// (the SDKs send no X-Amz-Content-Sha256), so anyone who knows an
	// access key ID gets that far. Such bodies share a 32 MiB budget:
	// beyond it they are refused at once (ThrottlingException), and within
	// it a stalled one is cut by --body-timeout.
	results, peak = run(edgeAlice)
	var longest time.Duration
	throttled := 0
	for i, r := range results {
		switch {
		case strings.Contains(r.answer, "ThrottlingException"):
			throttled++
		case strings.Contains(r.answer, "RequestTimeoutException"):
			longest = max(longest, r.closed)
		default:
			t.Fatalf("principal %d: answer %q (err %v)", i, r.answer, r.err)
		}
	}
	t.Logf("100 stalled bodies signed with a known key: %d refused over the budget, the rest cut, the last after %s (--body-timeout 2s); RSS peak +%d KiB",
		throttled, longest.Round(time.Millisecond), peak-base)
	// Before the budget: +164 MiB here.
	if grow := peak - base; grow > 80<<10 {
		t.Errorf("stalled bodies grew the server by %d KiB; the pending-body budget is 32 MiB", grow)
	}

	if _, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{}); err != nil {
		t.Fatalf("after the attack: %v", err)
	}
}

// TestEdgeIdleConnections: connections that send nothing are capped by
// --max-connections and closed by the header timeout; an idle keep-alive
// connection is closed by --idle-timeout.
func TestEdgeIdleConnections(t *testing.T) {
	const limit = 40
	srv := kilntest.Start(t, "--max-connections", strconv.Itoa(limit), "--header-timeout", "1s", "--idle-timeout", "1s")
	pid := kilnPID(t, srv)
	base := openFDs(t, pid)

	const clients = 200
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	peak := 0
	for range clients {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		peak = max(peak, openFDs(t, pid))
	}
	for range 10 {
		peak = max(peak, openFDs(t, pid))
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d silent connections: server descriptors %d before, peak %d (cap %d)", clients, base, peak, limit)
	// A connection over the cap is open for a moment between accept and
	// close, and kiln has a few descriptors of its own that come and go.
	if peak > base+limit+5 {
		t.Errorf("the server held %d descriptors for connections, over the cap of %d", peak-base, limit)
	}

	// Every connection is ended by the server: at once beyond the cap,
	// after the header timeout within it.
	start := time.Now()
	var wg sync.WaitGroup
	ended := make([]bool, clients)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(time.Minute)) // a guard, not a measurement
			_, err := c.Read(make([]byte, 1))
			ended[i] = err == io.EOF || (err != nil && !isTimeout(err))
		}()
	}
	wg.Wait()
	for i, ok := range ended {
		if !ok {
			t.Fatalf("connection %d was never closed by the server", i)
		}
	}
	t.Logf("all %d closed by the server within %s", clients, time.Since(start).Round(time.Millisecond))

	// An idle keep-alive connection after a request.
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start = time.Now()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want the server to close it", err)
	}
	t.Logf("idle keep-alive connection closed after %s (--idle-timeout 1s)", time.Since(start).Round(time.Millisecond))

	// And kiln still serves.
	if _, err := srv.Client(kilntest.DefaultCreds).ListComponents(kilntest.Context(t), &imagebuilder.ListComponentsInput{}); err != nil {
		t.Fatal(err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// rawSigned sends a signed request naming host in its Host header.
func rawSigned(t *testing.T, srv *kilntest.Server, host, method, path string, body []byte) kilntest.RawResponse {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	kilntest.Sign(t, req, kilntest.DefaultCreds, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return kilntest.RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b, ErrorType: resp.Header.Get("X-Amzn-ErrorType")}
}

// TestEdgeDNSRebinding: in loopback mode a request naming a host kiln is
// not known by (what a browser sends after DNS rebinding) is refused
// before it does anything; loopback names, the listen address and
// --allow-host names work, and so do the SDK and skopeo.
func TestEdgeDNSRebinding(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t, "--allow-host", "kiln.test")
	_, port, _ := net.SplitHostPort(srv.Addr)
	doc := `{"name":"%s","semanticVersion":"1.0.0","platform":"Linux","data":"name: evil\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Run\n        action: ExecuteBash\n        inputs:\n          commands:\n            - id\n","clientToken":"%s"}`
	tests := []struct {
		host   string
		status int
		code   string
	}{
		{"attacker.example:" + port, 403, "AccessDeniedException"},
		{"attacker.example", 403, "AccessDeniedException"},
		{"127.0.0.1.attacker.example:" + port, 403, "AccessDeniedException"},
		{"127.0.0.1:" + port, 200, ""},
		{"localhost:" + port, 200, ""},
		{"kiln.test:" + port, 200, ""},
	}
	c := srv.Client(kilntest.DefaultCreds)
	for i, tt := range tests {
		name := "evil-" + strconv.Itoa(i)
		body := []byte(fmt.Sprintf(doc, name, "token-"+name))
		got := rawSigned(t, srv, tt.host, "PUT", "/CreateComponent", body)
		if got.Status != tt.status || got.ErrorType != tt.code {
			t.Errorf("Host %s: %d %s %s, want %d %s", tt.host, got.Status, got.ErrorType, got.Body, tt.status, tt.code)
		}
		if tt.status == 403 && !strings.Contains(string(got.Body), "--allow-host") {
			t.Errorf("Host %s: the refusal does not say how to allow a name: %s", tt.host, got.Body)
		}
		// A refused request changed nothing.
		_, err := c.GetComponent(kilntest.Context(t), &imagebuilder.GetComponentInput{
			ComponentBuildVersionArn: aws.String("arn:aws:imagebuilder:us-east-1:000000000000:component/" + name + "/1.0.0/1"),
		})
		if exists := err == nil; exists != (tt.status == 200) {
			t.Errorf("Host %s: component %s exists = %v (err %v)", tt.host, name, exists, err)
		}
	}

	for _, path := range []string{"/v2/", "/metrics", "/kiln/v1/amis"} {
		got := rawSigned(t, srv, "attacker.example:"+port, "GET", path, nil)
		if got.Status != 403 {
			t.Errorf("GET %s with a foreign Host: %d %s", path, got.Status, got.Body)
		}
	}

	// Real clients name the listen address and keep working.
	if _, err := c.ListComponents(kilntest.Context(t), &imagebuilder.ListComponentsInput{}); err != nil {
		t.Fatalf("SDK: %v", err)
	}
	if _, err := os.Stat("/usr/bin/skopeo"); err == nil {
		ref := srv.Addr + "/rebind/app:1"
		skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+writeLayout(t, tinyImage(t))+":latest", "docker://"+ref)
		if out := skopeo(t, "inspect", "--tls-verify=false", "docker://"+ref); !strings.Contains(out, "Digest") {
			t.Errorf("skopeo inspect: %s", out)
		}
	}
}

// TestEdgeUnsignedPayload: a request that opts out of payload signing is
// refused, in loopback mode and under strict.
func TestEdgeUnsignedPayload(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--auth", "strict", "--credentials", edgeCredentials(t)}} {
		srv := kilntest.Start(t, args...)
		creds := kilntest.DefaultCreds
		if args != nil {
			creds = edgeAlice
		}
		body := []byte(`{}`)
		req, _ := http.NewRequest("POST", srv.URL+"/ListComponents", bytes.NewReader(body))
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
			req, "UNSIGNED-PAYLOAD", "imagebuilder", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != sigv4.CodeInvalidSignature || !strings.Contains(string(b), "UNSIGNED-PAYLOAD") {
			t.Errorf("%v: UNSIGNED-PAYLOAD answered %d %s %s", args, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), b)
		}
	}
}

// TestEdgeMetricsStrict: under --auth strict /metrics answers only a
// principal's signed GET or Prometheus's bearer token; /healthz stays open.
func TestEdgeMetricsStrict(t *testing.T) {
	t.Parallel()
	token := filepath.Join(t.TempDir(), "metrics-token")
	os.WriteFile(token, []byte("scrape-me\n"), 0o600)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", edgeCredentials(t), "--metrics-token-file", token)
	get := func(prep func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		prep(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name string
		prep func(*http.Request)
		want int
	}{
		{"anonymous", func(*http.Request) {}, 403},
		{"signed by bob", func(r *http.Request) { kilntest.Sign(t, r, edgeBob, nil, time.Now()) }, 200},
		{"signed with a wrong secret", func(r *http.Request) {
			kilntest.Sign(t, r, kilntest.Creds{AccessKeyID: edgeBob.AccessKeyID, SecretAccessKey: "guess"}, nil, time.Now())
		}, 403},
		{"bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer scrape-me") }, 200},
		{"wrong bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer scrape-you") }, 400},
	}
	for _, tt := range tests {
		if status, body := get(tt.prep); status != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, status, body, tt.want)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key, and returns their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kiln test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func tlsClient(pool *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr}
}

// TestEdgeTLS: with --tls-cert and --tls-key everything is served over
// TLS: the SDK (trusting the certificate), the AWS CLI (--ca-bundle),
// skopeo (--cert-dir), go-containerregistry, and the signed kiln
// endpoints; plain HTTP is not.
func TestEdgeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", edgeCredentials(t), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("ready line URL %s is not https", srv.URL)
	}
	if strings.Contains(srv.Log(), "WARNING") {
		t.Errorf("a warning on loopback with TLS:\n%s", srv.Log())
	}
	hc := tlsClient(pool)
	c := srv.Client(edgeAlice, func(o *imagebuilder.Options) { o.HTTPClient = hc })
	ctx := kilntest.Context(t)
	created := createHello(t, c, "tls-hello", "1.0.0")

	// The default trust store does not know the certificate.
	if _, err := srv.Client(edgeAlice).ListComponents(ctx, &imagebuilder.ListComponentsInput{}); err == nil {
		t.Error("a client that does not trust the certificate connected")
	}
	// Plain HTTP on the same port gets nowhere.
	if resp, err := http.Get("http://" + srv.Addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served /healthz")
		}
	}
	// The signed kiln endpoints and /metrics over TLS.
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	kilntest.Sign(t, req, edgeBob, nil, time.Now())
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("signed /metrics over TLS: %d", resp.StatusCode)
	}

	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		cmd := exec.Command("/usr/bin/aws", "imagebuilder", "get-component", "--endpoint-url", srv.URL, "--ca-bundle", certFile,
			"--region", "us-east-1", "--component-build-version-arn", created, "--query", "component.name", "--output", "text")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+edgeAlice.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+edgeAlice.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "tls-hello" {
			t.Errorf("aws --ca-bundle get-component: %v\n%s", err, out)
		}
		cmd = exec.Command("/usr/bin/aws", "imagebuilder", "list-components", "--endpoint-url", srv.URL, "--region", "us-east-1")
		cmd.Env = append(envWithout("AWS_CA_BUNDLE"), "AWS_ACCESS_KEY_ID="+edgeAlice.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+edgeAlice.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("aws without the CA bundle succeeded:\n%s", out)
		}
	}
}

// envWithout is the environment without the named variables.
func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

// TestEdgeTLSRegistry: kiln's registry over TLS (loopback mode, where the
// registry needs no credentials) with skopeo trusting the certificate by
// --cert-dir and go-containerregistry by RootCAs.
func TestEdgeTLSRegistry(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	srv := kilntest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	img := tinyImage(t)
	want := mustDigest(t, img)
	ref := kilnRef(t, srv, "tls/app:1")
	tr := tlsClient(pool).Transport
	if err := remote.Write(ref, img, remote.WithTransport(tr)); err != nil {
		t.Fatalf("go-containerregistry push over TLS: %v", err)
	}
	pullAndCheck(t, ref, want, remote.WithTransport(tr))

	if _, err := os.Stat("/usr/bin/skopeo"); err == nil {
		certDir := t.TempDir()
		pemBytes, _ := os.ReadFile(certFile)
		os.WriteFile(filepath.Join(certDir, "ca.crt"), pemBytes, 0o644)
		skopeo(t, "copy", "--dest-cert-dir", certDir, "oci:"+writeLayout(t, img)+":latest", "docker://"+srv.Addr+"/tls/skopeo:1")
		out := skopeo(t, "inspect", "--cert-dir", certDir, "docker://"+srv.Addr+"/tls/skopeo:1")
		if !strings.Contains(out, want) {
			t.Errorf("skopeo inspect over TLS: %s", out)
		}
		// Without the certificate skopeo refuses to talk to kiln.
		cmd := exec.Command("/usr/bin/skopeo", "--insecure-policy", "inspect", "docker://"+srv.Addr+"/tls/skopeo:1")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("skopeo without the certificate succeeded:\n%s", out)
		}
	}
}

// TestEdgeTLSContainerBuild: a container build under TLS pulls its parent
// from kiln's own registry over TLS (the engine pins kiln's certificate).
func TestEdgeTLSContainerBuild(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	certFile, keyFile, pool := selfSigned(t)
	srv := kilntest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	f := &buildFixture{srv: srv, client: srv.Client(kilntest.DefaultCreds, func(o *imagebuilder.Options) { o.HTTPClient = tlsClient(pool) })}
	f.base = srv.PushBusyboxBase(t, "base/busybox")
	out, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *out.InfrastructureConfigurationArn
	comp := f.component(t, "tls-greeting", greetingComponent)
	recipe := f.recipe(t, "tls-build", e2eTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	image := f.createImage(t, recipe, false, "")
	got := f.waitImage(t, image, 5*time.Minute)
	if got.State.Status != types.ImageStatusAvailable {
		t.Fatalf("build over TLS: %s %s\n%s", got.State.Status, aws.ToString(got.State.Reason), srv.Log())
	}
}

// TestEdgeServeFlags: the TLS flags go together, and an existing data
// directory readable by others is made private.
func TestEdgeServeFlags(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(kilntest.Binary(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--tls-cert", "/nonexistent.pem")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--tls-cert and --tls-key go together") {
		t.Errorf("--tls-cert alone: %v\n%s", err, out)
	}

	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := kilntest.StartIn(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %#o, want 0700", perm)
	}
	if !strings.Contains(srv.Log(), "now 0700") {
		t.Errorf("the tightening was not logged:\n%s", srv.Log())
	}
}

// TestStrictWithoutTLSWarns: strict mode off loopback without TLS prints a
// loud warning (and still starts: the contract allows it).
func TestStrictWithoutTLSWarns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen string
		tls    bool
		warn   bool
	}{
		{"0.0.0.0:8080", false, true},
		{"192.0.2.1:8080", false, true},
		{"0.0.0.0:8080", true, false},
		{"127.0.0.1:8080", false, false},
	}
	for _, tt := range tests {
		var cfg serveConfig
		cfg.flags(flag.NewFlagSet("serve", flag.ContinueOnError))
		cfg.listen = tt.listen
		e := &edge{addr: tt.listen}
		if tt.tls {
			e.cert = &tls.Certificate{}
		}
		var stderr bytes.Buffer
		if err := configureEdge(cfg, sigv4.ModeStrict, e, &server.Server{}, "", &stderr); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(stderr.String(), "WARNING"); got != tt.warn {
			t.Errorf("listen %s tls %v: warning %v, want %v: %q", tt.listen, tt.tls, got, tt.warn, stderr.String())
		}
	}
}
