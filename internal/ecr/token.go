package ecr

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// TokenLifetime is how long a registry password from GetAuthorizationToken
// is good for: ECR's 12 hours.
const TokenLifetime = 12 * time.Hour

// Identity is who a registry token speaks for.
type Identity struct {
	Account string // 12 digits
	ARN     string // the IAM principal, arn:aws:iam::ACCOUNT:user/NAME or :root
	// Kiln marks kiln's own engine (never issued through the API).
	Kiln bool
}

// Tokens issues and checks registry passwords. A token is
//
//	v1.<base64url(account|arn|kiln|expiry-unix)>.<base64url(HMAC-SHA256)>
//
// signed with a key derived from kiln's data-directory secret, so tokens
// survive restarts, cannot be forged without the data directory, and are
// useless to any other HMAC user of the same secret (pagination tokens).
type Tokens struct {
	key []byte
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// NewTokens derives the registry-token key from secret.
func NewTokens(secret []byte) *Tokens {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kiln ecr registry token v1"))
	return &Tokens{key: m.Sum(nil)}
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) sign(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue returns a token for id and when it expires.
func (t *Tokens) Issue(id Identity) (string, time.Time) {
	exp := t.now().Add(TokenLifetime).Truncate(time.Second)
	kiln := "0"
	if id.Kiln {
		kiln = "1"
	}
	payload := "v1." + base64.RawURLEncoding.EncodeToString([]byte(strings.Join([]string{id.Account, id.ARN, kiln, strconv.FormatInt(exp.Unix(), 10)}, "|")))
	return payload + "." + t.sign(payload), exp
}

// Errors Verify returns; the registry answers both with 401.
var (
	ErrTokenInvalid = errors.New("the registry password is not a valid kiln authorization token")
	ErrTokenExpired = errors.New("the authorization token has expired; get a new one with GetAuthorizationToken")
)

// Verify checks a token's signature and expiry and returns whom it speaks
// for.
func (t *Tokens) Verify(token string) (Identity, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !strings.HasPrefix(token, "v1.") {
		return Identity{}, ErrTokenInvalid
	}
	payload, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(t.sign(payload))) {
		return Identity{}, ErrTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload[len("v1."):])
	if err != nil {
		return Identity{}, ErrTokenInvalid
	}
	f := strings.Split(string(raw), "|")
	if len(f) != 4 || !isAccountID(f[0]) || (f[2] != "0" && f[2] != "1") {
		return Identity{}, ErrTokenInvalid
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return Identity{}, ErrTokenInvalid
	}
	if !t.now().Before(time.Unix(exp, 0)) {
		return Identity{}, ErrTokenExpired
	}
	return Identity{Account: f[0], ARN: f[1], Kiln: f[2] == "1"}, nil
}

// Password returns the authorizationToken ECR hands out: base64 of
// "AWS:" and the token, which `aws ecr get-login-password` decodes and
// prints the part after the colon of.
func Password(token string) string {
	return base64.StdEncoding.EncodeToString([]byte("AWS:" + token))
}
