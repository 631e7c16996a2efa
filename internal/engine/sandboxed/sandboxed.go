// Package sandboxed is what the build engine's root-filesystem executors
// (container images, machine images) share: an instance made of the
// parent's unpacked layers under an overlay, the kiln runner and the
// component documents staged read-only at /.kiln, components run phase by
// phase in the sandbox, and the inventory read from inside.
package sandboxed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/elfdeps"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/guest"
	"github.com/kiln-build/kiln/internal/fileutil"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/sandbox"
	"github.com/kiln-build/kiln/internal/toe"
)

// Where the build's helpers appear inside the sandbox. /.kiln is a
// read-only bind of the build's staging directory; nothing of it is left
// in the image (the sandbox removes the mountpoint it creates).
const (
	StageDir    = "/.kiln"
	GuestBinary = StageDir + "/kiln"
	GuestDocs   = StageDir + "/documents"
	GuestLogs   = StageDir + "/logs"
)

// Tools are what every sandboxed build uses: the registry, the layer
// cache, the runner binary.
type Tools struct {
	// Registry is kiln's registry; RegistryHost is the "host:port" its
	// images are named by (the listen address).
	Registry     *registry.Registry
	RegistryHost string
	// Cache holds unpacked layers shared by every build.
	Cache *oci.LayerCache
	// Pull says how parent images in other registries are reached.
	Pull oci.Options
	// Binary is the kiln executable mounted into sandboxes to run
	// components. A static one runs as it is; a dynamically linked one
	// (a plain `go build`) brings its loader and libraries along (see
	// [RunnerDeps]).
	Binary string
	// Network is the sandboxes' network: kiln serve's --build-network,
	// private by default (outbound access through a user-mode stack,
	// none of the host's loopback).
	Network sandbox.Network
	// Timeout bounds a single sandboxed command (0: the step's timeout).
	Timeout time.Duration
	// NoLimits runs sandboxes without the CPU, memory and process limits
	// of the build's instance type.
	NoLimits bool

	// Builds act as the account that owns the image. OwnerAuth, when set,
	// gives the credentials that account's pulls from kiln's registry use
	// (instead of Pull.Auth); Authorize, when set, checks that the account
	// may do action on a repository of kiln's registry before the build
	// touches it (with dryRun, a push to a repository nobody owns yet
	// passes without creating it).
	OwnerAuth func(account string) authn.Keychain
	Authorize func(ctx context.Context, account, repository string, action registry.Action, dryRun bool) error
}

// Owner returns the account the build acts as: the job's account, which
// is the image's owner for a build and the caller for a DistributeImage
// (who may distribute an image shared with it, as itself).
func (in *Instance) Owner() string {
	if in.B.Job.Account != "" {
		return in.B.Job.Account
	}
	a, err := arn.Parse(in.B.Image.Arn)
	if err != nil {
		return ""
	}
	return a.Account
}

// AuthorizeRepository checks that the image's owner may do action on a
// repository of kiln's registry; nil when no check is configured.
func (in *Instance) AuthorizeRepository(ctx context.Context, repository string, action registry.Action, dryRun bool) error {
	if in.Tools.Authorize == nil {
		return nil
	}
	if err := in.Tools.Authorize(ctx, in.Owner(), repository, action, dryRun); err != nil {
		return fmt.Errorf("account %s may not %s repository %s of kiln's registry: %w", in.Owner(), action, repository, err)
	}
	return nil
}

// OwnRepository returns the repository of kiln's registry that ref names,
// or "" when ref is in another registry.
func (in *Instance) OwnRepository(ref string) string {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil || r.Context().RegistryStr() != in.Tools.RegistryHost {
		return ""
	}
	return r.Context().RepositoryStr()
}

// Instance is one build's sandboxed instance.
type Instance struct {
	Tools *Tools
	B     *engine.Build

	Parent       v1.Image
	ParentLowers []string
	Upper, Work  string // the build's overlay
	Stage        string // host side of /.kiln
	TestUpper    string
	TestWork     string
	// Env and Dir are the environment and working directory shells get
	// (the image's, for containers).
	Env []string
	Dir string
	// ActAsOwner makes Launch pull with the image owner's credentials
	// (Tools.OwnerAuth) rather than kiln's.
	ActAsOwner bool
	// ComponentDir is where the runner starts: the recipe's
	// workingDirectory (default /tmp, a tmpfs in the sandbox).
	ComponentDir string
	// Runner is what a dynamically linked kiln binary needs to run in
	// the sandbox (see [RunnerDeps]); nil for a static one.
	Runner *elfdeps.Deps
}

// Close releases the instance: keep (a failed build whose infrastructure
// says terminateInstanceOnFailure: false) leaves it for `kiln shell`.
// Otherwise the work directory is moved aside and deleted in the
// background: deleting a build's thousands of files must not delay the
// image becoming AVAILABLE. Build directories left half-deleted by a
// crash are swept at the next start (engine.SweepTrash).
func (in *Instance) Close(keep bool) error {
	if keep {
		return in.writeShellInfo()
	}
	return engine.RemoveInBackground(in.B.WorkDir)
}

// TerminateTest drops the test instance's writable layer.
func (in *Instance) TerminateTest() {
	if in.TestUpper != "" {
		os.RemoveAll(filepath.Dir(in.TestUpper))
		in.TestUpper = ""
	}
}

// runners caches, per kiln binary, what it needs from the host to run
// inside an image: resolving runs the loader, once per binary.
var runners sync.Map // binary path -> *runnerDeps

type runnerDeps struct {
	once sync.Once
	deps *elfdeps.Deps
	err  error
}

// RunnerDeps returns the dynamic loader and libraries the kiln binary needs
// to run as the build's runner inside images, or nil when it is
// statically linked (CGO_ENABLED=0) and needs nothing. A plain `go build`
// links libc dynamically; the runner then carries the host's loader and
// libc into the sandbox (see package elfdeps) instead of relying on the
// image's, which may be missing (busybox, distroless) or another one
// (musl).
func RunnerDeps(ctx context.Context, binary string) (*elfdeps.Deps, error) {
	v, _ := runners.LoadOrStore(binary, &runnerDeps{})
	r := v.(*runnerDeps)
	r.once.Do(func() {
		r.deps, r.err = elfdeps.Resolve(ctx, binary)
		if r.err != nil {
			r.err = fmt.Errorf("the kiln binary %s is dynamically linked and its libraries cannot be carried into images (%w); build it with CGO_ENABLED=0", binary, r.err)
		}
	})
	return r.deps, r.err
}

// GuestLibDir is where a dynamically linked runner's loader and
// libraries are staged, inside the sandbox or the guest.
const GuestLibDir = StageDir + "/" + elfdeps.LibDir

// RunnerArgv is how to start the staged runner (GuestBinary) with args:
// itself when static, through its staged loader when not.
func RunnerArgv(deps *elfdeps.Deps, args ...string) []string {
	return deps.Argv(GuestLibDir, GuestBinary, args...)
}

func (in *Instance) writeShellInfo() error {
	info := ShellInfo{Lower: in.ParentLowers, Upper: in.Upper, Work: in.Work, Env: in.Env, Dir: "/"}
	if in.TestUpper != "" {
		info.Lower = append([]string{in.Upper}, in.ParentLowers...)
		info.Upper, info.Work = in.TestUpper, in.TestWork
	}
	if in.Dir != "" {
		info.Dir = in.Dir
	}
	if info.Upper == "" {
		return nil
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(in.B.WorkDir, ShellInfoFile), b, 0o600)
}

// Launch pulls the parent image ref and prepares the build overlay over
// its unpacked layers.
func (in *Instance) Launch(ctx context.Context, s *engine.Step, ref string) error {
	s.Logf("pulling the parent image %s", ref)
	pull := in.Tools.Pull
	if in.ActAsOwner && in.Tools.OwnerAuth != nil {
		pull.Auth = in.Tools.OwnerAuth(in.Owner())
	}
	img, err := oci.Pull(ctx, ref, pull)
	if err != nil {
		return fmt.Errorf("pulling the parent image %s: %w", ref, err)
	}
	start := time.Now()
	lowers, err := in.Tools.Cache.Lowers(ctx, img)
	if err != nil {
		return fmt.Errorf("unpacking the parent image %s: %w", ref, err)
	}
	s.Logf("parent image %s: %d layers ready in %s", ref, len(lowers), time.Since(start).Round(time.Millisecond))
	if len(lowers) == 0 {
		// overlayfs needs a lower layer; an empty one stands for scratch.
		empty := filepath.Join(in.B.WorkDir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return err
		}
		lowers = []string{empty}
	}
	in.Parent, in.ParentLowers = img, lowers
	if in.Tools.NoLimits {
		s.Logf("sandbox: network %s, no limits", in.Tools.Network)
	} else {
		lim, from := in.limits()
		s.Logf("sandbox: network %s, limits of %s: %s", in.Tools.Network, from, lim)
	}
	in.Upper, in.Work, err = overlayDirs(filepath.Join(in.B.WorkDir, "build"))
	s.Outputs["instanceId"] = "kiln-" + filepath.Base(in.B.WorkDir)
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

// LaunchTest makes a fresh test instance over the built image: a test
// workflow never sees what an earlier one (kept after it failed, its
// onFailure CONTINUE) left in its instance.
func (in *Instance) LaunchTest(s *engine.Step) error {
	if in.Upper == "" {
		return errors.New("there is no built image to test")
	}
	in.TerminateTest()
	var err error
	in.TestUpper, in.TestWork, err = overlayDirs(filepath.Join(in.B.WorkDir, "test"))
	s.Outputs["instanceId"] = "kiln-test-" + filepath.Base(in.B.WorkDir)
	return err
}

// bootstrap stages the runner and the component documents: the host side
// of /.kiln.
func (in *Instance) Bootstrap(s *engine.Step) error {
	if in.Stage != "" {
		return nil
	}
	stage := filepath.Join(in.B.WorkDir, "stage")
	for _, d := range []string{"documents", "context", "logs"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := fileutil.LinkOrCopy(in.Tools.Binary, filepath.Join(stage, "kiln"), 0o755); err != nil {
		return fmt.Errorf("staging the kiln runner: %w", err)
	}
	if in.Runner != nil {
		if err := in.Runner.Stage(filepath.Join(stage, elfdeps.LibDir)); err != nil {
			return fmt.Errorf("staging the kiln runner: %w", err)
		}
		s.Logf("the kiln binary is dynamically linked: staged its loader %s and %d librar(ies) beside the runner", in.Runner.Interp, len(in.Runner.Libs))
	}
	for i, c := range in.B.Components {
		name := componentFile(i, c)
		if err := os.WriteFile(filepath.Join(stage, "documents", name), []byte(c.Data), 0o644); err != nil {
			return err
		}
		s.Logf("staged component %s as %s", c.ARN, name)
	}
	in.Stage = stage
	return nil
}

// hasPhase reports whether a component's document has the phase, so
// components without it cost no runner start. A document that does not
// parse is run anyway: the runner reports the problem with its line.
func hasPhase(c engine.Component, phase string) bool {
	doc, err := toe.Parse(c.Name, []byte(c.Data))
	if err != nil {
		return true
	}
	for _, p := range doc.Phases {
		if strings.EqualFold(p.Name, phase) {
			return true
		}
	}
	return false
}

// ComponentFile is the file name a component document is staged as.
func ComponentFile(i int, c engine.Component) string { return componentFile(i, c) }

func componentFile(i int, c engine.Component) string {
	return fmt.Sprintf("%02d-%s.yaml", i+1, c.Name)
}

// sandboxConfig is the sandbox of the build or the test instance.
func (in *Instance) Config(test bool, log io.Writer) sandbox.Config {
	cfg := sandbox.Config{
		Lower: in.ParentLowers, Upper: in.Upper, Work: in.Work,
		Network: in.Tools.Network, Stdout: log, Stderr: log, Timeout: in.Tools.Timeout,
		Binds: []sandbox.Bind{
			{Source: in.Stage, Target: StageDir, ReadOnly: true},
			{Source: filepath.Join(in.Stage, "logs"), Target: GuestLogs},
		},
	}
	if !in.Tools.NoLimits {
		cfg.Limits, _ = in.limits()
	}
	if test {
		cfg.Lower = append([]string{in.Upper}, in.ParentLowers...)
		cfg.Upper, cfg.Work = in.TestUpper, in.TestWork
	}
	return cfg
}

// run runs argv in the sandbox and turns a non-zero exit into an error.
func (in *Instance) Run(ctx context.Context, cfg sandbox.Config, what string, argv ...string) error {
	if len(argv) > 0 && argv[0] == GuestBinary {
		argv = RunnerArgv(in.Runner, argv[1:]...)
	}
	code, err := sandbox.Run(ctx, cfg, argv...)
	if oom := in.explainOOM(what, err); oom != nil {
		return oom
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exit status %d", what, code)
	}
	return nil
}

// regionOf is the region field of an ARN.
func RegionOf(a string) string {
	f := strings.SplitN(a, ":", 5)
	if len(f) < 4 {
		return ""
	}
	return f[3]
}

// versionTag is the tag every build gets: the image version and build
// number ("1.0.0-3"), unique per build.
func VersionTag(img awsapi.Image) string {
	f := strings.Split(img.Arn, "/")
	return img.Version + "-" + f[len(f)-1]
}

func (in *Instance) Mkdir(ctx context.Context, cfg sandbox.Config, dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	cfg.Dir = "/"
	return in.Run(ctx, cfg, "creating "+dir, guest.Argv(GuestBinary, guest.MkdirRequest{Dir: dir})...)
}

// Runner runs one command of a component run (in a sandbox, or in a
// booted guest) with its output going to stdout and stderr, and fails on a
// non-zero exit.
type Runner func(ctx context.Context, what string, stdout, stderr io.Writer, argv ...string) error

// RunComponents runs the given phases of the components with the kiln
// runner: for each phase, every component in recipe order, one runner
// per component, so a failure names the component and (from the runner's
// summary) its failed step. With testsOnly only the test phase runs; else
// every phase but test.
func (in *Instance) RunComponents(ctx context.Context, cfg sandbox.Config, s *engine.Step, phases []string, testsOnly bool) error {
	cfg.Dir = "/"
	if in.ComponentDir != "" && in.ComponentDir != "/tmp" {
		if err := in.Mkdir(ctx, cfg, in.ComponentDir); err != nil {
			return err
		}
		cfg.Dir = in.ComponentDir
	} else if in.ComponentDir == "/tmp" {
		cfg.Dir = "/tmp"
	}
	if cfg.Env == nil {
		cfg.Env = in.Env
	}
	run := func(ctx context.Context, what string, stdout, stderr io.Writer, argv ...string) error {
		c := cfg
		c.Stdout, c.Stderr = stdout, stderr
		return in.Run(ctx, c, what, argv...)
	}
	return RunComponents(ctx, in.B.Components, s, phases, testsOnly, GuestDocs, GuestLogs, run)
}

// RunComponents runs component phases through run, the documents being at
// docs and the runner's log folders going to logs (paths where run
// executes).
func RunComponents(ctx context.Context, comps []engine.Component, s *engine.Step, phases []string, testsOnly bool, docs, logs string, run Runner) error {
	for _, phase := range phases {
		for i, c := range comps {
			if testsOnly != (phase == "test") || !hasPhase(c, phase) {
				continue
			}
			doc := docs + "/" + componentFile(i, c)
			args := []string{GuestBinary, "toe", "run", "--documents", doc, "--phases", phase,
				"--log-directory", logs, "--execution-id", fmt.Sprintf("%s-%02d-%s", phase, i+1, c.Name)}
			if len(c.Parameters) > 0 {
				params, err := json.Marshal(toeParameters(c.Parameters))
				if err != nil {
					return err
				}
				args = append(args, "--parameters", string(params))
			}
			s.Logf("component %s: phase %s", c.Name, phase)
			var tail tailBuffer
			what := fmt.Sprintf("component %s (%s) phase %s", c.Name, c.ARN, phase)
			if err := run(ctx, what, io.MultiWriter(s.Log, &tail), io.MultiWriter(s.Log, &tail), args...); err != nil {
				if errors.Is(err, sandbox.ErrOutOfMemory) {
					// The runner's own summary names only the
					// step the kernel killed into.
					return err
				}
				if msg := tail.failureMessage(); msg != "" {
					return fmt.Errorf("%s: %s", what, msg)
				}
				return err
			}
		}
	}
	return nil
}

// toeParameters renders recipe parameters as awstoe's JSON form.
func toeParameters(ps []awsapi.ComponentParameter) []map[string]string {
	var out []map[string]string
	for _, p := range ps {
		out = append(out, map[string]string{"name": p.Name, "value": strings.Join(p.Value, ",")})
	}
	return out
}

// inventory reads os-release and the package databases inside the
// sandbox, and records the packages when enhanced metadata is on.
func (in *Instance) Inventory(ctx context.Context, cfg sandbox.Config, s *engine.Step) (guest.Inventory, error) {
	var out bytes.Buffer
	cfg.Stdout, cfg.Dir, cfg.Env = &out, "/", nil
	var inv guest.Inventory
	if err := in.Run(ctx, cfg, "collecting the inventory", guest.Argv(GuestBinary, guest.InventoryRequest{})...); err != nil {
		return inv, err
	}
	if err := json.Unmarshal(out.Bytes(), &inv); err != nil {
		return inv, fmt.Errorf("collecting the inventory: %w", err)
	}
	if inv.Problem != "" {
		s.Logf("inventory: %s", inv.Problem)
	}
	s.Logf("inventory: %s, %d packages", inv.OS.PrettyName, len(inv.Packages))
	if e := in.B.Image.EnhancedImageMetadataEnabled; e != nil && !*e {
		return inv, nil
	}
	pkgs := make([]awsapi.ImagePackage, 0, len(inv.Packages))
	for _, p := range inv.Packages {
		pkgs = append(pkgs, awsapi.ImagePackage{PackageName: p.Name, PackageVersion: p.Version})
	}
	return inv, in.B.SetPackages(ctx, pkgs)
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
