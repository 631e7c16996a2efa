package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/sigv4"
)

const benchDoc = `name: bench
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

// newStack builds the whole API stack in process — strict SigV4, the
// service and a SQLite store — so profiles show kiln's own costs without
// the network or the load generator.
func newStack(b *testing.B) (http.Handler, aws.Credentials) {
	handlers, _ := serviceHandlers(b)
	creds := aws.Credentials{AccessKeyID: "AKIDBENCH", SecretAccessKey: "secret"}
	srv := &server.Server{
		Handlers: handlers,
		Verifier: &sigv4.Verifier{
			Mode: sigv4.ModeStrict, Service: "imagebuilder", Region: "us-east-1",
			Principals: map[string]sigv4.Principal{creds.AccessKeyID: {AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, Account: "111111111111"}},
			MaxSkew:    15 * time.Minute,
		},
	}
	return srv, creds
}

func signed(b *testing.B, creds aws.Credentials, method, target string, body []byte) *http.Request {
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+target, bytes.NewReader(body))
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "imagebuilder", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	return req
}

func do(b *testing.B, h http.Handler, req *http.Request, body []byte) []byte {
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func seed(b *testing.B, h http.Handler, creds aws.Credentials, n int) []string {
	arns := make([]string, n)
	for i := range n {
		body := fmt.Appendf(nil, `{"name":"bench-%04d","semanticVersion":"1.0.0","platform":"Linux","clientToken":"t%d","data":%q}`, i, i, benchDoc)
		do(b, h, signed(b, creds, http.MethodPut, "/CreateComponent", body), body)
		arns[i] = fmt.Sprintf("arn:aws:imagebuilder:us-east-1:111111111111:component/bench-%04d/1.0.0/1", i)
	}
	return arns
}

func BenchmarkGetComponent(b *testing.B) {
	h, creds := newStack(b)
	arns := seed(b, h, creds, 100)
	reqs := make([]*http.Request, len(arns))
	for i, a := range arns {
		reqs[i] = signed(b, creds, http.MethodGet, "/GetComponent?componentBuildVersionArn="+url.QueryEscape(a), nil)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			do(b, h, reqs[i%len(reqs)].Clone(context.Background()), nil)
			i++
		}
	})
}

func BenchmarkListComponentsPage(b *testing.B) {
	h, creds := newStack(b)
	seed(b, h, creds, 1000)
	body := []byte(`{"maxResults":25}`)
	req := signed(b, creds, http.MethodPost, "/ListComponents", body)
	b.ResetTimer()
	for range b.N {
		do(b, h, req.Clone(context.Background()), body)
	}
}

func BenchmarkCreateComponent(b *testing.B) {
	h, creds := newStack(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Appendf(nil, `{"name":"create-%d","semanticVersion":"1.0.0","platform":"Linux","clientToken":"c%d","data":%q}`, i, i, benchDoc)
			do(b, h, signed(b, creds, http.MethodPut, "/CreateComponent", body), body)
		}
	})
}
