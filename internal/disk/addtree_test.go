package disk

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyWithTree(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for path, content := range map[string]string{"etc/inittab": "old\n", "etc/keep": "kept\n"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755)
		os.WriteFile(filepath.Join(root, path), []byte(content), 0o644)
	}
	src := filepath.Join(dir, "src.raw")
	info, err := MakeRaw(context.Background(), root, src, Layout{Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, ".kiln/documents"), 0o755)
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, ".kiln/agent"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(tree, ".kiln/documents/a.yaml"), []byte("doc"), 0o644)
	os.WriteFile(filepath.Join(tree, "etc/inittab"), []byte("new\n"), 0o644)
	os.Symlink("../.kiln/agent", filepath.Join(tree, "etc/agent-link"))
	dst := filepath.Join(dir, "dst.raw")
	partUUID, err := CopyWithTree(context.Background(), src, dst, tree)
	if err != nil {
		t.Fatal(err)
	}
	if partUUID != info.PartUUID {
		t.Errorf("PARTUUID %s, want %s", partUUID, info.PartUUID)
	}
	check := func(raw string, want map[string]string) {
		t.Helper()
		err := MountRoot(context.Background(), raw, func(m string) error {
			for path, content := range want {
				b, err := os.ReadFile(filepath.Join(m, path))
				if content == "" {
					if err == nil {
						t.Errorf("%s: %s exists", raw, path)
					}
					continue
				}
				if err != nil || string(b) != content {
					t.Errorf("%s: %s = %q (%v), want %q", raw, path, b, err, content)
				}
			}
			if fi, err := os.Stat(filepath.Join(m, ".kiln/agent")); err == nil && fi.Mode().Perm() != 0o755 {
				t.Errorf("agent mode %v", fi.Mode())
			}
			if l, err := os.Readlink(filepath.Join(m, "etc/agent-link")); err == nil && l != "../.kiln/agent" {
				t.Errorf("link = %q", l)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(dst, map[string]string{"etc/inittab": "new\n", "etc/keep": "kept\n", ".kiln/agent": "#!/bin/sh\n", ".kiln/documents/a.yaml": "doc"})
	// The source disk is untouched.
	check(src, map[string]string{"etc/inittab": "old\n", ".kiln/agent": ""})
}
