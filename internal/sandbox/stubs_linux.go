//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside a root filesystem are opened with openat2 so that the
// kernel, not a string check, keeps the walk inside the root: symlinks and
// ".." are resolved as if the root were "/" (RESOLVE_IN_ROOT), or not
// followed at all (RESOLVE_NO_SYMLINKS), and magic links such as
// /proc/self/root are never crossed.
const (
	resolveInRoot  = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	resolveNoLinks = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
)

// openIn opens rel (relative, clean; "" or "." is dir itself) under dirfd
// as an O_PATH descriptor.
func openIn(dirfd int, rel string, resolve uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: resolve,
	})
	for errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
		fd, err = unix.Openat2(dirfd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: resolve,
		})
	}
	return fd, err
}

// removeStubs deletes, from base (Upper, or RootDir), the mountpoint stubs
// the init created and the directories overlayfs copied up only to hold
// them, so that none of the sandbox's plumbing ends up in a layer. Paths are
// opened beneath base without following symlinks, so whatever the build
// left in base cannot redirect a removal to the host.
//
// A created directory that is not empty holds the build's own files and is
// kept; a copied-up directory is removed only when empty (a build that only
// changed the mode of such a directory loses that change: a known gap).
func removeStubs(base string, created []report, copiedUp []string) error {
	if len(created) == 0 && len(copiedUp) == 0 {
		return nil
	}
	basefd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sandbox: removing mountpoints: %w", err)
	}
	defer unix.Close(basefd)

	var errs []error
	// Created in parent-first order; remove children first.
	for i := len(created) - 1; i >= 0; i-- {
		if err := removeStub(basefd, created[i].Created, false, created[i].Whiteout); err != nil {
			errs = append(errs, err)
		}
	}
	up := append([]string(nil), copiedUp...)
	sort.Slice(up, func(i, j int) bool {
		return strings.Count(up[i], "/") > strings.Count(up[j], "/")
	})
	for _, rel := range up {
		if err := removeStub(basefd, rel, true, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeStub removes rel under basefd if it is still what a stub looks
// like: an empty directory, an empty regular file, or an overlay whiteout.
// With whiteout, it puts back the whiteout the stub replaced.
func removeStub(basefd int, rel string, dirOnly, whiteout bool) error {
	if rel == "" || rel == "." || strings.HasPrefix(rel, "/") || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") || rel == ".." {
		return fmt.Errorf("sandbox: refusing to remove stub %q", rel)
	}
	dir, name := path.Split(rel)
	pfd, err := openIn(basefd, strings.TrimSuffix(dir, "/"), resolveNoLinks)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: removing mountpoint %s: %w", rel, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("sandbox: removing mountpoint %s: %w", rel, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		err := unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return nil // the build put its own files there
		}
		if err != nil {
			return fmt.Errorf("sandbox: removing mountpoint %s: %w", rel, err)
		}
		return restoreWhiteout(pfd, name, rel, whiteout)
	case unix.S_IFREG:
		if dirOnly {
			return nil
		}
		if st.Size != 0 {
			return fmt.Errorf("sandbox: mountpoint %s was written to; not removing it", rel)
		}
	case unix.S_IFCHR:
		if dirOnly {
			return nil
		}
		if st.Rdev != 0 {
			return fmt.Errorf("sandbox: mountpoint %s was replaced by a device", rel)
		}
	default:
		if dirOnly {
			return nil
		}
		return fmt.Errorf("sandbox: mountpoint %s was replaced (mode %o)", rel, st.Mode)
	}
	if err := unix.Unlinkat(pfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("sandbox: removing mountpoint %s: %w", rel, err)
	}
	return restoreWhiteout(pfd, name, rel, whiteout)
}

// restoreWhiteout recreates an overlay whiteout (a 0:0 character device)
// at name, so a path the build deleted in an earlier step stays deleted.
func restoreWhiteout(pfd int, name, rel string, whiteout bool) error {
	if !whiteout {
		return nil
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("sandbox: restoring the whiteout at %s: %w", rel, err)
	}
	return nil
}
