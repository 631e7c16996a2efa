package action

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// parsePermissions reads a permissions input as octal from its literal
// text: "755", "0755" and "0o755" are all rwxr-xr-x, and up to four
// digits carry the setuid/setgid/sticky bits. An integer input (a YAML
// parser that resolved `permissions: 755`) is read by its decimal digits,
// which are the digits the author wrote.
func parsePermissions(text string) (uint32, error) {
	t := strings.TrimSpace(text)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0o"), "0O")
	if t == "" || len(t) > 5 {
		return 0, fmt.Errorf("permissions %q: want octal digits like 0755", text)
	}
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("permissions %q: want octal digits like 0755", text)
	}
	return uint32(n), nil
}

// checkPermissions is a Validate helper for a permissions input.
func checkPermissions(in values, name string) []Problem {
	v := in[name]
	if v == nil || isPlaceholder(v) {
		return nil
	}
	if _, err := parsePermissions(scalarText(v)); err != nil {
		return []Problem{{Path: name, Message: err.Error()}}
	}
	return nil
}

// chmod sets mode bits including setuid/setgid/sticky, which os.Chmod
// would need translating into os.FileMode flags.
func chmod(path string, mode uint32) error {
	if err := syscall.Chmod(path, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}

// lookupUser resolves an owner given by name or numeric id, and returns
// the user's primary group as well (-1 when unknown).
func lookupUser(owner string) (uid, primaryGID int, err error) {
	if n, err := strconv.Atoi(owner); err == nil && n >= 0 {
		if u, err := user.LookupId(owner); err == nil {
			gid, _ := strconv.Atoi(u.Gid)
			return n, gid, nil
		}
		return n, -1, nil
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return 0, 0, fmt.Errorf("owner %q: no such user", owner)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// lookupGroup resolves a group given by name or numeric id.
func lookupGroup(group string) (int, error) {
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("group %q: no such group", group)
	}
	return strconv.Atoi(g.Gid)
}

// ownership resolves owner/group inputs to ids for chown; -1 leaves that
// side unchanged. With defaultPrimary, a missing group means the owner's
// primary group (SetFileOwner's documented default).
func ownership(owner, group string, defaultPrimary bool) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		var primary int
		uid, primary, err = lookupUser(owner)
		if err != nil {
			return 0, 0, err
		}
		if defaultPrimary {
			gid = primary
		}
	}
	if group != "" {
		if gid, err = lookupGroup(group); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// endsWithSeparator reports whether a destination names a folder to put
// the source into (keeping its base name) rather than the new name.
func endsWithSeparator(p string) bool {
	return strings.HasSuffix(p, "/")
}

// expandSource resolves a source path that may hold a `*` wildcard in its
// last segment. Without a wildcard the path must exist.
func expandSource(path string) (matches []string, wildcard bool, err error) {
	dir, base := filepath.Split(path)
	if strings.Contains(dir, "*") {
		return nil, false, fmt.Errorf("%s: wildcards are allowed only in the last path segment", path)
	}
	if !strings.Contains(base, "*") {
		if _, err := os.Lstat(path); err != nil {
			return nil, false, err
		}
		return []string{path}, false, nil
	}
	matches, err = filepath.Glob(path)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", path, err)
	}
	return matches, true, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// copyFile copies one regular file's content and permission bits to dst,
// truncating dst if it exists (cp's behaviour: dst keeps its inode).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	if dfi, err := os.Stat(dst); err == nil && os.SameFile(fi, dfi) {
		return fmt.Errorf("%s and %s are the same file", src, dst)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return chmod(dst, uint32(fi.Mode().Perm())|specialBits(fi))
}

// specialBits returns fi's setuid/setgid/sticky bits in chmod's encoding.
func specialBits(fi fs.FileInfo) uint32 {
	var m uint32
	if fi.Mode()&fs.ModeSetuid != 0 {
		m |= syscall.S_ISUID
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		m |= syscall.S_ISGID
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		m |= syscall.S_ISVTX
	}
	return m
}

// copyTree copies the folder src into dst, merging with whatever dst
// already holds (files are overwritten). Symbolic links are copied as
// links, never followed, so a tree cannot pull in files from outside.
func copyTree(src, dst string) error {
	if within(dst, src) {
		return fmt.Errorf("cannot copy %s into itself (%s)", src, dst)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if tfi, err := os.Lstat(target); err == nil && !tfi.IsDir() {
				return fmt.Errorf("%s: exists and is not a folder", target)
			}
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return chmod(target, uint32(fi.Mode().Perm())|specialBits(fi))
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := removeNonDir(target); err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			if tfi, err := os.Lstat(target); err == nil && tfi.IsDir() {
				return fmt.Errorf("%s: exists and is a folder", target)
			}
			return copyFile(p, target)
		default:
			return fmt.Errorf("%s: cannot copy special file (%v)", p, d.Type())
		}
	})
}

// removeNonDir removes path if it exists and is not a directory.
func removeNonDir(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: exists and is a folder", path)
	}
	return os.Remove(path)
}

// within reports whether p is root or lies beneath it.
func within(p, root string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && (rel == "." || (rel != ".." && !strings.HasPrefix(rel, "../")))
}

// movePath renames src to dst, falling back to copy-and-delete across
// file systems. When dst is an existing folder and src a folder, the two
// are merged: entries move one by one, replacing files of the same name.
func movePath(src, dst string) error {
	sfi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	dfi, err := os.Lstat(dst)
	if err == nil && dfi.IsDir() {
		if !sfi.IsDir() {
			return fmt.Errorf("%s: exists and is a folder", dst)
		}
		if within(dst, src) {
			return fmt.Errorf("cannot move %s into itself (%s)", src, dst)
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := movePath(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		return os.Remove(src)
	}
	if err == nil && sfi.IsDir() {
		return fmt.Errorf("%s: exists and is not a folder", dst)
	}
	err = os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	switch {
	case sfi.IsDir():
		err = copyTree(src, dst)
	case sfi.Mode()&fs.ModeSymlink != 0:
		var link string
		if link, err = os.Readlink(src); err == nil {
			err = os.Symlink(link, dst)
		}
	default:
		err = copyFile(src, dst)
	}
	if err != nil {
		return err
	}
	return os.RemoveAll(src)
}
