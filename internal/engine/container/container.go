// Package container is the build engine's executor for container images
// (type DOCKER): it pulls the parent image, runs the recipe's Dockerfile
// (every stage the result needs) and components in a sandbox over the
// unpacked layers, one overlay upper directory per filesystem-changing
// instruction, each of which becomes a layer as docker build's would (or
// one layer for all, with the kiln:layers=squash recipe tag), reuses the
// layers an earlier build made for the same steps (stages.go), tests the
// result in a fresh sandbox, and pushes it into kiln's registry — with no
// Docker daemon anywhere.
//
// The workflow actions map onto a build like this:
//
//	LaunchInstance                 BUILD: pull the parent, unpack its layers (cached)
//	                               TEST: an overlay over the new layers and the parent's
//	BootstrapInstanceForContainer  stage the component documents and the kiln runner
//	ExecuteComponents              BUILD: the Dockerfile's stages (RUN, COPY, ...) with the components in
//	                               place of {{{ imagebuilder:components }}}, then the layers, the
//	                               image config, the inventory, and the push to the target repository
//	                               TEST: the test phase of every component
//	TerminateInstance              drop the instance's writable layer
//	DistributeContainerImage       tag the image in the distribution's repositories
//
// An image of another architecture (arm64 on an x86_64 host) is built the
// same way, its programs run under qemu-user through binfmt_misc; a build
// may make several platforms and push an image index (platform.go).
//
// With imageScanningConfiguration.imageScanningEnabled, the image's packages are
// matched against kiln's vulnerability database right after the push
// (CollectImageScanFindings in a custom workflow does the same, once).
package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/guest"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/fetch"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/registrymap"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// componentsInstruction is what {{{ imagebuilder:components }}} expands to:
// an instruction of kiln's own that the Dockerfile parser passes through
// as an extension, run as the components' build and validate phases.
const componentsInstruction = "KILN_COMPONENTS"

// Executor builds container images.
type Executor struct {
	sandboxed.Tools
	// Fetch downloads ADD URLs (nil: public addresses only, kiln's
	// default fetch policy).
	Fetch *fetch.Client
	// Registries are the operator's --registry-for mappings: a container
	// distribution to a mapped region goes to that registry (nil: none).
	Registries *registrymap.Registries
}

// Open implements engine.Executor.
func (x *Executor) Open(ctx context.Context, b *engine.Build) (engine.Instance, error) {
	if b.Image.ContainerRecipe == nil {
		return nil, errors.New("the image has no container recipe")
	}
	runner, err := sandboxed.RunnerDeps(ctx, x.Binary)
	if err != nil {
		return nil, err
	}
	dir := b.Image.ContainerRecipe.WorkingDirectory
	if dir == "" {
		dir = "/tmp"
	}
	// Each build has its own copy of the tools: its pulls ask for its
	// platform (Tools.Pull.Platform).
	tools := x.Tools
	return &instance{Instance: &sandboxed.Instance{Tools: &tools, B: b, ComponentDir: dir, ActAsOwner: true, Runner: runner}, fetch: x.Fetch, external: x.Registries}, nil
}

// instance is one container build.
type instance struct {
	*sandboxed.Instance
	fetch    *fetch.Client
	external *registrymap.Registries
	plan     *dockerfile.Plan
	result   v1.Image
	digest   string
	repo     string
	// inventory is the built image's, read before its layer was made.
	inventory *guest.Inventory
	// platforms are the platforms the build makes, the one built first
	// (and tested) first; empty: the parent's own (platform.go).
	platforms []v1.Platform
	// platform is what this instance's image is built for.
	platform v1.Platform
	// index, for a build of several platforms, lists result and the
	// other platforms' images; it is what the recipe's tag names.
	index v1.ImageIndex
}

// Do implements engine.Instance.
func (in *instance) Do(ctx context.Context, s *engine.Step) error {
	switch s.Action {
	case "LaunchInstance":
		if s.Workflow == awsapi.WorkflowTypeBuild {
			if err := in.checkRepositories(ctx); err != nil {
				return err
			}
			return in.launchPlatform(ctx, s)
		}
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.LaunchTest(s)
		}
		s.Logf("distribution needs no instance: kiln's registry is local")
		s.Outputs["instanceId"] = "kiln-dist-" + filepath.Base(in.B.WorkDir)
		return nil
	case "BootstrapInstanceForContainer":
		return in.Bootstrap(s)
	case "ExecuteComponents":
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.runTests(ctx, s)
		}
		return in.runBuild(ctx, s)
	case "TerminateInstance":
		if s.Workflow == awsapi.WorkflowTypeTest {
			in.TerminateTest()
		}
		s.Logf("instance terminated")
		return nil
	case "DistributeContainerImage":
		return in.distribute(ctx, s)
	case "CollectImageScanFindings":
		return in.scanPushed(ctx, s)
	case "DistributeImage":
		s.Logf("DistributeImage of a container image: distributed as DistributeContainerImage does")
		return in.distribute(ctx, s)
	case "CollectImageMetadata":
		return in.collectMetadata(ctx, s)
	case "CreateImage":
		return in.createImage(s)
	case "RunCommand", "WaitForSSMAgent":
		return sandboxed.RunInstanceAction(ctx, s, in.runner)
	case "RegisterImage", "ModifyImageAttributes", "ApplyImageConfigurations", "SanitizeInstance", "CreateImageFromIso":
		return sandboxed.AMIOnly(s.Action)
	}
	return fmt.Errorf("%w: %s", engine.ErrUnsupportedAction, s.Action)
}

// runner runs commands in the instance of the step's workflow: the build
// instance in a build workflow, the test instance in a test workflow.
func (in *instance) runner(s *engine.Step) (sandboxed.Runner, error) {
	if err := in.Bootstrap(s); err != nil {
		return nil, err
	}
	switch {
	case s.Workflow == awsapi.WorkflowTypeTest && in.TestUpper != "":
		return in.SandboxRunner(in.Config(true, s.Log)), nil
	case s.Workflow != awsapi.WorkflowTypeTest && in.Upper != "":
		return in.SandboxRunner(in.Config(false, s.Log)), nil
	}
	return nil, fmt.Errorf("%s needs a running instance: no LaunchInstance step has run in this %s workflow", s.Action, strings.ToLower(s.Workflow))
}

// collectMetadata reads the build instance's OS and packages
// (CollectImageMetadata); the image's osVersion and package list follow.
func (in *instance) collectMetadata(ctx context.Context, s *engine.Step) error {
	if in.Upper == "" {
		return errors.New("CollectImageMetadata needs the build instance: no LaunchInstance step has run")
	}
	if err := in.Bootstrap(s); err != nil {
		return err
	}
	inv, err := in.Inventory(ctx, in.Config(false, s.Log), s)
	if err != nil {
		return err
	}
	v := inv.OS.ImageBuilderVersion()
	s.Outputs["osVersion"] = v
	if v == "" {
		return nil
	}
	return in.B.Update(ctx, func(img *awsapi.Image) { img.OsVersion = v })
}

// createImage is CreateImage for a container: the image was made and
// pushed by ExecuteComponents, and its digest reference is the image id.
func (in *instance) createImage(s *engine.Step) error {
	if in.result == nil {
		return errors.New("there is no container image to capture: ExecuteComponents makes it in a build workflow")
	}
	id := in.Tools.RegistryHost + "/" + in.repo + "@" + in.digest
	s.Logf("the container image was pushed by ExecuteComponents: %s", id)
	s.Outputs["imageId"] = id
	return nil
}

// Rollback implements engine.Rollbacker: a test instance launched by a
// workflow that aborted is removed, unless the infrastructure
// configuration keeps failed instances; the build instance is removed
// with the build (or kept the same way).
func (in *instance) Rollback(ctx context.Context, s *engine.Step) error {
	if s.Action != "LaunchInstance" {
		s.Logf("nothing to undo: kiln keeps no SSM association")
		return nil
	}
	if in.B.KeepOnFailure() {
		s.Logf("the instance is kept: terminateInstanceOnFailure is false")
		return nil
	}
	if s.Workflow == awsapi.WorkflowTypeTest {
		in.TerminateTest()
		s.Logf("test instance terminated")
		return nil
	}
	s.Logf("the build instance is terminated when the build ends")
	return nil
}

// runBuild runs the Dockerfile's stages, then makes and pushes the image.
func (in *instance) runBuild(ctx context.Context, s *engine.Step) error {
	if in.Stage == "" {
		if err := in.Bootstrap(s); err != nil {
			return err
		}
	}
	img, inv, record, err := in.buildImage(ctx, s, true)
	if err != nil {
		return err
	}
	in.result = img
	if err := in.buildOtherPlatforms(ctx, s); err != nil {
		return err
	}

	// The target repository of the recipe is the build's own output.
	recipe := in.B.Image.ContainerRecipe
	in.repo = recipe.TargetRepository.RepositoryName
	tags := []string{sandboxed.VersionTag(in.B.Image)}
	if err := in.AuthorizeRepository(ctx, in.repo, registry.ActionPush, false); err != nil {
		return err
	}
	digest, err := in.push(ctx, in.repo, tags)
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", in.repo, err)
	}
	in.digest = digest
	record(ctx, in.repo)
	s.Logf("pushed %s/%s:%s (%s)", in.Tools.RegistryHost, in.repo, tags[0], digest)
	s.Outputs["imageUri"] = in.Tools.RegistryHost + "/" + in.repo + ":" + tags[0]
	s.Outputs["digest"] = digest

	in.inventory = &inv
	err = in.B.Update(ctx, func(img *awsapi.Image) {
		if v := inv.OS.ImageBuilderVersion(); v != "" {
			img.OsVersion = v
		}
		img.OutputResources = &awsapi.OutputResources{Containers: []awsapi.Container{{
			Region:    sandboxed.RegionOf(in.B.Image.Arn),
			ImageUris: []string{in.Tools.RegistryHost + "/" + in.repo + ":" + tags[0]},
		}}}
	})
	if err != nil {
		return err
	}
	return in.scanPushed(ctx, s)
}

// buildImage runs the Dockerfile's stages over the launched parent and
// makes the image of this instance's platform, layer by layer;
// withInventory also reads the image's inventory (for the build's record
// and scan: one platform's). record, called once the image is in the
// registry, remembers its steps' layers for later builds to reuse.
func (in *instance) buildImage(ctx context.Context, s *engine.Step, withInventory bool) (img v1.Image, inv guest.Inventory, record func(context.Context, string), err error) {
	recipe := in.B.Image.ContainerRecipe
	text, err := ExpandTemplate(recipe.DockerfileTemplateData, in.B.Job.ParentImage)
	if err != nil {
		return nil, inv, nil, err
	}
	f, err := dockerfile.Parse(text, nil, componentsInstruction)
	if err != nil {
		return nil, inv, nil, fmt.Errorf("the Dockerfile: %w", err)
	}
	b := &stageBuilder{in: in, s: s, file: f, done: map[int]*stageResult{}, images: map[string]*pulled{}}
	if in.Parent != nil {
		// The parent Launch pulled, before the stages' steps repoint the
		// instance's layers.
		parent, lowers, err := in.instanceBase(ctx, b)
		if err != nil {
			return nil, inv, nil, err
		}
		if _, err := b.remember(in.B.Job.ParentImage, parent, lowers); err != nil {
			return nil, inv, nil, err
		}
	}
	switch v := recipe.Tags[TagLayers]; v {
	case "", "docker":
	case "squash":
		b.squash = true
	default:
		return nil, inv, nil, fmt.Errorf("the recipe tag %s=%q: want docker or squash", TagLayers, v)
	}
	switch v := recipe.Tags[TagCache]; v {
	case "", "on", "all":
		if !b.squash {
			b.cache = &oci.StepCache{Dir: filepath.Join(in.Tools.Cache.Dir, ".steps")}
			b.cacheComponents = v == "all"
		}
	case "off":
	default:
		return nil, inv, nil, fmt.Errorf("the recipe tag %s=%q: want on, all or off", TagCache, v)
	}
	final, err := b.build(ctx, len(f.Stages)-1)
	if err != nil {
		return nil, inv, nil, err
	}
	plan := final.plan
	in.plan = plan
	in.Env, in.Dir = plan.Config.Env, plan.Config.WorkingDir
	// The test instance and the inventory see the result: its layers
	// under a fresh, empty upper.
	in.ParentLowers = final.lowers()
	if len(in.ParentLowers) == 0 {
		e, err := b.emptyLower()
		if err != nil {
			return nil, inv, nil, err
		}
		in.ParentLowers = []string{e}
	}
	if in.Upper, in.Work, err = b.newDirs(); err != nil {
		return nil, inv, nil, err
	}
	if withInventory {
		s.Logf("collecting the image's inventory")
		if inv, err = in.Inventory(ctx, in.Config(false, s.Log), s); err != nil {
			return nil, inv, nil, err
		}
	}
	if n := len(final.layers); n > 0 {
		made, reused := 0, 0
		for _, l := range final.layers {
			switch {
			case l.reused:
				reused++
			case l.layer != nil:
				made++
			}
		}
		s.Logf("the image has %d new layer(s) over its base: %d made, %d reused", made+reused, made, reused)
	}
	img, err = withPlatform(final.image, in.platform)
	if err != nil {
		return nil, inv, nil, err
	}
	return img, inv, func(ctx context.Context, repo string) { b.record(ctx, repo, final) }, nil
}

// instanceBase is what the Dockerfile builds on: the parent, and over it,
// as one more layer, whatever the build workflow's steps before
// ExecuteComponents wrote into the instance (RunCommand, user data), which
// Image Builder's snapshot of the instance would hold too.
func (in *instance) instanceBase(ctx context.Context, b *stageBuilder) (v1.Image, []string, error) {
	ents, err := os.ReadDir(in.Upper)
	if err != nil || len(ents) == 0 {
		return in.Parent, in.ParentLowers, nil
	}
	s := b.s
	s.Logf("the instance was changed before ExecuteComponents: those changes are a layer over the parent")
	layer, err := oci.DiffLayer(ctx, in.Upper, in.B.WorkDir)
	if err != nil {
		return nil, nil, err
	}
	img, err := mutate.Append(in.Parent, mutate.Addendum{
		Layer: layer, MediaType: b.layerMediaType(in.Parent),
		History: v1.History{Created: v1.Time{Time: time.Now().UTC()}, CreatedBy: "kiln: the build instance's changes before ExecuteComponents"},
	})
	if err != nil {
		return nil, nil, err
	}
	return img, append([]string{in.Upper}, in.ParentLowers...), nil
}

// scanPushed is the container image's scan: Image Builder has Inspector
// scan a container image once it is in ECR, with no step of its own in
// the test workflow, so kiln scans the image's inventory as soon as the
// image is in kiln's registry. A scan that fails does not fail the build
// (Image Builder's do not); the kiln:fail-on-severity gate may.
// A custom workflow's CollectImageScanFindings step does the same, once.
func (in *instance) scanPushed(ctx context.Context, s *engine.Step) error {
	var inv guest.Inventory
	if in.inventory != nil {
		inv = *in.inventory
	}
	if err := in.B.ScanImage(ctx, s, inv.OS, inv.Packages); err != nil {
		s.Logf("%v (the build goes on: a failed scan does not fail an image)", err)
	}
	return nil
}

// runDockerfileStep runs one filesystem-changing instruction; prep has its
// sources resolved.
func (in *instance) runDockerfileStep(ctx context.Context, cfg sandbox.Config, s *engine.Step, st dockerfile.Step, prep prepared) error {
	cfg.Env, cfg.Dir = st.Env, st.Dir
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	switch st.Kind {
	case "RUN":
		binds, err := in.runMounts(st)
		if err != nil {
			return err
		}
		cfg.Binds = append(slices.Clone(cfg.Binds), binds...)
		s.Logf("RUN %s", strings.Join(st.Argv, " "))
		// The working directory may not exist yet: create it as docker does.
		if err := in.Mkdir(ctx, cfg, st.Dir); err != nil {
			return err
		}
		argv := st.Argv
		if st.User != "" {
			argv = guest.Argv(sandboxed.GuestBinary, guest.RunRequest{User: st.User, Argv: argv})
		}
		return in.Run(ctx, cfg, fmt.Sprintf("line %d: RUN", st.Line), argv...)
	case "WORKDIR":
		return in.Mkdir(ctx, cfg, st.Dest)
	case "COPY", "ADD":
		return in.copy(ctx, cfg, s, st, prep)
	case componentsInstruction:
		return in.RunComponents(ctx, cfg, s, []string{"build", "validate"}, false)
	}
	return fmt.Errorf("line %d: %s is not supported by kiln", st.Line, st.Kind)
}

// runMounts checks RUN's flags and returns the binds its cache mounts
// need. A cache mount is a directory kept per recipe (all its versions)
// and mount id under kiln's data directory, bound read-write at the
// target; it never becomes part of a layer. Other mount types are
// refused, naming the instruction.
func (in *instance) runMounts(st dockerfile.Step) ([]sandbox.Bind, error) {
	var binds []sandbox.Bind
	for _, fl := range st.Flags {
		switch {
		case strings.HasPrefix(fl, "--network="):
			if v := strings.TrimPrefix(fl, "--network="); v != "host" && v != "default" {
				return nil, fmt.Errorf("line %d: RUN %s is not supported by kiln (only default and host)", st.Line, fl)
			}
		case strings.HasPrefix(fl, "--mount="):
			b, err := in.cacheMount(st, strings.TrimPrefix(fl, "--mount="))
			if err != nil {
				return nil, err
			}
			binds = append(binds, b)
		default:
			return nil, fmt.Errorf("line %d: RUN %s is not supported by kiln", st.Line, fl)
		}
	}
	return binds, nil
}

// cacheMount turns a --mount=type=cache,... value into a bind.
func (in *instance) cacheMount(st dockerfile.Step, spec string) (sandbox.Bind, error) {
	fail := func(format string, a ...any) (sandbox.Bind, error) {
		return sandbox.Bind{}, fmt.Errorf("line %d: RUN --mount=%s: %s", st.Line, spec, fmt.Sprintf(format, a...))
	}
	opts := map[string]string{}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		switch k {
		case "dst", "destination":
			k = "target"
		}
		opts[k] = v
	}
	if t := opts["type"]; t != "cache" {
		if t == "" {
			t = "bind"
		}
		return fail("mount type %s is not supported by kiln (only type=cache)", t)
	}
	target := opts["target"]
	if target == "" || !path.IsAbs(path.Join(st.Dir, target)) {
		return fail("a cache mount needs target=PATH")
	}
	if path.IsAbs(target) {
		target = path.Clean(target)
	} else {
		target = path.Join(st.Dir, target)
	}
	if target == "/" || target == sandboxed.StageDir || strings.HasPrefix(target, sandboxed.StageDir+"/") {
		return fail("a cache mount cannot be at %s", target)
	}
	mode := os.FileMode(0o755)
	for k, v := range opts {
		switch k {
		case "type", "target", "id", "sharing":
		case "uid", "gid":
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return fail("invalid %s %q", k, v)
			}
		case "mode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o7777 {
				return fail("invalid mode %q", v)
			}
			mode = os.FileMode(m)
		case "readonly", "ro":
			return fail("a read-only cache mount is not supported by kiln")
		default:
			return fail("unknown option %q", k)
		}
	}
	id := opts["id"]
	if id == "" {
		id = target
	}
	recipe := in.B.Image.ContainerRecipe.Arn
	if i := strings.LastIndex(recipe, "/"); i > 0 {
		recipe = recipe[:i] // every version of the recipe shares its caches
	}
	sum := sha256.Sum256([]byte(recipe + "\x00" + id))
	dir := filepath.Join(in.Tools.Cache.Dir, ".run-caches", hex.EncodeToString(sum[:16]))
	if _, err := os.Stat(dir); err != nil {
		uid, _ := strconv.Atoi(opts["uid"])
		gid, _ := strconv.Atoi(opts["gid"])
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.Chown(dir, uid, gid)
		}
		if err == nil {
			err = os.Chmod(dir, mode)
		}
		if err != nil {
			return fail("making the cache directory: %v", err)
		}
	}
	return sandbox.Bind{Source: dir, Target: target}, nil
}

// copy runs COPY/ADD from the sources prepare resolved. A local archive
// given to ADD is unpacked; one downloaded from a URL is not, as in
// docker build.
func (in *instance) copy(ctx context.Context, cfg sandbox.Config, s *engine.Step, st dockerfile.Step, prep prepared) error {
	s.Logf("%s %s %s", st.Kind, strings.Join(st.Sources, " "), st.Dest)
	cfg.Dir = "/"
	what := fmt.Sprintf("line %d: %s", st.Line, st.Kind)
	if st.Kind == "ADD" && !slices.Contains(prep.urls, true) {
		return in.Run(ctx, cfg, what, guest.Argv(sandboxed.GuestBinary, guest.CopyRequest{Sources: prep.sources, Dest: st.Dest, Chown: st.Chown, Chmod: st.Chmod, Extract: true})...)
	}
	if st.Kind == "ADD" && slices.Contains(prep.urls, false) {
		// Mixed: the local sources are unpacked, the downloads copied.
		dest := st.Dest
		if !strings.HasSuffix(dest, "/") {
			dest += "/"
		}
		var local, remote []string
		for i, src := range prep.sources {
			if prep.urls[i] {
				remote = append(remote, src)
			} else {
				local = append(local, src)
			}
		}
		if err := in.Run(ctx, cfg, what, guest.Argv(sandboxed.GuestBinary, guest.CopyRequest{Sources: local, Dest: dest, Chown: st.Chown, Chmod: st.Chmod, Extract: true})...); err != nil {
			return err
		}
		return in.Run(ctx, cfg, what, guest.Argv(sandboxed.GuestBinary, guest.CopyRequest{Sources: remote, Dest: dest, Chown: st.Chown, Chmod: st.Chmod})...)
	}
	return in.Run(ctx, cfg, what, guest.Argv(sandboxed.GuestBinary, guest.CopyRequest{Sources: prep.sources, Dest: st.Dest, Chown: st.Chown, Chmod: st.Chmod})...)
}

// maxDownload bounds an ADD from a URL.
const maxDownload = 4 << 30

// download fetches an ADD source URL (http or https) on the host into the
// build context, checking ADD --checksum when given, and returns its name
// there. As in Docker, the file keeps the URL's last path element as its
// name when the destination is a directory. It goes through kiln's
// guarded fetcher: the recipe's author must not reach the host's own
// services, the metadata service or a private network through kiln.
func (in *instance) download(ctx context.Context, s *engine.Step, i int, src, checksum string) (name, sum string, err error) {
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", fmt.Errorf("only http and https URLs can be added")
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." || base == "" {
		base = "download"
	}
	dir := filepath.Join(in.Stage, "documents", fmt.Sprintf(".add-%d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	body, err := in.fetch.Open(ctx, src, maxDownload)
	if err != nil {
		return "", "", err
	}
	defer body.Close()
	f, err := os.OpenFile(filepath.Join(dir, base), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, maxDownload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", err
	}
	if n > maxDownload {
		return "", "", fmt.Errorf("larger than %d bytes", int64(maxDownload))
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if checksum != "" && got != checksum {
		return "", "", fmt.Errorf("checksum %s, want %s", got, checksum)
	}
	s.Logf("downloaded %s (%d bytes)", src, n)
	return filepath.Base(dir) + "/" + base, got, nil
}

func (in *instance) runTests(ctx context.Context, s *engine.Step) error {
	if in.Stage == "" {
		if err := in.Bootstrap(s); err != nil {
			return err
		}
	}
	cfg := in.Config(true, s.Log)
	cfg.Env = in.Env
	return in.RunComponents(ctx, cfg, s, []string{"test"}, true)
}

// distribute tags the image in the repositories the distribution
// configuration names, with its containerTags: in kiln's registry for
// kiln's own region, and in the operator's registry for a region mapped
// with --registry-for (other regions are skipped). The image URIs are
// recorded per region in outputResources.containers.
func (in *instance) distribute(ctx context.Context, s *engine.Step) error {
	if in.result == nil {
		return errors.New("there is no built image to distribute")
	}
	dc := in.B.Image.DistributionConfiguration
	region := sandboxed.RegionOf(in.B.Image.Arn)
	uris := map[string][]string{region: {in.Tools.RegistryHost + "/" + in.repo + ":" + sandboxed.VersionTag(in.B.Image)}}
	regions := []string{region}
	add := func(r, uri string) {
		if !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
		if !slices.Contains(uris[r], uri) {
			uris[r] = append(uris[r], uri)
		}
		s.Logf("distributed %s", uri)
	}
	if dc != nil {
		for _, d := range dc.Distributions {
			cd := d.ContainerDistributionConfiguration
			if cd == nil || cd.TargetRepository == nil {
				continue
			}
			repo := cd.TargetRepository.RepositoryName
			tags := cd.ContainerTags
			if len(tags) == 0 {
				tags = []string{sandboxed.VersionTag(in.B.Image)}
			}
			target, mapped := in.external.For(d.Region)
			if !mapped && d.Region != region {
				s.Logf("skipping region %s: kiln's registry serves one region (%s) and kiln serve --registry-for maps no registry to %s", d.Region, region, d.Region)
				continue
			}
			// A mapped registry's repository names are kiln's too: the
			// owner must be allowed to push the name in kiln's registry,
			// and the push claims it, so no other account can push over it.
			if err := in.AuthorizeRepository(ctx, repo, registry.ActionPush, false); err != nil {
				return err
			}
			if mapped {
				pushed, err := in.pushExternal(ctx, s, target, repo, tags)
				for _, u := range pushed {
					add(d.Region, u)
				}
				if err != nil {
					return fmt.Errorf("distributing to %s: %w", d.Region, err)
				}
				continue
			}
			if _, err := in.push(ctx, repo, tags); err != nil {
				return fmt.Errorf("distributing to %s: %w", repo, err)
			}
			for _, t := range tags {
				add(region, in.Tools.RegistryHost+"/"+repo+":"+t)
			}
		}
	}
	var all []string
	for _, r := range regions {
		all = append(all, uris[r]...)
	}
	s.Outputs["imageUris"] = all
	return in.B.Update(ctx, func(img *awsapi.Image) {
		// What the image was distributed to before (a DistributeImage
		// adds to its build's distribution) stays listed.
		var out []awsapi.Container
		if img.OutputResources != nil {
			out = img.OutputResources.Containers
		}
		for _, r := range regions {
			i := slices.IndexFunc(out, func(c awsapi.Container) bool { return c.Region == r })
			if i < 0 {
				out = append(out, awsapi.Container{Region: r})
				i = len(out) - 1
			}
			for _, u := range uris[r] {
				if !slices.Contains(out[i].ImageUris, u) {
					out[i].ImageUris = append(out[i].ImageUris, u)
				}
			}
		}
		img.OutputResources = &awsapi.OutputResources{Containers: out}
	})
}

// pushExternal pushes the built image to a registry the operator mapped.
// The image is read back from kiln's registry, where the build put it,
// with this step's context: its parent's layers may otherwise still be
// read from a registry through the build step's context.
func (in *instance) pushExternal(ctx context.Context, s *engine.Step, t registrymap.Target, repo string, tags []string) ([]string, error) {
	ref := in.Tools.RegistryHost + "/" + in.repo + "@" + in.digest
	pull := in.Tools.Pull
	if in.Tools.OwnerAuth != nil {
		pull.Auth = in.Tools.OwnerAuth(in.Owner())
	}
	img, err := oci.Pull(ctx, ref, pull)
	if err != nil {
		return nil, fmt.Errorf("reading the built image %s: %w", ref, err)
	}
	s.Logf("pushing to %s, the registry kiln serve --registry-for maps %s to", t.Repository(repo), t.Region)
	start := time.Now()
	uris, digest, err := in.external.Push(ctx, t, repo, tags, img)
	if err != nil {
		return uris, err
	}
	s.Logf("pushed %s (%s) in %s", t.Repository(repo), digest, time.Since(start).Round(time.Millisecond))
	return uris, nil
}

// checkRepositories checks, before anything is pulled or run, that the
// image's owner may pull the parent (when it is in kiln's registry) and
// push to the recipe's target repository and to every repository the
// distribution names: a build acts as its owner, so a recipe naming
// another account's repository fails here, and that repository is never
// touched.
func (in *instance) checkRepositories(ctx context.Context) error {
	if repo := in.OwnRepository(in.B.Job.ParentImage); repo != "" {
		if err := in.AuthorizeRepository(ctx, repo, registry.ActionPull, true); err != nil {
			return fmt.Errorf("the parent image %s: %w", in.B.Job.ParentImage, err)
		}
	}
	repos := []string{in.B.Image.ContainerRecipe.TargetRepository.RepositoryName}
	if dc := in.B.Image.DistributionConfiguration; dc != nil {
		for _, d := range dc.Distributions {
			if _, mapped := in.external.For(d.Region); !mapped && d.Region != sandboxed.RegionOf(in.B.Image.Arn) {
				continue
			}
			if cd := d.ContainerDistributionConfiguration; cd != nil && cd.TargetRepository != nil {
				repos = append(repos, cd.TargetRepository.RepositoryName)
			}
		}
	}
	for _, repo := range repos {
		if err := in.AuthorizeRepository(ctx, repo, registry.ActionPush, true); err != nil {
			return err
		}
	}
	return in.checkExternal()
}

// checkExternal asks every registry the distribution goes to through
// --registry-for whether kiln may push there.
func (in *instance) checkExternal() error {
	dc := in.B.Image.DistributionConfiguration
	if dc == nil {
		return nil
	}
	for _, d := range dc.Distributions {
		cd := d.ContainerDistributionConfiguration
		if cd == nil || cd.TargetRepository == nil {
			continue
		}
		if t, mapped := in.external.For(d.Region); mapped {
			if err := in.external.CheckPush(t, cd.TargetRepository.RepositoryName); err != nil {
				return fmt.Errorf("distributing to %s: %w", d.Region, err)
			}
		}
	}
	return nil
}

// ExpandTemplate renders a container recipe's Dockerfile template for
// kiln: parentImage becomes the resolved parent, environments nothing (the
// runner and documents are mounted, not copied), components kiln's
// instruction that runs them.
func ExpandTemplate(template, parent string) (string, error) {
	return dockerfile.ExpandTemplate(template, map[string]string{
		dockerfile.PlaceholderParentImage:  parent,
		dockerfile.PlaceholderEnvironments: "",
		dockerfile.PlaceholderComponents:   componentsInstruction,
	})
}

// OpenBuilt implements engine.Redistributor: the image a build pushed to
// its recipe's target repository, read back from kiln's registry as the
// account that asked for the distribution (which must be allowed to pull
// it), for DistributeImage.
func (x *Executor) OpenBuilt(ctx context.Context, b *engine.Build) (engine.Instance, error) {
	recipe := b.Image.ContainerRecipe
	if recipe == nil || recipe.TargetRepository == nil {
		return nil, errors.New("the image has no container recipe with a target repository")
	}
	in := &instance{
		Instance: &sandboxed.Instance{Tools: &x.Tools, B: b, ActAsOwner: true},
		fetch:    x.Fetch, external: x.Registries, repo: recipe.TargetRepository.RepositoryName,
	}
	if err := in.AuthorizeRepository(ctx, in.repo, registry.ActionPull, true); err != nil {
		return nil, err
	}
	ref := x.RegistryHost + "/" + in.repo + ":" + sandboxed.VersionTag(b.Image)
	pull := x.Pull
	if x.OwnerAuth != nil {
		pull.Auth = x.OwnerAuth(in.Owner())
	}
	if x.builtIndex(ctx, in.repo, sandboxed.VersionTag(b.Image)) {
		// A build of several platforms: the index is distributed whole.
		if err := in.openBuiltIndex(ctx, ref, pull); err != nil {
			return nil, err
		}
		return &builtInstance{in}, nil
	}
	img, err := oci.Pull(ctx, ref, pull)
	if err != nil {
		return nil, fmt.Errorf("reading the built image %s: %w", ref, err)
	}
	if in.digest, err = digestOf(img); err != nil {
		return nil, err
	}
	in.result = img
	return &builtInstance{in}, nil
}

func digestOf(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// builtInstance is a container image built before, being distributed
// again: nothing is launched, bootstrapped or terminated.
type builtInstance struct{ *instance }

// Do implements engine.Instance.
func (in *builtInstance) Do(ctx context.Context, s *engine.Step) error {
	switch s.Action {
	case "LaunchInstance", "BootstrapInstanceForContainer", "TerminateInstance":
		s.Logf("%s: distributing a built image needs no instance", s.Action)
		if s.Action == "LaunchInstance" {
			// Later steps may reference the instance's id, as they do
			// in a build's distribution workflow.
			s.Outputs["instanceId"] = "kiln-dist-" + filepath.Base(in.B.WorkDir)
		}
		return nil
	}
	return in.instance.Do(ctx, s)
}
