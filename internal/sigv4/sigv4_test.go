package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testRegion  = "us-east-1"
	testAKID    = "AKIDALICE"
	testSecret  = "alice/secret+key"
	testAccount = "111122223333"
	tagsPath    = "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A111122223333%3Acomponent%2Fhello%2F1.0.0%2F1"
)

// signingTime is the fixed clock of these tests.
var signingTime = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testVerifier(mode Mode) *Verifier {
	return &Verifier{
		Mode:    mode,
		Service: "imagebuilder",
		Region:  testRegion,
		Principals: map[string]Principal{
			testAKID: {AccessKeyID: testAKID, SecretAccessKey: testSecret, Account: testAccount, Name: "alice"},
		},
		DefaultAccount: "000000000000",
		Now:            func() time.Time { return signingTime },
	}
}

// request is a request to sign, described so each test can vary one part.
type request struct {
	method, url string
	body        string
	header      map[string]string
	akid        string // testAKID when empty
	secret      string // testSecret when empty
	token       string
	service     string // "imagebuilder" when empty
	region      string // testRegion when empty
	at          time.Time
}

// sign builds the request and signs it with the AWS SDK's own signer.
func sign(t testing.TB, rq request) *http.Request {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r, err := http.NewRequest(rq.method, rq.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	creds := aws.Credentials{AccessKeyID: or(rq.akid, testAKID), SecretAccessKey: or(rq.secret, testSecret), SessionToken: rq.token}
	sum := sha256.Sum256([]byte(rq.body))
	at := rq.at
	if at.IsZero() {
		at = signingTime
	}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), or(rq.service, "imagebuilder"), or(rq.region, testRegion), at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// server verifies every request it receives with v and reports the result.
type server struct {
	*httptest.Server
	results chan result
}

type result struct {
	caller Caller
	err    error
}

func newServer(t testing.TB, v *Verifier) *server {
	s := &server{results: make(chan result, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		c, err := v.Verify(r, body)
		s.results <- result{c, err}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(s.Close)
	return s
}

// do sends r to the server and returns what Verify said about it.
func (s *server) do(t testing.TB, r *http.Request) (Caller, error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	res := <-s.results
	return res.caller, res.err
}

func (s *server) url(pathAndQuery string) string { return s.URL + pathAndQuery }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("Verify = %v, want success", err)
		}
		return
	}
	e, ok := err.(*Error)
	if !ok || e.Code != code {
		t.Fatalf("Verify = %v, want %s", err, code)
	}
	wantStatus := map[string]int{
		CodeMissingAuthenticationToken: 403, CodeIncompleteSignature: 400,
		CodeInvalidSignature: 403, CodeUnrecognizedClient: 403,
	}[code]
	if e.Status != wantStatus {
		t.Fatalf("%s has status %d, want %d", code, e.Status, wantStatus)
	}
}

func TestVerifySDKSignedRequests(t *testing.T) {
	s := newServer(t, testVerifier(ModeStrict))
	tests := []struct {
		name string
		rq   request
	}{
		{"get with query", request{method: "GET", url: "/GetImage?imageBuildVersionArn=arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A111122223333%3Aimage%2Fx%2F1.0.0%2F1"}},
		{"put with body", request{method: "PUT", url: "/CreateComponent", body: `{"name":"hello","semanticVersion":"1.0.0"}`,
			header: map[string]string{"Content-Type": "application/json"}}},
		{"post empty body", request{method: "POST", url: "/ListImages"}},
		{"tags path double encoded", request{method: "POST", url: tagsPath, body: `{"tags":{"a":"b"}}`}},
		{"repeated query keys", request{method: "DELETE", url: tagsPath + "?tagKeys=b&tagKeys=a&tagKeys=a%20b"}},
		{"query needing encoding", request{method: "GET", url: "/GetComponent?x=a%2Fb&x=a-b&y=%7E+z&empty=&bare"}},
		{"security token", request{method: "GET", url: "/GetImagePolicy?imageArn=x", token: "FwoGZXIvYXdzEJr//////////token"}},
		{"spaces in header", request{method: "PUT", url: "/CreateImage", body: "{}",
			header: map[string]string{"X-Amz-Meta-Note": "  a   b  c "}}},
		{"content sha256 header", request{method: "PUT", url: "/CreateImage", body: "{}",
			header: map[string]string{"X-Amz-Content-Sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}},
		{"root path", request{method: "GET", url: "/"}},
		{"signed just before the window closes", request{method: "GET", url: "/", at: signingTime.Add(-15 * time.Minute)}},
		{"signed at the far edge of the window", request{method: "GET", url: "/", at: signingTime.Add(15 * time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := tt.rq
			rq.url = s.url(rq.url)
			r := sign(t, rq)
			c, err := s.do(t, r)
			wantCode(t, err, "")
			if c != (Caller{Account: testAccount, AccessKeyID: testAKID}) {
				t.Errorf("Caller = %+v", c)
			}
		})
	}
}

func signUnsigned(t *testing.T, rq request) *http.Request {
	r, err := http.NewRequest(rq.method, rq.url, strings.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, "UNSIGNED-PAYLOAD", "imagebuilder", testRegion, signingTime); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyTampered(t *testing.T) {
	s := newServer(t, testVerifier(ModeStrict))
	base := request{method: "DELETE", url: tagsPath + "?tagKeys=a&tagKeys=b", body: `{"x":1}`,
		header: map[string]string{"X-Amz-Meta-Note": "n", "Content-Type": "application/json"}}
	tests := []struct {
		name   string
		rq     request               // changes to base before signing
		tamper func(r *http.Request) // changes after signing
		code   string                // expected error code
		msg    string                // substring of the message
		body   func() io.ReadCloser  // replacement body, when tampering with it
	}{
		{name: "untouched"},
		{name: "method", tamper: func(r *http.Request) { r.Method = "PUT" }, code: CodeInvalidSignature, msg: "does not match"},
		{name: "path", tamper: func(r *http.Request) {
			r.URL.RawPath = strings.Replace(r.URL.RawPath, "hello", "hellp", 1)
			r.URL.Path = strings.Replace(r.URL.Path, "hello", "hellp", 1)
		}, code: CodeInvalidSignature},
		{name: "path encoding", tamper: func(r *http.Request) { r.URL.RawPath = "" }, code: CodeInvalidSignature},
		{name: "query value", tamper: func(r *http.Request) { r.URL.RawQuery = "tagKeys=a&tagKeys=c" }, code: CodeInvalidSignature},
		{name: "query dropped", tamper: func(r *http.Request) { r.URL.RawQuery = "tagKeys=a" }, code: CodeInvalidSignature},
		{name: "query reordered", tamper: func(r *http.Request) { r.URL.RawQuery = "tagKeys=b&tagKeys=a" }},
		{name: "signed header", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Note", "m") }, code: CodeInvalidSignature},
		{name: "unsigned header", tamper: func(r *http.Request) { r.Header.Set("X-Other", "m") }},
		{name: "host", tamper: func(r *http.Request) { r.Host = "localhost:1" }, code: CodeInvalidSignature},
		{name: "body", body: func() io.ReadCloser { return io.NopCloser(strings.NewReader(`{"x":2}`)) }, code: CodeInvalidSignature},
		{name: "time", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20260101T120001Z") }, code: CodeInvalidSignature, msg: "does not match"},
		{name: "day", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20260102T120000Z") }, code: CodeInvalidSignature,
			msg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260101' != '20260102', from '20260102T120000Z'."},
		{name: "wrong secret", rq: request{secret: "other"}, code: CodeInvalidSignature, msg: "Check your AWS Secret Access Key"},
		{name: "unknown key", rq: request{akid: "AKIDMALLORY"}, code: CodeUnrecognizedClient, msg: "The security token included in the request is invalid."},
		{name: "signature", tamper: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.LastIndex(h, "=") + 1
			flip := "0"
			if h[i] == '0' {
				flip = "1"
			}
			r.Header.Set("Authorization", h[:i]+flip+h[i+1:])
		}, code: CodeInvalidSignature},
		// The claimed hash is checked against the signature before the
		// body is read, so a wrong one is a signature mismatch.
		{name: "content sha256", tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		}, code: CodeInvalidSignature, msg: "does not match"},
		{name: "content sha256 not hex", tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "abc")
		}, code: CodeInvalidSignature, msg: "x-amz-content-sha256"},
		{name: "other region", rq: request{region: "eu-west-1"}, code: CodeInvalidSignature, msg: "Credential should be scoped to a valid region."},
		{name: "other service", rq: request{service: "s3"}, code: CodeInvalidSignature, msg: "Credential should be scoped to correct service: 'imagebuilder'."},
		{name: "expired", rq: request{at: signingTime.Add(-15*time.Minute - time.Second)}, code: CodeInvalidSignature,
			msg: "Signature expired: 20260101T114459Z is now earlier than 20260101T114500Z (20260101T120000Z - 15 min.)"},
		{name: "not yet current", rq: request{at: signingTime.Add(15*time.Minute + time.Second)}, code: CodeInvalidSignature,
			msg: "Signature not yet current: 20260101T121501Z is still later than 20260101T121500Z (20260101T120000Z + 15 min.)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := base
			rq.url = s.url(base.url)
			rq.akid, rq.secret, rq.region, rq.service, rq.at = tt.rq.akid, tt.rq.secret, tt.rq.region, tt.rq.service, tt.rq.at
			r := sign(t, rq)
			if tt.tamper != nil {
				tt.tamper(r)
			}
			if tt.body != nil {
				r.Body = tt.body()
			}
			_, err := s.do(t, r)
			wantCode(t, err, tt.code)
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestVerifySkewIsConfigurable(t *testing.T) {
	v := testVerifier(ModeStrict)
	v.MaxSkew = 5 * time.Minute
	s := newServer(t, v)
	r := sign(t, request{method: "GET", url: s.url("/"), at: signingTime.Add(-6 * time.Minute)})
	_, err := s.do(t, r)
	wantCode(t, err, CodeInvalidSignature)
	if want := "Signature expired: 20260101T115400Z is now earlier than 20260101T115500Z (20260101T120000Z - 5 min.)"; err.(*Error).Message != want {
		t.Errorf("message = %q, want %q", err.(*Error).Message, want)
	}
	r = sign(t, request{method: "GET", url: s.url("/"), at: signingTime.Add(4 * time.Minute)})
	_, err = s.do(t, r)
	wantCode(t, err, "")
}

func TestVerifyLoopback(t *testing.T) {
	for _, mode := range []Mode{ModeLoopback, ModeOpen} {
		t.Run(mode.String(), func(t *testing.T) {
			s := newServer(t, testVerifier(mode))
			tests := []struct {
				name   string
				rq     request
				tamper func(r *http.Request)
				want   Caller
				code   string
			}{
				{name: "known key", want: Caller{testAccount, testAKID}},
				{name: "known key wrong secret", rq: request{secret: "x"}, want: Caller{testAccount, testAKID}},
				{name: "unknown key", rq: request{akid: "test", secret: "test"}, want: Caller{"000000000000", "test"}},
				{name: "any region", rq: request{akid: "test", region: "eu-west-1"}, want: Caller{"000000000000", "test"}},
				{name: "any time", rq: request{at: signingTime.Add(-48 * time.Hour)}, want: Caller{testAccount, testAKID}},
				{name: "tampered body", tamper: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("x")); r.ContentLength = 1 },
					want: Caller{testAccount, testAKID}},
				{name: "other service", rq: request{service: "s3"}, code: CodeInvalidSignature},
				{name: "no authorization", tamper: func(r *http.Request) { r.Header.Del("Authorization") }, code: CodeMissingAuthenticationToken},
				{name: "no date", tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, code: CodeIncompleteSignature},
				{name: "garbage signature", tamper: func(r *http.Request) {
					h := r.Header.Get("Authorization")
					r.Header.Set("Authorization", h[:strings.LastIndex(h, "=")+1]+"zz")
				}, code: CodeIncompleteSignature},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					rq := tt.rq
					rq.method, rq.url, rq.body = "PUT", s.url("/CreateComponent"), "{}"
					r := sign(t, rq)
					if tt.tamper != nil {
						tt.tamper(r)
					}
					c, err := s.do(t, r)
					wantCode(t, err, tt.code)
					if tt.code == "" && c != tt.want {
						t.Errorf("Caller = %+v, want %+v", c, tt.want)
					}
				})
			}
		})
	}
}

// TestVerifyMalformed feeds hand-written headers to every mode: none of
// them may get past parsing.
func TestVerifyMalformed(t *testing.T) {
	const (
		cred   = "Credential=AKIDALICE/20260101/us-east-1/imagebuilder/aws4_request"
		signed = "SignedHeaders=host;x-amz-date"
		sig    = "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	tests := []struct {
		name, authz, date string
		code, msg         string
	}{
		{"no header", "", "20260101T120000Z", CodeMissingAuthenticationToken, "Missing Authentication Token"},
		{"other algorithm", "AWS4-ECDSA-P256-SHA256 " + cred + ", " + signed + ", " + sig, "20260101T120000Z", CodeIncompleteSignature, "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'"},
		{"basic auth", "Basic dXNlcjpwYXNz", "20260101T120000Z", CodeIncompleteSignature, "'algorithm'"},
		{"no credential", Algorithm + " " + signed + ", " + sig, "20260101T120000Z", CodeIncompleteSignature,
			"Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders"},
		{"nothing", Algorithm, "", CodeIncompleteSignature,
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of a 'X-Amz-Date' header. Authorization=AWS4-HMAC-SHA256"},
		{"no date", Algorithm + " " + cred + ", " + signed + ", " + sig, "", CodeIncompleteSignature, "requires existence of a 'X-Amz-Date' header"},
		{"bad date", Algorithm + " " + cred + ", " + signed + ", " + sig, "2026-01-01T12:00:00Z", CodeIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '2026-01-01T12:00:00Z'."},
		{"impossible date", Algorithm + " " + cred + ", " + signed + ", " + sig, "20261301T120000Z", CodeIncompleteSignature, "ISO-8601"},
		{"missing equals", Algorithm + " " + cred + ", " + signed + ", Signature", "20260101T120000Z", CodeIncompleteSignature, "'Signature' not a valid key=value pair (missing equal-sign)"},
		{"duplicate", Algorithm + " " + cred + ", " + cred + ", " + signed + ", " + sig, "20260101T120000Z", CodeIncompleteSignature, "more than one 'Credential'"},
		{"short credential", Algorithm + " Credential=AKIDALICE/20260101/us-east-1, " + signed + ", " + sig, "20260101T120000Z", CodeIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDALICE/20260101/us-east-1'"},
		{"long credential", Algorithm + " " + cred + "/x, " + signed + ", " + sig, "20260101T120000Z", CodeIncompleteSignature, "exactly 5 slash-delimited elements"},
		{"empty key id", Algorithm + " Credential=/20260101/us-east-1/imagebuilder/aws4_request, " + signed + ", " + sig, "20260101T120000Z", CodeIncompleteSignature, "exactly 5"},
		{"host unsigned", Algorithm + " " + cred + ", SignedHeaders=x-amz-date, " + sig, "20260101T120000Z", CodeIncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"date unsigned", Algorithm + " " + cred + ", SignedHeaders=host, " + sig, "20260101T120000Z", CodeIncompleteSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."},
		{"empty signed header", Algorithm + " " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, "20260101T120000Z", CodeIncompleteSignature, "empty header name"},
		{"short signature", Algorithm + " " + cred + ", " + signed + ", Signature=abc", "20260101T120000Z", CodeIncompleteSignature, "Signature must be 64 hexadecimal characters"},
		{"bad terminator", Algorithm + " Credential=AKIDALICE/20260101/us-east-1/imagebuilder/aws5_request, " + signed + ", " + sig, "20260101T120000Z", CodeInvalidSignature,
			"Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{"presigned", "", "", CodeIncompleteSignature, "presigned"},
	}
	for _, mode := range []Mode{ModeLoopback, ModeStrict, ModeOpen} {
		v := testVerifier(mode)
		for _, tt := range tests {
			t.Run(mode.String()+"/"+tt.name, func(t *testing.T) {
				r := httptest.NewRequest("GET", "/GetImage", nil)
				if tt.name == "presigned" {
					r = httptest.NewRequest("GET", "/GetImage?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00", nil)
				}
				if tt.authz != "" {
					r.Header.Set("Authorization", tt.authz)
				}
				if tt.date != "" {
					r.Header.Set("X-Amz-Date", tt.date)
				}
				_, err := v.Verify(r, nil)
				wantCode(t, err, tt.code)
				if !strings.Contains(err.(*Error).Message, tt.msg) {
					t.Errorf("message %q does not contain %q", err.(*Error).Message, tt.msg)
				}
			})
		}
	}
}

// TestVerifyInProcess checks requests that never crossed a socket (no
// RequestURI), as handlers see them in httptest.NewRecorder tests.
func TestVerifyInProcess(t *testing.T) {
	v := testVerifier(ModeStrict)
	r := sign(t, request{method: "POST", url: "http://kiln.test" + tagsPath + "?b=2&a=1", body: `{"tags":{}}`})
	if _, err := v.Verify(r, []byte(`{"tags":{}}`)); err != nil {
		t.Fatalf("Verify = %v", err)
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"tagKeys=b&tagKeys=a", "tagKeys=a&tagKeys=b"},
		{"k=a%2Fb&k=a-b", "k=a%2Fb&k=a-b"}, // sorted after encoding: '%' < '-'
		{"a=%7e&b=+&c=%20&d=/:", "a=~&b=%20&c=%20&d=%2F%3A"},
		{"bare&empty=", "bare=&empty="},
		{"a=1&&b=2", "a=1&b=2"},
		{"bad=%zz&ok=1", "ok=1"},
		{"semi;colon=1&ok=1", "ok=1"},
		{"%41=%61", "A=a"},
		{"=v", "=v"},
	}
	for _, tt := range tests {
		got := string(appendCanonicalQuery(nil, &scratch{}, tt.raw))
		if got != tt.want {
			t.Errorf("canonical query of %q = %q, want %q", tt.raw, got, tt.want)
		}
		// Go's url.Values and the SDK's encoder must agree with us.
		q, _ := url.ParseQuery(tt.raw)
		if sdk := sdkEncodeQuery(q); sdk != got {
			t.Errorf("canonical query of %q = %q, SDK-style encoding gives %q", tt.raw, got, sdk)
		}
	}
}

// sdkEncodeQuery is the SDK's canonical query algorithm restated, as an
// independent check on the single-pass recoder.
func sdkEncodeQuery(q url.Values) string {
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var pairs [][2]string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, [2]string{esc(k), esc(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	var out []string
	for _, p := range pairs {
		out = append(out, p[0]+"="+p[1])
	}
	return strings.Join(out, "&")
}

func TestCanonicalHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"  a  b   c ", "a b c"},
		{"\ta\t", "a"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(appendHeaderValue(nil, tt.in)); got != tt.want {
			t.Errorf("appendHeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeLoopback: "loopback", ModeStrict: "strict", ModeOpen: "open"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
	if got := Mode(9).String(); got != "Mode(9)" {
		t.Errorf("Mode(9).String() = %q", got)
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := 0; i < maxKeys+10; i++ {
		c.get("AKID", "secret", "20260101", "r"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "imagebuilder")
	}
	if len(c.keys) > maxKeys {
		t.Errorf("cache holds %d keys, more than %d", len(c.keys), maxKeys)
	}
	// A cached key equals a freshly derived one.
	k1 := c.get("AKID", "secret", "20260101", "us-east-1", "imagebuilder")
	k2 := c.get("AKID", "secret", "20260101", "us-east-1", "imagebuilder")
	if !bytes.Equal(k1, k2) || !bytes.Equal(k1, deriveKey("secret", "20260101", "us-east-1", "imagebuilder")) {
		t.Errorf("cached key differs from derived key")
	}
}

// FuzzParseAuthorization checks the header parser never panics and that
// what it accepts satisfies the invariants Verify relies on.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/imagebuilder/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)
	f.Add("AWS4-HMAC-SHA256 Credential=A/B/C/D/E,SignedHeaders=host;x-amz-date,Signature=", true)
	f.Add("AWS4-HMAC-SHA256", false)
	f.Add("AWS4-HMAC-SHA256 Credential=, , ,=", true)
	f.Add("Basic x", true)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, h string, hasDate bool) {
		a, err := parseAuthorization(h, hasDate)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if !hasDate {
			t.Fatalf("accepted %q without X-Amz-Date", h)
		}
		for _, s := range []string{a.accessKeyID, a.date, a.region, a.service, a.terminator} {
			if s == "" || strings.Contains(s, "/") {
				t.Fatalf("accepted %q with credential part %q", h, s)
			}
		}
		if a.scope != a.date+"/"+a.region+"/"+a.service+"/"+a.terminator {
			t.Fatalf("scope %q does not match its parts", a.scope)
		}
		names := ";" + a.signedHeaders + ";"
		if !strings.Contains(names, ";host;") || !strings.Contains(names, ";x-amz-date;") || strings.Contains(names, ";;") {
			t.Fatalf("accepted signed headers %q", a.signedHeaders)
		}
		// checkScope must not panic on any accepted header.
		_ = a.checkScope("imagebuilder", "20260101T000000Z")
	})
}

// TestVerifyConcurrent shares one Verifier (and its key cache and buffer
// pool) between goroutines; run with -race.
func TestVerifyConcurrent(t *testing.T) {
	v := testVerifier(ModeStrict)
	var reqs []*http.Request
	for i := range 4 {
		body := strings.Repeat("x", i)
		rq := request{method: "PUT", url: "http://kiln.test/CreateImage?n=" + body, body: body, at: signingTime.Add(time.Duration(i) * time.Minute)}
		reqs = append(reqs, sign(t, rq))
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := range 50 {
				r := reqs[(g+i)%len(reqs)]
				if _, e := v.Verify(r, []byte(strings.Repeat("x", (g+i)%len(reqs)))); e != nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestUnsignedPayloadRefused: a request that opts out of payload signing is
// refused in every mode, even when its signature over UNSIGNED-PAYLOAD is
// right.
func TestUnsignedPayloadRefused(t *testing.T) {
	for _, mode := range []Mode{ModeStrict, ModeLoopback, ModeOpen} {
		t.Run(mode.String(), func(t *testing.T) {
			s := newServer(t, testVerifier(mode))
			r := signUnsigned(t, request{method: "PUT", url: s.url("/CreateImage"), body: "{}"})
			_, err := s.do(t, r)
			wantCode(t, err, CodeInvalidSignature)
			if !strings.Contains(err.Error(), "UNSIGNED-PAYLOAD") {
				t.Errorf("message %q does not name UNSIGNED-PAYLOAD", err)
			}
		})
	}
}

// unreadable is a body that fails the test if anything reads it.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("the body was read before the headers were verified")
	return 0, io.EOF
}

// TestBeginRefusesBeforeTheBody: Begin refuses what it can from the
// headers alone, so a server never buffers a stranger's body; Finish then
// checks the body of the requests Begin let through.
func TestBeginRefusesBeforeTheBody(t *testing.T) {
	body := `{"x":1}`
	sum := sha256.Sum256([]byte(body))
	claimed := hex.EncodeToString(sum[:])
	tests := []struct {
		name   string
		rq     request
		tamper func(r *http.Request)
		begin  string // code Begin answers ("" = passes)
		finish string // code Finish answers for body (when Begin passed)
		body   string
	}{
		{name: "unknown key", rq: request{akid: "AKIDMALLORY"}, begin: CodeUnrecognizedClient},
		{name: "stale", rq: request{at: signingTime.Add(-time.Hour)}, begin: CodeInvalidSignature},
		{name: "other region", rq: request{region: "eu-west-1"}, begin: CodeInvalidSignature},
		{name: "claimed hash, wrong secret", rq: request{secret: "guess", header: map[string]string{"X-Amz-Content-Sha256": claimed}}, begin: CodeInvalidSignature},
		{name: "claimed hash, right secret", rq: request{header: map[string]string{"X-Amz-Content-Sha256": claimed}}, body: body},
		{name: "claimed hash, other body", rq: request{header: map[string]string{"X-Amz-Content-Sha256": claimed}}, body: `{"x":2}`, finish: CodeInvalidSignature},
		{name: "no claim, right secret", body: body},
		{name: "no claim, wrong secret", rq: request{secret: "guess"}, body: body, finish: CodeInvalidSignature},
		{name: "no claim, other body", body: `{"x":2}`, finish: CodeInvalidSignature},
	}
	v := testVerifier(ModeStrict)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := tt.rq
			rq.method, rq.url, rq.body = "PUT", "http://127.0.0.1/CreateComponent", body
			r := sign(t, rq)
			r.Body = io.NopCloser(unreadable{t})
			p, err := v.Begin(r)
			wantCode(t, err, tt.begin)
			if err != nil {
				return
			}
			c, err := p.Finish([]byte(tt.body))
			wantCode(t, err, tt.finish)
			if err == nil && c != (Caller{Account: testAccount, AccessKeyID: testAKID}) {
				t.Errorf("Caller = %+v", c)
			}
		})
	}
}
