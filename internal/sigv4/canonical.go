package sigv4

import (
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// appendCanonicalRequest appends the SigV4 canonical request of r:
//
//	METHOD \n URI \n QUERY \n NAME:VALUE \n ... \n \n SIGNED-HEADERS \n PAYLOAD-HASH
func appendCanonicalRequest(b []byte, s *scratch, r *http.Request, signedHeaders, payloadHash string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, wirePath(r))
	b = append(b, '\n')
	b = appendCanonicalQuery(b, s, r.URL.RawQuery)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, signedHeaders)
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b
}

// wirePath returns the request path exactly as the client sent it, still
// percent-encoded: the client signed the encoded form, and decoding then
// re-encoding would lose the difference between "%2F" and "/". On the server
// that is the request target; for requests built in-process it is the URL's
// escaped path, which is also what an HTTP client would send.
func wirePath(r *http.Request) string {
	p := r.RequestURI
	if strings.HasPrefix(p, "/") {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
	} else {
		p = r.URL.EscapedPath()
	}
	if p == "" {
		p = "/"
	}
	return p
}

// appendCanonicalURI URI-encodes the (already encoded) path once more, as
// SigV4 requires for every service but S3: "%3A" is signed as "%253A".
// Slashes separate segments and stay as they are.
func appendCanonicalURI(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '/' || unreserved(c) {
			b = append(b, c)
		} else {
			b = appendPercent(b, c)
		}
	}
	return b
}

// queryPair locates one encoded key and value in scratch.query.
type queryPair struct{ k0, k1, v0, v1 int }

// appendCanonicalQuery appends the canonical query string: every parameter
// decoded as Go's url.ParseQuery decodes it ('+' is a space; parameters with
// a bad escape or a ';' are dropped, as they are from the url.Values the Go
// SDK signs), then RFC 3986-encoded, then sorted by key and value. Repeated
// keys (tagKeys=a&tagKeys=b) are kept.
func appendCanonicalQuery(b []byte, s *scratch, raw string) []byte {
	if raw == "" {
		return b
	}
	q := s.query[:0]
	pairs := s.pairs[:0]
	for raw != "" {
		var param string
		param, raw, _ = strings.Cut(raw, "&")
		if param == "" || strings.IndexByte(param, ';') >= 0 {
			continue
		}
		key, value, _ := strings.Cut(param, "=")
		var p queryPair
		var ok1, ok2 bool
		p.k0 = len(q)
		q, ok1 = appendRecoded(q, key)
		p.k1, p.v0 = len(q), len(q)
		q, ok2 = appendRecoded(q, value)
		p.v1 = len(q)
		if !ok1 || !ok2 {
			q = q[:p.k0]
			continue
		}
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(x, y queryPair) int {
		if c := bytes.Compare(q[x.k0:x.k1], q[y.k0:y.k1]); c != 0 {
			return c
		}
		return bytes.Compare(q[x.v0:x.v1], q[y.v0:y.v1])
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, q[p.k0:p.k1]...)
		b = append(b, '=')
		b = append(b, q[p.v0:p.v1]...)
	}
	s.query, s.pairs = q, pairs
	return b
}

// appendRecoded decodes one query component and appends its RFC 3986
// encoding in a single pass. ok is false for a malformed escape.
func appendRecoded(b []byte, s string) (_ []byte, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return b, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return b, false
			}
			c = hi<<4 | lo
			i += 2
		case c == '+':
			c = ' '
		}
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = appendPercent(b, c)
		}
	}
	return b, true
}

// appendCanonicalHeaders appends "name:value\n" for each signed header, in
// the order the client listed them (sorted, by every signer). Values are
// trimmed, runs of spaces become one, and repeated headers are joined with
// commas. Go's server keeps some headers out of r.Header, so those are
// rebuilt: Host from r.Host, Content-Length from r.ContentLength,
// Transfer-Encoding from r.TransferEncoding.
func appendCanonicalHeaders(b []byte, r *http.Request, signedHeaders string) []byte {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			b = appendHeaderValue(b, host)
		default:
			values := r.Header[canonicalHeaderKey(name)]
			switch {
			case len(values) > 0:
				for i, v := range values {
					if i > 0 {
						b = append(b, ',')
					}
					b = appendHeaderValue(b, v)
				}
			case name == "content-length" && r.ContentLength > 0:
				b = strconv.AppendInt(b, r.ContentLength, 10)
			case name == "transfer-encoding" && len(r.TransferEncoding) > 0:
				b = append(b, strings.Join(r.TransferEncoding, ",")...)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// appendHeaderValue appends v trimmed of surrounding whitespace with inner
// runs of spaces collapsed to one.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// commonHeaders maps the lowercase names SDKs sign to the canonical form Go
// stores them under, sparing an allocation per header per request.
var commonHeaders = map[string]string{
	"content-type":          "Content-Type",
	"content-length":        "Content-Length",
	"content-encoding":      "Content-Encoding",
	"x-amz-date":            "X-Amz-Date",
	"x-amz-security-token":  "X-Amz-Security-Token",
	"x-amz-content-sha256":  "X-Amz-Content-Sha256",
	"x-amz-user-agent":      "X-Amz-User-Agent",
	"x-amz-target":          "X-Amz-Target",
	"amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id",
	"amz-sdk-request":       "Amz-Sdk-Request",
	"accept":                "Accept",
	"accept-encoding":       "Accept-Encoding",
	"user-agent":            "User-Agent",
}

func canonicalHeaderKey(lower string) string {
	if k, ok := commonHeaders[lower]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(lower)
}

// unreserved reports whether c is in RFC 3986's unreserved set, the only
// bytes SigV4 leaves unencoded.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func appendPercent(b []byte, c byte) []byte {
	const hexUpper = "0123456789ABCDEF"
	return append(b, '%', hexUpper[c>>4], hexUpper[c&15])
}
