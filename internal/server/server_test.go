package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

const testAccount = "111111111111"

var testCreds = aws.Credentials{AccessKeyID: "AKIDSERVERTEST", SecretAccessKey: "server-test-secret"}

// harness is the API stack in process: strict SigV4, the real service on
// SQLite in a temporary directory, behind httptest.
type harness struct {
	srv *server.Server
	ts  *httptest.Server
}

// serviceHandlers is the real service's operation table over SQLite in a
// temporary directory, as kiln serve wires it, and the store's health check.
func serviceHandlers(tb testing.TB) (map[string]server.HandlerFunc, func(context.Context) error) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "kiln.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	svc := &service.Service{Store: st, Partition: "aws", Region: "us-east-1", TokenKey: []byte("k")}
	handlers := map[string]server.HandlerFunc{}
	for name, h := range svc.Handlers() {
		handlers[name] = server.HandlerFunc(h)
	}
	return handlers, st.Ping
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	handlers, ping := serviceHandlers(t)
	// Two operations answer with the errors a store or a client can cause
	// underneath the service, which the service itself never returns on
	// demand.
	handlers["GetWorkflow"] = func(context.Context, string, awsapi.Input) (any, error) {
		return nil, errors.New("disk on fire")
	}
	handlers["GetLifecyclePolicy"] = func(context.Context, string, awsapi.Input) (any, error) {
		return nil, fmt.Errorf("reading: %w", context.Canceled)
	}
	delete(handlers, "GetMarketplaceResource")
	return serve(t, handlers, ping)
}

// serve starts the server with handlers behind strict SigV4 for testCreds.
func serve(t *testing.T, handlers map[string]server.HandlerFunc, healthy func(context.Context) error) *harness {
	t.Helper()
	h := &harness{srv: &server.Server{
		Handlers: handlers,
		Verifier: &sigv4.Verifier{
			Mode: sigv4.ModeStrict, Service: "imagebuilder", Region: "us-east-1",
			Principals: map[string]sigv4.Principal{testCreds.AccessKeyID: {
				AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey, Account: testAccount}},
		},
		Healthy: healthy,
	}}
	h.ts = httptest.NewServer(h.srv)
	t.Cleanup(h.ts.Close)
	return h
}

// client is the AWS SDK's Image Builder client pointed at the harness.
func (h *harness) client() *imagebuilder.Client {
	return imagebuilder.New(imagebuilder.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(h.ts.URL),
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil }),
		RetryMaxAttempts: 1,
	})
}

// do sends one request, signed unless sign is false, and returns the
// response with its body read.
func (h *harness) do(t *testing.T, method, path string, body []byte, sign bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if sign {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, hex.EncodeToString(sum[:]), "imagebuilder", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const componentDoc = `name: hello
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo hello
`

func createBody(name, version string) []byte {
	return fmt.Appendf(nil, `{"name":%q,"semanticVersion":%q,"platform":"Linux","clientToken":"t-%s-%s","data":%q}`, name, version, name, version, componentDoc)
}

// TestErrors sends requests that fail at each stage of the pipeline a
// request goes through and checks the restJson1 error each produces: the
// status, X-Amzn-ErrorType and the body's __type agree.
func TestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	huge := bytes.Repeat([]byte("x"), 1<<20+1)
	tests := []struct {
		name        string
		method      string
		path        string
		body        []byte
		unsigned    bool
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		{"NoRoute", "GET", "/NoSuchOperation", nil, false, 404, "UnknownOperationException", "no operation matches"},
		{"Unsigned", "PUT", "/CreateComponent", createBody("comp-a", "1.0.0"), true, 403, sigv4.CodeMissingAuthenticationToken, ""},
		{"TooLarge", "PUT", "/CreateComponent", huge, false, 400, "InvalidRequestException", "exceeds"},
		{"NoHandler", "POST", "/GetMarketplaceResource", []byte(`{}`), false, 400, "InvalidRequestException", "does not support the operation GetMarketplaceResource"},
		{"BadJSON", "PUT", "/CreateComponent", []byte(`{"name":`), false, 400, "", ""},
		{"Invalid", "PUT", "/CreateComponent", createBody("comp-a", "not-a-version"), false, 400, "InvalidParameterValueException", "semanticVersion"},
		{"TaggingInvalid", "POST", "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A111111111111%3Acomponent%2Fa%2F1.0.0%2F1", []byte(`{}`), false, 400, "InvalidParameterException", "tags"},
		{"NotFound", "GET", "/GetComponent?componentBuildVersionArn=arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A111111111111%3Acomponent%2Fnope%2F1.0.0%2F1", nil, false, 404, "ResourceNotFoundException", "nope"},
		{"InternalError", "GET", "/GetWorkflow?workflowBuildVersionArn=arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A111111111111%3Aworkflow%2Fbuild%2Fw%2F1.0.0%2F1", nil, false, 500, "ServiceException", ""},
		{"Cancelled", "GET", "/GetLifecyclePolicy?lifecyclePolicyArn=arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A111111111111%3Alifecycle-policy%2Fp", nil, false, 503, "ServiceUnavailableException", "cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := h.do(t, tt.method, tt.path, tt.body, !tt.unsigned)
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if resp.StatusCode != tt.wantStatus || (tt.wantCode != "" && e.Type != tt.wantCode) ||
				resp.Header.Get("X-Amzn-ErrorType") != e.Type || e.Type == "" {
				t.Errorf("status %d, X-Amzn-ErrorType %q, __type %q; want %d %s", resp.StatusCode,
					resp.Header.Get("X-Amzn-ErrorType"), e.Type, tt.wantStatus, tt.wantCode)
			}
			if !strings.Contains(e.Message, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMessage)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" && !tt.unsigned {
				t.Error("no x-amzn-RequestId")
			}
		})
	}
}

// TestSDKRoundTrip drives the routing with the AWS SDK: a create, a get
// and a list reach their handlers and decode in the SDK.
func TestSDKRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	ctx := context.Background()
	out, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("hello"), SemanticVersion: aws.String("1.0.0"), Platform: "Linux",
		Data: aws.String(componentDoc), ClientToken: aws.String("t1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ComponentBuildVersionArn)
	if arn != "arn:aws:imagebuilder:us-east-1:"+testAccount+":component/hello/1.0.0/1" {
		t.Errorf("created %s", arn)
	}
	got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(arn)})
	if err != nil || aws.ToString(got.Component.Name) != "hello" {
		t.Fatalf("GetComponent = %+v, %v", got, err)
	}
	// The request id the header carries is the one the body reports.
	if aws.ToString(got.RequestId) == "" {
		t.Error("GetComponent response has no requestId")
	}
	list, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	if err != nil || len(list.ComponentVersionList) != 1 {
		t.Errorf("ListComponents = %+v, %v", list, err)
	}
}

// TestRequestIDs: every answer carries its own x-amzn-RequestId, and a
// successful one repeats it as the body's requestId.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seen := map[string]bool{}
	for i := range 5 {
		body := createBody(fmt.Sprintf("comp-%d", i), "1.0.0")
		resp, b := h.do(t, "PUT", "/CreateComponent", body, true)
		id := resp.Header.Get("x-amzn-RequestId")
		if resp.StatusCode != 200 || id == "" || seen[id] {
			t.Fatalf("response %d with request id %q (seen: %v): %s", resp.StatusCode, id, seen[id], b)
		}
		seen[id] = true
		var out struct {
			RequestID string `json:"requestId"`
		}
		if err := json.Unmarshal(b, &out); err != nil || out.RequestID != id {
			t.Errorf("body requestId %q, header %q (%v)", out.RequestID, id, err)
		}
		resp, _ = h.do(t, "GET", "/NoSuchOperation", nil, true)
		if id := resp.Header.Get("x-amzn-RequestId"); id == "" || seen[id] {
			t.Errorf("error response request id %q", id)
		}
		seen[resp.Header.Get("x-amzn-RequestId")] = true
	}
}

// TestMetrics: /metrics counts requests by operation and result code.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, "PUT", "/CreateComponent", createBody("metered", "1.0.0"), true)
	h.do(t, "PUT", "/CreateComponent", createBody("metered", "bad"), true)
	h.do(t, "PUT", "/CreateComponent", createBody("metered", "bad"), true)
	h.do(t, "GET", "/NoSuchOperation", nil, true)
	resp, body := h.do(t, "GET", "/metrics", nil, false)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`kiln_api_requests_total{operation="CreateComponent",code="OK"} 1`,
		`kiln_api_requests_total{operation="CreateComponent",code="InvalidParameterValueException"} 2`,
		`kiln_api_requests_total{operation="unknown",code="UnknownOperationException"} 1`,
		`kiln_api_request_duration_seconds_count{operation="CreateComponent"} 3`,
		`kiln_api_request_duration_seconds_bucket{operation="CreateComponent",le="+Inf"} 3`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if resp, body := h.do(t, "GET", "/healthz", nil, false); resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}
	h.srv.Healthy = func(context.Context) error { return errors.New("store closed") }
	// The reason goes to the log; /healthz is open, so it tells only 503.
	if resp, body := h.do(t, "GET", "/healthz", nil, false); resp.StatusCode != 503 || strings.Contains(string(body), "store closed") {
		t.Errorf("/healthz with a broken store = %d %q, want 503 without the reason", resp.StatusCode, body)
	}
}

// TestHealthChecks: with HealthChecks, /healthz names each part and
// whether it is reachable, 503 when one is not, never the reason.
func TestHealthChecks(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	broken := func(context.Context) error { return errors.New("bucket secret-name gone") }
	tests := []struct {
		name       string
		store      func(context.Context) error
		bucket     func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{"AllUp", ok, ok, 200, "store: ok\nbucket: ok\n"},
		{"BucketDown", ok, broken, 503, "store: ok\nbucket: unavailable\n"},
		{"StoreDown", broken, ok, 503, "store: unavailable\nbucket: ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.srv.Healthy = tt.store
			h.srv.HealthChecks = []server.HealthCheck{{Name: "bucket", Check: tt.bucket}}
			resp, body := h.do(t, "GET", "/healthz", nil, false)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("/healthz = %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
