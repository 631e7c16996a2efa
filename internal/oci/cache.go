package oci

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// unpackConcurrency bounds how many layers Lowers fetches and unpacks at
// once: downloads overlap, decompression keeps the cores busy.
const unpackConcurrency = 3

// LayerCache unpacks layers into Dir/<diffid hex>/, once per diffID, safe for concurrent use by
// many builds and many processes (unpack to a temp dir, rename into place). Whiteouts become
// overlayfs whiteouts (char device 0:0) and opaque markers the trusted.overlay.opaque=y xattr.
//
// Unpacking never writes outside the layer directory: entry names with a
// ".." component are refused, a leading "/" is dropped (the name is
// confined to the layer), paths through symlinks of the layer are followed
// only while they stay inside it (an entry `a -> /etc` followed by
// `a/passwd` is refused), and hardlinks must name another entry of the
// layer. Ownership, modes (setuid, setgid, sticky), mtimes, xattrs,
// symlinks, fifos and hardlinks are kept; xattrs in the trusted.overlay.
// and user.overlay. namespaces are dropped, since overlayfs would obey
// them. Character and block devices are skipped (the sandbox brings its
// own /dev and mounts the root nodev); sparse files are refused.
// Directories created only because an entry needs them are 0755 root:root,
// as is the layer's root unless the layer has a "./" entry.
//
// A layer's content is checked against its diffID while it streams in, and
// the finished directory is flushed to disk (syncfs) before it is renamed
// into place, so a directory under Dir named for a diffID is always
// complete. Dir must be on a filesystem that supports trusted.* xattrs and
// character devices (any local Linux filesystem, as root), and its path must
// not contain ',', ':' or '\' (overlayfs mount options).
type LayerCache struct{ Dir string }

// layerDirName is the cache directory name of a diffID: its hex for
// sha256, the algorithm prefixed otherwise.
func layerDirName(h v1.Hash) (string, error) {
	if h.Hex == "" || strings.ContainsAny(h.Hex, "/.") || strings.ContainsAny(h.Algorithm, "/.") {
		return "", fmt.Errorf("oci: invalid diffID %q", h)
	}
	if h.Algorithm == "sha256" {
		return h.Hex, nil
	}
	return h.Algorithm + "-" + h.Hex, nil
}

// Unpack returns the directory holding l's content, unpacking it first if
// no build has yet.
func (c *LayerCache) Unpack(ctx context.Context, l v1.Layer) (dir string, err error) {
	diffID, err := l.DiffID()
	if err != nil {
		return "", fmt.Errorf("oci: layer diffID: %w", err)
	}
	name, err := layerDirName(diffID)
	if err != nil {
		return "", err
	}
	dir = filepath.Join(c.Dir, name)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}

	locks := filepath.Join(c.Dir, ".locks")
	if err := os.MkdirAll(locks, 0o700); err != nil {
		return "", fmt.Errorf("oci: layer cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(locks, name))
	if err != nil {
		return "", fmt.Errorf("oci: layer cache: %w", err)
	}
	defer unlock()
	// Another build or process may have finished it while we waited.
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}
	// Whoever held the lock before us and left a temp dir has crashed.
	tmpPrefix := ".tmp-" + name + "-"
	if old, err := filepath.Glob(filepath.Join(c.Dir, tmpPrefix+"*")); err == nil {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	tmp, err := os.MkdirTemp(c.Dir, tmpPrefix)
	if err != nil {
		return "", fmt.Errorf("oci: layer cache: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := unpackLayer(ctx, tmp, l, diffID); err != nil {
		return "", fmt.Errorf("oci: unpacking layer %s: %w", diffID, err)
	}
	if err := syncFS(tmp); err != nil {
		return "", fmt.Errorf("oci: layer cache: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("oci: layer cache: %w", err)
	}
	done = true
	if err := syncDir(c.Dir); err != nil {
		return "", fmt.Errorf("oci: layer cache: %w", err)
	}
	return dir, nil
}

// unpackLayer extracts l into dir, verifying the uncompressed stream
// against diffID. Gzip layers are decompressed here (with klauspost's
// faster inflate) from the compressed blob, read once; others go through
// go-containerregistry's Uncompressed.
func unpackLayer(ctx context.Context, dir string, l v1.Layer, diffID v1.Hash) error {
	rc, err := uncompressed(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	var h hash.Hash
	switch diffID.Algorithm {
	case "sha256":
		h = sha256.New()
	default:
		return fmt.Errorf("unsupported diffID algorithm %q", diffID.Algorithm)
	}
	tee := io.TeeReader(rc, h)
	if err := extract(ctx, dir, tee); err != nil {
		return err
	}
	// The tar end-of-archive blocks and any padding are part of the diffID.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return fmt.Errorf("layer content has diffID %s:%s, expected %s", diffID.Algorithm, got, diffID)
	}
	return nil
}

// uncompressed opens l's tar stream.
func uncompressed(l v1.Layer) (io.ReadCloser, error) {
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	switch mt {
	case types.DockerLayer, types.OCILayer, types.DockerForeignLayer, types.OCIRestrictedLayer:
	default:
		return l.Uncompressed()
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 256<<10)
	if magic, err := br.Peek(2); err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		// Mislabelled (zstd, or plain tar): let go-containerregistry
		// sniff it.
		rc.Close()
		return l.Uncompressed()
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &gunzipReader{zr: zr, br: br, rc: rc}, nil
}

// gunzipReader reads a gzip blob to its very end, so the registry client's
// digest check on the compressed blob runs.
type gunzipReader struct {
	zr *gzip.Reader
	br *bufio.Reader
	rc io.ReadCloser
}

func (g *gunzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err == io.EOF {
		if _, derr := io.Copy(io.Discard, g.br); derr != nil {
			return n, derr
		}
	}
	return n, err
}

func (g *gunzipReader) Close() error {
	g.zr.Close()
	return g.rc.Close()
}

// Lowers unpacks every layer of img and returns their dirs top layer first (sandbox.Config.Lower order).
// A layer that occurs more than once is listed once, at its topmost
// position (overlayfs refuses a directory twice; the lower copy is hidden
// by the upper one anyway). An image without layers gives an empty list:
// the caller supplies an empty directory, since overlayfs needs a lower.
func (c *LayerCache) Lowers(ctx context.Context, img v1.Image) ([]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	dirs := make([]string, len(layers))
	err = forEach(ctx, len(layers), unpackConcurrency, func(ctx context.Context, i int) error {
		d, err := c.Unpack(ctx, layers[i])
		dirs[i] = d
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(dirs)
	seen := map[string]bool{}
	out := dirs[:0]
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}
