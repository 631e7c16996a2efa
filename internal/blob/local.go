package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// localTemp is the directory under a Local root where objects are written
// before they are renamed into place. Keys never start with a dot
// component of their own making (the registry's and kiln's do not), and
// List skips it.
const localTemp = ".tmp"

// Local stores objects as files under one directory: key a/b/c is file
// root/a/b/c. Every write is durable before it returns: the content is
// written to a temporary file, fsynced and renamed into place, and the
// directory holding the new name is fsynced, as are the parents of
// directories the write had to create. An object that Put acknowledged
// survives kill -9 and power loss.
type Local struct {
	root string
}

// NewLocal opens (creating if needed) the store under root and removes
// what a crash left half-written.
func NewLocal(root string) (*Local, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := mkdirAllSync(root); err != nil {
		return nil, err
	}
	os.RemoveAll(filepath.Join(root, localTemp))
	if err := mkdirAllSync(filepath.Join(root, localTemp)); err != nil {
		return nil, err
	}
	return &Local{root: root}, nil
}

// Root is the directory the store keeps its files in.
func (l *Local) Root() string { return l.root }

// Path is the file that holds key, for callers that must hand a path to
// another program (qemu reads disks by name).
func (l *Local) Path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if key == localTemp || strings.HasPrefix(key, localTemp+"/") {
		return "", errors.New("blob: key " + quote(key) + " is reserved")
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	path, err := l.Path(key)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Join(l.root, localTemp), "put-")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	n, err := io.Copy(f, contextReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.publish(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// publish renames tmp to path, creating path's directory. A concurrent
// Delete may prune that directory between the two; the rename is then
// tried again.
func (l *Local) publish(tmp, path string) error {
	dir := filepath.Dir(path)
	var err error
	for range 3 {
		if err = mkdirAllSync(dir); err != nil {
			return err
		}
		if err = os.Rename(tmp, path); err == nil {
			return syncDir(dir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

type localObject struct {
	*os.File
	size int64
}

func (o localObject) Size() int64 { return o.size }

func (l *Local) Open(ctx context.Context, key string) (Object, error) {
	path, err := l.Path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return localObject{f, fi.Size()}, nil
}

func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	path, err := l.Path(key)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (l *Local) List(ctx context.Context, prefix string, fn func(Info) error) error {
	// Walk the deepest directory the prefix names in full, then filter.
	dir := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = prefix[:i]
	}
	base := l.root
	if dir != "" {
		if err := checkKey(dir); err != nil {
			return err
		}
		base = filepath.Join(l.root, filepath.FromSlash(dir))
	}
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked, or never there
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, rerr := filepath.Rel(l.root, path)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if key == localTemp {
				return fs.SkipDir
			}
			// Skip directories that cannot hold a key with the prefix.
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, ierr := e.Info()
		if ierr != nil {
			return nil // removed since the directory was read
		}
		return fn(Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
	})
	return err
}

// Delete removes key's file, makes that durable, and prunes the
// directories it leaves empty (up to the root), so finished upload
// sessions and deleted repositories leave no trail.
func (l *Local) Delete(ctx context.Context, key string) error {
	path, err := l.Path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return err
	}
	l.prune(dir)
	return nil
}

func (l *Local) prune(dir string) {
	for dir != l.root && strings.HasPrefix(dir, l.root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		parent := filepath.Dir(dir)
		syncDir(parent)
		dir = parent
	}
}

func (l *Local) Move(ctx context.Context, src, dst string) error {
	from, err := l.Path(src)
	if err != nil {
		return err
	}
	to, err := l.Path(dst)
	if err != nil {
		return err
	}
	if err := l.publish(from, to); err != nil {
		return err
	}
	dir := filepath.Dir(from)
	if err := syncDir(dir); err != nil {
		return err
	}
	l.prune(dir)
	return nil
}

// mkdirAllSync is os.MkdirAll that also fsyncs the parent of every
// directory it creates, so the new entries are durable.
func mkdirAllSync(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made concurrently
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob: sync %s: %w", dir, err)
	}
	return nil
}
