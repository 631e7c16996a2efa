package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/sigv4"
)

var edgeCreds = aws.Credentials{AccessKeyID: "AKIDEDGE", SecretAccessKey: "edge-secret"}

// syncBuffer is a log destination the server writes from its own
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// edgeServer is a strict-mode Server whose ListComponents fails with an
// internal error naming a host path, behind a real listener.
func edgeServer(t *testing.T, edit func(*server.Server)) (*httptest.Server, *syncBuffer) {
	t.Helper()
	var log syncBuffer
	srv := &server.Server{
		Handlers: map[string]server.HandlerFunc{
			"ListComponents": func(ctx context.Context, account string, in awsapi.Input) (any, error) {
				return nil, errors.New("open /var/lib/kiln/secret.db: permission denied")
			},
		},
		Verifier: &sigv4.Verifier{
			Mode: sigv4.ModeStrict, Service: "imagebuilder", Region: "us-east-1",
			Principals: map[string]sigv4.Principal{edgeCreds.AccessKeyID: {
				AccessKeyID: edgeCreds.AccessKeyID, SecretAccessKey: edgeCreds.SecretAccessKey, Account: "111111111111"}},
		},
		Log: slog.New(slog.NewTextHandler(&log, nil)),
	}
	if edit != nil {
		edit(srv)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, &log
}

func signReq(t *testing.T, creds aws.Credentials, req *http.Request, payloadHash string) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "imagebuilder", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type answer struct {
	status    int
	errorType string
	body      string
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(b)}
}

func TestHostAllowList(t *testing.T) {
	l := server.NewHostAllowList("127.0.0.1:8080", "kiln.internal", "registry.lan:5000", "[fd00::1]")
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST:8080", true},
		{"localhost.:1", true},
		{"127.0.0.1", true},
		{"127.0.0.1:8080", true},
		{"127.1.2.3:9", true},
		{"[::1]:8080", true},
		{"[::1]", true},
		{"kiln.internal:443", true},
		{"Kiln.Internal", true},
		{"registry.lan:5000", true},
		{"registry.lan:5001", false},
		{"registry.lan", false},
		{"[fd00::1]:80", true},
		{"attacker.example", false},
		{"attacker.example:8080", false},
		{"localhost.attacker.example", false},
		{"127.0.0.1.nip.io:8080", false},
		{"0.0.0.0:8080", false},
		{"", false},
		{"localhost:", false},
		{"localhost:http", false},
		{"[::1", false},
		{"user@localhost", false},
		{"::1", true},
		{"fe80::1", false},
	}
	for _, tt := range tests {
		if got := l.Allows(tt.host); got != tt.want {
			t.Errorf("Allows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func FuzzHostAllowList(f *testing.F) {
	for _, s := range []string{"localhost:8080", "[::1]:1", "attacker.example", "a.b.c.:80", "[", ":", "127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		l := server.NewHostAllowList("kiln.internal", "registry.lan:5000")
		got := l.Allows(host)
		// A name that is neither loopback nor listed is never allowed,
		// whatever it is made of.
		if got {
			lower := strings.ToLower(host)
			if !strings.Contains(lower, "localhost") && !strings.Contains(lower, "kiln.internal") &&
				!strings.Contains(lower, "registry.lan") && !strings.Contains(lower, "127.") && !strings.Contains(lower, ":") {
				t.Errorf("Allows(%q) = true", host)
			}
		}
		// Adding what a request carried and asking again never panics.
		l.Add(host)
		l.Allows(host)
	})
}

func TestHostRefused(t *testing.T) {
	ts, log := edgeServer(t, func(s *server.Server) {
		s.Hosts = server.NewHostAllowList()
		s.Extra = map[string]http.Handler{"/v2/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	tests := []struct {
		host, path string
		status     int
		want       string
	}{
		{"attacker.example:" + port, "/ListComponents", 403, `"__type":"AccessDeniedException"`},
		{"attacker.example", "/v2/", 403, `"code":"DENIED"`},
		{"attacker.example", "/healthz", 403, "--allow-host"},
		{"127.0.0.1:" + port, "/healthz", 200, "ok"},
		{"localhost:" + port, "/v2/", 200, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", ts.URL+tt.path, nil)
		req.Host = tt.host
		a := send(t, req)
		if a.status != tt.status || !strings.Contains(a.body, tt.want) {
			t.Errorf("Host %s %s: %d %s, want %d containing %q", tt.host, tt.path, a.status, a.body, tt.status, tt.want)
		}
	}
	if !strings.Contains(log.String(), "attacker.example") {
		t.Errorf("the refusal was not logged:\n%s", log)
	}
}

func TestUnsignedPayloadRefused(t *testing.T) {
	ts, _ := edgeServer(t, nil)
	body := []byte("{}")
	req, _ := http.NewRequest("POST", ts.URL+"/ListComponents", bytes.NewReader(body))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signReq(t, edgeCreds, req, "UNSIGNED-PAYLOAD")
	a := send(t, req)
	if a.status != 403 || a.errorType != sigv4.CodeInvalidSignature || !strings.Contains(a.body, "UNSIGNED-PAYLOAD") {
		t.Fatalf("UNSIGNED-PAYLOAD: %d %s %s", a.status, a.errorType, a.body)
	}
}

// rawExchange writes head (a request's header block) and then nothing,
// and returns the status line and body of the answer. The answer coming
// while the declared body was never sent proves the server did not wait
// for it.
func rawExchange(t *testing.T, addr, head string) (status, body string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A guard against a hang, not a measurement.
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body was withheld: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status, string(b)
}

// headOf signs a request whose body is declared but will not be sent, and
// returns its header block.
func headOf(t *testing.T, creds aws.Credentials, url string, claimed string, size int) string {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, nil)
	if claimed != "" {
		req.Header.Set("X-Amz-Content-Sha256", claimed)
	}
	signReq(t, creds, req, hashOf(bytes.Repeat([]byte("x"), size)))
	var b strings.Builder
	fmt.Fprintf(&b, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(), req.Host, size)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func TestAuthorizationBeforeBody(t *testing.T) {
	ts, _ := edgeServer(t, nil)
	addr := strings.TrimPrefix(ts.URL, "http://")
	url := ts.URL + "/CreateComponent"
	size := 512 << 10
	stranger := aws.Credentials{AccessKeyID: "AKIDSTRANGER", SecretAccessKey: "x"}
	wrongSecret := aws.Credentials{AccessKeyID: edgeCreds.AccessKeyID, SecretAccessKey: "guess"}
	tests := []struct {
		name string
		head string
		want string
	}{
		{"unknown key", headOf(t, stranger, url, "", size), "UnrecognizedClientException"},
		{"claimed hash, wrong secret", headOf(t, wrongSecret, url, hashOf(bytes.Repeat([]byte("x"), size)), size), "InvalidSignatureException"},
		{"no authorization", "PUT /CreateComponent HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 1000\r\n\r\n", "MissingAuthenticationTokenException"},
		{"over the size limit", headOf(t, edgeCreds, url, "", 2<<20), "exceeds"},
	}
	for _, tt := range tests {
		status, body := rawExchange(t, addr, tt.head)
		if !strings.Contains(body, tt.want) {
			t.Errorf("%s: %s %s, want %s", tt.name, status, body, tt.want)
		}
	}
}

func TestStalledBodyIsCut(t *testing.T) {
	ts, _ := edgeServer(t, func(s *server.Server) { s.BodyTimeout = 200 * time.Millisecond })
	addr := strings.TrimPrefix(ts.URL, "http://")
	// A known key without a claimed hash: the body must be read to check
	// the signature, and the deadline cuts it when it stalls.
	status, body := rawExchange(t, addr, headOf(t, edgeCreds, ts.URL+"/CreateComponent", "", 1000))
	if !strings.Contains(body, "RequestTimeoutException") {
		t.Fatalf("stalled body: %s %s", status, body)
	}
}

func TestInternalErrorIsNotSent(t *testing.T) {
	ts, log := edgeServer(t, nil)
	body := []byte("{}")
	req, _ := http.NewRequest("POST", ts.URL+"/ListComponents", bytes.NewReader(body))
	signReq(t, edgeCreds, req, hashOf(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("x-amzn-RequestId")
	var e struct{ Message string }
	json.Unmarshal(b, &e)
	if resp.StatusCode != 500 || strings.Contains(string(b), "secret.db") || !strings.Contains(e.Message, id) || id == "" {
		t.Fatalf("500 answer: %d %s (request id %q)", resp.StatusCode, b, id)
	}
	if l := log.String(); !strings.Contains(l, "secret.db") || !strings.Contains(l, id) {
		t.Fatalf("the log lacks the error or the request id:\n%s", l)
	}
}

func TestMetricsAuthentication(t *testing.T) {
	ts, _ := edgeServer(t, func(s *server.Server) {
		s.MetricsAuth = true
		s.MetricsToken = "prometheus-token"
	})
	tests := []struct {
		name   string
		prep   func(*http.Request)
		status int
	}{
		{"anonymous", func(*http.Request) {}, 403},
		{"signed by a principal", func(r *http.Request) { signReq(t, edgeCreds, r, hashOf(nil)) }, 200},
		{"signed by a stranger", func(r *http.Request) {
			signReq(t, aws.Credentials{AccessKeyID: "AKIDX", SecretAccessKey: "x"}, r, hashOf(nil))
		}, 403},
		{"bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer prometheus-token") }, 200},
		{"wrong bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer guess") }, 400},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
		tt.prep(req)
		a := send(t, req)
		if a.status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, a.status, a.body, tt.status)
		}
		if a.status == 200 && !strings.Contains(a.body, "kiln_api_requests_total") {
			t.Errorf("%s: body %q", tt.name, a.body)
		}
	}
	// Without MetricsAuth (loopback mode) anyone may read them.
	open, _ := edgeServer(t, nil)
	if a := send(t, mustRequest(t, "GET", open.URL+"/metrics")); a.status != 200 {
		t.Errorf("open /metrics: %d", a.status)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestRouting(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	ts, _ := edgeServer(t, func(s *server.Server) {
		s.Extra = map[string]http.Handler{
			"/v2/":             named("registry"),
			"/kiln/v1/amis":    named("amis"),
			"/kiln/v1/logs":    named("logs"),
			"/kiln/v1/amis/xx": named("deeper"),
		}
		s.Targets = map[string]http.Handler{"AmazonEC2ContainerRegistry_V20150921": named("ecr")}
	})
	tests := []struct {
		method, path, target string
		want                 string
	}{
		{"GET", "/v2/", "", "registry"},
		{"PATCH", "/v2/a/b/blobs/uploads/x", "", "registry"},
		{"GET", "/kiln/v1/amis", "", "amis"},
		{"GET", "/kiln/v1/amis/export", "", "amis"},
		{"GET", "/kiln/v1/amis/xx", "", "deeper"},
		{"GET", "/kiln/v1/logs", "", "logs"},
		{"POST", "/", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", "ecr"},
		{"POST", "/", "AmazonSSM.GetParameter", "UnknownOperationException"},
		{"POST", "/ListComponents", "", "MissingAuthenticationTokenException"},
		{"GET", "/healthz", "", "ok"},
	}
	for _, tt := range tests {
		req := mustRequest(t, tt.method, ts.URL+tt.path)
		if tt.target != "" {
			req.Header.Set("X-Amz-Target", tt.target)
		}
		if a := send(t, req); !strings.Contains(a.body, tt.want) {
			t.Errorf("%s %s (%s): %d %s, want %s", tt.method, tt.path, tt.target, a.status, a.body, tt.want)
		}
	}
}

// TestPendingBodiesAreBudgeted: large bodies whose signature can only be
// checked once they are read share a memory budget; beyond it they are
// refused with ThrottlingException at once instead of being buffered.
func TestPendingBodiesAreBudgeted(t *testing.T) {
	ts, _ := edgeServer(t, func(s *server.Server) { s.BodyTimeout = 3 * time.Second })
	addr := strings.TrimPrefix(ts.URL, "http://")
	head := headOf(t, edgeCreds, ts.URL+"/CreateComponent", "", 1000_000)
	const clients = 40
	answers := make([]string, clients)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, answers[i] = rawExchange(t, addr, head)
		}()
	}
	wg.Wait()
	throttled, cut := 0, 0
	for _, a := range answers {
		switch {
		case strings.Contains(a, "ThrottlingException"):
			throttled++
		case strings.Contains(a, "RequestTimeoutException"):
			cut++
		default:
			t.Errorf("answer %s", a)
		}
	}
	// 32 MiB admits 33 bodies of 10^6 bytes.
	if throttled != clients-33 || cut != 33 {
		t.Errorf("%d throttled, %d cut by the deadline; want %d and 33", throttled, cut, clients-33)
	}
}

// TestRefusedUploadIsNotDrained: an Extra handler (the registry) that
// refuses a request without reading its body closes the connection, so a
// stalled body is neither waited for nor drained.
func TestRefusedUploadIsNotDrained(t *testing.T) {
	ts, _ := edgeServer(t, func(s *server.Server) {
		s.BodyTimeout = time.Hour // only closing the connection can answer in time
		s.Extra = map[string]http.Handler{"/v2/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		})}
	})
	addr := strings.TrimPrefix(ts.URL, "http://")
	status, _ := rawExchange(t, addr, "POST /v2/x/blobs/uploads/ HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 1000\r\n\r\n")
	if !strings.HasPrefix(status, "401") {
		t.Fatalf("refused upload: %s", status)
	}
}
