package ami

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/blob"
)

// Disks is where machine disks live. Every disk a node reads (to boot a
// test instance, export, distribute, `ami run`, or as a parent's layout)
// is a file in its data directory, because qemu and the disk tools take
// paths. With a blob store shared by several nodes (kiln serve
// --blob-store), the store is where disks are kept: a node uploads a disk
// it built and fetches one it lacks, so its data directory is a cache.
// Disks are named by content (DiskPath), so a cached copy is never stale.
// In the store a disk is kept as its data extents (sparse.go).
type Disks struct {
	DataDir string
	// Blobs is the shared store (key = DiskPath with slashes); nil keeps
	// disks in DataDir only.
	Blobs blob.Store
}

func diskKey(rel string) (string, error) {
	key := filepath.ToSlash(filepath.Clean(rel))
	if !strings.HasPrefix(key, "disks/") || !blob.ValidKey(key) {
		return "", fmt.Errorf("disk path %q is not a disk of the data directory", rel)
	}
	return key, nil
}

// Local returns the path of disk rel in the data directory, fetching it
// from the shared store first when this node has no copy.
func (d *Disks) Local(ctx context.Context, rel string) (string, error) {
	key, err := diskKey(rel)
	if err != nil {
		return "", err
	}
	path := filepath.Join(d.DataDir, filepath.FromSlash(key))
	if _, err := os.Stat(path); err == nil || d.Blobs == nil {
		return path, nil
	}
	o, err := d.Blobs.Open(ctx, key)
	if err != nil {
		return "", fmt.Errorf("fetching disk %s: %w", key, err)
	}
	defer o.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	var b [8]byte
	rand.Read(b[:])
	tmp := path + ".fetch-" + hex.EncodeToString(b[:])
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	err = decodeSparse(f, o)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("fetching disk %s: %w", key, err)
	}
	return path, nil
}

// Exists reports whether disk rel is on this node or in the shared store.
func (d *Disks) Exists(ctx context.Context, rel string) (bool, error) {
	key, err := diskKey(rel)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(d.DataDir, filepath.FromSlash(key))); err == nil {
		return true, nil
	}
	if d.Blobs == nil {
		return false, nil
	}
	return blob.Exists(ctx, d.Blobs, key)
}

// Publish uploads disk rel, which this node has just written, to the
// shared store, unless it is there already (another node built the same
// content). Without a shared store it does nothing.
func (d *Disks) Publish(ctx context.Context, rel string) error {
	if d.Blobs == nil {
		return nil
	}
	key, err := diskKey(rel)
	if err != nil {
		return err
	}
	if have, err := blob.Exists(ctx, d.Blobs, key); err != nil || have {
		return err
	}
	f, err := os.Open(filepath.Join(d.DataDir, filepath.FromSlash(key)))
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(encodeSparse(pw, f)) }()
	_, err = d.Blobs.Put(ctx, key, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the encoder if Put gave up early
	if err != nil {
		return fmt.Errorf("storing disk %s: %w", key, err)
	}
	return nil
}

// Remove removes a disk Release returned, here and in the shared store.
// The row is gone whatever happens to the files; a disk left behind costs
// space, not correctness.
func (d *Disks) Remove(ctx context.Context, rel string) error {
	key, err := diskKey(rel)
	if err != nil {
		return err
	}
	err = os.Remove(filepath.Join(d.DataDir, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if d.Blobs != nil {
		if berr := d.Blobs.Delete(ctx, key); err == nil {
			err = berr
		}
	}
	return err
}
