package inventory

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// symlink is a MapFS entry for a symbolic link to target.
func symlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func TestResolve(t *testing.T) {
	root := fstest.MapFS{
		"etc/passwd":              {Data: []byte("image\n")},
		"usr/lib/os-release":      {Data: []byte("ID=x\n")},
		"etc/os-release":          symlink("../usr/lib/os-release"),
		"etc/abs":                 symlink("/usr/lib/os-release"),
		"etc/escape-rel":          symlink("../../../../etc/passwd"),
		"etc/escape-abs":          symlink("/../../etc/passwd"),
		"var/lib/rpm":             symlink("../../usr/lib/sysimage/rpm"),
		"usr/lib/sysimage/rpm/db": {Data: []byte("db")},
		"lib":                     symlink("usr/lib"),
		"loop/a":                  symlink("b"),
		"loop/b":                  symlink("a"),
		"dangling":                symlink("/nowhere"),
		"usr/bin/link-to-dot-dot": symlink(".."),
	}
	tests := []struct {
		name    string
		want    string
		wantErr error
	}{
		{name: "etc/passwd", want: "etc/passwd"},
		{name: "/etc/passwd", want: "etc/passwd"},
		{name: "etc/os-release", want: "usr/lib/os-release"},
		{name: "etc/abs", want: "usr/lib/os-release"},
		{name: "etc/escape-rel", want: "etc/passwd"},
		{name: "etc/escape-abs", want: "etc/passwd"},
		{name: "../../etc/passwd", want: "etc/passwd"},
		{name: "var/lib/rpm/db", want: "usr/lib/sysimage/rpm/db"},
		{name: "lib/os-release", want: "usr/lib/os-release"},
		{name: "usr/bin/link-to-dot-dot/lib/os-release", want: "usr/lib/os-release"},
		{name: "/", want: "."},
		{name: "", want: "."},
		{name: "loop/a", wantErr: errTooManyLinks},
		{name: "dangling", wantErr: fs.ErrNotExist},
		{name: "etc/missing", wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(root, tt.name)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("resolve(%q) = %q, %v; want error %v", tt.name, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("resolve(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

// TestResolveDirFSStaysInRoot checks, on a real directory, that links out
// of the root read the image's files and not the host's, where os.DirFS's
// own Open would follow them out.
func TestResolveDirFSStaysInRoot(t *testing.T) {
	host := t.TempDir()
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootDir := filepath.Join(host, "image")
	mustMkdirAll(t, filepath.Join(rootDir, "etc"))
	mustWrite(t, filepath.Join(rootDir, "secret"), "image file")
	mustSymlink(t, secret, filepath.Join(rootDir, "etc", "abs"))
	mustSymlink(t, "../../secret", filepath.Join(rootDir, "etc", "rel"))
	mustSymlink(t, "../../../../../../../../secret", filepath.Join(rootDir, "etc", "deep"))

	root := os.DirFS(rootDir)
	for _, name := range []string{"etc/rel", "etc/deep"} {
		data, err := readFile(root, name)
		if err != nil {
			t.Fatalf("readFile(%s): %v", name, err)
		}
		if string(data) != "image file" {
			t.Errorf("readFile(%s) = %q, want the image's /secret", name, data)
		}
	}
	// The absolute link names /tmp/…/secret, which does not exist inside
	// the image.
	if data, err := readFile(root, "etc/abs"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readFile(etc/abs) = %q, %v; want not-exist", data, err)
	}
}

func mustMkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, name, data string) {
	t.Helper()
	mustMkdirAll(t, filepath.Dir(name))
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, name string) {
	t.Helper()
	mustMkdirAll(t, filepath.Dir(name))
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}
