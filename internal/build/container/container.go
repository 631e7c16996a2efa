// Package container is the build engine's executor for container images
// (type DOCKER): it pulls the parent image, runs the recipe's Dockerfile
// and components in a sandbox over the parent's unpacked layers, turns
// what changed into one new layer, tests the result in a fresh sandbox,
// and pushes it into kiln's registry — with no Docker daemon anywhere.
//
// The workflow actions map onto a build like this:
//
//	LaunchInstance                 BUILD: pull the parent, unpack its layers (cached), make the overlay
//	                               TEST: an overlay over the new layer and the parent's
//	BootstrapInstanceForContainer  stage the component documents and the kiln runner
//	ExecuteComponents              BUILD: the Dockerfile (RUN, COPY, ...) with the components in
//	                               place of {{{ imagebuilder:components }}}, then the layer, the
//	                               image config, the inventory, and the push to the target repository
//	                               TEST: the test phase of every component
//	TerminateInstance              drop the instance's writable layer
//	DistributeContainerImage       tag the image in the distribution's repositories
package container

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/build"
	"github.com/kiln-build/kiln/internal/build/guest"
	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// Where the build's helpers appear inside the sandbox. /.kiln is a
// read-only bind of the build's staging directory; nothing of it is left
// in the image (the sandbox removes the mountpoint it creates).
const (
	stageDir     = "/.kiln"
	guestBinary  = stageDir + "/kiln"
	guestDocs    = stageDir + "/documents"
	guestContext = stageDir + "/context"
	guestLogs    = stageDir + "/logs"
)

// componentsInstruction is what {{{ imagebuilder:components }}} expands to:
// an instruction of kiln's own that the Dockerfile parser passes through
// as an extension, run as the components' build and validate phases.
const componentsInstruction = "KILN_COMPONENTS"

// Executor builds container images.
type Executor struct {
	// Registry is kiln's registry; RegistryHost is the "host:port" its
	// images are named by (the listen address).
	Registry     *registry.Registry
	RegistryHost string
	// Cache holds unpacked layers shared by every build.
	Cache *oci.LayerCache
	// Pull says how parent images in other registries are reached.
	Pull oci.Options
	// Binary is the kiln executable mounted into sandboxes to run
	// components; it must be statically linked.
	Binary string
	// Network is the sandboxes' network (host by default: components
	// install packages).
	Network sandbox.Network
	// Timeout bounds a single sandboxed command (0: the step's timeout).
	Timeout time.Duration
}

// Open implements build.Executor.
func (x *Executor) Open(ctx context.Context, b *build.Build) (build.Instance, error) {
	if b.Image.ContainerRecipe == nil {
		return nil, errors.New("the image has no container recipe")
	}
	if err := checkStatic(x.Binary); err != nil {
		return nil, err
	}
	return &instance{x: x, b: b}, nil
}

// checkStatic refuses a dynamically linked kiln: the runner executes
// inside images that may have no C library at all.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading the kiln binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the kiln binary %s is dynamically linked, so it cannot run inside images; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// instance is one container build.
type instance struct {
	x *Executor
	b *build.Build

	parent       v1.Image
	parentLowers []string
	upper, work  string // the build's overlay
	stage        string // host side of /.kiln
	plan         *dockerfile.Plan
	result       v1.Image
	digest       string
	repo         string
	testUpper    string
	testWork     string
	env          []string // the final image's environment, for tests
}

// Do implements build.Instance.
func (in *instance) Do(ctx context.Context, s *build.Step) error {
	switch s.Action {
	case "LaunchInstance":
		if s.Workflow == awsapi.WorkflowTypeBuild {
			return in.launchBuild(ctx, s)
		}
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.launchTest(s)
		}
		s.Logf("distribution needs no instance: kiln's registry is local")
		return nil
	case "BootstrapInstanceForContainer":
		return in.bootstrap(s)
	case "ExecuteComponents":
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.runTests(ctx, s)
		}
		return in.runBuild(ctx, s)
	case "TerminateInstance":
		if s.Workflow == awsapi.WorkflowTypeTest && in.testUpper != "" {
			os.RemoveAll(filepath.Dir(in.testUpper))
			in.testUpper = ""
		}
		s.Logf("instance terminated")
		return nil
	case "DistributeContainerImage":
		return in.distribute(ctx, s)
	}
	return fmt.Errorf("%w: %s", build.ErrUnsupportedAction, s.Action)
}

// Close implements build.Instance.
func (in *instance) Close(keep bool) error {
	if keep {
		return in.writeShellInfo()
	}
	return os.RemoveAll(in.b.WorkDir)
}

// ShellInfo is what `kiln shell` needs to open a shell in a kept build.
type ShellInfo struct {
	Lower []string `json:"lower"`
	Upper string   `json:"upper"`
	Work  string   `json:"work"`
	Env   []string `json:"env"`
	Dir   string   `json:"dir"`
}

// ShellInfoFile is the file in a kept build's work directory that
// describes its instance.
const ShellInfoFile = "instance.json"

func (in *instance) writeShellInfo() error {
	info := ShellInfo{Lower: in.parentLowers, Upper: in.upper, Work: in.work, Env: in.env, Dir: "/"}
	if in.testUpper != "" {
		info.Lower = append([]string{in.upper}, in.parentLowers...)
		info.Upper, info.Work = in.testUpper, in.testWork
	}
	if in.plan != nil {
		info.Env = in.plan.Config.Env
		if in.plan.Config.WorkingDir != "" {
			info.Dir = in.plan.Config.WorkingDir
		}
	}
	if info.Upper == "" {
		return nil
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(in.b.WorkDir, ShellInfoFile), b, 0o600)
}

func (in *instance) launchBuild(ctx context.Context, s *build.Step) error {
	ref := in.b.Job.ParentImage
	s.Logf("pulling the parent image %s", ref)
	img, err := oci.Pull(ctx, ref, in.x.Pull)
	if err != nil {
		return fmt.Errorf("pulling the parent image %s: %w", ref, err)
	}
	start := time.Now()
	lowers, err := in.x.Cache.Lowers(ctx, img)
	if err != nil {
		return fmt.Errorf("unpacking the parent image %s: %w", ref, err)
	}
	s.Logf("parent image %s: %d layers ready in %s", ref, len(lowers), time.Since(start).Round(time.Millisecond))
	if len(lowers) == 0 {
		// overlayfs needs a lower layer; an empty one stands for scratch.
		empty := filepath.Join(in.b.WorkDir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return err
		}
		lowers = []string{empty}
	}
	in.parent, in.parentLowers = img, lowers
	in.upper, in.work, err = overlayDirs(filepath.Join(in.b.WorkDir, "build"))
	s.Outputs["instanceId"] = "kiln-" + filepath.Base(in.b.WorkDir)
	return err
}

func overlayDirs(dir string) (upper, work string, err error) {
	upper, work = filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", err
		}
	}
	return upper, work, nil
}

func (in *instance) launchTest(s *build.Step) error {
	if in.upper == "" {
		return errors.New("there is no built image to test")
	}
	var err error
	in.testUpper, in.testWork, err = overlayDirs(filepath.Join(in.b.WorkDir, "test"))
	s.Outputs["instanceId"] = "kiln-test-" + filepath.Base(in.b.WorkDir)
	return err
}

// bootstrap stages the runner and the component documents: the host side
// of /.kiln.
func (in *instance) bootstrap(s *build.Step) error {
	if in.stage != "" {
		return nil
	}
	stage := filepath.Join(in.b.WorkDir, "stage")
	for _, d := range []string{"documents", "context", "logs"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := linkOrCopy(in.x.Binary, filepath.Join(stage, "kiln")); err != nil {
		return fmt.Errorf("staging the kiln runner: %w", err)
	}
	for i, c := range in.b.Components {
		name := componentFile(i, c)
		if err := os.WriteFile(filepath.Join(stage, "documents", name), []byte(c.Data), 0o644); err != nil {
			return err
		}
		s.Logf("staged component %s as %s", c.ARN, name)
	}
	in.stage = stage
	return nil
}

func componentFile(i int, c build.Component) string {
	return fmt.Sprintf("%02d-%s.yaml", i+1, c.Name)
}

// linkOrCopy puts the file src at dst: a hard link when both are on one
// filesystem, a copy otherwise.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sandboxConfig is the sandbox of the build or the test instance.
func (in *instance) sandboxConfig(test bool, log io.Writer) sandbox.Config {
	cfg := sandbox.Config{
		Lower: in.parentLowers, Upper: in.upper, Work: in.work,
		Network: in.x.Network, Stdout: log, Stderr: log, Timeout: in.x.Timeout,
		Binds: []sandbox.Bind{
			{Source: in.stage, Target: stageDir, ReadOnly: true},
			{Source: filepath.Join(in.stage, "logs"), Target: guestLogs},
		},
	}
	if test {
		cfg.Lower = append([]string{in.upper}, in.parentLowers...)
		cfg.Upper, cfg.Work = in.testUpper, in.testWork
	}
	return cfg
}

// run runs argv in the sandbox and turns a non-zero exit into an error.
func (in *instance) run(ctx context.Context, cfg sandbox.Config, what string, argv ...string) error {
	code, err := sandbox.Run(ctx, cfg, argv...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exit status %d", what, code)
	}
	return nil
}

// runBuild runs the Dockerfile, then makes and pushes the image.
func (in *instance) runBuild(ctx context.Context, s *build.Step) error {
	if in.stage == "" {
		if err := in.bootstrap(s); err != nil {
			return err
		}
	}
	recipe := in.b.Image.ContainerRecipe
	text, err := ExpandTemplate(recipe.DockerfileTemplateData, in.b.Job.ParentImage)
	if err != nil {
		return err
	}
	f, err := dockerfile.Parse(text, nil, componentsInstruction)
	if err != nil {
		return fmt.Errorf("the Dockerfile: %w", err)
	}
	cfgFile, err := in.parent.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the parent image's config: %w", err)
	}
	plan, err := f.Evaluate(cfgFile.Config)
	if err != nil {
		return fmt.Errorf("the Dockerfile: %w", err)
	}
	in.plan = plan
	cfg := in.sandboxConfig(false, s.Log)
	for _, st := range plan.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := in.runDockerfileStep(ctx, cfg, s, st); err != nil {
			return err
		}
	}

	s.Logf("collecting the image's inventory")
	inv, err := in.inventory(ctx, cfg, s)
	if err != nil {
		return err
	}
	s.Logf("making the image layer")
	start := time.Now()
	layer, err := oci.DiffLayer(ctx, in.upper, in.b.WorkDir)
	if err != nil {
		return err
	}
	size, _ := layer.Size()
	s.Logf("layer %s bytes compressed, made in %s", fmt.Sprint(size), time.Since(start).Round(time.Millisecond))
	img, err := in.assemble(layer, plan)
	if err != nil {
		return err
	}
	in.result = img
	in.env = plan.Config.Env

	// The target repository of the recipe is the build's own output.
	in.repo = recipe.TargetRepository.RepositoryName
	tags := []string{in.versionTag()}
	digest, err := oci.PushLocal(ctx, in.x.Registry, in.repo, tags, img)
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", in.repo, err)
	}
	in.digest = digest
	s.Logf("pushed %s/%s:%s (%s)", in.x.RegistryHost, in.repo, tags[0], digest)
	s.Outputs["imageUri"] = in.x.RegistryHost + "/" + in.repo + ":" + tags[0]
	s.Outputs["digest"] = digest

	return in.b.Update(ctx, func(img *awsapi.Image) {
		if v := inv.OS.ImageBuilderVersion(); v != "" {
			img.OsVersion = v
		}
		img.OutputResources = &awsapi.OutputResources{Containers: []awsapi.Container{{
			Region:    regionOf(in.b.Image.Arn),
			ImageUris: []string{in.x.RegistryHost + "/" + in.repo + ":" + tags[0]},
		}}}
	})
}

// regionOf is the region field of an ARN.
func regionOf(a string) string {
	f := strings.SplitN(a, ":", 5)
	if len(f) < 4 {
		return ""
	}
	return f[3]
}

// versionTag is the tag every build gets: the image version and build
// number ("1.0.0-3"), unique per build.
func (in *instance) versionTag() string {
	f := strings.Split(in.b.Image.Arn, "/")
	build := f[len(f)-1]
	return in.b.Image.Version + "-" + build
}

// runDockerfileStep runs one filesystem-changing instruction.
func (in *instance) runDockerfileStep(ctx context.Context, cfg sandbox.Config, s *build.Step, st dockerfile.Step) error {
	cfg.Env, cfg.Dir = st.Env, st.Dir
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	switch st.Kind {
	case "RUN":
		for _, fl := range st.Flags {
			if !strings.HasPrefix(fl, "--network=host") && fl != "--network=default" {
				return fmt.Errorf("line %d: RUN %s is not supported by kiln", st.Line, fl)
			}
		}
		s.Logf("RUN %s", strings.Join(st.Argv, " "))
		// The working directory may not exist yet: create it as docker does.
		if err := in.mkdir(ctx, cfg, st.Dir); err != nil {
			return err
		}
		argv := st.Argv
		if st.User != "" {
			argv = append([]string{guestBinary, "internal", "run", "--user", st.User, "--"}, argv...)
		}
		return in.run(ctx, cfg, fmt.Sprintf("line %d: RUN", st.Line), argv...)
	case "WORKDIR":
		return in.mkdir(ctx, cfg, st.Dest)
	case "COPY", "ADD":
		return in.copy(ctx, cfg, s, st)
	case componentsInstruction:
		return in.runComponents(ctx, cfg, s, []string{"build", "validate"}, false)
	}
	return fmt.Errorf("line %d: %s is not supported by kiln", st.Line, st.Kind)
}

func (in *instance) mkdir(ctx context.Context, cfg sandbox.Config, dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	cfg.Dir = "/"
	return in.run(ctx, cfg, "creating "+dir, guestBinary, "internal", "mkdir", dir)
}

// copy runs COPY/ADD. Sources are read from the build context, which for
// an Image Builder recipe holds the staged component documents (there is
// no other context: the recipe is a template, not a directory).
func (in *instance) copy(ctx context.Context, cfg sandbox.Config, s *build.Step, st dockerfile.Step) error {
	var srcs []string
	for _, src := range st.Sources {
		if strings.Contains(src, "://") {
			return fmt.Errorf("line %d: %s from a URL is not supported by kiln yet", st.Line, st.Kind)
		}
		clean := filepath.Clean("/" + src)
		if _, err := os.Lstat(filepath.Join(in.stage, "documents", clean)); err != nil {
			return fmt.Errorf("line %d: %s %s: not in the build context (the component documents)", st.Line, st.Kind, src)
		}
		srcs = append(srcs, guestDocs+clean)
	}
	s.Logf("%s %s %s", st.Kind, strings.Join(st.Sources, " "), st.Dest)
	args := []string{guestBinary, "internal", "copy"}
	if st.Chown != "" {
		args = append(args, "--chown", st.Chown)
	}
	if st.Chmod != "" {
		args = append(args, "--chmod", st.Chmod)
	}
	args = append(append(args, srcs...), st.Dest)
	cfg.Dir = "/"
	return in.run(ctx, cfg, fmt.Sprintf("line %d: %s", st.Line, st.Kind), args...)
}

// runComponents runs the given phases of the components: every component
// through all phases in recipe order, one runner per component, so a
// failure names its component.
func (in *instance) runComponents(ctx context.Context, cfg sandbox.Config, s *build.Step, phases []string, testsOnly bool) error {
	cfg.Dir = "/"
	if cfg.Env == nil && in.plan != nil {
		cfg.Env = in.plan.Config.Env
	}
	for _, phase := range phases {
		for i, c := range in.b.Components {
			if testsOnly != (phase == "test") {
				continue
			}
			doc := guestDocs + "/" + componentFile(i, c)
			args := []string{guestBinary, "toe", "run", "--documents", doc, "--phases", phase,
				"--log-directory", guestLogs, "--execution-id", fmt.Sprintf("%s-%02d-%s", phase, i+1, c.Name)}
			if len(c.Parameters) > 0 {
				params, err := json.Marshal(toeParameters(c.Parameters))
				if err != nil {
					return err
				}
				args = append(args, "--parameters", string(params))
			}
			s.Logf("component %s: phase %s", c.Name, phase)
			var tail tailBuffer
			ccfg := cfg
			ccfg.Stdout, ccfg.Stderr = io.MultiWriter(cfg.Stdout, &tail), io.MultiWriter(cfg.Stderr, &tail)
			if err := in.run(ctx, ccfg, fmt.Sprintf("component %s (%s) phase %s", c.Name, c.ARN, phase), args...); err != nil {
				if msg := tail.failureMessage(); msg != "" {
					return fmt.Errorf("component %s (%s) phase %s: %s", c.Name, c.ARN, phase, msg)
				}
				return err
			}
		}
	}
	return nil
}

// tailBuffer keeps the last bytes written to it: the runner's summary.
type tailBuffer struct{ b []byte }

const tailSize = 16 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = t.b[len(t.b)-tailSize:]
	}
	return len(p), nil
}

// failureMessage is the failureMessage of the runner's closing JSON
// summary ("Document ... failed: Phase build failed: Step X failed: ..."),
// or "".
func (t *tailBuffer) failureMessage() string {
	i := bytes.LastIndex(t.b, []byte("\n{"))
	if i < 0 {
		return ""
	}
	var summary struct {
		FailureMessage string `json:"failureMessage"`
	}
	if json.Unmarshal(t.b[i+1:], &summary) != nil {
		return ""
	}
	return summary.FailureMessage
}

// toeParameters renders recipe parameters as awstoe's JSON form.
func toeParameters(ps []awsapi.ComponentParameter) []map[string]string {
	var out []map[string]string
	for _, p := range ps {
		out = append(out, map[string]string{"name": p.Name, "value": strings.Join(p.Value, ",")})
	}
	return out
}

func (in *instance) runTests(ctx context.Context, s *build.Step) error {
	if in.stage == "" {
		if err := in.bootstrap(s); err != nil {
			return err
		}
	}
	cfg := in.sandboxConfig(true, s.Log)
	cfg.Env = in.env
	return in.runComponents(ctx, cfg, s, []string{"test"}, true)
}

// inventory reads os-release and the package databases inside the
// sandbox, and records the packages when enhanced metadata is on.
func (in *instance) inventory(ctx context.Context, cfg sandbox.Config, s *build.Step) (guest.Inventory, error) {
	var out bytes.Buffer
	cfg.Stdout, cfg.Dir, cfg.Env = &out, "/", nil
	var inv guest.Inventory
	if err := in.run(ctx, cfg, "collecting the inventory", guestBinary, "internal", "inventory"); err != nil {
		return inv, err
	}
	if err := json.Unmarshal(out.Bytes(), &inv); err != nil {
		return inv, fmt.Errorf("collecting the inventory: %w", err)
	}
	if inv.Problem != "" {
		s.Logf("inventory: %s", inv.Problem)
	}
	s.Logf("inventory: %s, %d packages", inv.OS.PrettyName, len(inv.Packages))
	if e := in.b.Image.EnhancedImageMetadataEnabled; e != nil && !*e {
		return inv, nil
	}
	pkgs := make([]awsapi.ImagePackage, 0, len(inv.Packages))
	for _, p := range inv.Packages {
		pkgs = append(pkgs, awsapi.ImagePackage{PackageName: p.Name, PackageVersion: p.Version})
	}
	return inv, in.b.SetPackages(ctx, pkgs)
}

// assemble puts the new layer and the Dockerfile's config on the parent.
func (in *instance) assemble(layer v1.Layer, plan *dockerfile.Plan) (v1.Image, error) {
	now := time.Now().UTC()
	var hist []v1.History
	for _, h := range plan.History {
		h.EmptyLayer = true
		h.Created = v1.Time{Time: now}
		hist = append(hist, h)
	}
	add := mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: now}, CreatedBy: "kiln: " + in.b.Image.Arn, Comment: "the Dockerfile's RUN, COPY and ADD steps and the components' build phase",
	}}
	// A Docker-schema parent keeps Docker media types throughout: a
	// manifest mixing them is refused by some registries.
	if mt, err := in.parent.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
		add.MediaType = types.DockerLayer
	}
	img, err := mutate.Append(in.parent, add)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config = plan.Config
	cf.Created = v1.Time{Time: now}
	if plan.Author != "" {
		cf.Author = plan.Author
	}
	// The Dockerfile's instructions go before the layer's own entry.
	n := len(cf.History)
	cf.History = slices.Concat(cf.History[:n-1], hist, cf.History[n-1:])
	return mutate.ConfigFile(img, cf)
}

// distribute tags the image in the repositories the distribution
// configuration names for this region, with its containerTags.
func (in *instance) distribute(ctx context.Context, s *build.Step) error {
	if in.result == nil {
		return errors.New("there is no built image to distribute")
	}
	dc := in.b.Image.DistributionConfiguration
	region := regionOf(in.b.Image.Arn)
	uris := []string{in.x.RegistryHost + "/" + in.repo + ":" + in.versionTag()}
	if dc != nil {
		for _, d := range dc.Distributions {
			cd := d.ContainerDistributionConfiguration
			if cd == nil || cd.TargetRepository == nil {
				continue
			}
			if d.Region != region {
				s.Logf("skipping region %s: kiln's registry serves one region (%s)", d.Region, region)
				continue
			}
			repo := cd.TargetRepository.RepositoryName
			tags := cd.ContainerTags
			if len(tags) == 0 {
				tags = []string{in.versionTag()}
			}
			if _, err := oci.PushLocal(ctx, in.x.Registry, repo, tags, in.result); err != nil {
				return fmt.Errorf("distributing to %s: %w", repo, err)
			}
			for _, t := range tags {
				uri := in.x.RegistryHost + "/" + repo + ":" + t
				if !slices.Contains(uris, uri) {
					uris = append(uris, uri)
				}
				s.Logf("distributed %s", uri)
			}
		}
	}
	s.Outputs["imageUris"] = uris
	return in.b.Update(ctx, func(img *awsapi.Image) {
		img.OutputResources = &awsapi.OutputResources{Containers: []awsapi.Container{{Region: region, ImageUris: uris}}}
	})
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
