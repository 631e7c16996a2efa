package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/server"
)

// signIn signs client in with the key and returns the session cookie.
func (c *testConsole) signIn(t *testing.T, client *http.Client, keyID, secret string) *http.Cookie {
	t.Helper()
	_, page := c.get(t, client, "/console/signin")
	resp, body := c.post(t, client, "/console/signin", url.Values{
		"csrf": {csrfFrom(t, page)}, "accessKeyId": {keyID}, "secretAccessKey": {secret}, "next": {"/console/components"},
	})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/components" {
		t.Fatalf("sign-in: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			return ck
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil
}

func TestSignIn(t *testing.T) {
	c := startConsole(t, true)
	client := newClient(t)

	resp, err := client.Get(c.URL + "/console/components?owner=Self")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin?next=%2Fconsole%2Fcomponents%3Fowner%3DSelf" {
		t.Fatalf("unsigned GET: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	_, page := c.get(t, client, "/console/signin")
	for _, w := range []string{`id="signin-form"`, `name="accessKeyId"`, `name="secretAccessKey"`} {
		if !strings.Contains(page, w) {
			t.Errorf("sign-in page lacks %s", w)
		}
	}
	for _, tt := range []struct{ key, secret string }{{"AKIAALICE", "bob-secret"}, {"AKIANOBODY", "alice-secret"}, {"", ""}, {"AKIAALICE", "alice-secreT"}} {
		resp, body := c.post(t, client, "/console/signin", url.Values{"csrf": {csrfFrom(t, page)}, "accessKeyId": {tt.key}, "secretAccessKey": {tt.secret}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "is wrong") || len(resp.Cookies()) != 0 {
			t.Errorf("%s/%s: %d %v", tt.key, tt.secret, resp.StatusCode, resp.Cookies())
		}
	}

	ck := c.signIn(t, client, "AKIAALICE", "alice-secret")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure {
		t.Errorf("cookie attributes: %+v", ck)
	}
	code, body := c.get(t, client, "/console/")
	if code != http.StatusOK || !strings.Contains(body, aliceAccount) || !strings.Contains(body, `id="signout"`) {
		t.Fatalf("signed-in dashboard: %d\n%s", code, body)
	}
}

// TestSessionRefused: a session cookie altered anywhere by one byte, an
// expired one and a signed-out one all send the browser back to sign-in.
func TestSessionRefused(t *testing.T) {
	c := startConsole(t, true)
	client := newClient(t)
	ck := c.signIn(t, client, "AKIAALICE", "alice-secret")

	with := func(value string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, c.URL+"/console/components", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		resp, err := newClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := with(ck.Value); code != http.StatusOK {
		t.Fatalf("the cookie itself: %d", code)
	}
	for i := 0; i < len(ck.Value); i++ {
		b := []byte(ck.Value)
		b[i] ^= 0x01
		if code := with(string(b)); code != http.StatusSeeOther {
			t.Fatalf("byte %d altered (%q): %d, want a redirect to sign-in", i, b, code)
		}
	}

	// Another node sharing the key and the store accepts the session.
	other, err := New(Config{
		API: &server.Server{}, SignIn: true, Principals: testPrincipals, Region: "us-east-1",
		SessionKey: []byte(strings.Repeat("k", 32)), SignOuts: StoreSignOuts{Store: c.store, Region: "us-east-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	onOther := func() int {
		req := httptest.NewRequest(http.MethodGet, "/console/", nil)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		other.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := onOther(); code != http.StatusOK {
		t.Fatalf("the session on another node: %d", code)
	}

	// Signed out: the cookie's copy no longer works on this node, nor on
	// the other one.
	_, page := c.get(t, client, "/console/")
	resp, _ := c.post(t, client, "/console/signout", url.Values{"csrf": {csrfFrom(t, page)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != signinPath {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := with(ck.Value); code != http.StatusSeeOther {
		t.Errorf("signed-out cookie: %d, want a redirect to sign-in", code)
	}
	if code := onOther(); code != http.StatusSeeOther {
		t.Errorf("signed-out cookie on another node: %d, want a redirect to sign-in", code)
	}
	if code, _ := c.get(t, client, "/console/"); code != http.StatusSeeOther {
		t.Errorf("after sign-out the browser still gets %d", code)
	}
}

func TestSessionExpiry(t *testing.T) {
	s := newSessions([]byte(strings.Repeat("k", 32)), time.Hour)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sess, v := s.issue(aliceAccount, "AKIAALICE", now)
	for _, tt := range []struct {
		at time.Time
		ok bool
	}{{now, true}, {now.Add(59 * time.Minute), true}, {now.Add(time.Hour), false}, {now.Add(48 * time.Hour), false}} {
		got, err := s.parse(v, tt.at)
		if (err == nil) != tt.ok || (tt.ok && (got.ID != sess.ID || got.Account != sess.Account || !got.Expires.Equal(sess.Expires))) {
			t.Errorf("at %s: %+v %v, want ok=%v", tt.at, got, err, tt.ok)
		}
	}
	other := newSessions([]byte(strings.Repeat("x", 32)), time.Hour)
	if _, err := other.parse(v, now); err == nil {
		t.Error("a session signed with another key was accepted")
	}
}

// TestCSRF: a form post without the page's csrf token, with another
// session's token, or from another origin is refused and changes nothing.
func TestCSRF(t *testing.T) {
	c := startConsole(t, true)
	alice, bob := newClient(t), newClient(t)
	c.signIn(t, alice, "AKIAALICE", "alice-secret")
	c.signIn(t, bob, "AKIABOB", "bob-secret")
	_, alicePage := c.get(t, alice, "/console/components/new")
	_, bobPage := c.get(t, bob, "/console/components/new")
	aliceToken, bobToken := csrfFrom(t, alicePage), csrfFrom(t, bobPage)
	if aliceToken == bobToken {
		t.Fatal("two sessions share a csrf token")
	}
	form := func(token string) url.Values {
		return url.Values{"csrf": {token}, "name": {"forged"}, "semanticVersion": {"1.0.0"}, "platform": {"Linux"},
			"data": {helloDocument}, "clientToken": {"0123456789abcdef"}}
	}
	for _, tt := range []struct {
		name   string
		token  string
		origin string
	}{
		{"no token", "", ""},
		{"another session's token", bobToken, ""},
		{"a token one byte off", offByOne(aliceToken), ""},
		{"another origin", aliceToken, "http://evil.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, c.URL+"/console/components/new", strings.NewReader(form(tt.token).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
				req.Header.Set("Sec-Fetch-Site", "cross-site")
			}
			resp, err := alice.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	if _, body := c.get(t, alice, "/console/components"); strings.Contains(body, "forged") {
		t.Error("a refused form created a component")
	}
	// The page's own token works.
	if resp, body := c.post(t, alice, "/console/components/new", form(aliceToken)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("genuine post: %d\n%s", resp.StatusCode, body)
	}
}

// TestAccountsApart: bob never sees the names alice created, on any page.
func TestAccountsApart(t *testing.T) {
	c := startConsole(t, true)
	alice, bob := newClient(t), newClient(t)
	c.signIn(t, alice, "AKIAALICE", "alice-secret")
	c.signIn(t, bob, "AKIABOB", "bob-secret")
	_, page := c.get(t, alice, "/console/components/new")
	resp, body := c.post(t, alice, "/console/components/new", url.Values{"csrf": {csrfFrom(t, page)}, "name": {"alice-secret-component"},
		"semanticVersion": {"1.0.0"}, "platform": {"Linux"}, "data": {helloDocument}, "clientToken": {"0123456789abcdef"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	view := resp.Header.Get("Location")
	if code, body := c.get(t, alice, view); code != http.StatusOK || !strings.Contains(body, "alice-secret-component") {
		t.Fatalf("alice's view: %d", code)
	}
	// Alice's page, asked for by its URL, answers bob as the API does: no
	// such resource (the ARN in the message is bob's own request).
	if code, body := c.get(t, bob, view); code != http.StatusNotFound || !strings.Contains(body, "ResourceNotFoundException") {
		t.Errorf("bob asking for alice's component: %d\n%s", code, body)
	}
	for _, path := range []string{"/console/", "/console/components", "/console/components?owner=Shared"} {
		_, body := c.get(t, bob, path)
		if strings.Contains(body, "alice-secret-component") || strings.Contains(body, aliceAccount) {
			t.Errorf("bob sees alice's names on %s:\n%s", path, body)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/components":     "/console/components",
		"/console/x?y=1":          "/console/x?y=1",
		"":                        "/console/",
		"https://evil.example/":   "/console/",
		"//evil.example/console/": "/console/",
		"/console/\\evil":         "/console/",
		"/v2/":                    "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSessionParse: no cookie value makes parse panic, and a value is
// accepted only when it is exactly what encode makes of the session it
// parses to (so it carries our signature; the fuzzer cannot forge one).
func FuzzSessionParse(f *testing.F) {
	s := newSessions([]byte(strings.Repeat("k", 32)), time.Hour)
	now := time.Unix(1_800_000_000, 0)
	_, v := s.issue(aliceAccount, "AKIAALICE", now)
	f.Add(v)
	f.Add("")
	f.Add(".")
	f.Add("djF8fHx8.AAAA")
	f.Fuzz(func(t *testing.T, value string) {
		sess, err := s.parse(value, now)
		if err == nil && s.encode(sess) != value {
			t.Fatalf("accepted %q as %+v", value, sess)
		}
	})
}

// TestSignInForm: the sign-in post itself needs the form's token.
func TestSignInForm(t *testing.T) {
	c := startConsole(t, true)
	client := newClient(t)
	resp, _ := c.post(t, client, "/console/signin", url.Values{"accessKeyId": {"AKIAALICE"}, "secretAccessKey": {"alice-secret"}})
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in without the form's token: %d %v", resp.StatusCode, resp.Cookies())
	}
	c.signIn(t, client, "AKIAALICE", "alice-secret")
}

// offByOne is s with its last character changed.
func offByOne(s string) string {
	last := "A"
	if strings.HasSuffix(s, "A") {
		last = "B"
	}
	return s[:len(s)-1] + last
}

// TestSessionAcrossNodes: a console given the same session key (another
// kiln node on the same store) accepts the cookie; one with another key
// does not.
func TestSessionAcrossNodes(t *testing.T) {
	c := startConsole(t, true)
	ck := c.signIn(t, newClient(t), "AKIAALICE", "alice-secret")
	for _, tt := range []struct {
		key  string
		want int
	}{{strings.Repeat("k", 32), http.StatusOK}, {strings.Repeat("o", 32), http.StatusSeeOther}} {
		h, err := New(Config{API: &server.Server{}, SignIn: true, Principals: testPrincipals, SessionKey: []byte(tt.key)})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/console/", nil)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Code
		if got != tt.want {
			t.Errorf("key %q: %d %s", tt.key[:1], rec.Code, rec.Header().Get("Location"))
		}
	}
}

// TestSecureCookieUnderTLS: over TLS the session cookie is Secure.
func TestSecureCookieUnderTLS(t *testing.T) {
	c := startConsoleWith(t, true, true)
	ck := c.signIn(t, c.client, "AKIAALICE", "alice-secret")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie over TLS: %+v", ck)
	}
	if code, body := c.get(t, c.client, "/console/"); code != http.StatusOK || !strings.Contains(body, aliceAccount) {
		t.Errorf("signed in over TLS: %d", code)
	}
}
