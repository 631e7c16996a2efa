package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// overlay xattrs that mean the upper is not a plain tree.
const (
	redirectXattr = "trusted.overlay.redirect"
	metacopyXattr = "trusted.overlay.metacopy"
)

// tarWriter walks an upper directory and writes its tar. It never follows
// a symlink of the upper (the build wrote them): entries are lstat'ed and
// files opened O_NOFOLLOW.
type tarWriter struct {
	ctx   context.Context
	upper string
	tw    *tar.Writer
	links map[fileID]string // first path of each multiply-linked file
	xbuf  []byte
}

type fileID struct{ dev, ino uint64 }

func writeTar(ctx context.Context, upper string, w io.Writer) error {
	t := &tarWriter{ctx: ctx, upper: upper, tw: tar.NewWriter(w), links: map[fileID]string{}, xbuf: make([]byte, 4096)}
	var st unix.Stat_t
	if err := unix.Stat(upper, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory", upper)
	}
	if err := t.dir(""); err != nil {
		return err
	}
	return t.tw.Close()
}

// dir writes the entries of directory rel ("" for the upper itself), in
// name order, each directory followed by its contents.
func (t *tarWriter) dir(rel string) error {
	f, err := os.Open(filepath.Join(t.upper, rel))
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		if err := t.entry(path.Join(rel, n)); err != nil {
			return fmt.Errorf("%s: %w", path.Join(rel, n), err)
		}
	}
	return nil
}

func (t *tarWriter) entry(rel string) error {
	full := filepath.Join(t.upper, rel)
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return err
	}
	xattrs, opaque, err := t.xattrs(full)
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}

	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if err := t.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if opaque {
			if err := t.tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg,
				Name:     rel + "/" + opaqueMarker,
				ModTime:  hdr.ModTime,
				Format:   tar.FormatPAX,
			}); err != nil {
				return err
			}
		}
		return t.dir(rel)
	case unix.S_IFREG:
		id := fileID{dev: st.Dev, ino: st.Ino}
		if st.Nlink > 1 {
			if first, ok := t.links[id]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				hdr.PAXRecords = nil
				return t.tw.WriteHeader(hdr)
			}
			t.links[id] = rel
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		return t.file(full, hdr)
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
		return t.tw.WriteHeader(hdr)
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			dir, base := path.Split(rel)
			return t.tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg,
				Name:     dir + whiteoutPrefix + base,
				ModTime:  hdr.ModTime,
				Format:   tar.FormatPAX,
			})
		}
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		return t.tw.WriteHeader(hdr)
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		return t.tw.WriteHeader(hdr)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return t.tw.WriteHeader(hdr)
	}
	return nil // sockets have no tar form and no meaning in an image
}

// file writes a regular file's header and content.
func (t *tarWriter) file(full string, hdr *tar.Header) error {
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(t.tw, f)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("file changed size while being read (%d bytes, not %d)", n, hdr.Size)
	}
	return nil
}

// xattrs reads an entry's extended attributes, minus overlayfs's own,
// and reports whether it is an opaque directory. Redirect and metacopy
// xattrs mean the overlay had features on that a plain diff cannot
// express.
func (t *tarWriter) xattrs(full string) (map[string]string, bool, error) {
	n, err := unix.Llistxattr(full, t.xbuf)
	if errors.Is(err, unix.ERANGE) {
		sz, err2 := unix.Llistxattr(full, nil)
		if err2 != nil {
			return nil, false, err2
		}
		t.xbuf = make([]byte, sz*2)
		n, err = unix.Llistxattr(full, t.xbuf)
	}
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if n == 0 {
		return nil, false, nil
	}
	var m map[string]string
	opaque := false
	for name := range strings.SplitSeq(strings.TrimRight(string(t.xbuf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		switch name {
		case redirectXattr, metacopyXattr:
			return nil, false, fmt.Errorf("has the overlay xattr %s: mount the overlay with redirect_dir=off,metacopy=off", name)
		}
		if skipXattr(name) && name != opaqueXattr {
			continue
		}
		v, err := getxattr(full, name)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue
			}
			return nil, false, fmt.Errorf("reading xattr %s: %w", name, err)
		}
		if name == opaqueXattr {
			opaque = string(v) == "y"
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = string(v)
	}
	return m, opaque, nil
}

func getxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Lgetxattr(path, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, sz+1)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
