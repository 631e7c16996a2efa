package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

// testConsole is the console in front of the real service on a fresh
// SQLite store, served by httptest.
type testConsole struct {
	URL     string
	srv     *httptest.Server
	client  *http.Client
	store   store.Store
	dataDir string
	api     *server.Server // the API's handlers, for a test's own calls
}

const (
	aliceAccount = "111111111111"
	bobAccount   = "222222222222"
)

var testPrincipals = map[string]sigv4.Principal{
	"AKIAALICE": {AccessKeyID: "AKIAALICE", SecretAccessKey: "alice-secret", Account: aliceAccount, Name: "alice"},
	"AKIABOB":   {AccessKeyID: "AKIABOB", SecretAccessKey: "bob-secret", Account: bobAccount, Name: "bob"},
}

func startConsole(t *testing.T, signIn bool) *testConsole {
	t.Helper()
	return startConsoleWith(t, signIn, false)
}

// startConsoleWith is startConsole, served over TLS when tls is set.
func startConsoleWith(t *testing.T, signIn, tls bool) *testConsole {
	t.Helper()
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := &service.Service{Store: st, Partition: "aws", Region: "us-east-1", TokenKey: []byte("test-key-test-key-test-key-test!")}
	if err := svc.SeedCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	handlers := map[string]server.HandlerFunc{}
	for name, h := range svc.Handlers() {
		handlers[name] = server.HandlerFunc(h)
	}
	api := &server.Server{Handlers: handlers}
	h, err := New(Config{
		API: api, Account: "000000000000", SignIn: signIn, Principals: testPrincipals,
		SessionKey: []byte(strings.Repeat("k", 32)), Region: "us-east-1",
		SignOuts: StoreSignOuts{Store: st, Region: "us-east-1"},
		AMIs:     &ami.Catalogue{Store: st, Home: "us-east-1", DataDir: dataDir},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, h)
	hs := httptest.NewUnstartedServer(mux)
	client := newClient(t)
	if tls {
		hs.StartTLS()
		client.Transport = hs.Client().Transport
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	return &testConsole{URL: hs.URL, srv: hs, client: client, store: st, dataDir: dataDir, api: api}
}

// newClient is a browser-like client: a cookie jar, no automatic
// redirects (tests look at them).
func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches path and returns the status and body.
func (c *testConsole) get(t *testing.T, client *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := client.Get(c.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post submits a form as a same-origin browser would (Origin header set).
func (c *testConsole) post(t *testing.T, client *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.URL)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfFrom reads the csrf token out of a page.
func csrfFrom(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf input in page:\n%s", page)
	}
	return m[1]
}

func TestPagesRender(t *testing.T) {
	c := startConsole(t, false)
	for _, path := range []string{"/console/", "/console/components", "/console/components?owner=Amazon",
		"/console/components/new", "/console/components/validate", "/console/signin"} {
		code, body := c.get(t, c.client, path)
		if code != http.StatusOK || !strings.Contains(body, "<h1>") || !strings.Contains(body, `<a class="skip" href="#main">`) ||
			!strings.Contains(body, `<link rel="icon" href="/console/static/favicon.svg"`) {
			t.Errorf("GET %s: %d\n%s", path, code, body)
		}
	}
	for _, path := range []string{"/console/static/console.css", "/console/static/console.js", "/console/static/favicon.svg"} {
		if code, _ := c.get(t, c.client, path); code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}
