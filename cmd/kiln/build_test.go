package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
	"github.com/kiln-build/kiln/internal/testclock"
)

// buildFixture is a kiln server with a base image in its registry and the
// resources a container build needs.
type buildFixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	base   string
	infra  string
}

func newBuildFixture(t *testing.T, terminateOnFailure bool, args ...string) *buildFixture {
	return newBuildFixtureLogging(t, terminateOnFailure, nil, args...)
}

func newBuildFixtureLogging(t *testing.T, terminateOnFailure bool, logging *types.Logging, args ...string) *buildFixture {
	t.Helper()
	return startBuildFixture(t, nil, terminateOnFailure, logging, args...)
}

// newClockedBuildFixture is newBuildFixture with kiln reading its time
// from a test clock.
func newClockedBuildFixture(t *testing.T, clock *testclock.Clock, terminateOnFailure bool, args ...string) *buildFixture {
	t.Helper()
	return startBuildFixture(t, []string{clock.Env()}, terminateOnFailure, nil, args...)
}

func startBuildFixture(t *testing.T, env []string, terminateOnFailure bool, logging *types.Logging, args ...string) *buildFixture {
	t.Helper()
	kilntest.RequireRoot(t)
	srv := kilntest.StartEnv(t, env, args...)
	f := &buildFixture{srv: srv, client: srv.Client(kilntest.DefaultCreds)}
	f.base = srv.PushBusyboxBase(t, "base/busybox")
	ctx := kilntest.Context(t)
	out, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
		TerminateInstanceOnFailure: aws.Bool(terminateOnFailure), Logging: logging,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *out.InfrastructureConfigurationArn
	return f
}

func (f *buildFixture) component(t *testing.T, name, doc string) string {
	t.Helper()
	out, err := f.client.CreateComponent(kilntest.Context(t), &imagebuilder.CreateComponentInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(doc),
	})
	if err != nil {
		t.Fatalf("CreateComponent %s: %v", name, err)
	}
	return *out.ComponentBuildVersionArn
}

func (f *buildFixture) recipe(t *testing.T, name, template string, comps ...types.ComponentConfiguration) string {
	t.Helper()
	return f.recipeFrom(t, name, f.base, template, comps...)
}

func (f *buildFixture) recipeFrom(t *testing.T, name, parent, template string, comps ...types.ComponentConfiguration) string {
	t.Helper()
	out, err := f.client.CreateContainerRecipe(kilntest.Context(t), &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(parent), Components: comps, DockerfileTemplateData: aws.String(template),
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("kiln-e2e/" + name)},
	})
	if err != nil {
		t.Fatalf("CreateContainerRecipe: %v", err)
	}
	return *out.ContainerRecipeArn
}

// waitImage polls GetImage until the image's status is one of want or
// terminal, and returns the image.
func (f *buildFixture) waitImage(t *testing.T, image string, timeout time.Duration, want ...types.ImageStatus) *types.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	terminal := []types.ImageStatus{types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled}
	for {
		out, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && out.Image.State != nil {
			if slices.Contains(want, out.Image.State.Status) || slices.Contains(terminal, out.Image.State.Status) {
				return out.Image
			}
		} else if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("GetImage: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s did not reach %v within %s; server log:\n%s", image, want, timeout, f.srv.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logs returns `kiln logs` of an image.
func (f *buildFixture) logs(t *testing.T, image string) string {
	out, err := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("kiln logs: %v\n%s", err, out)
	}
	return string(out)
}

func (f *buildFixture) createImage(t *testing.T, recipe string, tests bool, dist string) string {
	t.Helper()
	in := &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(tests)},
	}
	if dist != "" {
		in.DistributionConfigurationArn = aws.String(dist)
	}
	out, err := f.client.CreateImage(kilntest.Context(t), in)
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	return *out.ImageBuildVersionArn
}

const greetingComponent = `name: greeting
description: writes a greeting chosen by a parameter
schemaVersion: 1.0
parameters:
  - greeting:
      type: string
      default: hello
phases:
  - name: build
    steps:
      - name: Write
        action: ExecuteBash
        inputs:
          commands:
            - echo '{{ greeting }}' > /etc/greeting
            - echo "wrote the greeting as $(id -u)"
  - name: validate
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands:
            - test -s /etc/greeting
  - name: test
    steps:
      - name: Greets
        action: ExecuteBash
        inputs:
          commands:
            - grep -q '{{ greeting }}' /etc/greeting
            - test "$APP_MODE" = prod
`

const configComponent = `name: app-config
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Config
        action: CreateFile
        inputs:
          - path: /opt/app/config.txt
            content: mode=prod
      - name: Remove
        action: ExecuteBash
        inputs:
          commands:
            - rm -f /etc/group-
            - rm /var/lib/dpkg/status-old 2>/dev/null || true
`

const e2eTemplate = `FROM {{{ imagebuilder:parentImage }}}
ENV APP_MODE=prod
LABEL org.kiln.test="end to end"
{{{ imagebuilder:environments }}}
{{{ imagebuilder:components }}}
WORKDIR /opt/app
RUN echo built > built.txt && rm /bin/vi
USER builder
RUN id -u > /home/builder/uid
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /etc/greeting"]
`

// TestContainerBuildEndToEnd builds a container recipe with two
// components and a parameter through the API, pulls the result with
// skopeo and checks its files, environment, labels and records.
func TestContainerBuildEndToEnd(t *testing.T) {
	t.Parallel()
	// The ADD URL is a loopback test server: the operator's opt-in lets
	// kiln fetch from there.
	f := newBuildFixture(t, true, "--allow-fetch-cidr", "127.0.0.0/8")
	ctx := kilntest.Context(t)
	greeting := f.component(t, "greeting", greetingComponent)
	config := f.component(t, "app-config", configComponent)
	recipe := f.recipe(t, "app", e2eTemplate,
		types.ComponentConfiguration{ComponentArn: aws.String(greeting), Parameters: []types.ComponentParameter{{Name: aws.String("greeting"), Value: []string{"hi from kiln"}}}},
		types.ComponentConfiguration{ComponentArn: aws.String(config)})
	dist, err := f.client.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("dist"),
		Distributions: []types.Distribution{{Region: aws.String("us-east-1"), ContainerDistributionConfiguration: &types.ContainerDistributionConfiguration{
			ContainerTags:    []string{"latest", "e2e"},
			TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("kiln-e2e/released")},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	image := f.createImage(t, recipe, true, *dist.DistributionConfigurationArn)
	img := f.waitImage(t, image, 3*time.Minute)
	t.Logf("build took %s", time.Since(start).Round(time.Millisecond))
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\nbuild log:\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, image))
	}
	if img.Type != types.ImageTypeDocker || aws.ToString(img.OsVersion) == "" {
		t.Errorf("type %s, osVersion %q", img.Type, aws.ToString(img.OsVersion))
	}
	if img.OutputResources == nil || len(img.OutputResources.Containers) != 1 {
		t.Fatalf("outputResources = %+v", img.OutputResources)
	}
	uris := img.OutputResources.Containers[0].ImageUris
	want := []string{f.srv.Addr + "/kiln-e2e/app:1.0.0-1", f.srv.Addr + "/kiln-e2e/released:latest", f.srv.Addr + "/kiln-e2e/released:e2e"}
	if !slices.Equal(uris, want) {
		t.Errorf("imageUris = %v, want %v", uris, want)
	}

	// The records of the build: three workflows, every step completed.
	execs, err := f.client.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, x := range execs.WorkflowExecutions {
		kinds = append(kinds, string(x.Type)+":"+string(x.Status))
		steps, err := f.client.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: x.WorkflowExecutionId})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps.Steps {
			if s.Status != types.WorkflowStepExecutionStatusCompleted {
				t.Errorf("step %s is %s: %s", aws.ToString(s.Name), s.Status, aws.ToString(s.Message))
			}
		}
		if len(steps.Steps) != 4 {
			t.Errorf("%s has %d steps", x.Type, len(steps.Steps))
		}
	}
	if want := []string{"BUILD:COMPLETED", "TEST:COMPLETED", "DISTRIBUTION:COMPLETED"}; !slices.Equal(kinds, want) {
		t.Errorf("workflow executions = %v, want %v", kinds, want)
	}

	pkgs, err := f.client.ListImagePackages(ctx, &imagebuilder.ListImagePackagesInput{ImageBuildVersionArn: aws.String(image), MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs.ImagePackageList) != 2 || pkgs.NextToken == nil || aws.ToString(pkgs.ImagePackageList[0].PackageName) != "base-files" {
		t.Errorf("ListImagePackages = %+v", pkgs.ImagePackageList)
	}

	// `kiln logs` shows the components' output.
	logs, err := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image).CombinedOutput()
	if err != nil {
		t.Fatalf("kiln logs: %v\n%s", err, logs)
	}
	for _, s := range []string{"ApplyBuildComponents", "wrote the greeting as 0", "component greeting: phase test"} {
		if !strings.Contains(string(logs), s) {
			t.Errorf("kiln logs lacks %q:\n%s", s, logs)
		}
	}

	// An Image Builder image ARN, with wildcards, works as a parent: the
	// child starts from the image just built.
	// It also ADDs a file from a URL, checksum checked.
	payload := []byte("fetched by ADD\n")
	fileServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer fileServer.Close()
	sum := sha256.Sum256(payload)
	child := f.recipeFrom(t, "child", "arn:aws:imagebuilder:us-east-1:000000000000:image/app/x.x.x",
		"FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\nUSER root\nRUN cat /etc/greeting > /etc/inherited\n"+
			"ADD --checksum=sha256:"+hex.EncodeToString(sum[:])+" "+fileServer.URL+"/tool.txt /opt/\n",
		types.ComponentConfiguration{ComponentArn: aws.String(config)})
	childImage := f.createImage(t, child, false, "")
	if ci := f.waitImage(t, childImage, 3*time.Minute); ci.State.Status != types.ImageStatusAvailable {
		t.Fatalf("child image is %s: %s\n%s", ci.State.Status, aws.ToString(ci.State.Reason), f.logs(t, childImage))
	} else {
		cdir := filepath.Join(t.TempDir(), "child")
		kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+ci.OutputResources.Containers[0].ImageUris[0], "dir:"+cdir)
		_, cfiles := readSkopeoDir(t, cdir)
		if cfiles["etc/inherited"] != "hi from kiln\n" || cfiles["opt/tool.txt"] != string(payload) {
			t.Errorf("the child's /etc/inherited = %q, /opt/tool.txt = %q", cfiles["etc/inherited"], cfiles["opt/tool.txt"])
		}
	}

	// Pull the result with skopeo and look inside.
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+uris[1], "dir:"+dir)
	cfg, files := readSkopeoDir(t, dir)
	if !slices.Contains(cfg.Config.Env, "APP_MODE=prod") || cfg.Config.Labels["org.kiln.test"] != "end to end" || cfg.Config.Labels["org.kiln.base"] != "busybox" {
		t.Errorf("config: env %v labels %v", cfg.Config.Env, cfg.Config.Labels)
	}
	if cfg.Config.User != "builder" || cfg.Config.WorkingDir != "/opt/app" || !slices.Equal(cfg.Config.Entrypoint, []string{"/bin/sh", "-c"}) ||
		!slices.Equal(cfg.Config.Cmd, []string{"cat /etc/greeting"}) {
		t.Errorf("config: user %q workdir %q entrypoint %v cmd %v", cfg.Config.User, cfg.Config.WorkingDir, cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	for path, want := range map[string]string{
		"etc/greeting":        "hi from kiln\n",
		"opt/app/config.txt":  "mode=prod",
		"opt/app/built.txt":   "built\n",
		"home/builder/uid":    "1000\n",
		"bin/.wh.vi":          "",
		"bin/busybox":         "(base)",
		"var/lib/dpkg/status": "(base)",
	} {
		got, ok := files[path]
		switch {
		case want == "(base)":
			if ok {
				t.Errorf("the new layer carries the unchanged %s", path)
			}
		case !ok:
			t.Errorf("the new layer lacks %s", path)
		case got != want:
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for path := range files {
		if strings.HasPrefix(path, ".kiln") || strings.HasPrefix(path, "tmp/") {
			t.Errorf("the image carries build machinery: %s", path)
		}
	}
}

// readSkopeoDir reads a `skopeo copy dir:` result: the config and the
// regular files (and whiteouts) of the layers over the base's (the test
// base image has one layer), later layers winning: kiln gives a build one
// layer per filesystem-changing instruction.
func readSkopeoDir(t *testing.T, dir string) (*v1.ConfigFile, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	cfgRaw, err := os.ReadFile(filepath.Join(dir, m.Config.Digest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, l := range m.Layers[1:] {
		readLayerFiles(t, filepath.Join(dir, l.Digest.Hex), files)
	}
	return &cfg, files
}

func readLayerFiles(t *testing.T, path string, files map[string]string) {
	t.Helper()
	lf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	zr, err := gzip.NewReader(lf)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[name] = string(b)
		}
	}
}

const failingComponent = `name: failing
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Prepare
        action: ExecuteBash
        inputs:
          commands:
            - echo prepared > /etc/prepared
      - name: Break
        action: ExecuteBash
        inputs:
          commands:
            - echo "about to fail"
            - exit 3
`

const minimalTemplate = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"

// TestContainerBuildFailure: a failing component ends the image FAILED with
// a reason naming the component and the step, and with
// terminateInstanceOnFailure false the instance is kept for `kiln shell`.
func TestContainerBuildFailure(t *testing.T) {
	t.Parallel()
	// The build's logs also go to the bucket logging.s3Logs names.
	bucket := s3gw.Start(t)
	bucket.CreateBucket("build-logs")
	f := startBuildFixture(t, bucket.Env(), false,
		&types.Logging{S3Logs: &types.S3Logs{S3BucketName: aws.String("build-logs"), S3KeyPrefix: aws.String("kiln")}},
		"--s3-endpoint", bucket.URL)
	comp := f.component(t, "failing", failingComponent)
	recipe := f.recipe(t, "broken", minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	image := f.createImage(t, recipe, true, "")
	img := f.waitImage(t, image, 2*time.Minute)
	if img.State.Status != types.ImageStatusFailed {
		t.Fatalf("image is %s, want FAILED", img.State.Status)
	}
	reason := aws.ToString(img.State.Reason)
	for _, s := range []string{"ApplyBuildComponents", "failing", "build", "Step Break failed", "exit code 3"} {
		if !strings.Contains(reason, s) {
			t.Errorf("reason %q lacks %q", reason, s)
		}
	}
	logs, _ := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image).CombinedOutput()
	if !strings.Contains(string(logs), "about to fail") {
		t.Errorf("kiln logs lacks the failing step's output:\n%s", logs)
	}
	shipped, ok := bucket.Get("build-logs", "kiln/broken/1.0.0/1/build-03-ApplyBuildComponents.log")
	if !ok || !strings.Contains(string(shipped), "about to fail") {
		t.Errorf("the step log was not shipped to S3; keys: %v", bucket.Keys("build-logs"))
	}
	// The kept instance still has what the build wrote before it failed.
	// Standard output only: a kiln built with -cover (go test -cover)
	// warns on standard error from the helpers it runs in the sandbox.
	shell := exec.Command(kilntest.Binary(t), "shell", "--data-dir", f.srv.DataDir, image, "--", "cat", "/etc/prepared")
	var stderr bytes.Buffer
	shell.Stderr = &stderr
	out, err := shell.Output()
	if err != nil || string(out) != "prepared\n" {
		t.Errorf("kiln shell: %v: %q\n%s", err, out, stderr.String())
	}
}

// TestContainerBuildCancel cancels a build stuck in a long step: the image
// ends CANCELLED within seconds and the step's processes are gone.
func TestContainerBuildCancel(t *testing.T) {
	t.Parallel()
	f := newBuildFixture(t, true)
	comp := f.component(t, "slow", `name: slow
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Sleep
        action: ExecuteBash
        inputs:
          commands:
            - sleep 1234
`)
	recipe := f.recipe(t, "slow", minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	image := f.createImage(t, recipe, false, "")
	f.waitImage(t, image, time.Minute, types.ImageStatusBuilding)
	waitFor(t, 30*time.Second, "the slow step to start", func() bool { return sleeping("1234") })
	// `kiln logs --follow` streams until the build ends, then exits by itself.
	follow := exec.Command(kilntest.Binary(t), "logs", "--follow", "--endpoint", f.srv.URL, image)
	var followed strings.Builder
	follow.Stdout, follow.Stderr = &followed, &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.client.CancelImageCreation(kilntest.Context(t), &imagebuilder.CancelImageCreationInput{ImageBuildVersionArn: aws.String(image)}); err != nil {
		t.Fatal(err)
	}
	img := f.waitImage(t, image, time.Minute)
	t.Logf("cancelled in %s", time.Since(start).Round(time.Millisecond))
	if img.State.Status != types.ImageStatusCancelled {
		t.Fatalf("image is %s: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	if sleeping("1234") {
		t.Error("the cancelled step's sleep is still running")
	}
	followDone := make(chan error, 1)
	go func() { followDone <- follow.Wait() }()
	select {
	case err := <-followDone:
		if err != nil || !strings.Contains(followed.String(), "component slow: phase build") || !strings.Contains(followed.String(), "is CANCELLED") {
			t.Errorf("kiln logs --follow: %v\n%s", err, followed.String())
		}
	case <-time.After(30 * time.Second):
		follow.Process.Kill()
		t.Errorf("kiln logs --follow did not end with the build:\n%s", followed.String())
	}
	// A second cancel is refused: the build is over.
	_, err := f.client.CancelImageCreation(kilntest.Context(t), &imagebuilder.CancelImageCreationInput{ImageBuildVersionArn: aws.String(image)})
	if err == nil || !strings.Contains(err.Error(), "InvalidRequestException") {
		t.Errorf("second cancel: %v", err)
	}
}

// TestContainerBuildSurvivesKill kills kiln with SIGKILL in the middle of
// a build; after the restart the build is resumed and ends AVAILABLE, never
// left BUILDING.
func TestContainerBuildSurvivesKill(t *testing.T) {
	t.Parallel()
	f := newBuildFixture(t, true)
	comp := f.component(t, "steady", slowComponent("steady", "3"))
	recipe := f.recipe(t, "steady", minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	image := f.createImage(t, recipe, false, "")
	f.waitImage(t, image, time.Minute, types.ImageStatusBuilding)
	waitFor(t, 30*time.Second, "the step to start", func() bool { return sleeping("3") })
	f.srv.Kill()
	// The kernel kills the sandbox (its init's parent-death signal, then
	// the whole PID namespace) right after kiln dies; allow it a moment.
	waitFor(t, 10*time.Second, "the build's processes to die with kiln", func() bool { return !sleeping("3") })
	f.srv.Restart()
	f.client = f.srv.Client(kilntest.DefaultCreds)
	img := f.waitImage(t, image, 2*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("after the restart the image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+img.OutputResources.Containers[0].ImageUris[0], "dir:"+dir)
	_, files := readSkopeoDir(t, dir)
	if files["etc/attempts"] != "start\n" {
		t.Errorf("/etc/attempts = %q: the resumed build did not start from a clean instance", files["etc/attempts"])
	}
}

// TestContainerBuildConfined runs component code that tries to reach the
// host (through /proc/1/root, symlinks out of the root, a mount, a
// process left behind) and checks that it could not, and that the host sees
// nothing of the build afterwards: no files, no mounts, no processes.
func TestContainerBuildConfined(t *testing.T) {
	t.Parallel()
	f := newBuildFixture(t, true)
	mark := fmt.Sprintf("kiln-escape-%d", time.Now().UnixNano())
	comp := f.component(t, "escape", `name: escape
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Try
        action: ExecuteBash
        inputs:
          commands:
            - echo x > /proc/1/root/tmp/`+mark+`-proc || true
            - ln -s /tmp /hostlink && echo x > /hostlink/`+mark+`-link || true
            - ln -s ../../../../../../tmp /etc/up && echo x > /etc/up/`+mark+`-dotdot || true
            - if mount -t tmpfs none /mnt 2>/dev/null; then echo MOUNTED > /etc/result; fi
            - echo confined >> /etc/result
            - sleep 1000 &
`)
	recipe := f.recipe(t, "escape", minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	image := f.createImage(t, recipe, false, "")
	img := f.waitImage(t, image, 2*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, image))
	}
	for _, suffix := range []string{"-proc", "-link", "-dotdot"} {
		if _, err := os.Stat("/tmp/" + mark + suffix); err == nil {
			os.Remove("/tmp/" + mark + suffix)
			t.Errorf("the build wrote /tmp/%s%s on the host", mark, suffix)
		}
	}
	if sleeping("1000") {
		t.Error("a process the build left in the background outlived the build")
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), f.srv.DataDir) {
		t.Errorf("the host sees mounts of the build:\n%s", mounts)
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+img.OutputResources.Containers[0].ImageUris[0], "dir:"+dir)
	_, files := readSkopeoDir(t, dir)
	if got := files["etc/result"]; strings.Contains(got, "MOUNTED") || !strings.HasSuffix(got, "confined\n") {
		t.Errorf("/etc/result = %q", got)
	}
}

// slowComponent is a component whose build phase notes each attempt in
// /etc/attempts and sleeps for the given seconds, to be interrupted.
func slowComponent(name, seconds string) string {
	return `name: ` + name + `
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Work
        action: ExecuteBash
        inputs:
          commands:
            - echo start >> /etc/attempts
            - sleep ` + seconds + `
            - echo done > /etc/` + name + `
`
}

// sleeping reports whether a `sleep ARG` process runs on this host.
func sleeping(arg string) bool {
	return processRunning(func(args []string) bool {
		return len(args) == 2 && filepath.Base(args[0]) == "sleep" && args[1] == arg
	})
}

// processRunning reports whether a process on this host has a command
// line match accepts.
func processRunning(match func(args []string) bool) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBoto3Builds runs test/smoke/boto3_builds.py: Debian's boto3 drives
// a container build and reads its records.
func TestBoto3Builds(t *testing.T) {
	t.Parallel()
	requireBoto3(t)
	kilntest.RequireRoot(t)
	srv := kilntest.Start(t)
	base := srv.PushBusyboxBase(t, "base/busybox")
	runSmoke(t, "/usr/bin/python3", filepath.Join(kilntest.RepoRoot(), "test/smoke/boto3_builds.py"), srv.URL, base, newerModelDir(t))
}

// TestAWSCLIBuilds runs test/smoke/cli_builds.sh: Debian's AWS CLI drives
// a container build and waits for it.
func TestAWSCLIBuilds(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/aws")
	kilntest.RequireRoot(t)
	srv := kilntest.Start(t)
	base := srv.PushBusyboxBase(t, "base/busybox")
	runSmoke(t, "/bin/bash", filepath.Join(kilntest.RepoRoot(), "test/smoke/cli_builds.sh"), srv.URL, base)
}
