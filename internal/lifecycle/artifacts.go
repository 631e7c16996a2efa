package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/oci/registry"
)

// Artifacts removes what lifecycle actions delete outside the store
// (service.LifecycleArtifacts): AMI disks in the data directory, and
// container images in kiln's embedded registry.
type Artifacts struct {
	Registry *registry.Registry
	// Hosts are the host[:port] names kiln's image URIs begin with (the
	// registry host builds write into outputResources). An image URI of
	// any other registry is refused: kiln can only delete its own.
	Hosts   []string
	DataDir string
	// Blobs, when set, is the store shared by every node that holds the
	// disks (see ami.Disks).
	Blobs blob.Store
}

// RemoveDisk removes an AMI disk no AMI uses any more.
func (a *Artifacts) RemoveDisk(rel string) error {
	if a.Blobs == nil {
		return ami.RemoveDisk(a.DataDir, rel)
	}
	return (&ami.Disks{DataDir: a.DataDir, Blobs: a.Blobs}).Remove(context.Background(), rel)
}

// DeleteContainerImage deletes what an image URI names from kiln's
// registry, as ECR's BatchDeleteImage does for one image ID: by tag, the
// tag goes, and the image with it once no other tag points at it (so a
// build's version tag never takes a `latest` that points elsewhere with
// it); by digest, the image and all its tags. An image already gone is no
// error.
func (a *Artifacts) DeleteContainerImage(ctx context.Context, uri string) error {
	host, repo, ref, err := ParseImageURI(uri)
	if err != nil {
		return err
	}
	if !slices.Contains(a.Hosts, host) {
		return fmt.Errorf("%s is not in kiln's registry (%s)", uri, strings.Join(a.Hosts, ", "))
	}
	digest, err := a.Registry.Resolve(repo, ref)
	if errors.Is(err, registry.ErrManifestUnknown) || errors.Is(err, registry.ErrNameUnknown) {
		return nil
	} else if err != nil {
		return err
	}
	if _, byDigest := registry.ParseDigest(ref); !byDigest {
		if err := a.Registry.DeleteManifest(ctx, repo, ref); err != nil && !errors.Is(err, registry.ErrManifestUnknown) {
			return err
		}
		tags, err := a.Registry.Tags(repo)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if d, err := a.Registry.Resolve(repo, t); err == nil && d == digest {
				return nil // still tagged: the image stays
			}
		}
	}
	err = a.Registry.DeleteManifest(ctx, repo, digest)
	if errors.Is(err, registry.ErrManifestUnknown) {
		return nil
	}
	return err
}

// ParseImageURI splits an image URI as builds record it,
// HOST[:PORT]/REPOSITORY:TAG or HOST[:PORT]/REPOSITORY@DIGEST, checking
// the repository name, tag and digest as the registry spells them.
func ParseImageURI(uri string) (host, repo, ref string, err error) {
	host, rest, ok := strings.Cut(uri, "/")
	if !ok || host == "" || rest == "" {
		return "", "", "", fmt.Errorf("image URI %q is not HOST/REPOSITORY:TAG", uri)
	}
	if r, d, ok := strings.Cut(rest, "@"); ok {
		if _, valid := registry.ParseDigest(d); !valid {
			return "", "", "", fmt.Errorf("image URI %q: %q is not a digest", uri, d)
		}
		repo, ref = r, d
	} else {
		i := strings.LastIndex(rest, ":")
		if i < 0 || strings.Contains(rest[i:], "/") {
			return "", "", "", fmt.Errorf("image URI %q names no tag or digest", uri)
		}
		repo, ref = rest[:i], rest[i+1:]
		if !registry.ValidTag(ref) {
			return "", "", "", fmt.Errorf("image URI %q: %q is not a valid tag", uri, ref)
		}
	}
	if !registry.ValidName(repo) {
		return "", "", "", fmt.Errorf("image URI %q: %q is not a valid repository name", uri, repo)
	}
	return host, repo, ref, nil
}
