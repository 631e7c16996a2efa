package console

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// registerSession adds sign-in and sign-out. Without sign-in (loopback and
// open modes) the sign-in page says so and links to the dashboard.
func (h *handler) registerSession(mux *http.ServeMux) {
	mux.HandleFunc("GET "+signinPath, h.signinForm)
	mux.HandleFunc("POST "+signinPath, h.signin)
	mux.HandleFunc("POST "+signoutPath, h.signout)
}

// SigninView is the data of signin.html.
type SigninView struct {
	Enabled     bool
	Next        string
	AccessKeyID string
	Error       string
}

func (h *handler) signinForm(w http.ResponseWriter, r *http.Request) {
	if h.SignIn && sessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "signin.html", "Sign in", "", SigninView{Enabled: h.SignIn, Next: safeNext(r.URL.Query().Get("next"))})
}

// signin checks the access key and secret in constant time against the
// loaded credentials and, on success, sets the session cookie. The answer
// to a wrong key and to a wrong secret is the same.
func (h *handler) signin(w http.ResponseWriter, r *http.Request) {
	if !h.SignIn {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	keyID := strings.TrimSpace(r.PostFormValue("accessKeyId"))
	secret := r.PostFormValue("secretAccessKey")
	next := safeNext(r.PostFormValue("next"))
	p, known := h.Principals[keyID]
	want := p.SecretAccessKey
	if !known {
		want = "\x00 no such key: compare anyway so timing says nothing"
	}
	match := subtle.ConstantTimeCompare([]byte(secret), []byte(want)) == 1
	if !known || !match || keyID == "" {
		h.render(w, r, http.StatusUnauthorized, "signin.html", "Sign in", "", SigninView{
			Enabled: true, Next: next, AccessKeyID: keyID,
			Error: "The access key ID or the secret access key is wrong.",
		})
		return
	}
	sess, value := h.sessions.issue(p.Account, p.AccessKeyID, h.Now())
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: Prefix,
		Expires: sess.Expires, MaxAge: int(h.SessionTTL.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout revokes the session and clears the cookie.
func (h *handler) signout(w http.ResponseWriter, r *http.Request) {
	if sess := sessionOf(r); sess != nil {
		h.sessions.revoke(*sess, h.Now())
		if h.SignOuts != nil {
			if err := h.SignOuts.SignOut(r.Context(), sess.ID, sess.Expires); err != nil {
				h.internal(w, r, err)
				return
			}
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	if !h.SignIn {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, signinPath, http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console: anything
// else (another host, a scheme, "//evil") goes to the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return Prefix
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
