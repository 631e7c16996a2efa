package oci

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/oci/registry"
)

// PushLocalIndex writes an image index into kiln's in-process registry
// under repo: every image it lists first (by digest, as the registry
// accepts an index only when its manifests are in the repository), then
// the index under each tag. It returns the index's digest.
func PushLocalIndex(ctx context.Context, reg *registry.Registry, repo string, tags []string, idx v1.ImageIndex) (string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return "", fmt.Errorf("oci: the index's image %s: %w", d.Digest, err)
		}
		if _, err := PushLocal(ctx, reg, repo, nil, img); err != nil {
			return "", err
		}
	}
	return putManifest(ctx, reg, repo, tags, idx)
}

// PullIndex resolves ref to an image index (a multi-platform image); its
// images are fetched when read, with ctx.
func PullIndex(ctx context.Context, ref string, opt Options) (v1.ImageIndex, error) {
	r, err := opt.parseRef(ref)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(r, opt.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("oci: pulling the index %s: %w", ref, err)
	}
	if _, err := idx.IndexManifest(); err != nil {
		return nil, fmt.Errorf("oci: pulling the index %s: %w", ref, err)
	}
	return idx, nil
}
