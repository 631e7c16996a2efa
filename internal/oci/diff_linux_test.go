package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlay the way internal/sandbox does (redirects,
// metacopy and index off, falling back to the kernel's defaults where
// those switches are unknown), or skips the test when it cannot.
func mountOverlay(t *testing.T, lowers []string, upper, work, target string) {
	t.Helper()
	base := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		base += ",upperdir=" + upper + ",workdir=" + work
	}
	err := unix.Mount("overlay", target, "overlay", unix.MS_NODEV, base+",redirect_dir=off,metacopy=off,index=off")
	if errors.Is(err, unix.EINVAL) {
		err = unix.Mount("overlay", target, "overlay", unix.MS_NODEV, base)
	}
	if err != nil {
		t.Skipf("cannot mount overlayfs here (%v); the sandbox needs it too", err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	mkdirs(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// readLayer lists a layer's tar entries in order, with their content.
func readLayer(t *testing.T, l v1.Layer) ([]*tar.Header, map[string]string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var hdrs []*tar.Header
	bodies := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		hdrs = append(hdrs, h)
		bodies[h.Name] = string(b)
	}
	return hdrs, bodies
}

func TestDiffLayerOverlayRoundTrip(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	lower, upper, work, merged := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	mkdirs(t, lower, upper, work, merged, filepath.Join(lower, "rmdir/sub"))
	writeFile(t, filepath.Join(lower, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n", 0o644)
	writeFile(t, filepath.Join(lower, "etc/old"), "old", 0o644)
	writeFile(t, filepath.Join(lower, "var/cache/a"), "a", 0o644)
	writeFile(t, filepath.Join(lower, "var/cache/sub/b"), "b", 0o644)
	writeFile(t, filepath.Join(lower, "usr/bin/tool"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(lower, "keep/untouched"), "same", 0o644)
	writeFile(t, filepath.Join(lower, "rmdir/sub/f"), "f", 0o644)

	mountOverlay(t, []string{lower}, upper, work, merged)
	m := func(s string) string { return filepath.Join(merged, s) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Remove(m("etc/old")))
	must(os.RemoveAll(m("var/cache")))
	must(os.Mkdir(m("var/cache"), 0o700))
	writeFile(t, m("var/cache/new"), "new", 0o644)
	must(os.RemoveAll(m("rmdir")))
	writeFile(t, m("new/file.txt"), "hello", 0o600)
	must(unix.Setxattr(m("new/file.txt"), "user.kiln", []byte("x"), 0))
	must(os.Link(m("new/file.txt"), m("new/link.txt")))
	must(os.Symlink("file.txt", m("new/sym")))
	must(unix.Chmod(m("usr/bin/tool"), 0o4755))
	must(unix.Mkfifo(m("new/fifo"), 0o600))
	must(unix.Unmount(merged, 0))

	ctx := context.Background()
	l, err := DiffLayer(ctx, upper, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hdrs, bodies := readLayer(t, l)
	byName := map[string]*tar.Header{}
	var names []string
	for _, h := range hdrs {
		byName[h.Name] = h
		names = append(names, h.Name)
		for k := range h.PAXRecords {
			if strings.Contains(k, "trusted.overlay") {
				t.Errorf("%s carries %s", h.Name, k)
			}
		}
	}
	want := []string{
		"etc/", "etc/.wh.old",
		"new/", "new/fifo", "new/file.txt", "new/link.txt", "new/sym",
		".wh.rmdir",
		"usr/", "usr/bin/", "usr/bin/tool",
		"var/", "var/cache/", "var/cache/.wh..wh..opq", "var/cache/new",
	}
	if !sameSet(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	check := func(name string, typ byte) *tar.Header {
		t.Helper()
		h := byName[name]
		if h == nil {
			t.Fatalf("no entry %s", name)
		}
		if h.Typeflag != typ {
			t.Errorf("%s has type %q, want %q", name, h.Typeflag, typ)
		}
		return h
	}
	check("etc/.wh.old", tar.TypeReg)
	check(".wh.rmdir", tar.TypeReg)
	check("var/cache/.wh..wh..opq", tar.TypeReg)
	if h := check("var/cache/", tar.TypeDir); h.Mode != 0o700 {
		t.Errorf("var/cache mode %o", h.Mode)
	}
	if h := check("new/file.txt", tar.TypeReg); h.Mode != 0o600 || bodies["new/file.txt"] != "hello" || h.PAXRecords["SCHILY.xattr.user.kiln"] != "x" {
		t.Errorf("new/file.txt: mode %o body %q pax %v", h.Mode, bodies["new/file.txt"], h.PAXRecords)
	}
	if h := check("new/link.txt", tar.TypeLink); h.Linkname != "new/file.txt" {
		t.Errorf("new/link.txt links to %q", h.Linkname)
	}
	if h := check("new/sym", tar.TypeSymlink); h.Linkname != "file.txt" {
		t.Errorf("new/sym -> %q", h.Linkname)
	}
	check("new/fifo", tar.TypeFifo)
	if h := check("usr/bin/tool", tar.TypeReg); h.Mode != 0o4755 {
		t.Errorf("usr/bin/tool mode %o", h.Mode)
	}
	checkDigests(t, l)

	// The same upper gives the same layer.
	l2, err := DiffLayer(ctx, upper, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l.Digest()
	d2, _ := l2.Digest()
	if d1 != d2 {
		t.Errorf("DiffLayer is not deterministic: %s then %s", d1, d2)
	}

	// Unpacked and stacked on the lower, the layer gives back what the
	// build saw.
	c := &LayerCache{Dir: filepath.Join(base, "cache")}
	mkdirs(t, c.Dir)
	dir, err := c.Unpack(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	view := filepath.Join(base, "view")
	mkdirs(t, view)
	mountOverlay(t, []string{dir, lower}, "", "", view)
	v := func(s string) string { return filepath.Join(view, s) }
	for _, gone := range []string{"etc/old", "var/cache/a", "var/cache/sub", "rmdir"} {
		if _, err := os.Lstat(v(gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s visible after the round trip: %v", gone, err)
		}
	}
	for p, body := range map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "keep/untouched": "same", "var/cache/new": "new", "new/file.txt": "hello", "new/sym": "hello"} {
		if b, err := os.ReadFile(v(p)); err != nil || string(b) != body {
			t.Errorf("%s = %q, %v; want %q", p, b, err, body)
		}
	}
	if st := lstat(t, v("usr/bin/tool")); st.Mode&0o7777 != 0o4755 {
		t.Errorf("usr/bin/tool mode %o after round trip", st.Mode&0o7777)
	}
	if a, b := lstat(t, v("new/file.txt")), lstat(t, v("new/link.txt")); a.Ino != b.Ino {
		t.Errorf("hardlink lost in the round trip")
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// checkDigests recomputes a layer's digest, diffID and size from its bytes.
func checkDigests(t *testing.T, l v1.Layer) {
	t.Helper()
	sum := func(open func() (io.ReadCloser, error)) (string, int64) {
		rc, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if err != nil {
			t.Fatal(err)
		}
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), n
	}
	digest, size := sum(l.Compressed)
	diffID, _ := sum(l.Uncompressed)
	d, _ := l.Digest()
	di, _ := l.DiffID()
	sz, _ := l.Size()
	if d.String() != digest || di.String() != diffID || sz != size {
		t.Errorf("layer says digest %s diffID %s size %d; content has %s %s %d", d, di, sz, digest, diffID, size)
	}
}

// TestDiffLayerWithoutMount builds an upper directory by hand, as
// overlayfs would leave it, and checks the translation of each kind of
// entry, the order and determinism.
func TestDiffLayerWithoutMount(t *testing.T) {
	needRoot(t)
	upper := t.TempDir()
	writeFile(t, filepath.Join(upper, "b/z"), "z", 0o644)
	writeFile(t, filepath.Join(upper, "a.txt"), "a", 0o644)
	mkdirs(t, filepath.Join(upper, "a"), filepath.Join(upper, "opq"))
	writeFile(t, filepath.Join(upper, "a/inner"), "i", 0o644)
	if err := unix.Mknod(filepath.Join(upper, "b/gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("cannot set trusted xattrs here: %v", err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "a"), "trusted.overlay.origin", []byte("zzz"), 0); err != nil {
		t.Fatal(err)
	}
	l, err := DiffLayer(context.Background(), upper, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hdrs, _ := readLayer(t, l)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if len(h.PAXRecords) > 0 {
			t.Errorf("%s has PAX records %v", h.Name, h.PAXRecords)
		}
	}
	want := []string{"a/", "a/inner", "a.txt", "b/", "b/.wh.gone", "b/z", "opq/", "opq/.wh..wh..opq"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	checkDigests(t, l)

	// An upper with redirects cannot be expressed as a plain layer.
	if err := unix.Setxattr(filepath.Join(upper, "a"), "trusted.overlay.redirect", []byte("/x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := DiffLayer(context.Background(), upper, t.TempDir()); err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("DiffLayer with a redirect = %v, want an error", err)
	}
}

func TestDiffLayerPushLocalRoundTrip(t *testing.T) {
	needRoot(t)
	upper := t.TempDir()
	writeFile(t, filepath.Join(upper, "hello"), strings.Repeat("hello ", 1000), 0o644)
	l, err := DiffLayer(context.Background(), upper, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, host := testRegistry(t)
	img := imageOf(t, l)
	d, err := PushLocal(context.Background(), reg, "built", []string{"v1"}, img)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := Pull(context.Background(), host+"/built:v1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, pulled); got != d {
		t.Errorf("pulled %s, pushed %s", got, d)
	}
	c := &LayerCache{Dir: t.TempDir()}
	dirs, err := c.Lowers(context.Background(), pulled)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[0], "hello")); err != nil || !bytes.Equal(b, []byte(strings.Repeat("hello ", 1000))) {
		t.Errorf("hello after push, pull and unpack: %v", err)
	}
}
