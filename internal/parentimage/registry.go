package parentimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/progress"
)

// maxLayers bounds a parent's layer count: a build stacks the parent's
// layers and its own under one overlay mount, which takes about 40–60
// with kiln's, and distributions' images have one.
const maxLayers = 40

// SourceReference is where d is pulled from: Docker Hub, or registry
// (HOST[/PREFIX], a mirror or pull-through cache holding Docker Hub's
// paths under PREFIX).
func SourceReference(d Distribution, registry string) (string, error) {
	if registry == "" {
		return name.DefaultRegistry + "/" + d.Repository + ":" + d.Tag, nil
	}
	if strings.Contains(registry, "://") {
		return "", fmt.Errorf("--registry is HOST[/PREFIX] without a scheme (got %q); --insecure allows plain HTTP to a loopback registry", registry)
	}
	registry = strings.TrimRight(registry, "/")
	ref := registry + "/" + d.Repository + ":" + d.Tag
	if _, err := name.ParseReference(ref, name.StrictValidation); err != nil {
		return "", fmt.Errorf("--registry %q does not make an image reference: %v", registry, err)
	}
	return ref, nil
}

// FromRegistry pulls ref's image for f.Platform into an OCI layout under
// f.Workdir and returns it. The manifest and config are kept byte for
// byte, so the image keeps its digest in kiln's registry; every layer is
// checked against its size and digest as it arrives.
func (f *Fetcher) FromRegistry(ctx context.Context, ref string) (v1.Image, error) {
	var opts []name.Option
	if f.Insecure {
		r, err := name.ParseReference(ref)
		if err != nil {
			return nil, err
		}
		if !isLoopbackHost(r.Context().RegistryStr()) {
			return nil, fmt.Errorf("--insecure allows plain HTTP to loopback registries only, not %s", r.Context().RegistryStr())
		}
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	ctx, w, stop := f.watch(ctx)
	defer stop()
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(f.transport()),
		remote.WithPlatform(f.Platform),
		// A mirror that needs a login has it in ~/.docker/config.json,
		// as for docker and skopeo; Docker Hub gives anonymous tokens.
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, cause(ctx, err))
	}
	img, err := desc.Image() // an index resolves to f.Platform's image
	if err != nil {
		return nil, fmt.Errorf("pulling %s for %s: %w", ref, f.Platform.String(), cause(ctx, err))
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, cause(ctx, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	rawConfig, err := img.RawConfigFile() // checked against its digest by remote
	if err != nil {
		return nil, fmt.Errorf("pulling %s: config: %w", ref, cause(ctx, err))
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("pulling %s: config: %w", ref, err)
	}
	if len(manifest.Layers) == 0 || len(manifest.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("pulling %s: %d layers for %d diff IDs: not an image kiln can build on", ref, len(manifest.Layers), len(cfg.RootFS.DiffIDs))
	}
	if len(manifest.Layers) > maxLayers {
		return nil, fmt.Errorf("pulling %s: %d layers, more than the %d a parent may have (an overlay stacks only so many)", ref, len(manifest.Layers), maxLayers)
	}
	for i, l := range manifest.Layers {
		if l.Size > f.maxBlob() {
			return nil, fmt.Errorf("pulling %s: layer %d (%s) is %s, over the limit of %s (--max-blob-mib)", ref, i+1, l.Digest, progress.Size(l.Size), progress.Size(f.maxBlob()))
		}
	}
	dir := filepath.Join(f.Workdir, "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return nil, err
	}
	for i, l := range manifest.Layers {
		if l.Digest.Algorithm != "sha256" {
			return nil, fmt.Errorf("pulling %s: layer %d has a %s digest; only sha256 is checked", ref, i+1, l.Digest.Algorithm)
		}
		label := fmt.Sprintf("layer %d/%d %.19s", i+1, len(manifest.Layers), l.Digest.String())
		if err := f.pullLayer(ctx, w, r.Context(), l, filepath.Join(dir, "blobs", "sha256", l.Digest.Hex), label, ropts); err != nil {
			return nil, fmt.Errorf("pulling %s: %w", ref, cause(ctx, err))
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	if err := p.WriteBlob(cfgName, io.NopCloser(bytes.NewReader(rawConfig))); err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	if err := p.WriteBlob(digest, io.NopCloser(bytes.NewReader(rawManifest))); err != nil {
		return nil, err
	}
	if err := p.AppendDescriptor(v1.Descriptor{MediaType: mediaType, Size: int64(len(rawManifest)), Digest: digest}); err != nil {
		return nil, err
	}
	return p.Image(digest)
}

// pullLayer saves one layer blob of repo to path, checking its size and
// digest.
func (f *Fetcher) pullLayer(ctx context.Context, w *watchdog, repo name.Repository, l v1.Descriptor, path, label string, ropts []remote.Option) error {
	layer, err := remote.Layer(repo.Digest(l.Digest.String()), ropts...)
	if err != nil {
		return err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return f.saveVerified(w, rc, path, label, l.Size, l.Digest.Hex)
}
