package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// entry is one tar entry of a synthetic layer.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}, body: body}
}
func dir(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}
func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

var testMtime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func tarBytes(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.ModTime.IsZero() {
			h.ModTime = testMtime
		}
		if h.Format == tar.FormatUnknown && len(h.PAXRecords) > 0 {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarLayer(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking sets ownership, trusted.* xattrs and creates whiteout devices")
	}
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}

func xattr(p, name string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func TestUnpackLayer(t *testing.T) {
	needRoot(t)
	withXattr := file("usr/bin/ping", "ping", 0o4755)
	withXattr.hdr.Uid, withXattr.hdr.Gid = 0, 0
	withXattr.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.security.capability":      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"SCHILY.xattr.user.note":                "hello",
		"SCHILY.xattr.trusted.overlay.redirect": "/etc",
	}
	owned := file("home/user/.profile", "export A=1\n", 0o640)
	owned.hdr.Uid, owned.hdr.Gid = 1000, 1001
	sneaky := dir("sneaky/", 0o755)
	sneaky.hdr.PAXRecords = map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}
	dev := entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}
	fifo := entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o620}}
	l := tarLayer(t,
		dir("./", 0o755),
		dir("etc/", 0o755),
		file("etc/hostname", "kiln\n", 0o644),
		file("etc/.wh.motd", "", 0),
		dir("opt/", 0o755),
		file("opt/.wh..wh..opq", "", 0),
		file("opt/new", "n", 0o600),
		dir("tmp/", 0o1777),
		withXattr,
		owned,
		sneaky,
		dev,
		fifo,
		symlink("bin", "usr/bin"),
		symlink("etc/abs", "/etc/hostname"),
		hardlink("usr/bin/ping6", "usr/bin/ping"),
		file("usr/.wh..wh.plnk", "", 0), // aufs bookkeeping: dropped
	)
	c := &LayerCache{Dir: t.TempDir()}
	d, err := c.Unpack(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	diffID, _ := l.DiffID()
	if filepath.Base(d) != diffID.Hex {
		t.Errorf("dir %s is not named for diffID %s", d, diffID)
	}
	p := func(s string) string { return filepath.Join(d, s) }

	if b, _ := os.ReadFile(p("etc/hostname")); string(b) != "kiln\n" {
		t.Errorf("etc/hostname = %q", b)
	}
	if st := lstat(t, p("etc/motd")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/motd is not a whiteout: mode %o rdev %d", st.Mode, st.Rdev)
	}
	if v := xattr(p("opt"), "trusted.overlay.opaque"); v != "y" {
		t.Errorf("opt opaque xattr = %q", v)
	}
	if _, err := os.Lstat(p("opt/.wh..wh..opq")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opaque marker left as a file: %v", err)
	}
	if v := xattr(p("sneaky"), "trusted.overlay.opaque"); v != "" {
		t.Errorf("layer-supplied trusted.overlay.opaque was set: %q", v)
	}
	if st := lstat(t, p("tmp")); st.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp mode %o", st.Mode&0o7777)
	}
	ping := lstat(t, p("usr/bin/ping"))
	if ping.Mode&0o7777 != 0o4755 {
		t.Errorf("ping mode %o, want 4755", ping.Mode&0o7777)
	}
	if ping.Mtim.Sec != testMtime.Unix() {
		t.Errorf("ping mtime %d, want %d", ping.Mtim.Sec, testMtime.Unix())
	}
	if xattr(p("usr/bin/ping"), "security.capability") == "" || xattr(p("usr/bin/ping"), "user.note") != "hello" {
		t.Errorf("xattrs of ping not kept")
	}
	if xattr(p("usr/bin/ping"), "trusted.overlay.redirect") != "" {
		t.Errorf("layer-supplied trusted.overlay.redirect was set")
	}
	if ping6 := lstat(t, p("usr/bin/ping6")); ping6.Ino != ping.Ino {
		t.Errorf("ping6 is not a hardlink of ping")
	}
	if st := lstat(t, p("home/user/.profile")); st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o777 != 0o640 {
		t.Errorf(".profile owner %d:%d mode %o", st.Uid, st.Gid, st.Mode&0o777)
	}
	if st := lstat(t, p("home")); st.Mode&0o777 != 0o755 {
		t.Errorf("implicit dir home mode %o", st.Mode&0o777)
	}
	if l, _ := os.Readlink(p("bin")); l != "usr/bin" {
		t.Errorf("bin -> %q", l)
	}
	if l, _ := os.Readlink(p("etc/abs")); l != "/etc/hostname" {
		t.Errorf("etc/abs -> %q", l)
	}
	if _, err := os.Lstat(p("dev/null")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("device node was created: %v", err)
	}
	if st := lstat(t, p("run/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("run/fifo mode %o", st.Mode)
	}
	if st := lstat(t, p("etc")); st.Mtim.Sec != testMtime.Unix() {
		t.Errorf("etc mtime %v not kept after entries were added", time.Unix(st.Mtim.Sec, 0))
	}
	if st := lstat(t, d); st.Mode&0o777 != 0o755 {
		t.Errorf("layer root mode %o", st.Mode&0o777)
	}
	if _, err := os.Lstat(p("usr/.wh..wh.plnk")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("aufs marker kept: %v", err)
	}

	// A second Unpack finds the directory.
	d2, err := c.Unpack(context.Background(), l)
	if err != nil || d2 != d {
		t.Errorf("second Unpack = %q, %v", d2, err)
	}
	assertOnlyLayers(t, c.Dir, 1)
}

// assertOnlyLayers checks the cache holds n layer directories and no
// temporary ones.
func assertOnlyLayers(t *testing.T, dir string, n int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range ents {
		switch {
		case e.Name() == ".locks":
		case strings.HasPrefix(e.Name(), ".tmp-"):
			t.Errorf("temporary directory %s left behind", e.Name())
		default:
			got++
		}
	}
	if got != n {
		t.Errorf("cache holds %d layers, want %d", got, n)
	}
}

// TestUnpackMalicious feeds layers that try to write outside their
// directory; each must be refused or confined, and nothing outside may
// change.
func TestUnpackMalicious(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name     string
		entries  []entry
		wantErr  bool
		confined string // path inside the layer that must exist instead
	}{
		{name: "dotdot", entries: []entry{file("../escaped", "x", 0o644)}, wantErr: true},
		{name: "dotdot inside", entries: []entry{file("a/../../escaped", "x", 0o644)}, wantErr: true},
		{name: "absolute", entries: []entry{file("/escaped", "x", 0o644)}, confined: "escaped"},
		{name: "absolute symlink parent", entries: []entry{symlink("a", "OUTSIDE"), file("a/escaped", "x", 0o644)}, wantErr: true},
		{name: "relative symlink parent", entries: []entry{symlink("a", "../.."), file("a/escaped", "x", 0o644)}, wantErr: true},
		{name: "symlink chain", entries: []entry{dir("d/", 0o755), symlink("d/up", ".."), symlink("b", "d/up/d/up/.."), file("b/escaped", "x", 0o644)}, wantErr: true},
		{name: "symlink then overwrite", entries: []entry{symlink("a", "OUTSIDE/victim"), file("a", "x", 0o644)}, confined: "a"},
		{name: "symlink then hardlink", entries: []entry{symlink("a", "OUTSIDE/victim"), hardlink("b", "a"), file("b", "x", 0o644)}, confined: "b"},
		{name: "hardlink dotdot", entries: []entry{hardlink("a", "../outside/victim")}, wantErr: true},
		{name: "hardlink absolute", entries: []entry{hardlink("a", "OUTSIDE/victim")}, wantErr: true},
		{name: "hardlink through symlink", entries: []entry{symlink("s", "OUTSIDE"), hardlink("a", "s/victim")}, wantErr: true},
		{name: "whiteout through symlink", entries: []entry{symlink("s", "OUTSIDE"), file("s/.wh.victim", "", 0)}, wantErr: true},
		{name: "opaque through symlink", entries: []entry{symlink("s", "OUTSIDE"), file("s/.wh..wh..opq", "", 0)}, wantErr: true},
		{name: "whiteout dotdot", entries: []entry{file(".wh...", "", 0)}, wantErr: true},
		{name: "dir over symlink", entries: []entry{symlink("a", "OUTSIDE"), dir("a/", 0o777)}, confined: "a"},
		{name: "root as file", entries: []entry{file(".", "x", 0o644)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Absolute targets are made to point at this test's outside dir.
			var entries []entry
			for _, e := range tt.entries {
				e.hdr.Linkname = strings.Replace(e.hdr.Linkname, "OUTSIDE", outside, 1)
				if e.hdr.Typeflag == tar.TypeLink {
					e.hdr.Linkname = strings.Replace(e.hdr.Linkname, outside, strings.TrimPrefix(outside, "/"), 1)
				}
				entries = append(entries, e)
			}
			cache := filepath.Join(base, "cache")
			if err := os.Mkdir(cache, 0o755); err != nil {
				t.Fatal(err)
			}
			c := &LayerCache{Dir: cache}
			d, err := c.Unpack(context.Background(), tarLayer(t, entries...))
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unpack succeeded, want an error")
				}
				assertOnlyLayers(t, cache, 0)
			} else if err != nil {
				t.Fatalf("Unpack: %v", err)
			} else if tt.confined != "" {
				if _, err := os.Lstat(filepath.Join(d, tt.confined)); err != nil {
					t.Errorf("confined entry missing: %v", err)
				}
			}
			assertOutsideUntouched(t, base, outside)
		})
	}
}

func assertOutsideUntouched(t *testing.T, base, outside string) {
	t.Helper()
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if e.Name() != "outside" && e.Name() != "cache" && e.Name() != "layer" {
			t.Errorf("unexpected %s next to the layer", e.Name())
		}
	}
	ents, _ = os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("outside dir has %d entries, want 1", len(ents))
	}
	st := lstat(t, filepath.Join(outside, "victim"))
	if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "original" || st.Nlink != 1 || st.Mode&0o777 != 0o644 {
		t.Errorf("victim changed: %q nlink %d mode %o", b, st.Nlink, st.Mode&0o777)
	}
	if st := lstat(t, outside); st.Mode&0o777 != 0o755 {
		t.Errorf("outside dir mode changed to %o", st.Mode&0o777)
	}
}

func TestUnpackWrongDiffID(t *testing.T) {
	needRoot(t)
	good := tarLayer(t, file("a", "a", 0o644))
	c := &LayerCache{Dir: t.TempDir()}
	_, err := c.Unpack(context.Background(), lyingLayer{Layer: good})
	if err == nil || !strings.Contains(err.Error(), "diffID") {
		t.Fatalf("Unpack = %v, want a diffID mismatch", err)
	}
	assertOnlyLayers(t, c.Dir, 0)
}

// lyingLayer claims another diffID than its content has.
type lyingLayer struct{ v1.Layer }

func (lyingLayer) DiffID() (v1.Hash, error) {
	return v1.NewHash("sha256:" + strings.Repeat("ab", 32))
}

func TestUnpackConcurrent(t *testing.T) {
	needRoot(t)
	var entries []entry
	for i := range 50 {
		entries = append(entries, file("f"+string(rune('a'+i%26))+string(rune('a'+i/26)), strings.Repeat("x", i*100), 0o644))
	}
	l := tarLayer(t, entries...)
	c := &LayerCache{Dir: t.TempDir()}
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = (&LayerCache{Dir: c.Dir}).Unpack(context.Background(), l) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("Unpack %d = %q, %v", i, dirs[i], errs[i])
		}
	}
	assertOnlyLayers(t, c.Dir, 1)
}

func TestLowersOrderAndDedup(t *testing.T) {
	needRoot(t)
	l1 := tarLayer(t, file("one", "1", 0o644))
	l2 := tarLayer(t, file("two", "2", 0o644))
	img := imageOf(t, l1, l2, l1)
	c := &LayerCache{Dir: t.TempDir()}
	dirs, err := c.Lowers(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := c.Unpack(context.Background(), l1)
	d2, _ := c.Unpack(context.Background(), l2)
	if len(dirs) != 2 || dirs[0] != d1 || dirs[1] != d2 {
		t.Errorf("Lowers = %q, want [%s %s]", dirs, d1, d2)
	}
}

// FuzzUnpack feeds arbitrary bytes to the unpacker as a tar stream: it
// must never panic and never create or change anything outside its
// directory.
func FuzzUnpack(f *testing.F) {
	f.Add(tarBytes(f, file("a", "b", 0o644)))
	f.Add(tarBytes(f, symlink("a", "/tmp"), file("a/x", "b", 0o644)))
	f.Add(tarBytes(f, symlink("a", "../.."), file("a/x", "b", 0o644)))
	f.Add(tarBytes(f, hardlink("a", "../x")))
	f.Add(tarBytes(f, dir("d/", 0o755), file("d/.wh..wh..opq", "", 0), file("d/.wh.x", "", 0)))
	f.Add(tarBytes(f, symlink("a", "."), symlink("a/b", ".."), file("a/b/c", "", 0)))
	f.Add([]byte("not a tar"))
	if os.Geteuid() != 0 {
		f.Skip("needs root: unpacking sets ownership and creates whiteout devices")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		layer := filepath.Join(base, "layer")
		for _, d := range []string{outside, layer} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = extract(context.Background(), layer, bytes.NewReader(data))
		assertOutsideUntouched(t, base, outside)
	})
}
