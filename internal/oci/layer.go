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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// DiffLayer turns an overlay upper directory into a gzip layer (written to a temp file under tmpDir,
// digest and diffID computed while streaming; compression streaming, level chosen for speed).
// char 0:0 → .wh.<name>, opaque dir → <dir>/.wh..wh..opq plus the dir entry; entries sorted so the
// output is deterministic; hardlinks inside the upper preserved as tar hardlinks.
//
// The upper's root directory itself is not an entry (its metadata comes
// from the parent), sockets are skipped, mtimes are whole seconds, and
// owner names are left empty, so the same tree always gives the same
// digest. trusted.overlay.* xattrs are overlayfs's bookkeeping and are not
// copied; an upper with redirect or metacopy xattrs (an overlay mounted
// with those features on) is refused. The file is named layer-*.tar.gz;
// the caller removes it (or tmpDir) once the layer is pushed.
func DiffLayer(ctx context.Context, upper, tmpDir string) (v1.Layer, error) {
	f, err := os.CreateTemp(tmpDir, "layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	l, err := writeLayer(ctx, upper, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("oci: diffing %s: %w", upper, err)
	}
	return l, nil
}

// writeLayer streams the tar of upper through gzip into f. The tar is
// produced (files read, diffID hashed) in one goroutine and compressed
// (digest hashed, file written) in this one, so two cores share the work.
func writeLayer(ctx context.Context, upper string, f *os.File) (*fileLayer, error) {
	pr, pw := io.Pipe()
	diffHash := sha256.New()
	produced := make(chan struct{})
	defer func() { <-produced }()
	go func() {
		defer close(produced)
		bw := bufio.NewWriterSize(io.MultiWriter(diffHash, pw), 1<<20)
		err := writeTar(ctx, upper, bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()

	digestHash := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(f, digestHash)}
	fw := bufio.NewWriterSize(counter, 1<<20)
	zw, err := gzip.NewWriterLevel(fw, gzip.BestSpeed)
	if err != nil {
		pr.CloseWithError(err)
		return nil, err
	}
	_, err = io.Copy(zw, pr)
	pr.CloseWithError(err) // stops the producer if compression failed
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	return &fileLayer{
		path:   f.Name(),
		digest: sumHash(digestHash),
		diffID: sumHash(diffHash),
		size:   counter.n,
	}, nil
}

func sumHash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fileLayer is a gzip layer in a file whose digests are already known.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
}

var _ v1.Layer = (*fileLayer)(nil)

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
