package inventory

import (
	"errors"
	"io/fs"
	"strings"
)

// maxSymlinks bounds how many links one lookup may follow, as the kernel's
// ELOOP limit does, so that link cycles end in an error.
const maxSymlinks = 40

// errTooManyLinks is returned when resolving a path follows more than
// maxSymlinks links.
var errTooManyLinks = errors.New("too many levels of symbolic links")

// resolve turns name, a slash-separated path inside an image's root (a
// leading "/" is allowed and means the root), into a path of fsys with no
// symbolic links left in it, interpreting every link as a process chrooted
// into fsys would: an absolute target restarts at the root of fsys and ".."
// at the root stays at the root. An image is someone else's file system, so
// a link such as /etc/os-release -> /etc/passwd or ../../../etc/passwd must
// name the image's file, never the host's; os.DirFS alone would follow both
// out of the root.
//
// Links can only be seen if fsys implements fs.ReadLinkFS (os.DirFS,
// os.Root.FS and fstest.MapFS do). For any other fsys the path is only
// cleaned, and fsys is trusted to keep lookups inside itself.
//
// Every component must exist; a missing one yields an error satisfying
// errors.Is(err, fs.ErrNotExist).
func resolve(fsys fs.FS, name string) (string, error) {
	links, canSeeLinks := fsys.(fs.ReadLinkFS)
	pending := splitPath(name)
	var resolved []string
	followed := 0
	for len(pending) > 0 {
		elem := pending[0]
		pending = pending[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		candidate := strings.Join(append(resolved, elem), "/")
		if !canSeeLinks {
			resolved = append(resolved, elem)
			continue
		}
		info, err := links.Lstat(candidate)
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			resolved = append(resolved, elem)
			continue
		}
		followed++
		if followed > maxSymlinks {
			return "", &fs.PathError{Op: "resolve", Path: name, Err: errTooManyLinks}
		}
		target, err := links.ReadLink(candidate)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = resolved[:0]
		}
		pending = append(splitPath(target), pending...)
	}
	if len(resolved) == 0 {
		return ".", nil
	}
	return strings.Join(resolved, "/"), nil
}

// splitPath splits a slash-separated path into its elements; empty elements
// (from leading, trailing or doubled slashes) are dropped.
func splitPath(p string) []string {
	var elems []string
	for _, e := range strings.Split(p, "/") {
		if e != "" {
			elems = append(elems, e)
		}
	}
	return elems
}

// readFile reads the file at name inside the root of fsys, resolving links
// with resolve.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	p, err := resolve(fsys, name)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(fsys, p)
}

// readDir lists the directory at name inside the root of fsys, resolving
// links with resolve. The entries are sorted by name.
func readDir(fsys fs.FS, name string) ([]fs.DirEntry, string, error) {
	p, err := resolve(fsys, name)
	if err != nil {
		return nil, "", err
	}
	entries, err := fs.ReadDir(fsys, p)
	return entries, p, err
}
