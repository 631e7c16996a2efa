// Package boot tests that kiln's machine images boot on their own: built,
// exported and started by stock QEMU under SeaBIOS and under OVMF (UEFI),
// with no -kernel, through the bootloader in the disk, to the image's own
// init. It drives the real kiln binary through internal/kilntest, with
// aws-sdk-go-v2 and `kiln ami export`, as a user would.
//
// The boots run under KVM where kiln's probe boot says guests run under it,
// else TCG (hostAccel), so each firmware is booted once per layout and the boots of
// one test run side by side.
package boot

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/vm"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// ovmf is Debian's UEFI firmware for QEMU (package ovmf).
const ovmf = "/usr/share/ovmf/OVMF.fd"

// markerScript runs from the image's inittab: it prints what booted and,
// outside kiln's test instance (which has /.kiln), powers the guest off so
// QEMU exits.
const markerScript = `#!/bin/sh
echo "BOOT-MARKER pid1=$(readlink /proc/1/exe) built=$(cat /etc/kiln-built) cmdline=$(cat /proc/cmdline)"
echo "FSTAB-ROOT $(grep ' / ' /etc/fstab)"
[ -e /.kiln ] || /bin/busybox poweroff -f
`

// bootComponent marks the image and, as a kernel upgrade would, changes
// the name of its kernel and initrd, so the image boots only if kiln
// pointed the bootloader's configuration at the image's kernel.
var bootComponent = `name: bootmark
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Mark
        action: ExecuteBash
        inputs:
          commands:
            - echo built-by-kiln > /etc/kiln-built
            - echo ` + base64.StdEncoding.EncodeToString([]byte(markerScript)) + ` | base64 -d > /etc/kiln-boot-marker
            - chmod 755 /etc/kiln-boot-marker
            - echo '::once:/etc/kiln-boot-marker' >> /etc/inittab
            - cd /boot && v=$(ls vmlinuz-* | sed 's/^vmlinuz-//') && mv vmlinuz-$v vmlinuz-$v-rebuilt && mv initrd.img-$v initrd.img-$v-rebuilt
  - name: test
    steps:
      - name: InGuest
        action: ExecuteBash
        inputs:
          commands:
            - echo "TESTED-IN-GUEST kernel=$(uname -r)"
`

// fixture is a running kiln with an infrastructure configuration.
type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	infra  string
	dir    string
}

func newFixture(t *testing.T, serveArgs ...string) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	kilntest.RequireTool(t, "/usr/bin/qemu-system-x86_64", "qemu-system-x86")
	kilntest.RequireTool(t, "/usr/bin/qemu-img", "qemu-utils")
	kilntest.RequireTool(t, "/usr/bin/grub-mkimage", "grub-common")
	kilntest.RequireTool(t, "/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin")
	kilntest.RequireTool(t, "/usr/lib/grub/x86_64-efi/normal.mod", "grub-efi-amd64-bin")
	kilntest.RequireTool(t, ovmf, "ovmf")
	kilntest.RequireTool(t, "/usr/sbin/mkfs.fat", "dosfstools")
	kilntest.RequireTool(t, "/usr/bin/mcopy", "mtools")
	dir := t.TempDir()
	srv := kilntest.Start(t, append([]string{"--allow-import-dir", dir}, serveArgs...)...)
	f := &fixture{srv: srv, client: srv.Client(kilntest.DefaultCreds), dir: dir}
	out, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("boot"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = aws.ToString(out.InfrastructureConfigurationArn)
	return f
}

// kiln runs a kiln client subcommand against the fixture's server.
func (f *fixture) kiln(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "KILN_ENDPOINT="+f.srv.URL,
		"AWS_ACCESS_KEY_ID="+kilntest.DefaultCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+kilntest.DefaultCreds.SecretAccessKey,
		"AWS_REGION=us-east-1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// wait polls GetImage until the build ends and returns it with its log.
func (f *fixture) wait(t *testing.T, arn string) (*types.Image, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for {
		out, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err == nil && out.Image.State != nil {
			switch out.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				logs, _ := f.kiln(t, "logs", arn)
				if out.Image.State.Status != types.ImageStatusAvailable {
					t.Fatalf("%s is %s: %s\n%s", arn, out.Image.State.Status, aws.ToString(out.Image.State.Reason), logs)
				}
				return out.Image, logs
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not finish; server log:\n%s", arn, f.srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// importDisk imports a raw disk or root tarball and returns its AMI and log.
func (f *fixture) importDisk(t *testing.T, path string) (string, string) {
	t.Helper()
	out, err := f.client.ImportDiskImage(kilntest.Context(t), &imagebuilder.ImportDiskImageInput{
		Name: aws.String("parent"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
		Uri: aws.String("file://" + path),
	})
	if err != nil {
		t.Fatalf("ImportDiskImage: %v", err)
	}
	img, logs := f.wait(t, aws.ToString(out.ImageBuildVersionArn))
	return aws.ToString(img.OutputResources.Amis[0].Image), logs
}

// build builds an image with bootComponent on parent and returns its AMI
// and log.
func (f *fixture) build(t *testing.T, parent string, volumeGiB int32, tests bool) (string, string) {
	t.Helper()
	ctx := kilntest.Context(t)
	comp, err := f.client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("bootmark"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(bootComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("boot"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(parent),
		Components: []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(volumeGiB)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(tests)},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, logs := f.wait(t, aws.ToString(out.ImageBuildVersionArn))
	return aws.ToString(img.OutputResources.Amis[0].Image), logs
}

// export writes the AMI's disk in format to the fixture's directory.
func (f *fixture) export(t *testing.T, ami, format string) string {
	t.Helper()
	out := filepath.Join(f.dir, ami+"."+format)
	start := time.Now()
	if b, err := f.kiln(t, "ami", "export", ami, "--format", format, "--output", out); err != nil {
		t.Fatalf("kiln ami export --format %s: %v\n%s", format, err, b)
	}
	t.Logf("kiln ami export --format %s: %s", format, time.Since(start).Round(time.Millisecond))
	return out
}

// hostAccel is the accelerator these boots use: KVM where kiln's probe
// boot (vm.ChooseAccel) says guests run under it, else TCG. QEMU's own
// "kvm:tcg" fallback is not enough: on hosts whose /dev/kvm opens but
// hangs or aborts guests it picks KVM and the boot never ends.
var hostAccel = sync.OnceValue(func() string {
	c, err := vm.ChooseAccel(context.Background(), vm.AccelOptions{})
	if err != nil {
		return vm.AccelTCG
	}
	return c.Accel
})

// firmwareBoot boots a disk in stock QEMU — no -kernel, the disk on
// virtio, SeaBIOS ("bios") or OVMF ("uefi") — until the guest powers off,
// and returns its serial console.
func firmwareBoot(t *testing.T, path, format, firmware string) string {
	t.Helper()
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35,accel=" + hostAccel(), "-m", "512", "-cpu", "max",
		"-serial", "stdio", "-drive", "file=" + path + ",format=" + format + ",if=virtio,snapshot=on"}
	if firmware == "uefi" {
		args = append(args, "-bios", ovmf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	// A guest kernel that panics waits forever (no panic= on a command line
	// the bootloader owns): the panic ends the boot at once.
	console := &panicWatch{cancel: cancel}
	cmd.Stdout, cmd.Stderr = console, console
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s booted %s under %s and powered off in %s", filepath.Base(path), format, firmware, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Errorf("QEMU (%s, %s): %v\nconsole ends:\n%s", format, firmware, err, tail(console.String(), 40))
	}
	return console.String()
}

// panicWatch keeps a console and cancels the boot on a kernel panic.
type panicWatch struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel func()
}

func (p *panicWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	if bytes.Contains(p.buf.Bytes(), []byte("end Kernel panic")) {
		p.cancel()
	}
	return len(b), nil
}

func (p *panicWatch) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// checkBooted checks that the console shows the image's own init, started
// by the bootloader with the image's renamed kernel and root by UUID.
func checkBooted(t *testing.T, what, console, rootUUID string) {
	t.Helper()
	var marker, fstab string
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "BOOT-MARKER "); i >= 0 {
			marker = line[i:]
		}
		if i := strings.Index(line, "FSTAB-ROOT "); i >= 0 {
			fstab = line[i:]
		}
	}
	wants := []string{"pid1=/bin/busybox", "built=built-by-kiln", "BOOT_IMAGE=/boot/vmlinuz-", "-rebuilt ", "root=UUID=" + rootUUID, "console=ttyS0"}
	for _, w := range wants {
		if !strings.Contains(marker, w) {
			t.Errorf("%s: the image's init did not report %q; marker %q; console ends:\n%s", what, w, marker, tail(console, 30))
			return
		}
	}
	if !strings.Contains(fstab, "UUID="+rootUUID+" / ") {
		t.Errorf("%s: /etc/fstab's root is %q, want UUID=%s", what, fstab, rootUUID)
	}
}

// rootUUID reads the ext4 UUID of a raw disk's root filesystem.
func rootUUID(t *testing.T, raw string) string {
	t.Helper()
	parts := partitions(t, raw)
	for _, p := range parts {
		if p.Number == 1 {
			out, err := exec.Command("dumpe2fs", "-h", fmt.Sprintf("%s?offset=%d", raw, p.Offset)).Output()
			if err != nil {
				t.Fatalf("dumpe2fs: %v", err)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(line, "Filesystem UUID:"); ok {
					return strings.TrimSpace(v)
				}
			}
		}
	}
	t.Fatalf("%s has no partition 1: %+v", raw, parts)
	return ""
}

func partitions(t *testing.T, raw string) []disk.Partition {
	t.Helper()
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	parts, err := disk.ReadPartitions(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// checkFormats checks every export format with qemu-img: its format and
// virtual size, and `qemu-img check` where the format has checks.
func checkFormats(t *testing.T, files map[string]string, size int64) {
	t.Helper()
	for _, tc := range []struct{ format, qemuFormat, infoAs string }{
		{"raw", "raw", "raw"}, {"qcow2", "qcow2", ""}, {"vmdk", "vmdk", ""}, {"vhdx", "vhdx", ""}, {"vhd", "vpc", "vpc"},
	} {
		path := files[tc.format]
		args := []string{"info", "--output", "json"}
		if tc.infoAs != "" {
			args = append(args, "-f", tc.infoAs)
		}
		out, err := exec.Command("qemu-img", append(args, path)...).Output()
		var qi struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		if err != nil || json.Unmarshal(out, &qi) != nil || qi.Format != tc.qemuFormat || qi.VirtualSize != size {
			t.Errorf("%s: qemu-img info: %v %s (want %s, %d bytes)", tc.format, err, out, tc.qemuFormat, size)
		}
		switch tc.format {
		case "qcow2", "vmdk", "vhdx":
			if b, err := exec.Command("qemu-img", "check", "-f", tc.qemuFormat, path).CombinedOutput(); err != nil {
				t.Errorf("%s: qemu-img check: %v\n%s", tc.format, err, b)
			}
		}
	}
}

// TestCloudImageParent imports a disk laid out as Debian's cloud images
// (BIOS boot partition with GRUB's core.img, FAT32 ESP with GRUB, ext4
// root with /boot/grub/grub.cfg), builds an image on it whose component
// renames the kernel, exports it in every format, and boots the vmdk under
// SeaBIOS and the vhdx under OVMF: the parent's bootloader and layout are
// kept, its configuration names the image's kernel.
func TestCloudImageParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kilntest.RequireTool(t, "/usr/sbin/sfdisk", "fdisk")
	tree := filepath.Join(f.dir, "tree")
	unpack(t, kilntest.BootableRootTarball(t, t.TempDir()), tree)
	parent := filepath.Join(f.dir, "cloud.raw")
	cmd := exec.Command("sh", "testdata/cloud-parent.sh", tree, parent)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cloud-parent.sh: %v\n%s", err, stderr.String())
	}
	uuid := strings.TrimSpace(string(out))
	parentParts := partitions(t, parent)
	parentMBR := readAt(t, parent, 0, 440)

	parentAMI, importLog := f.importDisk(t, parent)
	if !strings.Contains(importLog, "BIOS boot partition 14, ESP partition 15 and an ext4 root (partition 1)") {
		t.Errorf("the import does not say what it boots with:\n%s", importLog)
	}
	ami, logs := f.build(t, parentAMI, 2, true)
	for _, want := range []string{"kept the parent's bootloader and layout (bios, uefi)", "/boot/grub/grub.cfg: vmlinuz-", "TESTED-IN-GUEST"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the build's log lacks %q:\n%s", want, logs)
		}
	}

	files := map[string]string{}
	for _, format := range []string{"raw", "qcow2", "vmdk", "vhdx", "vhd"} {
		files[format] = f.export(t, ami, format)
	}
	checkFormats(t, files, 2<<30)

	// The layout: every partition where the parent had it, with its type
	// and GUID; the root grown to the 2 GiB volume; the MBR's boot code and
	// the root filesystem's UUID the parent's.
	got := partitions(t, files["raw"])
	if len(got) != len(parentParts) {
		t.Fatalf("partitions %+v, want the parent's %+v", got, parentParts)
	}
	for i, p := range parentParts {
		g := got[i]
		if g.Number != p.Number || g.Type != p.Type || g.UUID != p.UUID || g.Offset != p.Offset || (p.Number != 1 && g.Size != p.Size) {
			t.Errorf("partition %+v, the parent's %+v", g, p)
		}
		if p.Number == 1 && g.Offset+g.Size < 2<<30-(1<<20) {
			t.Errorf("the root %+v did not grow to the volume", g)
		}
	}
	if !bytes.Equal(readAt(t, files["raw"], 0, 440), parentMBR) {
		t.Error("the MBR's boot code is not the parent's")
	}
	if u := rootUUID(t, files["raw"]); u != uuid {
		t.Errorf("root filesystem UUID %s, the parent's %s", u, uuid)
	}

	done := make(chan struct{})
	var uefiConsole string
	go func() {
		defer close(done)
		uefiConsole = firmwareBoot(t, files["vhdx"], "vhdx", "uefi")
	}()
	checkBooted(t, "vmdk under SeaBIOS", firmwareBoot(t, files["vmdk"], "vmdk", "bios"), uuid)
	<-done
	checkBooted(t, "vhdx under OVMF", uefiConsole, uuid)
}

// TestXFSCloudImageParent imports a cloud-image-style disk whose root is
// XFS, as Amazon Linux's and RHEL's are (GRUB with the xfs module in the
// BIOS boot partition and on the ESP), builds an image on it with the test
// phase booting through SeaBIOS (kiln serve --test-boot bios), and boots
// the exported image under SeaBIOS: the child keeps the parent's layout and
// boot code, and its root is XFS again with the parent's UUID and label,
// its grub.cfg pointed at the image's renamed kernel.
func TestXFSCloudImageParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "--test-boot", "bios")
	kilntest.RequireTool(t, "/usr/sbin/sfdisk", "fdisk")
	kilntest.RequireTool(t, "/usr/sbin/mkfs.xfs", "xfsprogs")
	tree := filepath.Join(f.dir, "tree")
	unpack(t, kilntest.BootableRootTarball(t, t.TempDir()), tree)
	parent := filepath.Join(f.dir, "cloud-xfs.raw")
	cmd := exec.Command("sh", "testdata/cloud-parent.sh", tree, parent)
	cmd.Env = append(os.Environ(), "ROOTFS=xfs")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// The script fills the XFS root through a loop mount.
		t.Skipf("cloud-parent.sh (XFS, needs a loop mount): %v\n%s", err, stderr.String())
	}
	uuid := strings.TrimSpace(string(out))
	parentParts := partitions(t, parent)

	parentAMI, importLog := f.importDisk(t, parent)
	if !strings.Contains(importLog, "ESP partition 15 and an XFS root (partition 1)") {
		t.Errorf("the import does not say it keeps the XFS layout:\n%s", importLog)
	}
	ami, logs := f.build(t, parentAMI, 2, true)
	for _, want := range []string{"kept the parent's bootloader and layout (bios, uefi)", "xfs root filesystem " + uuid, "/boot/grub/grub.cfg: vmlinuz-",
		"booting the test instance through bios firmware", "TESTED-IN-GUEST"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the build's log lacks %q:\n%s", want, logs)
		}
	}
	raw := f.export(t, ami, "raw")
	got := partitions(t, raw)
	if len(got) != len(parentParts) {
		t.Fatalf("partitions %+v, want the parent's %+v", got, parentParts)
	}
	var rootOff int64
	for i, p := range parentParts {
		g := got[i]
		if g.Number != p.Number || g.Type != p.Type || g.UUID != p.UUID || g.Offset != p.Offset || (p.Number != 1 && g.Size != p.Size) {
			t.Errorf("partition %+v, the parent's %+v", g, p)
		}
		if p.Number == 1 {
			rootOff = g.Offset
		}
	}
	sb := readAt(t, raw, rootOff, 120)
	if string(sb[:4]) != "XFSB" {
		t.Fatalf("the root is not XFS: superblock starts %q", sb[:4])
	}
	if u := fmt.Sprintf("%x-%x-%x-%x-%x", sb[32:36], sb[36:38], sb[38:40], sb[40:42], sb[42:48]); u != uuid {
		t.Errorf("the XFS root's UUID is %s, the parent's %s", u, uuid)
	}
	if l := string(bytes.TrimRight(sb[108:120], "\x00")); l != "rootfs" {
		t.Errorf("the XFS root's label is %q, the parent's \"rootfs\"", l)
	}
	checkBooted(t, "XFS root under SeaBIOS", firmwareBoot(t, raw, "raw", "bios"), uuid)
}

// TestKilnBootloader imports a root tarball — no bootloader of its own —
// and builds an image on it: kiln's GRUB boots both the import and the
// image (its test instance under OVMF, kiln serve --test-boot uefi; the
// export raw under OVMF, qcow2 under SeaBIOS), its grub.cfg written again
// for the image's renamed kernel, and /etc/fstab names the root by UUID.
func TestKilnBootloader(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "--test-boot", "uefi")
	parentAMI, importLog := f.importDisk(t, kilntest.BootableRootTarball(t, f.dir))
	if !strings.Contains(importLog, "kiln's GRUB installed (bios, uefi)") {
		t.Errorf("the import did not install kiln's GRUB:\n%s", importLog)
	}
	ami, logs := f.build(t, parentAMI, 1, true)
	for _, want := range []string{"kept kiln's (from the parent) bootloader and layout (bios, uefi)", "booting the test instance through uefi firmware", "TESTED-IN-GUEST"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the build's log lacks %q:\n%s", want, logs)
		}
	}
	raw, qcow2 := f.export(t, ami, "raw"), f.export(t, ami, "qcow2")
	uuid := rootUUID(t, raw)
	parts := partitions(t, raw)
	ptypes := map[int]string{}
	for _, p := range parts {
		ptypes[p.Number] = p.Type
	}
	if ptypes[1] != "0FC63DAF-8483-4772-8E79-3D69D8477DE4" || ptypes[14] != "21686148-6449-6E6F-744E-656564454649" || ptypes[15] != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" {
		t.Errorf("partitions %+v: want root 1, BIOS boot 14, ESP 15", parts)
	}

	done := make(chan struct{})
	var uefiConsole string
	go func() {
		defer close(done)
		uefiConsole = firmwareBoot(t, raw, "raw", "uefi")
	}()
	checkBooted(t, "qcow2 under SeaBIOS", firmwareBoot(t, qcow2, "qcow2", "bios"), uuid)
	<-done
	checkBooted(t, "raw under OVMF", uefiConsole, uuid)
}

func unpack(t *testing.T, tarball, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
}

func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestTestBootFlag checks kiln serve --test-boot: a value it does not know
// stops kiln at start, naming the flag and the values it takes.
func TestTestBootFlag(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	cmd := exec.Command(kilntest.Binary(t), "serve", "--test-boot", "pxe", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `--test-boot "pxe": want direct, bios, uefi`) {
		t.Errorf("kiln serve --test-boot pxe: err %v, output:\n%s", err, out)
	}
}
