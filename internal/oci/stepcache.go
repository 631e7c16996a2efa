package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/internal/oci/registry"
)

// StepCache remembers which layer a build step produced, by the step's
// key: a hash of everything the step's result depends on (the key of the
// step before it, the instruction, the content of its inputs), as
// BuildKit's cache keys are. A later build that arrives at the same key
// reuses the layer by digest instead of running the step, so its image
// shares the blob with the earlier one and registries and pulls skip it.
//
// The layers themselves stay in kiln's registry, where the earlier build
// pushed them; an entry whose blob has since been deleted is a miss.
type StepCache struct{ Dir string }

// CachedLayer is a layer of kiln's registry a step produced.
type CachedLayer struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	DiffID     string `json:"diffID"`
	Size       int64  `json:"size"`
}

func (c *StepCache) path(key string) (string, error) {
	if len(key) != 64 {
		return "", fmt.Errorf("oci: step cache key %q is not a sha256 hex", key)
	}
	for _, r := range key {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", fmt.Errorf("oci: step cache key %q is not a sha256 hex", key)
		}
	}
	return filepath.Join(c.Dir, key[:2], key), nil
}

// Get returns the layer recorded for key, if any.
func (c *StepCache) Get(key string) (CachedLayer, bool) {
	var cl CachedLayer
	p, err := c.path(key)
	if err != nil {
		return cl, false
	}
	b, err := os.ReadFile(p)
	if err != nil || json.Unmarshal(b, &cl) != nil || cl.Digest == "" || cl.DiffID == "" {
		return CachedLayer{}, false
	}
	return cl, true
}

// Put records the layer a step produced; the last writer wins.
func (c *StepCache) Put(key string, cl CachedLayer) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(cl)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// RegistryLayer is a gzip layer read from a blob of kiln's registry.
// It fails when the registry no longer holds the blob in the repository.
func RegistryLayer(ctx context.Context, reg *registry.Registry, cl CachedLayer, mt types.MediaType) (v1.Layer, error) {
	digest, err := v1.NewHash(cl.Digest)
	if err != nil {
		return nil, err
	}
	diffID, err := v1.NewHash(cl.DiffID)
	if err != nil {
		return nil, err
	}
	size, err := reg.StatBlob(ctx, cl.Repository, cl.Digest)
	if err != nil {
		return nil, err
	}
	return &registryLayer{reg: reg, repo: cl.Repository, digest: digest, diffID: diffID, size: size, mt: mt}, nil
}

type registryLayer struct {
	reg            *registry.Registry
	repo           string
	digest, diffID v1.Hash
	size           int64
	mt             types.MediaType
}

func (l *registryLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *registryLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *registryLayer) Size() (int64, error)                { return l.size, nil }
func (l *registryLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *registryLayer) Compressed() (io.ReadCloser, error) {
	rc, _, err := l.reg.OpenBlob(context.Background(), l.repo, l.digest.String())
	return rc, err
}
func (l *registryLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	z, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &readCloser{Reader: z, close: func() error { z.Close(); return rc.Close() }}, nil
}
