package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// requireTools skips the test when a Debian tool it drives is missing.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages e2fsprogs, qemu-utils, fdisk): %v", tool, err)
		}
	}
}

// requireRoot skips the test unless it runs as root, which mount and mknod need.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mount, mknod, chown)")
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeTree writes a small root filesystem with the things a real one has and that are
// easy to lose on the way to a disk: ownership, setuid, symlinks, hard links, xattrs and
// device nodes.
func makeTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc/kiln", "home/user", "dev", "boot", "empty"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("kiln\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/kiln/secret"), []byte("s3cret\n"), 0o600))
	must(os.WriteFile(filepath.Join(root, "bin/tool"), bytes.Repeat([]byte("\x7fELF tool "), 50000), 0o755))
	must(os.Chmod(filepath.Join(root, "bin/tool"), 0o4755)) // setuid survives only via chmod
	must(os.Link(filepath.Join(root, "bin/tool"), filepath.Join(root, "bin/tool-hardlink")))
	must(os.Symlink("../etc/hostname", filepath.Join(root, "bin/hostname-link")))
	must(os.Symlink("/does/not/exist", filepath.Join(root, "bin/dangling")))
	must(os.WriteFile(filepath.Join(root, "home/user/.profile"), []byte("PS1=$ \n"), 0o640))
	must(os.Chown(filepath.Join(root, "home/user/.profile"), 1000, 1000))
	must(os.Chown(filepath.Join(root, "home/user"), 1000, 1000))
	must(os.Chmod(filepath.Join(root, "empty"), 0o1777))
	must(unix.Setxattr(filepath.Join(root, "etc/hostname"), "user.kiln", []byte("xattr-value"), 0))
	must(unix.Setxattr(filepath.Join(root, "bin/tool"), "security.capability",
		// VFS_CAP_REVISION_2 with cap_net_raw permitted: what `setcap cap_net_raw+p` writes
		[]byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0))
	must(unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mkfifo(filepath.Join(root, "dev/fifo"), 0o600))
	return root
}

// treeEntry is what compareTrees checks of each file.
type treeEntry struct {
	Mode      fs.FileMode
	UID, GID  uint32
	Rdev      uint64
	Content   string // sha256 of a regular file, target of a symlink
	Xattrs    string
	LinkGroup string // the first path sharing this inode, for hard links
}

// snapshotTree describes every file under root, keyed by slash path.
func snapshotTree(t testing.TB, root string, skip ...string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		for _, s := range skip {
			if rel == s {
				return filepath.SkipDir
			}
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := treeEntry{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid}
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.Content = hex.EncodeToString(h.Sum(nil))
			if first, ok := inodes[st.Ino]; ok {
				e.LinkGroup = first
			} else {
				inodes[st.Ino] = rel
				e.LinkGroup = rel
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Content, err = os.Readlink(p)
			if err != nil {
				return err
			}
		case fi.Mode()&fs.ModeDevice != 0:
			e.Rdev = st.Rdev
		}
		e.Xattrs = xattrs(t, p)
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrs(t testing.TB, p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		if err == syscall.ENOTSUP {
			return ""
		}
		t.Fatalf("listxattr %s: %v", p, err)
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		// system.* are ACLs, derived from the mode on ext4; security.selinux is host policy.
		if name != "" && !strings.HasPrefix(name, "system.") && name != "security.selinux" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", p, name, err)
		}
		fmt.Fprintf(&b, "%s=%x;", name, v[:m])
	}
	return b.String()
}

func compareTrees(t testing.TB, want, got map[string]treeEntry) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing on the disk", p)
			continue
		}
		if w != g {
			t.Errorf("%s: on the disk %+v, in the tree %+v", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: on the disk but not in the tree", p)
		}
	}
}

// sameFiles compares two files' bytes.
func sameFiles(t testing.TB, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return (ea == nil) == (eb == nil)
		}
	}
}

// allocated is how many bytes of a file are backed by disk blocks.
func allocated(t testing.TB, p string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
