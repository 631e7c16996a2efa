package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	callerctx "github.com/kiln-build/kiln/internal/caller"
)

// The session cookie. Path /console/ keeps it away from the API and the
// registry on the same listener.
const (
	sessionCookie = "kiln_console"
	signinPath    = "/console/signin"
	signoutPath   = "/console/signout"
)

// session is one sign-in: the account it acts as, the access key it was
// made with, when it ends, and a random ID that sign-out revokes and the
// CSRF token is derived from.
type session struct {
	Account string
	KeyID   string
	Expires time.Time
	ID      string // 32 hex digits
}

// sessions signs and checks session cookies. A cookie is
// base64url("v1|account|keyID|expiresUnix|id") "." base64url(HMAC-SHA256):
// stateless, so any node holding the same key accepts it. Sign-out must
// still end a session that a copy of the cookie would otherwise keep
// alive until it expires, so signed-out IDs are remembered until their
// expiry: here, and in Config.SignOuts for the other nodes.
type sessions struct {
	key []byte
	ttl time.Duration

	mu      sync.Mutex
	revoked map[string]time.Time // session ID -> its expiry
}

func newSessions(key []byte, ttl time.Duration) *sessions {
	return &sessions{key: key, ttl: ttl, revoked: map[string]time.Time{}}
}

func (s *sessions) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// issue makes a session for account and key ID, starting now.
func (s *sessions) issue(account, keyID string, now time.Time) (session, string) {
	id := make([]byte, 16)
	rand.Read(id)
	sess := session{Account: account, KeyID: keyID, Expires: now.Add(s.ttl).Truncate(time.Second), ID: hex.EncodeToString(id)}
	return sess, s.encode(sess)
}

// encode is the cookie value of sess.
func (s *sessions) encode(sess session) string {
	payload := strings.Join([]string{"v1", sess.Account, sess.KeyID, strconv.FormatInt(sess.Expires.Unix(), 10), sess.ID}, "|")
	sig := s.mac("session", payload)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

var errBadSession = errors.New("console: invalid session")

// parse checks a cookie value's signature, shape, expiry and revocation.
func (s *sessions) parse(value string, now time.Time) (session, error) {
	p64, s64, ok := strings.Cut(value, ".")
	if !ok || len(value) > 1024 {
		return session{}, errBadSession
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return session{}, errBadSession
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s64)
	if err != nil || !hmac.Equal(sig, s.mac("session", string(payload))) {
		return session{}, errBadSession
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 5 || f[0] != "v1" {
		return session{}, errBadSession
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return session{}, errBadSession
	}
	sess := session{Account: f[1], KeyID: f[2], Expires: time.Unix(exp, 0), ID: f[4]}
	if !now.Before(sess.Expires) || s.isRevoked(sess.ID) {
		return session{}, errBadSession
	}
	return sess, nil
}

// revoke ends a session ID on this node; Config.SignOuts tells the other
// nodes (see signout).
func (s *sessions) revoke(sess session, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	s.revoked[sess.ID] = sess.Expires
}

func (s *sessions) isRevoked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[id]
	return ok
}

// csrfToken is the hidden csrf input of every form for the session: an
// HMAC of its ID, so a page of another origin, which cannot read ours,
// cannot produce it. Without sign-in the "session" is the account itself.
func (s *sessions) csrfToken(sessionID string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", sessionID))
}

type requestInfo struct {
	csrf string
	sess *session // nil without sign-in
}

type infoKey struct{}

func csrfOf(r *http.Request) string {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return ri.csrf
	}
	return ""
}

func sessionOf(r *http.Request) *session {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return ri.sess
	}
	return nil
}

// crossOrigin refuses browser requests made by another site (by
// Sec-Fetch-Site or Origin against Host): the first line of CSRF defence,
// the csrf input the second.
var crossOrigin = http.NewCrossOriginProtection()

// guard runs in front of every page: it sets the security headers, decides
// the account (the configured one, or the signed-in session's), sends
// strangers to the sign-in form and checks every POST's origin and csrf
// input before any page code runs.
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(r.URL.Path, "/console/static/") {
			next.ServeHTTP(w, r)
			return
		}
		hd.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			if err := crossOrigin.Check(r); err != nil {
				http.Error(w, "refused: a cross-origin form post", http.StatusForbidden)
				return
			}
		}
		ri := &requestInfo{}
		account := h.Account
		if h.SignIn {
			sess, ok := h.currentSession(r)
			switch {
			case ok:
				ri.sess, ri.csrf, account = &sess, h.sessions.csrfToken(sess.ID), sess.Account
			case r.URL.Path == signinPath:
				// Before sign-in there is no session to derive a token
				// from; the form's token then only proves the post came
				// from a page of ours (with the origin check below).
				ri.csrf, account = h.sessions.csrfToken("signin"), ""
			case r.Method == http.MethodGet || r.Method == http.MethodHead:
				http.Redirect(w, r, signinPath+"?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			default:
				http.Error(w, "refused: not signed in", http.StatusForbidden)
				return
			}
		} else {
			ri.csrf = h.sessions.csrfToken("account " + h.Account)
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			got := r.PostFormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(got), []byte(ri.csrf)) != 1 {
				http.Error(w, "refused: the form's csrf token is missing or wrong; reload the page", http.StatusForbidden)
				return
			}
		}
		h.serveNext(w, r, next, account, ri)
	})
}

// maxFormBytes bounds a form post: the largest field is a component
// document (16,000 characters) as the API allows it, escaped.
const maxFormBytes = 256 << 10

func (h *handler) serveNext(w http.ResponseWriter, r *http.Request, next http.Handler, account string, ri *requestInfo) {
	ctx := context.WithValue(r.Context(), infoKey{}, ri)
	if account != "" {
		ctx = callerctx.WithAccount(ctx, account)
	}
	next.ServeHTTP(w, r.WithContext(ctx))
}

// currentSession is the request's valid session: signed by our key,
// unexpired, not signed out, and made with an access key that still acts
// as the same account (removing a key from the credentials file ends its
// sessions at the next restart).
func (h *handler) currentSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	sess, err := h.sessions.parse(c.Value, h.Now())
	if err != nil {
		return session{}, false
	}
	if h.SignOuts != nil {
		// Fails closed: a store that cannot say is a refused session.
		out, err := h.SignOuts.SignedOut(r.Context(), sess.ID)
		if err != nil && h.Log != nil {
			h.Log.Error("console: checking a session's sign-out", "err", err)
		}
		if out || err != nil {
			return session{}, false
		}
	}
	p, ok := h.Principals[sess.KeyID]
	if !ok || p.Account != sess.Account {
		return session{}, false
	}
	return sess, true
}
