package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/binfmt"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/platform"
)

// Container images of another architecture than the host's (arm64 images
// on an x86_64 host). The platforms a build makes are decided when the
// image is created (engine.Spec.Platforms: the recipe's kiln:platforms
// tag, the instance types' architecture, or a single-platform parent);
// with none given the parent's own platform is built.
//
// The parent's index is resolved to the platform's image. As for machine
// images, kiln's runner stays a native program in the sandbox and every
// program of the image it starts — RUN's shell, the components' scripts —
// runs under Debian's qemu-user through binfmt_misc (package binfmt
// registers the handler with the fix-binary flag when the host has none,
// and the build fails saying why when it cannot).
//
// A build of several platforms builds each in turn over its own overlay,
// the first (this host's architecture when listed) as the build's own
// instance, which the test phase then tests; the others only run the
// Dockerfile. They are pushed as one OCI image index.

// launchPlatform pulls the parent for the build's first platform and
// makes sure this host can run the image's programs.
func (in *instance) launchPlatform(ctx context.Context, s *engine.Step) error {
	ps, err := buildPlatforms(in.B.Job.Platforms)
	if err != nil {
		return err
	}
	in.platforms = ps
	explicit := len(ps) > 0
	if explicit {
		in.Tools.Pull.Platform = ps[0]
		s.Logf("platforms: %s", platformList(ps))
	}
	if err := in.Launch(ctx, s, in.B.Job.ParentImage); err != nil {
		return err
	}
	return in.settlePlatform(s, explicit)
}

// buildPlatforms parses the build's platforms and orders them: this
// host's architecture first when listed, as it builds fastest and is the
// one the test phase runs.
func buildPlatforms(names []string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for _, n := range names {
		p, err := platform.ParseOne(n)
		if err != nil {
			return nil, fmt.Errorf("the build's platforms: %w", err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if a, ok := binfmt.ForName(p.Architecture); ok && a.Native() && i > 0 {
			ps[0], ps[i] = ps[i], ps[0]
			break
		}
	}
	return ps, nil
}

func platformList(ps []v1.Platform) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += platform.String(p)
	}
	return s
}

// settlePlatform reads the pulled parent's platform from its config: with
// the platform asked for (explicit) it must be that one — a
// single-platform parent of another architecture is refused, naming both —
// otherwise it is the build's. Then it makes sure this host runs the
// image's programs.
func (in *instance) settlePlatform(s *engine.Step, explicit bool) error {
	cf, err := in.Parent.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the parent image's config: %w", err)
	}
	got := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if got.OS == "" {
		got.OS = "linux"
	}
	if explicit {
		want := in.platforms[0]
		if got.Architecture != "" && !platform.SameArch(got, want) {
			return fmt.Errorf("the build is for %s but the parent image %s is %s only (a single-platform image, or an index without %s): use a parent with a %s image, or instance types of %s",
				platform.String(want), in.B.Job.ParentImage, platform.String(got), platform.String(want), platform.String(want), platform.EC2Arch(got))
		}
		in.platform = want
	} else {
		in.platform = got
		if got.Architecture == "" {
			host, _ := binfmt.Host()
			in.platform = v1.Platform{OS: "linux", Architecture: host.GOARCH}
			s.Logf("platform: the parent's config names no architecture; building for this host's, %s", platform.String(in.platform))
		}
	}
	s.Logf("platform: %s", platform.String(in.platform))
	return ensureRunnable(in.platform, binfmt.Options{ProbeDir: in.B.WorkDir}, s.Logf)
}

// ensureRunnable makes sure programs of p run on this host, logging how,
// or says why they cannot (o: the real host's binfmt_misc but in tests).
func ensureRunnable(p v1.Platform, o binfmt.Options, logf func(string, ...any)) error {
	a, ok := binfmt.ForName(p.Architecture)
	if !ok {
		return fmt.Errorf("the image is %s, which kiln cannot build (linux/amd64 and linux/arm64)", platform.String(p))
	}
	if a.Native() {
		return nil
	}
	r, err := binfmt.Ensure(a, o)
	if err != nil {
		return fmt.Errorf("the image is %s and this host cannot run its programs (RUN steps and components run under qemu-user through binfmt_misc): %w", platform.String(p), err)
	}
	logf("binfmt: %s", r)
	return nil
}

// buildOtherPlatforms builds the image of every platform after the first,
// each over its own overlay in a directory of the build's, and makes the
// index of them all. Only the first platform's image is inventoried,
// scanned and tested.
func (in *instance) buildOtherPlatforms(ctx context.Context, s *engine.Step) error {
	if len(in.platforms) < 2 {
		return nil
	}
	images := []v1.Image{in.result}
	for _, p := range in.platforms[1:] {
		s.Logf("building the %s image", platform.String(p))
		img, err := in.buildPlatform(ctx, s, p)
		if err != nil {
			return fmt.Errorf("the %s image: %w", platform.String(p), err)
		}
		images = append(images, img)
	}
	idx, err := indexOf(images, append([]v1.Platform{in.platform}, in.platforms[1:]...))
	if err != nil {
		return err
	}
	in.index = idx
	s.Logf("the image index lists %s; only the %s image is tested and scanned", platformList(in.platforms), platform.String(in.platform))
	return nil
}

// buildPlatform builds p's image: the parent pulled for p, its own
// overlay, runner and documents, the Dockerfile and components.
func (in *instance) buildPlatform(ctx context.Context, s *engine.Step, p v1.Platform) (v1.Image, error) {
	b := *in.B
	b.WorkDir = filepath.Join(in.B.WorkDir, "platform-"+p.Architecture)
	if err := os.MkdirAll(b.WorkDir, 0o700); err != nil {
		return nil, err
	}
	tools := *in.Tools
	tools.Pull.Platform = p
	sub := &instance{
		Instance: &sandboxed.Instance{Tools: &tools, B: &b, ComponentDir: in.ComponentDir, ActAsOwner: true, Runner: in.Runner},
		fetch:    in.fetch, platforms: []v1.Platform{p},
	}
	if err := sub.Launch(ctx, s, in.B.Job.ParentImage); err != nil {
		return nil, err
	}
	if err := sub.settlePlatform(s, true); err != nil {
		return nil, err
	}
	if err := sub.Bootstrap(s); err != nil {
		return nil, err
	}
	img, _, _, err := sub.buildImage(ctx, s, false)
	return img, err
}

// withPlatform makes the image's config name p (a parent that named none,
// or another variant, still gives an image that says what it runs on).
func withPlatform(img v1.Image, p v1.Platform) (v1.Image, error) {
	if p.Architecture == "" {
		return img, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	if cf.OS == p.OS && cf.Architecture == p.Architecture && (p.Variant == "" || cf.Variant == p.Variant) {
		return img, nil
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Architecture
	if p.Variant != "" {
		cf.Variant = p.Variant
	}
	return mutate.ConfigFile(img, cf)
}

// indexOf makes the index of images, each described with its platform:
// an OCI index, or a Docker manifest list when the images are Docker's
// (as their parent was), so no registry sees the two schemas mixed.
func indexOf(images []v1.Image, ps []v1.Platform) (v1.ImageIndex, error) {
	mt := types.OCIImageIndex
	var adds []mutate.IndexAddendum
	for i, img := range images {
		imt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		if imt == types.DockerManifestSchema2 {
			mt = types.DockerManifestList
		}
		p := ps[i]
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: imt, Platform: &p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...), nil
}

// push writes the build's result to repo of kiln's registry under tags:
// the index when the build made several platforms, else the image.
func (in *instance) push(ctx context.Context, repo string, tags []string) (string, error) {
	if in.index != nil {
		return oci.PushLocalIndex(ctx, in.Tools.Registry, repo, tags, in.index)
	}
	return oci.PushLocal(ctx, in.Tools.Registry, repo, tags, in.result)
}

// ParentPlatforms returns the platforms of a parent image in kiln's
// registry, for the checks CreateImage makes: each platform an index
// lists, or the one a single image's config names. Parents in other
// registries are not looked at (nil): their build checks them.
func (x *Executor) ParentPlatforms(ctx context.Context, ref string) ([]v1.Platform, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil || r.Context().RegistryStr() != x.RegistryHost || x.Registry == nil {
		return nil, nil
	}
	m, err := x.Registry.GetManifest(ctx, r.Context().RepositoryStr(), r.Identifier())
	if err != nil {
		return nil, nil // the build says what is wrong with the parent
	}
	switch types.MediaType(m.MediaType) {
	case types.OCIImageIndex, types.DockerManifestList:
		var idx v1.IndexManifest
		if err := json.Unmarshal(m.Body, &idx); err != nil {
			return nil, fmt.Errorf("the parent image's index: %w", err)
		}
		var ps []v1.Platform
		for _, d := range idx.Manifests {
			if d.Platform != nil && d.Platform.OS != "unknown" {
				ps = append(ps, *d.Platform)
			}
		}
		return ps, nil
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Body, &man); err != nil {
		return nil, fmt.Errorf("the parent image's manifest: %w", err)
	}
	rd, _, err := x.Registry.OpenBlob(ctx, r.Context().RepositoryStr(), man.Config.Digest.String())
	if err != nil {
		return nil, nil
	}
	defer rd.Close()
	var cf v1.ConfigFile
	if err := json.NewDecoder(rd).Decode(&cf); err != nil {
		return nil, errors.New("the parent image's config is not JSON")
	}
	if cf.Architecture == "" {
		return nil, nil
	}
	return []v1.Platform{{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}, nil
}

// builtIndex reports whether repo:tag of kiln's registry is an image
// index: the build that pushed it made several platforms.
func (x *Executor) builtIndex(ctx context.Context, repo, tag string) bool {
	if x.Registry == nil {
		return false
	}
	m, err := x.Registry.GetManifest(ctx, repo, tag)
	if err != nil {
		return false
	}
	mt := types.MediaType(m.MediaType)
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

// openBuiltIndex reads a built index back for DistributeImage: the index
// is what is pushed, its first image stands for the build's result.
func (in *instance) openBuiltIndex(ctx context.Context, ref string, pull oci.Options) error {
	idx, err := oci.PullIndex(ctx, ref, pull)
	if err != nil {
		return fmt.Errorf("reading the built image %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) == 0 {
		return fmt.Errorf("the built image %s is an empty index", ref)
	}
	if in.result, err = idx.Image(im.Manifests[0].Digest); err != nil {
		return fmt.Errorf("reading the built image %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	in.index, in.digest = idx, d.String()
	return nil
}
