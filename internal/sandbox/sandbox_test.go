package sandbox

import (
	"path"
	"strings"
	"testing"
)

func TestCleanTarget(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/.kiln/kiln", ".kiln/kiln", true},
		{"/a/../b/./c/", "b/c", true},
		{"/../../etc", "etc", true},
		{"//x//y", "x/y", true},
		{"/", "", false},
		{"/..", "", false},
		{"relative", "", false},
		{"", "", false},
		{"/a\x00b", "", false},
	}
	for _, tt := range tests {
		got, err := cleanTarget(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("cleanTarget(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzCleanTarget checks that whatever a caller passes as an in-root path,
// what reaches the init is relative, clean and never climbs out.
func FuzzCleanTarget(f *testing.F) {
	for _, s := range []string{"/.kiln/kiln", "/../..", "/a/../../b", "//", "/./x/", "x", "/a\x00", "/...", "/..a/b.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := cleanTarget(p)
		if err != nil {
			return
		}
		if got == "" || strings.HasPrefix(got, "/") || path.Clean(got) != got || got == ".." || strings.HasPrefix(got, "../") || strings.ContainsRune(got, 0) {
			t.Fatalf("cleanTarget(%q) = %q", p, got)
		}
	})
}
