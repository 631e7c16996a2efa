// Package arm64_test drives kiln's arm64 machine images end to end, as a
// user would, on whatever host runs it (x86_64 in CI): an arm64 parent is
// imported and recognised as arm64, infrastructure configurations of the
// other architecture are refused at create time, and an image is built on
// it through components run under qemu-user (binfmt_misc) and tested
// booted under qemu-system-aarch64 with UEFI firmware.
package arm64_test

import (
	"context"
	"errors"
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
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/binfmt"
	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kilntest.Cleanup()
	if arm64KilnPath != "" && os.Getenv("KILN_ARM64_BINARY") == "" {
		os.RemoveAll(filepath.Dir(arm64KilnPath))
	}
	os.Exit(code)
}

// fixture is a kiln with an imported arm64 parent.
type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	parent string // the parent's AMI
	dir    string // the directory kiln may import file:// URIs from
}

func (f *fixture) infra(t *testing.T, name string, types ...string) string {
	t.Helper()
	out, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(name), InstanceProfileName: aws.String("none"), InstanceTypes: types,
	})
	if err != nil {
		t.Fatalf("CreateInfrastructureConfiguration %s: %v", name, err)
	}
	return *out.InfrastructureConfigurationArn
}

func (f *fixture) component(t *testing.T, name, doc string) string {
	t.Helper()
	out, err := f.client.CreateComponent(kilntest.Context(t), &imagebuilder.CreateComponentInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(doc),
	})
	if err != nil {
		t.Fatalf("CreateComponent %s: %v", name, err)
	}
	return *out.ComponentBuildVersionArn
}

func (f *fixture) waitImage(t *testing.T, image string, timeout time.Duration) *types.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		out, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && out.Image.State != nil && slices.Contains([]types.ImageStatus{types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled}, out.Image.State.Status) {
			return out.Image
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s did not end within %s; server log:\n%s", image, timeout, f.srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (f *fixture) logs(t *testing.T, image string) string {
	out, err := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image).CombinedOutput()
	if err != nil {
		return "kiln logs: " + err.Error() + "\n" + string(out)
	}
	return string(out)
}

// startWithArm64Parent starts kiln (args added) and imports the arm64
// busybox parent through ImportDiskImage.
func startWithArm64Parent(t *testing.T, args ...string) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	dir := t.TempDir()
	tarball := arm64RootTarball(t, dir)
	srv := kilntest.Start(t, append([]string{"--allow-import-dir", dir}, args...)...)
	f := &fixture{srv: srv, client: srv.Client(kilntest.DefaultCreds), dir: dir}
	f.parent = f.importArm64(t, "debian-arm64-busybox", tarball)
	return f
}

// importArm64 imports a root tarball or disk under f.dir and returns its
// AMI, checking the import read the architecture from the root's shell.
func (f *fixture) importArm64(t *testing.T, name, path string) string {
	t.Helper()
	out, err := f.client.ImportDiskImage(kilntest.Context(t), &imagebuilder.ImportDiskImageInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra(t, name, "t4g.small")),
		Uri: aws.String("file://" + path),
	})
	if err != nil {
		t.Fatalf("ImportDiskImage: %v", err)
	}
	img := f.waitImage(t, *out.ImageBuildVersionArn, 5*time.Minute)
	if img.State.Status != types.ImageStatusAvailable || img.OutputResources == nil || len(img.OutputResources.Amis) != 1 {
		t.Fatalf("import is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, *out.ImageBuildVersionArn))
	}
	if log := f.logs(t, *out.ImageBuildVersionArn); !strings.Contains(log, "architecture: arm64 (from /bin/sh -> /bin/busybox)") {
		t.Errorf("the import's log does not say the architecture it read:\n%s", log)
	}
	return aws.ToString(img.OutputResources.Amis[0].Image)
}

// amiArch is the ARCH column of `kiln ami list` for an AMI: the field
// after SIZE ("1G"), since NAME holds spaces.
func (f *fixture) amiArch(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command(kilntest.Binary(t), "ami", "list", "--endpoint", f.srv.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("kiln ami list: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	if !strings.Contains(lines[0], "SIZE  ARCH") {
		t.Fatalf("kiln ami list has no ARCH column after SIZE:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != id {
			continue
		}
		for i := 1; i+1 < len(f); i++ {
			if strings.HasSuffix(f[i], "G") && strings.Trim(f[i], "0123456789") == "G" {
				return f[i+1]
			}
		}
	}
	t.Fatalf("kiln ami list has no %s:\n%s", id, out)
	return ""
}

// TestArm64ParentAndInstanceTypes: an imported arm64 root is recorded as
// arm64, and CreateImage and CreateImagePipeline refuse instance types of
// the other architecture with InvalidParameterValueException naming the
// type and the parent's architecture, storing nothing; Graviton types
// pass.
func TestArm64ParentAndInstanceTypes(t *testing.T) {
	t.Parallel()
	// No arm64 kiln for the guests, whatever KILN_ARM64_BINARY says.
	f := startWithArm64Parent(t, "--arm64-binary=")
	ctx := kilntest.Context(t)
	if got := f.amiArch(t, f.parent); got != "arm64" {
		t.Errorf("kiln ami list: the parent's ARCH is %q, want arm64", got)
	}
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("mismatch"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(f.parent),
		Components: []types.ComponentConfiguration{{ComponentArn: aws.String(f.component(t, "noop", noopComponent))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	x86 := f.infra(t, "x86", "c7g.large", "t3.medium")
	graviton := f.infra(t, "graviton", "t4g.micro", "c7g.large", "m7g.medium")
	tests := []struct {
		name  string
		infra string
		want  string // error text; "" for success
	}{
		{"x86 instance type", x86, "The instance type 't3.medium' of infrastructure configuration"},
		{"graviton instance types", graviton, ""},
	}
	var built string // the Graviton CreateImage
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
				ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(tt.infra),
				ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
			})
			_, perr := f.client.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
				Name: aws.String(strings.ReplaceAll(tt.name, " ", "-")), ImageRecipeArn: recipe.ImageRecipeArn,
				InfrastructureConfigurationArn: aws.String(tt.infra),
			})
			if err == nil {
				built = *out.ImageBuildVersionArn
			}
			for op, err := range map[string]error{"CreateImage": err, "CreateImagePipeline": perr} {
				if tt.want == "" {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValueException" ||
					!strings.Contains(api.ErrorMessage(), tt.want) || !strings.Contains(api.ErrorMessage(), "is arm64") || !strings.Contains(api.ErrorMessage(), "is x86_64") {
					t.Errorf("%s: %v, want InvalidParameterValueException %q naming both architectures", op, err, tt.want)
				}
			}
		})
	}
	// The refused calls stored nothing: one image (the Graviton one),
	// one pipeline.
	images, err := f.client.ListImageBuildVersions(ctx, &imagebuilder.ListImageBuildVersionsInput{
		ImageVersionArn: aws.String(strings.Replace(*recipe.ImageRecipeArn, ":image-recipe/", ":image/", 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(images.ImageSummaryList) != 1 {
		t.Errorf("%d image builds stored, want 1 (the refused one stored nothing)", len(images.ImageSummaryList))
	}
	pipes, err := f.client.ListImagePipelines(ctx, &imagebuilder.ListImagePipelinesInput{})
	if err != nil || len(pipes.ImagePipelineList) != 1 {
		t.Errorf("ListImagePipelines: %v, %d pipelines, want 1", err, len(pipes.ImagePipelineList))
	}

	// The accepted build, without tests, needs only qemu-user; one with
	// tests, on a kiln given no arm64 kiln for the guest, fails at launch
	// with the fix in its reason rather than after building.
	if _, err := binfmt.Ensure(binfmt.ARM64, binfmt.Options{ProbeDir: t.TempDir()}); err != nil {
		t.Skipf("this host cannot run arm64 programs, so the builds cannot run: %v", err)
	}
	if img := f.waitImage(t, built, 5*time.Minute); img.State.Status != types.ImageStatusAvailable {
		t.Errorf("the Graviton build without tests is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, built))
	}
	tested, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(graviton),
	})
	if err != nil {
		t.Fatal(err)
	}
	img := f.waitImage(t, *tested.ImageBuildVersionArn, 5*time.Minute)
	if reason := aws.ToString(img.State.Reason); img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "--arm64-binary") || !strings.Contains(reason, "GOARCH=arm64") {
		t.Errorf("a tested arm64 build without an arm64 kiln is %s: %q, want FAILED naming --arm64-binary", img.State.Status, reason)
	} else {
		t.Logf("FAILED as it should: %s", reason)
	}
}

const noopComponent = `name: noop
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Nothing
        action: ExecuteBash
        inputs:
          commands: ["true"]
`

// buildComponent runs the image's own (arm64) shell and tools, under
// qemu-user, and leaves its evidence in the image.
const buildComponent = `name: arm64-build
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Machine
        action: ExecuteBash
        inputs:
          commands:
            - echo "built on $(uname -m)" > /etc/kiln-arm64
            - cat /etc/kiln-arm64
  - name: validate
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands:
            - grep -q 'built on aarch64' /etc/kiln-arm64
`

// testComponent runs in the booted arm64 guest.
const testComponent = `name: arm64-booted
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Booted
        action: ExecuteBash
        inputs:
          commands:
            - grep -q 'built on aarch64' /etc/kiln-arm64
            - echo "guest machine=$(uname -m) kernel=$(uname -r) pid1=$(cat /proc/1/comm)"
            - test "$(uname -m)" = aarch64
            - test "$(cat /proc/1/comm)" = init
            - echo ARM64-TESTED-IN-GUEST
`

// TestArm64MachineImage builds a machine image on the arm64 parent: the
// components' shell runs under qemu-user through binfmt_misc (kiln
// registers the handler when the host has none), and the test phase boots
// the image under qemu-system-aarch64 with AAVMF, the agent being a kiln
// built for arm64.
func TestArm64MachineImage(t *testing.T) {
	t.Parallel()
	kilntest.RequireTool(t, binfmt.ARM64.QEMU, "qemu-user-static")
	kilntest.RequireTool(t, "/usr/bin/qemu-system-aarch64", "qemu-system-arm")
	kilntest.RequireTool(t, "/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64")
	if r, err := binfmt.Ensure(binfmt.ARM64, binfmt.Options{ProbeDir: t.TempDir()}); err != nil {
		t.Skipf("this host cannot run arm64 programs through binfmt_misc, so arm64 images cannot build here: %v", err)
	} else {
		t.Log(r)
	}
	f := startWithArm64Parent(t, "--arm64-binary", arm64Kiln(t))
	ctx := kilntest.Context(t)
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("arm64-web"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(f.parent),
		Components: []types.ComponentConfiguration{
			{ComponentArn: aws.String(f.component(t, "arm64-build", buildComponent))},
			{ComponentArn: aws.String(f.component(t, "arm64-booted", testComponent))},
		},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(1)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra(t, "graviton", "c7g.large")),
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	img := f.waitImage(t, *out.ImageBuildVersionArn, 8*time.Minute)
	log := f.logs(t, *out.ImageBuildVersionArn)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("the arm64 build is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), log)
	}
	t.Logf("arm64 image built and tested in %s", time.Since(start).Round(time.Second))
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "binfmt:") || strings.Contains(l, "test instance booted") || strings.Contains(l, "guest machine=") {
			t.Log(strings.TrimSpace(l))
		}
	}
	for _, want := range []string{
		"architecture: arm64 (from the parent's /bin/sh -> /bin/busybox)",
		"built on aarch64",      // the build phase, under qemu-user
		"guest machine=aarch64", // the test phase, in the booted guest
		"ARM64-TESTED-IN-GUEST",
		"UEFI firmware", // AAVMF's banner on the serial console
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the build log lacks %q:\n%s", want, log)
		}
	}
	if img.OutputResources == nil || len(img.OutputResources.Amis) != 1 {
		t.Fatalf("outputResources %+v", img.OutputResources)
	}
	built := aws.ToString(img.OutputResources.Amis[0].Image)
	if got := f.amiArch(t, built); got != "arm64" {
		t.Errorf("kiln ami list: the built AMI's ARCH is %q, want arm64", got)
	}

	// An arm64 AMI has no BIOS to boot through: refused before any download.
	if out, err := exec.Command(kilntest.Binary(t), "ami", "run", "--endpoint", f.srv.URL, "--firmware", "bios", built).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "--firmware bios: the AMI is arm64") {
		t.Errorf("kiln ami run --firmware bios of an arm64 AMI: err %v, output %s", err, out)
	}
	// kiln ami run reads the AMI's architecture and boots it as an arm64
	// instance: qemu-system-aarch64, AAVMF loading the image's kernel, the
	// console on ttyAMA0, up to the root filesystem mounted.
	run := exec.Command(kilntest.Binary(t), "ami", "run", "--endpoint", f.srv.URL, "--accel", "tcg", "--data-dir", t.TempDir(), built)
	console := &kilntest.SyncBuffer{}
	run.Stdout, run.Stderr = console, console
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runStart := time.Now()
	booted := func() bool {
		c := console.String()
		return strings.Contains(c, "EXT4-fs (vda1): mounted") && strings.Contains(c, "console [ttyAMA0] enabled")
	}
	for deadline := time.Now().Add(4 * time.Minute); !booted() && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
	}
	run.Process.Signal(os.Interrupt)
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	select {
	case <-runDone:
	case <-time.After(30 * time.Second):
		run.Process.Kill()
		t.Error("kiln ami run did not end on SIGINT")
	}
	c := console.String()
	if !booted() || !strings.Contains(c, "arm64, firmware AAVMF (UEFI) loading the image's kernel") || !strings.Contains(c, "UEFI firmware") {
		t.Errorf("kiln ami run of the arm64 AMI did not boot it through AAVMF to its root filesystem; output ends:\n%s", tailLines(c, 40))
	} else {
		t.Logf("kiln ami run booted the arm64 AMI to its root filesystem in %s", time.Since(runStart).Round(time.Second))
	}

	// Its disk, exported and imported again, is read as arm64 too (the
	// raw-disk import path: the root partition mounted, not a tarball).
	raw := filepath.Join(f.dir, "arm64.raw")
	if out, err := exec.Command(kilntest.Binary(t), "ami", "export", "--endpoint", f.srv.URL, built, "--format", "raw", "--output", raw).CombinedOutput(); err != nil {
		t.Fatalf("kiln ami export: %v\n%s", err, out)
	}
	if got := f.amiArch(t, f.importArm64(t, "arm64-disk", raw)); got != "arm64" {
		t.Errorf("kiln ami list: the re-imported disk's ARCH is %q, want arm64", got)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
