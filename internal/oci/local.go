package oci

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/oci/registry"
)

// pushConcurrency bounds how many blobs PushLocal writes at once: enough to
// overlap fetching a remote parent's layers with writing local ones.
const pushConcurrency = 3

// PushLocal writes img (blobs, config, manifest) into kiln's in-process registry
// under repo and tags each tag; returns the manifest digest. Without tags the
// manifest is stored by digest only. A blob the registry already holds is
// linked into repo without being read, so a parent pulled from the same
// registry costs nothing to push again.
func PushLocal(ctx context.Context, reg *registry.Registry, repo string, tags []string, img v1.Image) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	if err := reg.PutBlob(ctx, repo, bytes.NewReader(rawCfg), cfgName.String()); err != nil {
		return "", fmt.Errorf("oci: pushing config: %w", err)
	}

	seen := map[v1.Hash]bool{}
	var todo []v1.Layer
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return "", fmt.Errorf("oci: %w", err)
		}
		if !mt.IsDistributable() {
			continue // foreign layers are fetched from their URLs
		}
		d, err := l.Digest()
		if err != nil {
			return "", fmt.Errorf("oci: %w", err)
		}
		if !seen[d] {
			seen[d] = true
			todo = append(todo, l)
		}
	}
	if err := forEach(ctx, len(todo), pushConcurrency, func(ctx context.Context, i int) error {
		l := todo[i]
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rd := &lazyReader{open: l.Compressed}
		err = reg.PutBlob(ctx, repo, rd, d.String())
		if cerr := rd.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("pushing layer %s: %w", d, err)
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}

	return putManifest(ctx, reg, repo, tags, img)
}

// manifest is what putManifest needs of an image or an image index.
type manifest interface {
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
}

// putManifest stores m's manifest in repo under each of tags, or under its
// digest alone when there are none, and returns the digest. What it names
// must already be in repo.
func putManifest(ctx context.Context, reg *registry.Registry, repo string, tags []string, m manifest) (string, error) {
	raw, err := m.RawManifest()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	mt, err := m.MediaType()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	d, err := m.Digest()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	refs := tags
	if len(refs) == 0 {
		refs = []string{d.String()}
	}
	for _, ref := range refs {
		if _, err := reg.PutManifest(ctx, repo, ref, string(mt), raw); err != nil {
			return "", fmt.Errorf("oci: pushing manifest %s:%s: %w", repo, ref, err)
		}
	}
	return d.String(), nil
}

// lazyReader opens its content on the first Read, so a blob the registry
// already holds (and therefore never reads) is never fetched or compressed.
type lazyReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (r *lazyReader) Read(p []byte) (int, error) {
	if r.rc == nil && r.err == nil {
		r.rc, r.err = r.open()
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.rc.Read(p)
}

func (r *lazyReader) Close() error {
	if r.rc == nil {
		return nil
	}
	return r.rc.Close()
}

// forEach runs fn for 0..n-1 with at most limit at once and returns the
// first error; after an error, the remaining calls see a cancelled ctx.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		sem      = make(chan struct{}, limit)
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
