package guest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// CopyOrExtract carries out a CopyRequest: ADD (Extract) unpacks the
// sources that are tar archives into Dest, as docker build does with a
// local archive, and copies the others like COPY.
func CopyOrExtract(r CopyRequest) error {
	if !r.Extract {
		return Copy(r.Sources, r.Dest, r.Chown, r.Chmod)
	}
	var plain []string
	for _, src := range r.Sources {
		ok, err := extractArchive(src, r.Dest, r.Chown)
		if err != nil {
			return fmt.Errorf("ADD %s: %w", src, err)
		}
		if !ok {
			plain = append(plain, src)
		}
	}
	if len(plain) == 0 {
		return nil
	}
	dest := r.Dest
	if len(r.Sources) > 1 && !strings.HasSuffix(dest, "/") {
		dest += "/"
	}
	return Copy(plain, dest, r.Chown, r.Chmod)
}

// Compression formats by their magic numbers, the set docker build
// recognises.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompressor returns the plain stream of r by its first bytes.
func decompressor(head []byte, r io.Reader) (io.Reader, func(), error) {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	case bytes.HasPrefix(head, magicBzip2):
		return bzip2.NewReader(r), func() {}, nil
	case bytes.HasPrefix(head, magicZstd):
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	case bytes.HasPrefix(head, magicXz):
		// Go's standard library has no xz decoder: the image's xz does it.
		xz, err := exec.LookPath("xz")
		if err != nil {
			return nil, nil, errors.New("the archive is xz-compressed and the image has no xz to decompress it")
		}
		cmd := exec.Command(xz, "-dc")
		cmd.Stdin = r
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		return out, func() { out.Close(); cmd.Wait() }, nil
	}
	return r, func() {}, nil
}

// isTar says whether a block starts a tar archive (the ustar magic of
// POSIX and GNU headers).
func isTar(head []byte) bool {
	return len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar"))
}

// extractArchive unpacks src into dest when it is a (possibly compressed)
// tar archive and reports whether it was one. Entries cannot leave dest:
// names with ".." are refused and every path is resolved through an
// os.Root, so the archive's own symlinks cannot lead out either.
func extractArchive(src, dest, chown string) (bool, error) {
	fi, err := os.Stat(src)
	if err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(8)
	plain, closeFn, err := decompressor(head, br)
	if err != nil {
		return false, err
	}
	defer closeFn()
	pr := bufio.NewReaderSize(plain, 64<<10)
	block, _ := pr.Peek(512)
	if !isTar(block) {
		return false, nil
	}
	uid, gid := -1, -1
	if chown != "" {
		u, err := LookupUser(chown)
		if err != nil {
			return false, err
		}
		uid, gid = int(u.UID), int(u.GID)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return false, err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return false, err
	}
	defer root.Close()
	return true, untar(root, tar.NewReader(pr), uid, gid)
}

// archiveName cleans an entry name to a path relative to the destination.
func archiveName(name string) (string, error) {
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q leaves the destination", name)
		}
	}
	clean := strings.TrimPrefix(path.Clean("/"+name), "/")
	if clean == "" {
		clean = "."
	}
	return clean, nil
}

func untar(root *os.Root, tr *tar.Reader, uid, gid int) error {
	type dirTime struct {
		name string
		hdr  *tar.Header
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, err := archiveName(hdr.Name)
		if err != nil {
			return err
		}
		if name != "." {
			if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
		}
		mode := fs.FileMode(hdr.Mode) & (fs.ModePerm)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{name, hdr})
		case tar.TypeReg:
			if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
				root.RemoveAll(name)
			}
			out, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			root.RemoveAll(name)
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := archiveName(hdr.Linkname)
			if err != nil {
				return err
			}
			root.RemoveAll(name)
			if err := root.Link(target, name); err != nil {
				return err
			}
			continue
		default:
			continue // devices and fifos are not made by ADD
		}
		if err := meta(root, name, hdr, mode, uid, gid); err != nil {
			return err
		}
	}
	// Directory times last: their entries' creation changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if d.name != "." {
			root.Chtimes(d.name, d.hdr.ModTime, d.hdr.ModTime)
		}
	}
	return nil
}

// meta applies an entry's owner (or --chown's), mode and mtime.
func meta(root *os.Root, name string, hdr *tar.Header, mode fs.FileMode, uid, gid int) error {
	if uid < 0 {
		uid, gid = hdr.Uid, hdr.Gid
	}
	if err := root.Lchown(name, uid, gid); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil
	}
	if hdr.Mode&04000 != 0 {
		mode |= fs.ModeSetuid
	}
	if hdr.Mode&02000 != 0 {
		mode |= fs.ModeSetgid
	}
	if hdr.Mode&01000 != 0 {
		mode |= fs.ModeSticky
	}
	if err := root.Chmod(name, mode); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		return root.Chtimes(name, hdr.ModTime, hdr.ModTime)
	}
	return nil
}
