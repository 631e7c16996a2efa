package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckParentImages(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tags   []string // repository/_tags/TAG files to make
		status doctorStatus
		found  string
	}{
		{"no registry yet", nil, doctorWarn, "holds no tagged image yet"},
		{"only kiln's own", []string{"kiln/machine-images/_tags/abc"}, doctorWarn, "holds no tagged image yet"},
		{"a repository without tags", []string{"app/_tags/"}, doctorWarn, "holds no tagged image yet"},
		{"a parent", []string{"kiln/machine-images/_tags/abc", "parents/alpine/_tags/3"}, doctorOK, "holds parents/alpine:3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			for _, tag := range tt.tags {
				p := filepath.Join(dataDir, "registry", "repositories", filepath.FromSlash(tag))
				if strings.HasSuffix(tag, "/") {
					os.MkdirAll(p, 0o755)
					continue
				}
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("sha256:00"), 0o644)
			}
			c := checkParentImages(dataDir)
			if c.Status != tt.status || !strings.Contains(c.Found, tt.found) {
				t.Errorf("got %s %q, want %s containing %q", c.Status, c.Found, tt.status, tt.found)
			}
			if (c.Status == doctorWarn) != strings.Contains(c.Fix, "kiln images pull-parent") {
				t.Errorf("fix %q", c.Fix)
			}
		})
	}
}
