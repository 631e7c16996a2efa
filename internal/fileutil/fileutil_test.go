package fileutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("kiln"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink at dst is replaced, not followed.
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	os.Symlink(victim, dst)
	for _, tc := range []struct {
		name string
		copy func(string, string, os.FileMode) error
	}{{"Copy", Copy}, {"LinkOrCopy", LinkOrCopy}} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(dst)
			os.Symlink(victim, dst)
			if err := tc.copy(src, dst, 0o600); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(dst); string(b) != "kiln" {
				t.Errorf("dst = %q", b)
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep" {
				t.Errorf("the symlink's target was written: %q", b)
			}
		})
	}
}
