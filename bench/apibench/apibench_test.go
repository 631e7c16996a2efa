package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestMain lets the test binary stand in for `apibench -floor-server`, so
// startServer can be tested with a real child process.
func TestMain(m *testing.M) {
	if os.Getenv("APIBENCH_TEST_FLOOR") == "1" {
		if err := serveFloor("127.0.0.1:0"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

var testSigner = Signer{
	Creds:   aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"},
	Service: benchService, Region: benchRegion,
}

func quickGenerator(url string, n int) *Generator {
	return &Generator{BaseURL: url, Signer: testSigner, Concurrency: n, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond}
}

func TestGeneratorAgainstFloor(t *testing.T) {
	srv := httptest.NewServer(floorHandler())
	defer srv.Close()
	for _, n := range []int{1, 4} {
		r, err := quickGenerator(srv.URL, n).Run(context.Background(), floorScenario("floor"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || r.Requests == 0 || r.PerSecond <= 0 {
			t.Errorf("concurrency %d: %+v", n, r)
		}
		if r.P50 > r.P99 || r.P99 > r.Max {
			t.Errorf("concurrency %d: percentiles out of order: %+v", n, r)
		}
	}
}

// TestGeneratorSigns checks every request carries a SigV4 signature for
// imagebuilder and the body's hash.
func TestGeneratorSigns(t *testing.T) {
	var bad atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		auth := r.Header.Get("Authorization")
		switch {
		case !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/"):
			bad.Store("Authorization: " + auth)
		case !strings.Contains(auth, "/us-east-1/imagebuilder/aws4_request"):
			bad.Store("scope: " + auth)
		case r.Header.Get("X-Amz-Content-Sha256") != hex.EncodeToString(sum[:]):
			bad.Store("payload hash")
		case r.Header.Get("X-Amz-Date") == "":
			bad.Store("no X-Amz-Date")
		}
		w.Write([]byte(`{"componentBuildVersionArn":"arn:x"}`))
	}))
	defer srv.Close()
	var seq, created atomic.Int64
	r, err := quickGenerator(srv.URL, 2).Run(context.Background(), createComponentScenario("t", &seq, &created))
	if err != nil {
		t.Fatal(err)
	}
	if b := bad.Load(); b != nil {
		t.Fatalf("bad signature: %v", b)
	}
	if r.Errors != 0 || created.Load() == 0 {
		t.Fatalf("%+v, created %d", r, created.Load())
	}
}

func TestGeneratorCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"no"}`, http.StatusForbidden)
	}))
	defer srv.Close()
	r, err := quickGenerator(srv.URL, 2).Run(context.Background(), floorScenario("floor"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || !strings.Contains(r.FirstError, "403") {
		t.Fatalf("errors %d, first %q", r.Errors, r.FirstError)
	}
}

// fakeLister pages through items names in pages of maxResults, using the
// offset as its token, and records each CreateComponent name.
type fakeLister struct {
	items   int
	mu      sync.Mutex
	created map[string]bool
	dups    int
}

func (f *fakeLister) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ListComponents":
		var in listRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.MaxResults < 1 {
			http.Error(w, "bad request", 400)
			return
		}
		var off int
		if in.NextToken != "" {
			fmt.Sscan(in.NextToken, &off)
		}
		end := min(off+in.MaxResults, f.items)
		out := listResponse{ComponentVersionList: []json.RawMessage{}}
		for i := off; i < end; i++ {
			out.ComponentVersionList = append(out.ComponentVersionList, json.RawMessage(fmt.Sprintf(`{"name":"c%d"}`, i)))
		}
		if end < f.items {
			out.NextToken = fmt.Sprint(end)
		}
		json.NewEncoder(w).Encode(out)
	case "/CreateComponent":
		var in createRequest
		json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		if f.created[in.Name] {
			f.dups++
		}
		f.created[in.Name] = true
		f.mu.Unlock()
		fmt.Fprintf(w, `{"componentBuildVersionArn":"arn:aws:imagebuilder:us-east-1:111111111111:component/%s/1.0.0/1"}`, in.Name)
	default:
		http.NotFound(w, r)
	}
}

func TestListWalks(t *testing.T) {
	tests := []struct {
		items int
		want  walk
	}{
		{0, walk{1, 0}},
		{25, walk{1, 25}},
		{26, walk{2, 26}},
		{60, walk{3, 60}},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(&fakeLister{items: tt.items})
		got, err := walkAll(context.Background(), srv.URL, testSigner)
		if err != nil || got != tt.want {
			t.Errorf("walkAll over %d items = %v, %v; want %v", tt.items, got, err, tt.want)
		}
		var log walkLog
		r, err := quickGenerator(srv.URL, 3).Run(context.Background(), listComponentsScenario(&log))
		srv.Close()
		if err != nil || r.Errors != 0 {
			t.Fatalf("%d items: %+v, %v", tt.items, r, err)
		}
		n, shapes := log.summary()
		if n == 0 || len(shapes) != 1 || shapes[0] != tt.want {
			t.Errorf("%d items: %d walks, shapes %v; want only %v", tt.items, n, shapes, tt.want)
		}
	}
}

func TestSeedAndCreateNamesAreUnique(t *testing.T) {
	f := &fakeLister{created: map[string]bool{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	arns, err := seed(context.Background(), srv.URL, testSigner, 50, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range arns {
		if a == "" {
			t.Fatalf("arns[%d] is empty", i)
		}
	}
	var seq, created atomic.Int64
	r, err := quickGenerator(srv.URL, 4).Run(context.Background(), createComponentScenario("bench-create", &seq, &created))
	if err != nil || r.Errors != 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dups != 0 {
		t.Errorf("%d duplicate names", f.dups)
	}
	if want := 50 + int(created.Load()); len(f.created) != want {
		t.Errorf("server saw %d names; want %d", len(f.created), want)
	}
}

func TestStartServer(t *testing.T) {
	t.Setenv("APIBENCH_TEST_FLOOR", "1")
	s, err := benchkit.StartServer(context.Background(), "floor", filepath.Join(t.TempDir(), "floor.log"), os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL() + "/anything")
	if err != nil {
		s.Kill()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != string(floorBody) {
		t.Errorf("body %q", body)
	}
	if err := s.Stop(10 * time.Second); err != nil {
		t.Error(err)
	}
}

func TestParseConcurrency(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"1,32", "[1 32]", false},
		{"8", "[8]", false},
		{" 1 , 2 ", "[1 2]", false},
		{"", "", true},
		{"0", "", true},
		{"1,x", "", true},
		{"1,,2", "", true},
		{"5000", "", true},
	}
	for _, tt := range tests {
		got, err := parseConcurrency(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && fmt.Sprint(got) != tt.want) {
			t.Errorf("parseConcurrency(%q) = %v, %v; want %s (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestThousands(t *testing.T) {
	tests := map[float64]string{0: "0", 999: "999", 1000: "1,000", 14203.6: "14,204", 1234567: "1,234,567"}
	for in, want := range tests {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q; want %q", in, got, want)
		}
	}
}

func TestEvaluateTargets(t *testing.T) {
	results := []Result{
		{Scenario: "floor", Concurrency: 32, PerSecond: 9000},
		{Scenario: "floor, again", Concurrency: 32, PerSecond: 10000},
		{Scenario: "GetComponent", Concurrency: 32, PerSecond: 6500, P99: 3 * time.Millisecond},
		{Scenario: "ListComponents", Concurrency: 32, PerSecond: 4000, P99: 9 * time.Millisecond},
		{Scenario: "CreateComponent", Concurrency: 32, PerSecond: 1200, P99: 20 * time.Millisecond},
	}
	got := map[string]bool{}
	for _, c := range evaluateTargets(results) {
		got[c.Name] = c.OK
	}
	want := map[string]bool{
		"GetComponent ≥ 0.7× floor at concurrency 32":        false, // 0.65×
		"ListComponents ≥ 0.4× floor at concurrency 32":      true,  // exactly 0.4×
		"≥ 1,000 durable CreateComponent/s (concurrency 32)": true,
		"GetComponent p99 ≤ 10 ms at concurrency 32":         true,
		"ListComponents p99 ≤ 10 ms at concurrency 32":       true,
		"CreateComponent p99 ≤ 10 ms at concurrency 32":      false,
	}
	if f := floorFor(results, 32); f != 10000 {
		t.Errorf("floorFor = %v; want the better floor, 10000", f)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("evaluateTargets = %v; want %v", got, want)
	}
}

// BenchmarkSign is the client's per-request signing cost, which every
// scenario (the floor included) pays.
func BenchmarkSign(b *testing.B) {
	c := newCaller("http://127.0.0.1:1", nil, testSigner)
	body := createBody("bench", 1)
	for b.Loop() {
		req, _ := http.NewRequest("PUT", c.base+"/CreateComponent", nil)
		if err := c.signer.sign(context.Background(), c.v4, req, body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHasFlag checks how -store finds out whether kiln knows --store: a
// flag that merely ends in the name does not count.
func TestHasFlag(t *testing.T) {
	tests := []struct {
		name, help string
		want       bool
	}{
		{"listed", "Usage of kiln serve:\n  -region string\n  -store string\n    \tstate store URL\n", true},
		{"a bool flag, last", "Usage of kiln serve:\n  -store", true},
		{"only a longer flag", "Usage of kiln serve:\n  -blob-store string\n", false},
		{"absent", "Usage of kiln serve:\n  -region string\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kiln := filepath.Join(t.TempDir(), "kiln")
			script := "#!/bin/sh\ncat <<'END'\n" + tt.help + "\nEND\nexit 2\n"
			if err := os.WriteFile(kiln, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			if got := hasFlag(context.Background(), kiln, "store"); got != tt.want {
				t.Errorf("hasFlag = %v; want %v", got, tt.want)
			}
		})
	}
}
