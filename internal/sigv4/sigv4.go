// Package sigv4 verifies AWS Signature Version 4 on requests to kiln's Image
// Builder API and maps the signing access key to the account the request
// acts as.
//
// Only header authentication (the Authorization header, as every AWS SDK and
// the AWS CLI send it for Image Builder) is supported. The canonical request
// is rebuilt the way the SDKs build it for non-S3 services: the path as sent
// on the wire, URI-encoded a second time; the query decoded, RFC 3986-encoded
// and sorted; the signed headers with trimmed values; and the SHA-256 of the
// body the server received.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// DefaultMaxSkew is the clock skew tolerated when Verifier.MaxSkew is zero:
// the 15 minutes AWS allows.
const DefaultMaxSkew = 15 * time.Minute

// DefaultService is the signing name of Image Builder.
const DefaultService = "imagebuilder"

// amzDateLayout is the ISO 8601 basic format of X-Amz-Date.
const amzDateLayout = "20060102T150405Z"

// Error codes, as AWS JSON services return them.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
)

// Error is an authentication failure, ready to be rendered as an AWS error
// response: Code goes in X-Amzn-ErrorType, Message in the body, Status is
// the HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func incomplete(format string, args ...any) *Error {
	return &Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func invalidSignature(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidSignature, Message: fmt.Sprintf(format, args...), Status: http.StatusForbidden}
}

var (
	errMissingToken = &Error{
		Code:    CodeMissingAuthenticationToken,
		Message: "Missing Authentication Token",
		Status:  http.StatusForbidden,
	}
	errUnrecognizedClient = &Error{
		Code:    CodeUnrecognizedClient,
		Message: "The security token included in the request is invalid.",
		Status:  http.StatusForbidden,
	}
	errUnsignedPayload = &Error{
		Code:    CodeInvalidSignature,
		Message: "UNSIGNED-PAYLOAD is not accepted by this service: sign the SHA-256 of the request body (every AWS SDK does by default).",
		Status:  http.StatusForbidden,
	}
	errSignatureMismatch = &Error{
		Code:    CodeInvalidSignature,
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
		Status:  http.StatusForbidden,
	}
)

// Mode says how much of a signature is checked.
type Mode int

const (
	// ModeLoopback accepts any well-formed signature: the Authorization
	// header must parse and be scoped to the right service, but the
	// signature itself, the key and the clock are not checked. It is the
	// default on loopback addresses, where every local user could read the
	// server's data directory anyway.
	ModeLoopback Mode = iota
	// ModeStrict verifies the signature against Principals.
	ModeStrict
	// ModeOpen is ModeLoopback's semantics on any address; the operator
	// must ask for it explicitly.
	ModeOpen
)

var modeNames = [...]string{ModeLoopback: "loopback", ModeStrict: "strict", ModeOpen: "open"}

// String returns the mode's flag spelling.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Caller is who signed a request.
type Caller struct {
	Account     string
	AccessKeyID string
}

// Verifier checks request signatures. Set its fields before the first
// Verify and do not copy it afterwards; Verify is safe for concurrent use.
type Verifier struct {
	Mode Mode
	// Service is the signing name a credential scope must carry;
	// DefaultService when empty.
	Service string
	// Region is the region the server impersonates. In ModeStrict a
	// credential scoped to another region is rejected; the other modes
	// accept any region.
	Region string
	// Principals maps access key IDs to their principals.
	Principals map[string]Principal
	// DefaultAccount is the account of requests signed with keys not in
	// Principals (ModeLoopback and ModeOpen only).
	DefaultAccount string
	// MaxSkew is how far X-Amz-Date may be from Now (ModeStrict only);
	// DefaultMaxSkew when zero.
	MaxSkew time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time

	keys keyCache
}

// Verify checks the signature of r, whose body has already been read into
// body, and returns the caller. Errors are always *Error. It is Begin and
// Finish in one call, for requests whose body is already in hand (or has
// none).
//
// A request may carry X-Amz-Security-Token (temporary credentials); kiln has
// no token service, so the token is not checked: in ModeStrict the signature
// made with the principal's secret key is what authenticates the request.
func (v *Verifier) Verify(r *http.Request, body []byte) (Caller, error) {
	p, err := v.Begin(r)
	if err != nil {
		return Caller{}, err
	}
	return p.Finish(body)
}

// Pending is a request whose headers passed Begin and whose body is yet to
// be checked by Finish.
type Pending struct {
	v       *Verifier
	r       *http.Request
	a       authorization
	amzDate string
	caller  Caller
	key     []byte // the signing key (ModeStrict only)
	// claimed is the X-Amz-Content-Sha256 the client sent, decoded; when
	// hasClaim, the signature has already been checked over it.
	claimed  [32]byte
	hasClaim bool
}

// Begin checks everything about r that does not need its body: the
// Authorization header, the scope, and in ModeStrict the region, the key,
// the clock and, when the client sent X-Amz-Content-Sha256, the signature
// itself over that claimed hash. A server calls it before reading a byte of
// the body, so a stranger's body is never buffered: under ModeStrict a
// request from an unknown key, with a stale date or (when the payload hash
// is claimed) a wrong signature is refused with the body unread. Most
// non-S3 clients do not send the header; their signature can only be
// checked by Finish, once the body is read, but the key must still be
// known before it is.
//
// UNSIGNED-PAYLOAD is refused in every mode: the API's bodies are small
// and every SDK signs them, so a request that opts out of payload signing
// is either a misconfigured client or one whose body could be swapped in
// flight.
func (v *Verifier) Begin(r *http.Request) (*Pending, error) {
	authz := headerValue(r.Header, "Authorization")
	if authz == "" {
		if r.URL != nil && strings.Contains(r.URL.RawQuery, "X-Amz-Algorithm=") {
			return nil, incomplete("Query-string (presigned URL) authentication is not supported; sign the Authorization header instead.")
		}
		return nil, errMissingToken
	}
	amzDate := headerValue(r.Header, "X-Amz-Date")
	a, err := parseAuthorization(authz, amzDate != "")
	if err != nil {
		return nil, err
	}
	signedAt, err := parseAmzDate(amzDate)
	if err != nil {
		return nil, err
	}
	service := v.Service
	if service == "" {
		service = DefaultService
	}
	if err := a.checkScope(service, amzDate); err != nil {
		return nil, err
	}
	p := &Pending{v: v, r: r, a: a, amzDate: amzDate}
	switch claimed := headerValue(r.Header, "X-Amz-Content-Sha256"); {
	case claimed == "UNSIGNED-PAYLOAD":
		return nil, errUnsignedPayload
	case claimed != "":
		if p.claimed, p.hasClaim = decodeHash(claimed); !p.hasClaim {
			return nil, invalidSignature("The provided 'x-amz-content-sha256' header is not a hex SHA-256 digest.")
		}
	}

	if v.Mode != ModeStrict {
		p.caller = Caller{Account: v.DefaultAccount, AccessKeyID: a.accessKeyID}
		if pr, ok := v.Principals[a.accessKeyID]; ok {
			p.caller.Account = pr.Account
		}
		return p, nil
	}

	if a.region != v.Region {
		return nil, invalidSignature("Credential should be scoped to a valid region. ")
	}
	pr, ok := v.Principals[a.accessKeyID]
	if !ok {
		return nil, errUnrecognizedClient
	}
	if err := v.checkSkew(signedAt, amzDate); err != nil {
		return nil, err
	}
	p.key = v.keys.get(pr.AccessKeyID, pr.SecretAccessKey, a.date, a.region, a.service)
	p.caller = Caller{Account: pr.Account, AccessKeyID: pr.AccessKeyID}
	if p.hasClaim && !signatureMatches(r, a, amzDate, hex.EncodeToString(p.claimed[:]), p.key) {
		return nil, errSignatureMismatch
	}
	return p, nil
}

// Caller is who the request claims to come from; under ModeStrict it is
// only proven once Finish succeeds.
func (p *Pending) Caller() Caller { return p.caller }

// Finish checks the body against the signature and returns the caller.
// With a claimed payload hash (already covered by the signature) the body
// must hash to it; without one the signature is checked over the body's
// hash now. Outside ModeStrict nothing more is checked.
func (p *Pending) Finish(body []byte) (Caller, error) {
	if p.v.Mode != ModeStrict {
		return p.caller, nil
	}
	return p.FinishSum(sha256.Sum256(body))
}

// FinishSum is Finish for a body that was streamed rather than held: sum
// is the SHA-256 of every byte of it, computed while it was read (an
// upload spooled to disk, say). It checks exactly what Finish checks.
func (p *Pending) FinishSum(sum [32]byte) (Caller, error) {
	if p.v.Mode != ModeStrict {
		return p.caller, nil
	}
	if p.hasClaim {
		if sum != p.claimed {
			return Caller{}, invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		return p.caller, nil
	}
	if !signatureMatches(p.r, p.a, p.amzDate, hex.EncodeToString(sum[:]), p.key) {
		return Caller{}, errSignatureMismatch
	}
	return p.caller, nil
}

// headerValue returns the first value of a header whose canonical name is
// given, without the allocation of http.Header.Get's key canonicalisation.
func headerValue(h http.Header, canonicalName string) string {
	if v := h[canonicalName]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseAmzDate(s string) (time.Time, error) {
	ok := len(s) == len(amzDateLayout)
	for i := 0; ok && i < len(s); i++ {
		switch i {
		case 8:
			ok = s[i] == 'T'
		case 15:
			ok = s[i] == 'Z'
		default:
			ok = '0' <= s[i] && s[i] <= '9'
		}
	}
	var t time.Time
	if ok {
		var err error
		t, err = time.Parse(amzDateLayout, s)
		ok = err == nil
	}
	if !ok {
		return time.Time{}, incomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s)
	}
	return t, nil
}

// checkSkew rejects a signing time too far from now, in the words AWS uses.
func (v *Verifier) checkSkew(signedAt time.Time, amzDate string) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	t := now().UTC()
	switch {
	case signedAt.Before(t.Add(-skew)):
		return invalidSignature("Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, t.Add(-skew).Format(amzDateLayout), t.Format(amzDateLayout), formatSkew(skew))
	case signedAt.After(t.Add(skew)):
		return invalidSignature("Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, t.Add(skew).Format(amzDateLayout), t.Format(amzDateLayout), formatSkew(skew))
	}
	return nil
}

func formatSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

func signatureMatches(r *http.Request, a authorization, amzDate, payloadHash string, key []byte) bool {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)

	s.buf = appendCanonicalRequest(s.buf[:0], s, r, a.signedHeaders, payloadHash)
	requestHash := sha256.Sum256(s.buf)

	sts := s.buf[:0]
	sts = append(sts, Algorithm+"\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, a.scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, requestHash[:])
	s.buf = sts

	mac := hmac.New(sha256.New, key)
	mac.Write(sts)
	var want [sha256.Size]byte
	mac.Sum(want[:0])
	return hmac.Equal(want[:], a.signature[:])
}

// scratch holds the buffers one verification needs, reused across requests.
type scratch struct {
	buf   []byte      // canonical request, then string to sign
	query []byte      // encoded query keys and values
	pairs []queryPair // offsets into query
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024)} }}

// keyCache remembers derived signing keys. A key depends on the secret, the
// day, the region and the service, so one entry serves a client for a day;
// the cache is emptied when it grows past maxKeys, which only happens when
// many keys are in use at once.
type keyCache struct {
	mu   sync.Mutex
	keys map[keyCacheKey][]byte
}

type keyCacheKey struct {
	accessKeyID, secret, date, region, service string
}

const maxKeys = 1024

func (c *keyCache) get(accessKeyID, secret, date, region, service string) []byte {
	k := keyCacheKey{accessKeyID, secret, date, region, service}
	c.mu.Lock()
	key, ok := c.keys[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = deriveKey(secret, date, region, service)
	// Clone the strings that point into request headers, so the cache does
	// not keep whole requests alive.
	k = keyCacheKey{strings.Clone(accessKeyID), secret, strings.Clone(date), strings.Clone(region), strings.Clone(service)}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxKeys {
		c.keys = make(map[keyCacheKey][]byte)
	}
	c.keys[k] = key
	c.mu.Unlock()
	return key
}

// deriveKey computes the SigV4 signing key
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveKey(secret, date, region, service string) []byte {
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	return hmacSHA256(key, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}
