// Package fileutil holds the few file operations several parts of kiln
// need the same way.
package fileutil

import (
	"io"
	"os"
)

// Copy copies the regular file src to dst (replaced if it exists, not
// followed if it is a symlink) with permissions perm, and syncs nothing:
// callers that need durability sync themselves.
func Copy(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// LinkOrCopy puts the file src at dst: a hard link when both are on one
// filesystem, a copy otherwise.
func LinkOrCopy(src, dst string, perm os.FileMode) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return Copy(src, dst, perm)
}
