package kilntest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// RawResponse is an HTTP answer decoded loosely, for tests that send what
// SDKs would refuse to send (wrong types, missing members, bad JSON).
type RawResponse struct {
	Status    int
	Header    http.Header
	Body      []byte
	ErrorType string // X-Amzn-ErrorType
	Message   string // body "message"
}

// Raw sends a SigV4-signed request with the given body (nil for none) to
// path (which may carry a query) and returns the answer.
func (s *Server) Raw(t testing.TB, creds Creds, method, path string, body []byte) RawResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	Sign(t, req, creds, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b, ErrorType: resp.Header.Get("X-Amzn-ErrorType")}
	var e struct {
		Message string `json:"message"`
	}
	json.Unmarshal(b, &e)
	out.Message = e.Message
	return out
}

// Sign signs req for the imagebuilder service in us-east-1 at time at.
func Sign(t testing.TB, req *http.Request, creds Creds, body []byte, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "imagebuilder", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
}

// SignPayloadHash signs req like Sign, over the payload hash claimed (as
// sent in X-Amz-Content-Sha256) when it is not empty, else over body's.
func SignPayloadHash(t testing.TB, req *http.Request, creds Creds, claimed string, body []byte) {
	t.Helper()
	if claimed == "" {
		Sign(t, req, creds, body, time.Now())
		return
	}
	err := v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, claimed, "imagebuilder", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
}
