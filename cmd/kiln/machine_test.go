package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// requireQEMU skips (or fails under CI) without QEMU.
func requireQEMU(t *testing.T) {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/qemu-system-x86_64", "qemu-system-x86")
	kilntest.RequireTool(t, "/usr/bin/qemu-img", "qemu-utils")
}

// importParent imports a bootable busybox+Debian-kernel root filesystem
// tarball through ImportDiskImage and returns the image and its AMI.
func importParent(t *testing.T, f *buildFixture, dir string) (image, ami string) {
	t.Helper()
	tarball := kilntest.BootableRootTarball(t, dir)
	return importURI(t, f, "file://"+tarball)
}

// importFrom imports a parent from uri and returns its AMI.
func importFrom(t *testing.T, f *buildFixture, uri string) string {
	t.Helper()
	_, ami := importURI(t, f, uri)
	return ami
}

func importURI(t *testing.T, f *buildFixture, uri string) (image, ami string) {
	t.Helper()
	out, err := f.client.ImportDiskImage(kilntest.Context(t), &imagebuilder.ImportDiskImageInput{
		Name: aws.String("debian-busybox"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
		Uri: aws.String(uri),
	})
	if err != nil {
		t.Fatalf("ImportDiskImage: %v", err)
	}
	img := f.waitImage(t, *out.ImageBuildVersionArn, 5*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("import is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}
	if img.OutputResources == nil || len(img.OutputResources.Amis) != 1 {
		t.Fatalf("import outputResources = %+v", img.OutputResources)
	}
	return *out.ImageBuildVersionArn, aws.ToString(img.OutputResources.Amis[0].Image)
}

const machineBuildComponent = `name: motd
schemaVersion: 1.0
parameters:
  - message:
      type: string
phases:
  - name: build
    steps:
      - name: Motd
        action: ExecuteBash
        inputs:
          commands:
            - echo '{{ message }}' > /etc/motd-kiln
            - mkdir -p /etc/ssh && echo build-host-key > /etc/ssh/ssh_host_ed25519_key
  - name: validate
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands:
            - test -s /etc/motd-kiln
`

const machineTestComponent = `name: booted
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: RealBoot
        action: ExecuteBash
        inputs:
          commands:
            - grep -q 'built by kiln' /etc/motd-kiln
            - test -f /opt/app/hello
            - echo "pid1=$(cat /proc/1/comm) kernel=$(uname -r)"
            - test "$(cat /proc/1/comm)" = init
            - echo TESTED-IN-GUEST
`

// TestMachineImageEndToEnd imports a parent, builds a machine image with
// two build components and a test component, boots it under QEMU for the
// test phase, and exports the result.
func TestMachineImageEndToEnd(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	dir := t.TempDir()
	f := newBuildFixture(t, true, "--allow-import-dir", dir)
	ctx := kilntest.Context(t)
	parent, parentAMI := importParent(t, f, dir)
	motd := f.component(t, "motd", machineBuildComponent)
	app := f.component(t, "app-config", configComponent)
	test := f.component(t, "booted", machineTestComponent)
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("machine"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(parentAMI),
		Components: []types.ComponentConfiguration{
			{ComponentArn: aws.String(motd), Parameters: []types.ComponentParameter{{Name: aws.String("message"), Value: []string{"built by kiln"}}}},
			{ComponentArn: aws.String(app)},
			{ComponentArn: aws.String(test)},
		},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(1)}}},
	})
	if err != nil {
		t.Fatalf("CreateImageRecipe: %v", err)
	}
	dist, err := f.client.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("amis"),
		Distributions: []types.Distribution{
			{Region: aws.String("us-east-1"), AmiDistributionConfiguration: &types.AmiDistributionConfiguration{
				Name: aws.String("machine {{ imagebuilder:buildDate }}"), TargetAccountIds: []string{"111122223333"},
			}},
			{Region: aws.String("eu-west-1")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		DistributionConfigurationArn: dist.DistributionConfigurationArn,
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	image := *out.ImageBuildVersionArn
	img := f.waitImage(t, image, 10*time.Minute)
	t.Logf("machine image built, booted, tested and distributed in %s", time.Since(start).Round(time.Millisecond))
	logs := f.logs(t, image)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), logs)
	}
	if !strings.Contains(logs, "TESTED-IN-GUEST") || !strings.Contains(logs, "pid1=init") {
		t.Errorf("the test phase did not run in the booted guest:\n%s", logs)
	}
	amis := img.OutputResources.Amis
	if len(amis) != 3 {
		t.Fatalf("amis = %+v, want us-east-1 for two accounts and eu-west-1", amis)
	}
	if !strings.HasPrefix(aws.ToString(amis[0].Name), "machine 20") || aws.ToString(amis[1].AccountId) != "111122223333" || aws.ToString(amis[2].Region) != "eu-west-1" {
		t.Errorf("amis = %+v", amis)
	}
	if aws.ToString(img.OsVersion) == "" || parent == "" {
		t.Errorf("osVersion %q", aws.ToString(img.OsVersion))
	}

	// kiln ami list and export; the exported disk has the build's files.
	bin := kilntest.Binary(t)
	list, err := exec.Command(bin, "ami", "list", "--endpoint", f.srv.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(list), aws.ToString(amis[0].Image)) || !strings.Contains(string(list), parentAMI) {
		t.Errorf("kiln ami list: %v\n%s", err, list)
	}
	raw := filepath.Join(dir, "exported.raw")
	if out, err := exec.Command(bin, "ami", "export", "--endpoint", f.srv.URL, aws.ToString(amis[0].Image), "--format", "raw", "--output", raw).CombinedOutput(); err != nil {
		t.Fatalf("kiln ami export: %v\n%s", err, out)
	}
	err = disk.MountRoot(context.Background(), raw, func(root string) error {
		for path, want := range map[string]string{"etc/motd-kiln": "built by kiln\n", "opt/app/config.txt": "mode=prod"} {
			b, err := os.ReadFile(filepath.Join(root, path))
			if err != nil || string(b) != want {
				t.Errorf("exported disk: %s = %q (%v), want %q", path, b, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(root, ".kiln")); err == nil {
			t.Error("the exported disk carries the test agent")
		}
		// The cleanup script removed the build's SSH host key.
		if _, err := os.Stat(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")); err == nil {
			t.Error("the exported disk carries the build's SSH host key")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Deregistering one of the three AMIs keeps the disk the others share;
	// another account's AMI is not ours to delete.
	if out, err := exec.Command(bin, "ami", "delete", "--endpoint", f.srv.URL, aws.ToString(amis[2].Image)).CombinedOutput(); err != nil {
		t.Errorf("kiln ami delete: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "ami", "delete", "--endpoint", f.srv.URL, aws.ToString(amis[1].Image)).CombinedOutput(); err == nil {
		t.Errorf("kiln ami delete of another account's AMI succeeded: %s", out)
	}
	if disks, _ := filepath.Glob(filepath.Join(f.srv.DataDir, "disks", "*.raw")); len(disks) != 2 {
		t.Errorf("disks = %v, want the parent's and the image's", disks)
	}
	// kiln ami run boots the AMI here with its own kernel, console attached;
	// Ctrl-C (SIGINT) ends it and leaves no QEMU behind.
	run := exec.Command(bin, "ami", "run", "--endpoint", f.srv.URL, aws.ToString(amis[0].Image))
	console := &kilntest.SyncBuffer{}
	run.Stdout, run.Stderr = console, console
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "kiln ami run to boot the image's init", func() bool {
		// Debian's kernel names /sbin/tomoyo-init when the image's init starts.
		return strings.Contains(console.String(), "EXT4-fs (vda1): mounted") && strings.Contains(console.String(), "tomoyo-init")
	})
	// Its QEMU is told apart from those of tests running at the same time
	// in other packages (test/amirun) by its own temporary directory.
	var ownQEMU string
	waitFor(t, 10*time.Second, "kiln ami run's QEMU", func() bool {
		ownQEMU = qemuChildDir(run.Process.Pid, "kiln-ami-run-")
		return ownQEMU != ""
	})
	run.Process.Signal(os.Interrupt)
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	select {
	case <-runDone:
	case <-time.After(30 * time.Second):
		run.Process.Kill()
		t.Error("kiln ami run did not end on SIGINT")
	}
	waitFor(t, 10*time.Second, "QEMU to exit", func() bool { return !qemuRunning(ownQEMU) })

	// Every other format: qemu-img reads each as that format, with the
	// disk's virtual size and, where the format has checks, no errors; its
	// content is the raw disk's. (A fixed VHD has no header for qemu-img's
	// probe to find, only a footer: it is read as vpc by name.)
	for _, tc := range []struct {
		format, qemuFormat, infoAs string
		checkable                  bool
	}{
		{"qcow2", "qcow2", "", true},
		{"vmdk", "vmdk", "", true},
		{"vhdx", "vhdx", "", true},
		{"vhd", "vpc", "vpc", false},
	} {
		out := filepath.Join(dir, "exported."+tc.format)
		start := time.Now()
		if b, err := exec.Command(bin, "ami", "export", "--endpoint", f.srv.URL, aws.ToString(amis[0].Image), "--format", tc.format, "--output", out).CombinedOutput(); err != nil {
			t.Fatalf("kiln ami export --format %s: %v\n%s", tc.format, err, b)
		}
		t.Logf("kiln ami export --format %s: %s", tc.format, time.Since(start).Round(time.Millisecond))
		args := []string{"info", "--output", "json"}
		if tc.infoAs != "" {
			args = append(args, "-f", tc.infoAs)
		}
		info, err := exec.Command("qemu-img", append(args, out)...).Output()
		var qi struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		if err != nil || json.Unmarshal(info, &qi) != nil || qi.Format != tc.qemuFormat || qi.VirtualSize != 1<<30 {
			t.Errorf("%s: qemu-img info: %v %s", tc.format, err, info)
		}
		if tc.checkable {
			if b, err := exec.Command("qemu-img", "check", "-f", tc.qemuFormat, out).CombinedOutput(); err != nil {
				t.Errorf("%s: qemu-img check: %v\n%s", tc.format, err, b)
			}
		}
		if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", tc.qemuFormat, raw, out).CombinedOutput(); err != nil {
			t.Errorf("%s: qemu-img compare with the raw export: %v\n%s", tc.format, err, b)
		}
		os.Remove(out)
	}
}

// TestMachineImageFailingTest: a test component failing inside the booted
// guest fails the image, naming the step.
func TestMachineImageFailingTest(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	dir := t.TempDir()
	f := newBuildFixture(t, true, "--allow-import-dir", dir)
	_, parentAMI := importParent(t, f, dir)
	failing := f.component(t, "fails-in-guest", `name: fails-in-guest
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Expect
        action: ExecuteBash
        inputs:
          commands:
            - test -f /etc/never-there
`)
	image := f.machineImage(t, "machine-fails", parentAMI, failing)
	img := f.waitImage(t, image, 10*time.Minute)
	if img.State.Status != types.ImageStatusFailed {
		t.Fatalf("image is %s, want FAILED", img.State.Status)
	}
	reason := aws.ToString(img.State.Reason)
	for _, s := range []string{"test-image", "ApplyTestComponents", "fails-in-guest", "Step Expect failed"} {
		if !strings.Contains(reason, s) {
			t.Errorf("reason %q lacks %q", reason, s)
		}
	}
	// RetryImage builds the same build version again; it fails the same way.
	if _, err := f.client.RetryImage(kilntest.Context(t), &imagebuilder.RetryImageInput{ImageBuildVersionArn: aws.String(image)}); err != nil {
		t.Fatalf("RetryImage: %v", err)
	}
	again := f.waitImage(t, image, 10*time.Minute, types.ImageStatusFailed)
	if again.State.Status != types.ImageStatusFailed || aws.ToString(again.State.Reason) == "" {
		t.Errorf("after RetryImage the image is %s: %s", again.State.Status, aws.ToString(again.State.Reason))
	}
	execs, err := f.client.ListWorkflowExecutions(kilntest.Context(t), &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs.WorkflowExecutions) != 2 {
		t.Errorf("after the retry: %d workflow executions, want the retry's build and test", len(execs.WorkflowExecutions))
	}
}

// qemuRunning reports whether a QEMU with an argument containing arg
// runs on this host.
// qemuChildDir returns the path element starting with prefix in the
// arguments of the QEMU that is a child of parent ("" when there is none).
func qemuChildDir(parent int, prefix string) string {
	dir := ""
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: count after its ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(args[0]) != "qemu-system-x86_64" {
			continue
		}
		for _, a := range args {
			for _, elem := range strings.Split(a, "/") {
				if strings.HasPrefix(elem, prefix) {
					dir = elem
				}
			}
		}
	}
	return dir
}

func qemuRunning(arg string) bool {
	return processRunning(func(args []string) bool {
		return filepath.Base(args[0]) == "qemu-system-x86_64" && strings.Contains(strings.Join(args, " "), arg)
	})
}

// TestMachineImageCancelDuringTest cancels a build while its test phase
// runs inside the booted guest: the image ends CANCELLED within seconds
// and its QEMU is gone.
func TestMachineImageCancelDuringTest(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	// The parent comes from an S3-compatible endpoint this time.
	bucket := s3gw.Start(t)
	f := startBuildFixture(t, bucket.Env(), true, nil, "--s3-endpoint", bucket.URL)
	ctx := kilntest.Context(t)
	tarball, err := os.ReadFile(kilntest.BootableRootTarball(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	bucket.Put("parents", "debian-busybox.tar.gz", tarball)
	parentAMI := importFrom(t, f, "s3://parents/debian-busybox.tar.gz")
	slow := f.component(t, "slow-test", `name: slow-test
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Wait
        action: ExecuteBash
        inputs:
          commands:
            - sleep 1000
`)
	image := f.machineImage(t, "machine-cancel", parentAMI, slow)
	// A build that fails before its test phase fails the test at once,
	// with the reason, rather than after the wait for the phase times out.
	if img := f.waitImage(t, image, 5*time.Minute, types.ImageStatusTesting); img.State.Status != types.ImageStatusTesting {
		t.Fatalf("the image is %s before its test phase: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, image))
	}
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(f.logs(t, image), "component slow-test: phase test") {
		out, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && out.Image.State != nil && out.Image.State.Status != types.ImageStatusTesting {
			t.Fatalf("the image is %s while waiting for its test phase: %s\n%s", out.Image.State.Status, aws.ToString(out.Image.State.Reason), f.logs(t, image))
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the test phase to run in the guest\n%s", f.logs(t, image))
		}
		time.Sleep(500 * time.Millisecond)
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
	waitFor(t, 10*time.Second, "the test instance's QEMU to exit", func() bool {
		return !qemuRunning(f.srv.DataDir)
	})
}

// machineImage creates an image recipe of the given components on
// parentAMI and starts its build on the fixture's infrastructure,
// returning the image build version ARN.
func (f *buildFixture) machineImage(t *testing.T, name, parentAMI string, components ...string) string {
	t.Helper()
	ctx := kilntest.Context(t)
	var comps []types.ComponentConfiguration
	for _, c := range components {
		comps = append(comps, types.ComponentConfiguration{ComponentArn: aws.String(c)})
	}
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(parentAMI),
		Components: comps,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ImageBuildVersionArn)
}
