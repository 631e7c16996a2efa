package sigv4

import (
	"strings"
)

// authorization is a parsed Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/imagebuilder/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// Strings point into the header value.
type authorization struct {
	accessKeyID   string
	scope         string // date/region/service/terminator, as signed
	date          string // yyyymmdd
	region        string
	service       string
	terminator    string
	signedHeaders string // "a;b;c" as sent; it is signed verbatim
	signature     [32]byte
}

// parseAuthorization parses an Authorization header fully, so that even
// the modes that skip signature checks only accept well-formed requests.
// hasDate says whether the request carries X-Amz-Date, whose absence AWS
// reports together with missing header parameters.
func parseAuthorization(h string, hasDate bool) (authorization, error) {
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	if alg != Algorithm {
		return authorization{}, incomplete("Unsupported AWS 'algorithm': '%s'. Only '%s' is accepted.", alg, Algorithm)
	}
	var credential, signedHeaders, signature string
	var haveCredential, haveSignedHeaders, haveSignature bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return authorization{}, incomplete("'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, h)
		}
		var dst *string
		var seen *bool
		switch key {
		case "Credential":
			dst, seen = &credential, &haveCredential
		case "SignedHeaders":
			dst, seen = &signedHeaders, &haveSignedHeaders
		case "Signature":
			dst, seen = &signature, &haveSignature
		default:
			continue // AWS ignores parameters it does not know
		}
		if *seen {
			return authorization{}, incomplete("Authorization header has more than one '%s' parameter.", key)
		}
		*dst, *seen = value, true
	}

	var missing strings.Builder
	if !haveCredential {
		missing.WriteString("Authorization header requires 'Credential' parameter. ")
	}
	if !haveSignature {
		missing.WriteString("Authorization header requires 'Signature' parameter. ")
	}
	if !haveSignedHeaders {
		missing.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
	}
	if !hasDate {
		missing.WriteString("Authorization header requires existence of a 'X-Amz-Date' header. ")
	}
	if missing.Len() > 0 {
		missing.WriteString("Authorization=")
		missing.WriteString(h)
		return authorization{}, incomplete("%s", missing.String())
	}

	var a authorization
	var ok bool
	a.accessKeyID, a.scope, ok = strings.Cut(credential, "/")
	var parts [4]string
	rest = a.scope
	for i := range parts {
		parts[i], rest, _ = strings.Cut(rest, "/")
		ok = ok && parts[i] != ""
	}
	if !ok || a.accessKeyID == "" || strings.Count(a.scope, "/") != 3 {
		return authorization{}, incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", credential)
	}
	a.date, a.region, a.service, a.terminator = parts[0], parts[1], parts[2], parts[3]

	if signedHeaders == "" {
		return authorization{}, incomplete("Authorization header requires 'SignedHeaders' parameter with at least one header. Authorization=%s", h)
	}
	var hasHost, hasAmzDate bool
	for name := range strings.SplitSeq(signedHeaders, ";") {
		switch name {
		case "":
			return authorization{}, incomplete("SignedHeaders '%s' has an empty header name.", signedHeaders)
		case "host":
			hasHost = true
		case "x-amz-date":
			hasAmzDate = true
		}
	}
	if !hasHost {
		return authorization{}, incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !hasAmzDate {
		return authorization{}, incomplete("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}
	a.signedHeaders = signedHeaders

	if a.signature, ok = decodeHash(signature); !ok {
		return authorization{}, incomplete("Signature must be 64 hexadecimal characters, got '%s'.", signature)
	}
	return a, nil
}

// decodeHash decodes 64 hex digits (either case) without allocating.
func decodeHash(s string) (h [32]byte, ok bool) {
	if len(s) != 2*len(h) {
		return h, false
	}
	for i := range h {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return h, false
		}
		h[i] = hi<<4 | lo
	}
	return h, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkScope checks the credential scope against the service and the
// request date; the region is checked by the caller, which knows the mode.
func (a authorization) checkScope(service, amzDate string) error {
	if a.terminator != "aws4_request" {
		return invalidSignature("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", a.terminator)
	}
	if a.service != service {
		return invalidSignature("Credential should be scoped to correct service: '%s'. ", service)
	}
	if a.date != amzDate[:8] {
		return invalidSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate)
	}
	return nil
}
