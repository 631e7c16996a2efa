package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"regexp"
	"strconv"
	"strings"
)

// maxNameLength bounds a repository name. The distribution spec bounds the
// name including the registry's host name at 255 characters; with no host
// name to subtract we apply the bound to the path alone.
const maxNameLength = 255

// nameComponent is one slash-separated part of a repository name, per the
// OCI distribution spec: lower-case alphanumerics joined by single '.' or
// '_', a double '__', or any run of '-'. Names can therefore never hold
// "..", a leading '_' or an empty part, which is what lets the store use
// them as relative paths and keep its own bookkeeping in "_"-prefixed
// directories beside them.
var nameComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// tagPattern is the spec's tag grammar.
var tagPattern = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// ValidName reports whether name is a repository name the registry accepts,
// such as "team/app" or "a/b/c".
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLength {
		return false
	}
	for part := range strings.SplitSeq(name, "/") {
		if !nameComponent.MatchString(part) {
			return false
		}
	}
	return true
}

// ValidTag reports whether tag is a tag the registry accepts.
func ValidTag(tag string) bool { return tagPattern.MatchString(tag) }

// Digest is a parsed content digest "algorithm:hex".
type Digest struct {
	Algorithm string // "sha256" or "sha512"
	Hex       string // lower-case hex of the right length
}

// String returns the digest in its "algorithm:hex" form.
func (d Digest) String() string { return d.Algorithm + ":" + d.Hex }

// newHash returns a fresh hash of the digest's algorithm.
func (d Digest) newHash() hash.Hash {
	if d.Algorithm == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

// hexLengths lists the digest algorithms the store understands: the two
// registered in the OCI image spec. Anything else is DIGEST_INVALID, since
// the registry could not verify content against it.
var hexLengths = map[string]int{"sha256": 64, "sha512": 128}

// ParseDigest parses "sha256:<64 hex>" or "sha512:<128 hex>". Upper-case
// hex is rejected: the image spec requires lower case, and accepting both
// would let one blob have two names.
func ParseDigest(s string) (Digest, bool) {
	alg, hexPart, ok := strings.Cut(s, ":")
	if !ok {
		return Digest{}, false
	}
	n, known := hexLengths[alg]
	if !known || len(hexPart) != n {
		return Digest{}, false
	}
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return Digest{}, false
		}
	}
	return Digest{Algorithm: alg, Hex: hexPart}, true
}

// sha256Digest returns the sha256 digest of b.
func sha256Digest(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest{Algorithm: "sha256", Hex: hexString(sum[:])}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = digits[c>>4]
		out[2*i+1] = digits[c&0x0f]
	}
	return string(out)
}

// parseContentRange parses the Content-Range of a chunked upload, which
// the distribution spec writes as "<start>-<end>" (inclusive end). Clients
// that follow RFC 9110 instead send "bytes <start>-<end>/<total>" (and some
// "bytes=<start>-<end>"), so the "bytes" prefix and a "/total" suffix are
// accepted and the total ignored.
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimSpace(s)
	if rest, found := strings.CutPrefix(s, "bytes"); found {
		rest = strings.TrimLeft(rest, " =")
		s = rest
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := parseOffset(a)
	end, err2 := parseOffset(b)
	if !err1 || !err2 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// parseOffset parses a non-negative decimal without signs or spaces.
func parseOffset(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// route is one request path under /v2/, taken apart.
type route struct {
	kind string // "base", "catalog", "tags", "manifest", "blob", "uploads", "upload", "referrers"
	name string // repository name
	ref  string // tag or digest, blob digest, or upload session ID
}

// parseRoute splits a /v2/ path. Repository names may contain slashes and
// even the words "blobs" or "manifests", so the path is read from its end,
// where the shapes are fixed:
//
//	<name>/tags/list
//	<name>/manifests/<reference>
//	<name>/blobs/<digest>
//	<name>/blobs/uploads/ and <name>/blobs/uploads/<id>
//	<name>/referrers/<digest>
//
// The name is not validated here.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: "base"}, true
		}
		return route{}, false
	}
	switch rest {
	case "":
		return route{kind: "base"}, true
	case "_catalog":
		return route{kind: "catalog"}, true
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	join := func(k int) string { return strings.Join(segs[:n-k], "/") }
	switch {
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		return route{kind: "tags", name: join(2)}, true
	case n >= 3 && segs[n-2] == "manifests":
		return route{kind: "manifest", name: join(2), ref: segs[n-1]}, true
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		if segs[n-1] == "" {
			return route{kind: "uploads", name: join(3)}, true
		}
		return route{kind: "upload", name: join(3), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		return route{kind: "uploads", name: join(2)}, true
	case n >= 3 && segs[n-2] == "blobs":
		return route{kind: "blob", name: join(2), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "referrers":
		return route{kind: "referrers", name: join(2), ref: segs[n-1]}, true
	}
	return route{}, false
}
