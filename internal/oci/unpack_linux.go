package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Names overlayfs and the OCI layer format use for deletions.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh." // prefix of markers that are not whiteouts
	opaqueMarker   = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	paxXattr       = "SCHILY.xattr."
	paxSparse      = "GNU.sparse."
)

// errEscape is returned for a tar entry that names a path outside the
// layer directory.
var errEscape = errors.New("path escapes the layer directory")

// skipXattr reports whether a tar entry's xattr must not be set: overlayfs
// reads its own trusted.overlay.* (and, with userxattr, user.overlay.*)
// xattrs as instructions (opaque, redirect, metacopy), so a layer may only
// express them through whiteout entries.
func skipXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// cleanName turns a tar entry name into a clean path relative to the layer
// directory ("." for the directory itself). A leading "/" is dropped
// (the name is confined to the layer, as docker does); a ".." component is
// refused outright.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name %q contains NUL", name)
	}
	n := strings.TrimLeft(name, "/")
	for c := range strings.SplitSeq(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("%q: %w", name, errEscape)
		}
	}
	if n == "" {
		return ".", nil
	}
	return path.Clean(n), nil
}

// extractor writes one layer's tar stream into a directory, confined to it:
// paths are resolved with an [os.Root] (symlinks inside the layer are
// followed only while they stay inside it), and the last component of every
// entry is created with *at system calls that never follow it.
type extractor struct {
	root *os.Root
	buf  []byte

	// The directory of the previous entry, open: tar streams list a
	// directory's entries together, so most entries reuse it.
	curDir string
	cur    *os.File

	dirs []dirTime
}

type dirTime struct {
	name         string
	atime, mtime unix.Timespec
}

// extract unpacks the tar stream r into dir, which must exist.
func extract(ctx context.Context, dir string, r io.Reader) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	x := &extractor{root: root, buf: make([]byte, 256<<10)}
	defer x.close()
	// The layer's root directory is 0755 root:root unless the layer says
	// otherwise (os.MkdirTemp made it 0700).
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	return x.finish()
}

func (x *extractor) close() {
	if x.cur != nil {
		x.cur.Close()
		x.cur = nil
	}
	x.root.Close()
}

// dirFD returns an open descriptor of directory dir of the layer, creating
// it (and its parents, 0755) if needed.
func (x *extractor) dirFD(dir string) (int, error) {
	if x.cur != nil && x.curDir == dir {
		return int(x.cur.Fd()), nil
	}
	x.forget()
	if dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return -1, err
		}
	}
	f, err := x.root.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, err
	}
	x.cur, x.curDir = f, dir
	return int(f.Fd()), nil
}

// forget drops the cached directory. Removing entries from it does not
// change what it resolves to (only paths through the removed entry, which
// are other directories), so only a switch to another directory does.
func (x *extractor) forget() {
	if x.cur != nil {
		x.cur.Close()
		x.cur, x.curDir = nil, ""
	}
}

// remove deletes what exists at name (in directory fd dfd, full path p),
// so a later entry replaces an earlier one, as tar does. A directory stays
// when keepDir is set (a directory entry over a directory merges).
func (x *extractor) remove(dfd int, base, p string, keepDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if keepDir {
			return nil
		}
		return x.root.RemoveAll(p)
	}
	return unix.Unlinkat(dfd, base, 0)
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeGNUSparse {
		return errors.New("sparse files are not supported")
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxSparse) {
			return errors.New("sparse files are not supported")
		}
	}
	dir, base := path.Split(name)
	dir = path.Clean(dir + ".")
	if name == "." {
		dir, base = ".", "."
	}

	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base)
	}

	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	case tar.TypeChar, tar.TypeBlock:
		// Device nodes are skipped: the sandbox supplies its own /dev and
		// mounts the root nodev, so they could only ever be a hazard.
		return nil
	default:
		// Other types (sockets do not exist in tar; vendor extensions,
		// GNU volume headers) carry nothing a root filesystem needs.
		return nil
	}
	if name == "." && hdr.Typeflag != tar.TypeDir {
		return errors.New("the layer's root must be a directory")
	}

	dfd, err := x.dirFD(dir)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if base != "." {
			if err := x.remove(dfd, base, name, true); err != nil {
				return err
			}
			if err := unix.Mkdirat(dfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return err
			}
		}
	case tar.TypeReg:
		if err := x.remove(dfd, base, name, false); err != nil {
			return err
		}
		return x.regular(dfd, base, hdr, r)
	case tar.TypeSymlink:
		if err := x.remove(dfd, base, name, false); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, dfd, base); err != nil {
			return err
		}
	case tar.TypeFifo:
		if err := x.remove(dfd, base, name, false); err != nil {
			return err
		}
		if err := unix.Mknodat(dfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
	case tar.TypeLink:
		return x.hardlink(dfd, base, name, hdr.Linkname)
	}
	return x.meta(dfd, base, name, hdr)
}

// regular writes a regular file's content and metadata through its own
// descriptor.
func (x *extractor) regular(dfd int, base string, hdr *tar.Header, r io.Reader) error {
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if _, err := io.CopyBuffer(fileWriter{f}, r, x.buf); err != nil {
		return err
	}
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	// After chown, which clears setuid and setgid.
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil && !ignorableXattrErr(err) {
			return fmt.Errorf("setting xattr %s: %w", k, err)
		}
	}
	if err := unix.UtimesNanoAt(dfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return f.Close()
}

// fileWriter hides *os.File's ReadFrom, whose fallback would allocate
// its own buffer instead of using the extractor's.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// meta sets ownership, mode, xattrs and times of a directory, symlink or
// fifo by name, never following the last component.
func (x *extractor) meta(dfd int, base, name string, hdr *tar.Header) error {
	if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// Verified above not to be a symlink, and nothing else writes the
		// directory while it is being unpacked.
		if err := unix.Fchmodat(dfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return err
		}
	}
	if xa := xattrs(hdr); len(xa) > 0 {
		// lsetxattr through the directory's descriptor: /proc/self/fd/N
		// is the directory itself, and the last component is not followed.
		p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base
		for k, v := range xa {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil && !ignorableXattrErr(err) {
				if hdr.Typeflag == tar.TypeSymlink && errors.Is(err, unix.EPERM) {
					continue // user.* xattrs are not allowed on symlinks
				}
				return fmt.Errorf("setting xattr %s: %w", k, err)
			}
		}
	}
	ts := times(hdr)
	if hdr.Typeflag == tar.TypeDir {
		// Entries created in the directory later change its mtime.
		x.dirs = append(x.dirs, dirTime{name: name, atime: ts[0], mtime: ts[1]})
		return nil
	}
	return unix.UtimesNanoAt(dfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// hardlink links name to target, another entry of the same layer. The
// target's directory is resolved inside the layer and its last component
// is not followed, so the link is to something in the layer.
func (x *extractor) hardlink(dfd int, base, name, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return err
	}
	if target == "." || target == name {
		return fmt.Errorf("invalid hardlink target %q", linkname)
	}
	tdir, tbase := path.Split(target)
	tf, err := x.root.OpenFile(path.Clean(tdir+"."), os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	defer tf.Close()
	if err := x.remove(dfd, base, name, false); err != nil {
		return err
	}
	if err := unix.Linkat(int(tf.Fd()), tbase, dfd, base, 0); err != nil {
		return fmt.Errorf("hardlink to %q: %w", linkname, err)
	}
	return nil
}

// whiteout turns a ".wh." entry into overlayfs's form: an opaque marker
// becomes the trusted.overlay.opaque=y xattr on its directory, a whiteout
// a character device 0:0 in place of the deleted name. Other ".wh..wh."
// markers (aufs hardlink bookkeeping) are dropped.
func (x *extractor) whiteout(dir, base string) error {
	if base == opaqueMarker {
		f, err := x.dirFD(dir)
		if err != nil {
			return err
		}
		return unix.Fsetxattr(f, opaqueXattr, []byte("y"), 0)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("invalid whiteout %q", base)
	}
	dfd, err := x.dirFD(dir)
	if err != nil {
		return err
	}
	if err := x.remove(dfd, victim, path.Join(dir, victim), false); err != nil {
		return err
	}
	return unix.Mknodat(dfd, victim, unix.S_IFCHR, 0)
}

// finish sets directory times, now that nothing is created in them.
func (x *extractor) finish() error {
	for _, d := range x.dirs {
		dir, base := path.Split(d.name)
		dir = path.Clean(dir + ".")
		if d.name == "." {
			dir, base = ".", "."
		}
		dfd, err := x.dirFD(dir)
		if err != nil {
			return err
		}
		if err := unix.UtimesNanoAt(dfd, base, []unix.Timespec{d.atime, d.mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("setting times of %q: %w", d.name, err)
		}
	}
	return nil
}

func xattrs(hdr *tar.Header) map[string]string {
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok || name == "" || skipXattr(name) {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v
	}
	return m
}

func ignorableXattrErr(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

func times(hdr *tar.Header) []unix.Timespec {
	mtime := unix.Timespec{Sec: hdr.ModTime.Unix(), Nsec: int64(hdr.ModTime.Nanosecond())}
	atime := mtime
	if !hdr.AccessTime.IsZero() {
		atime = unix.Timespec{Sec: hdr.AccessTime.Unix(), Nsec: int64(hdr.AccessTime.Nanosecond())}
	}
	return []unix.Timespec{atime, mtime}
}
