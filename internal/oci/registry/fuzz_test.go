package registry

import (
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{
		"sha256:" + strings.Repeat("a", 64),
		"sha512:" + strings.Repeat("0", 128),
		"sha256:" + strings.Repeat("A", 64),
		"sha256:abc", "md5:00", ":", "", "sha256:" + strings.Repeat("a", 63) + "/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseDigest(s)
		if !ok {
			return
		}
		if d.String() != s {
			t.Fatalf("round trip %q -> %q", s, d.String())
		}
		// A parsed digest must be a safe path element.
		if strings.ContainsAny(d.Hex, `/\.`) || len(d.Hex) < 2 {
			t.Fatalf("unsafe hex %q", d.Hex)
		}
	})
}

func FuzzValidNameAndTag(f *testing.F) {
	for _, s := range []string{"team/app", "a/b/c", "a__b", "a--b", "a..b", "../x", "A", "", "a/", "_x", "v1.0.0", "-x", "x" + strings.Repeat("y", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidName(s) {
			// Names become paths under repositories/: they must stay there
			// and never reach the '_' bookkeeping directories.
			if filepath.Clean(s) != s || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
				t.Fatalf("name %q escapes", s)
			}
			for part := range strings.SplitSeq(s, "/") {
				if part == "" || part[0] == '_' {
					t.Fatalf("name %q has component %q", s, part)
				}
			}
		}
		if ValidTag(s) && (strings.ContainsAny(s, "/\\") || s == "." || s == ".." || len(s) > 128) {
			t.Fatalf("tag %q is not a safe file name", s)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-99", "bytes 0-99/100", "bytes=5-5", "10-9", "-1-2", "1-", "", "bytes */100", "99999999999999999999-1", " 0-0 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, ok := parseContentRange(s)
		if ok && (start < 0 || end < start) {
			t.Fatalf("%q -> %d-%d", s, start, end)
		}
	})
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/v2/", "/v2", "/v2/_catalog", "/v2/a/b/tags/list", "/v2/a/manifests/latest",
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads", "/v2/a/blobs/uploads/123", "/v2/blobs/blobs/sha256:00",
		"/v2/a/referrers/sha256:00", "/v2/a", "/v3/a", "/v2/a/blobs/uploads/blobs/uploads/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rt, ok := parseRoute(s)
		if !ok {
			return
		}
		switch rt.kind {
		case "base", "catalog":
			return
		}
		// Whatever the split, the name is the path's prefix.
		if !strings.HasPrefix(s, "/v2/"+rt.name+"/") {
			t.Fatalf("%q -> name %q", s, rt.name)
		}
		if strings.Contains(rt.ref, "/") {
			t.Fatalf("%q -> ref %q", s, rt.ref)
		}
	})
}
