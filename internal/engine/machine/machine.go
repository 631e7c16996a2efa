// Package machine is the build engine's executor for machine images (type
// AMI): kiln's AMIs are bootable disk images kept on this machine.
//
// A machine image's root filesystem is kept as an OCI image in kiln's
// registry (so builds on it reuse the layer cache and the sandbox exactly
// as container builds do), and its disk — a GPT disk with an ext4 root
// partition sized by the recipe's block device mappings, which boots on its
// own under BIOS and UEFI firmware with the parent's bootloader and layout
// when the parent's disk has them, else with kiln's GRUB (bootdisk.go) — is
// stored once per root filesystem under the data directory, named by the
// OCI image's digest, and shared by every AMI distributed from it.
//
// The workflow actions map onto a build like this:
//
//	LaunchInstance (build)     pull the parent AMI's root filesystem, overlay, run userDataOverride
//	ExecuteComponents (build)  build and validate phases in the sandbox
//	CollectImageMetadata       os-release and package databases, read inside the sandbox
//	CollectImageScanFindings   those packages matched against kiln's vulnerability database
//	SanitizeInstance           nothing to sanitize: the instance never booted
//	CreateImage                the new layer, the OCI image, the disk
//	LaunchInstance (test)      a test copy of the disk with the kiln agent, booted under QEMU
//	                           with the image's own kernel, initrd and init
//	ExecuteComponents (test)   the test phase, run in the guest by the agent
//	TerminateInstance          power the guest off, drop the test copy
//	DistributeImage            register an AMI per region and account
package machine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/internal/blob"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/guest"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/fetch"
	"github.com/kiln-build/kiln/internal/fileutil"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/vm"
	"github.com/kiln-build/kiln/internal/vm/agent"
)

// Repository is the registry repository machine images' root filesystems
// live in, one tag per image build.
const Repository = "kiln/machine-images"

// defaultVolumeSize is the root volume when the recipe maps none (GiB),
// EC2's usual 8.
const defaultVolumeSize = 8

// Executor builds and imports machine images.
type Executor struct {
	sandboxed.Tools
	// Region is where an AMI is registered when no distribution
	// configuration names one.
	Region  string
	DataDir string
	// Blobs, when set, is the store shared by every node that holds the
	// disks (kiln serve --blob-store): built disks are uploaded to it and
	// disks this node lacks are fetched from it (see ami.Disks).
	Blobs blob.Store
	// AllowImportDirs are the directories file:// imports may read from.
	AllowImportDirs []string
	// S3 opens s3:// import sources (nil: no S3 endpoint configured).
	S3 S3Opener
	// Fetch downloads https:// import sources (nil: public addresses
	// only, kiln's default fetch policy).
	Fetch *fetch.Client
	// VM configures test boots (QEMU binary, memory, accelerator).
	VM vm.Config
	// AccelReason is why VM.Accel was chosen, for the test boot's log.
	AccelReason string
	// BootTimeout bounds the wait for a test guest's agent.
	BootTimeout time.Duration
	// GuestBinaries are kiln binaries for test guests of other
	// architectures than the host's, by architecture ("arm64"); see
	// arch.go. ARM64Firmware is arm64 guests' UEFI code volume
	// (vm.AAVMFCode); "" boots their kernel without firmware.
	GuestBinaries map[string]string
	ARM64Firmware string
	// TestBoot is how x86_64 test instances boot: TestBootDirect ("",
	// the default: the image's kernel under QEMU's -kernel), TestBootBIOS
	// or TestBootUEFI (through that firmware and the disk's bootloader);
	// see testboot.go.
	TestBoot string
}

// Open implements engine.Executor.
func (x *Executor) Open(ctx context.Context, b *engine.Build) (engine.Instance, error) {
	if b.Image.ImageRecipe == nil {
		return nil, errors.New("the image has no image recipe")
	}
	runner, err := sandboxed.RunnerDeps(ctx, x.Binary)
	if err != nil {
		return nil, err
	}
	dir := b.Image.ImageRecipe.WorkingDirectory
	if dir == "" {
		dir = "/tmp"
	}
	return &instance{x: x, Instance: &sandboxed.Instance{Tools: &x.Tools, B: b, ComponentDir: dir, Runner: runner}}, nil
}

// instance is one machine image build.
type instance struct {
	*sandboxed.Instance
	x *Executor

	digest  string // the root filesystem image's manifest digest
	imageID string // the AMI id CreateImage answered, registered by distribution
	disk    string // the content-addressed raw disk, relative to DataDir
	size    int64
	kernel  string // host copies of the image's kernel and initrd
	initrd  string
	arch    string // the root filesystem's architecture (arch.go)

	// inventory is what CollectImageMetadata read in the build sandbox;
	// the test stage's scan matches it (the test instance runs the same
	// root file system).
	inventory *guest.Inventory

	machine  *vm.Machine
	agent    *agent.Client
	console  *consoleWriter
	testDisk string
}

// Do implements engine.Instance.
func (in *instance) Do(ctx context.Context, s *engine.Step) error {
	switch s.Action {
	case "LaunchInstance":
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.launchTest(ctx, s)
		}
		if err := in.Launch(ctx, s, in.x.RegistryHost+"/"+in.B.Job.ParentImage); err != nil {
			return err
		}
		if err := in.detectArch(s); err != nil {
			return err
		}
		return in.userData(ctx, s)
	case "ExecuteComponents":
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.runTests(ctx, s)
		}
		if err := in.Bootstrap(s); err != nil {
			return err
		}
		return in.RunComponents(ctx, in.Config(false, s.Log), s, []string{"build", "validate"}, false)
	case "CollectImageMetadata":
		inv, err := in.Inventory(ctx, in.Config(false, s.Log), s)
		if err != nil {
			return err
		}
		in.inventory = &inv
		if v := inv.OS.ImageBuilderVersion(); v != "" {
			return in.B.Update(ctx, func(img *awsapi.Image) { img.OsVersion = v })
		}
		return nil
	case "SanitizeInstance":
		req := guest.SanitizeRequest{WorkingDir: in.ComponentDir}
		if aic := in.B.Image.ImageRecipe.AdditionalInstanceConfiguration; aic != nil && aic.UserDataOverride != "" {
			req.UserData = true
		}
		return in.Run(ctx, in.Config(false, s.Log), "the cleanup script", guest.Argv(sandboxed.GuestBinary, req)...)
	case "CreateImage":
		return in.createImage(ctx, s)
	case "CollectImageScanFindings":
		return in.collectScanFindings(ctx, s)
	case "TerminateInstance":
		if s.Workflow == awsapi.WorkflowTypeTest {
			return in.terminateTest(ctx, s)
		}
		s.Logf("instance terminated")
		return nil
	case "DistributeImage":
		return in.distribute(ctx, s)
	case "BootstrapInstanceForContainer":
		s.Logf("staging the kiln runner and the component documents (a machine image needs no container tooling)")
		return in.Bootstrap(s)
	case "RunCommand", "WaitForSSMAgent":
		return sandboxed.RunInstanceAction(ctx, s, in.runner)
	case "RegisterImage":
		return in.registerImage(ctx, s)
	case "ModifyImageAttributes":
		return in.modifyAttributes(ctx, s)
	case "ApplyImageConfigurations":
		return in.applyConfigurations(s)
	}
	return fmt.Errorf("%w: %s", engine.ErrUnsupportedAction, s.Action)
}

// collectScanFindings is CollectImageScanFindings: where Inspector scans
// the test instance, kiln matches the image's package inventory against
// its vulnerability database. The inventory is the one the build read
// (the test instance boots the same root file system); when
// CollectImageMetadata did not run it is read now from the build's root.
func (in *instance) collectScanFindings(ctx context.Context, s *engine.Step) error {
	if in.inventory == nil && scan.Enabled(in.B.Image.ImageScanningConfiguration) {
		inv, err := in.Inventory(ctx, in.Config(false, s.Log), s)
		if err != nil {
			return err
		}
		in.inventory = &inv
	}
	var inv guest.Inventory
	if in.inventory != nil {
		inv = *in.inventory
	}
	return in.B.ScanImage(ctx, s, inv.OS, inv.Packages)
}

// Close implements engine.Instance.
func (in *instance) Close(keep bool) error {
	if in.machine != nil {
		in.machine.Kill()
	}
	return in.Instance.Close(keep)
}

// userData runs the recipe's userDataOverride the way EC2 runs user data
// at an instance's first boot: as a script, as root, before the
// components. systemsManagerAgent.uninstallAfterBuild has nothing to undo:
// kiln never installs an SSM agent.
func (in *instance) userData(ctx context.Context, s *engine.Step) error {
	aic := in.B.Image.ImageRecipe.AdditionalInstanceConfiguration
	if aic == nil {
		return nil
	}
	if aic.SystemsManagerAgent != nil && aic.SystemsManagerAgent.UninstallAfterBuild != nil && *aic.SystemsManagerAgent.UninstallAfterBuild {
		s.Logf("systemsManagerAgent.uninstallAfterBuild: kiln installs no SSM agent, so there is nothing to uninstall")
	}
	if aic.UserDataOverride == "" {
		return nil
	}
	script, err := decodeUserData(aic.UserDataOverride)
	if err != nil {
		return err
	}
	if err := in.Bootstrap(s); err != nil {
		return err
	}
	path := filepath.Join(in.Stage, "documents", "user-data")
	if err := os.WriteFile(path, script, 0o755); err != nil {
		return err
	}
	s.Logf("running userDataOverride (%d bytes)", len(script))
	cfg := in.Config(false, s.Log)
	shell := "/bin/sh"
	if strings.HasPrefix(string(script), "#!") {
		line, _, _ := strings.Cut(string(script[2:]), "\n")
		if f := strings.Fields(line); len(f) > 0 {
			shell = f[0]
		}
	}
	return in.Run(ctx, cfg, "userDataOverride", shell, sandboxed.GuestDocs+"/user-data")
}

// rootVolume returns the root disk size from the recipe's block device
// mappings (the first mapping with a volume size whose device name is a
// root name, else the first with a size), in bytes, and the extra volumes.
func rootVolume(r *awsapi.ImageRecipe) (root int64, extra []int64) {
	root = defaultVolumeSize << 30
	found := false
	for _, m := range r.BlockDeviceMappings {
		if m.Ebs == nil || m.Ebs.VolumeSize == nil || (m.NoDevice != nil && *m.NoDevice != "") {
			continue
		}
		size := int64(*m.Ebs.VolumeSize) << 30
		isRoot := m.DeviceName == "/dev/xvda" || m.DeviceName == "/dev/sda1" || m.DeviceName == "/dev/sda" || m.DeviceName == "/dev/nvme0n1"
		if !found && (isRoot || len(r.BlockDeviceMappings) == 1) {
			root, found = size, true
			continue
		}
		extra = append(extra, size)
	}
	return root, extra
}

// createImage turns the build's changes into a layer on the parent's root
// filesystem, pushes it, and writes the disk.
func (in *instance) createImage(ctx context.Context, s *engine.Step) error {
	start := time.Now()
	layer, err := oci.DiffLayer(ctx, in.Upper, in.B.WorkDir)
	if err != nil {
		return err
	}
	img, err := mutate.Append(in.Parent, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: time.Now().UTC()}, CreatedBy: "kiln: " + in.B.Image.Arn,
		Comment: "the build phase of the image recipe's components",
	}})
	if err != nil {
		return err
	}
	if img, err = withArch(img, in.arch); err != nil {
		return err
	}
	tag := sandboxed.VersionTag(in.B.Image)
	digest, err := oci.PushLocal(ctx, in.x.Registry, Repository, []string{tagFor(in.B.Image.Name, tag)}, img)
	if err != nil {
		return fmt.Errorf("storing the root filesystem: %w", err)
	}
	in.digest = digest
	s.Logf("root filesystem stored as %s/%s@%s in %s", in.x.RegistryHost, Repository, digest, time.Since(start).Round(time.Millisecond))

	size, _ := rootVolume(in.B.Image.ImageRecipe)
	start = time.Now()
	err = mountMerged(append([]string{in.Upper}, in.ParentLowers...), func(root string) error {
		var err error
		in.disk, in.size, err = in.x.writeDisk(ctx, root, digest, in.x.parentDisk(in.B.Job.ParentImage), size, s)
		if err != nil {
			return err
		}
		return in.copyKernel(root)
	})
	if err != nil {
		return err
	}
	s.Logf("disk %s (%d GiB) ready in %s", in.disk, in.size>>30, time.Since(start).Round(time.Millisecond))
	s.Outputs["rootFilesystem"] = Repository + "@" + digest
	s.Outputs["disk"] = in.disk
	// The AMI id is chosen now, as EC2's CreateImage answers it, and is
	// the id of the AMI distribution registers in the build's own region
	// and account.
	if in.imageID == "" {
		in.imageID = ami.NewID()
	}
	s.Outputs["imageId"] = in.imageID
	return nil
}

// tagFor is the registry tag of an image build's root filesystem.
func tagFor(name, versionTag string) string {
	t := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, name+"-"+versionTag)
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// writeDisk writes the disk for a root tree unless the disk of this
// digest exists (the same content was built before). parent is the parent
// AMI's disk, whose bootloader and layout the new disk keeps (bootdisk.go).
func (x *Executor) writeDisk(ctx context.Context, root, digest, parent string, size int64, s *engine.Step) (string, int64, error) {
	rel := ami.DiskPath(digest)
	final := filepath.Join(x.DataDir, rel)
	if have, err := x.disks().Exists(ctx, rel); err != nil {
		return "", 0, err
	} else if have {
		s.Logf("the disk of this root filesystem exists already; reusing %s", rel)
		path, err := x.disks().Local(ctx, rel)
		if err != nil {
			return "", 0, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return "", 0, err
		}
		return rel, fi.Size(), nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", 0, err
	}
	tmp := final + ".tmp"
	os.Remove(tmp)
	info, err := x.makeBootable(ctx, root, tmp, parent, size, s.Log)
	if err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("writing the disk: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", 0, err
	}
	s.Logf("disk partition %s, filesystem %s", info.PartUUID, info.FSUUID)
	if err := x.disks().Publish(ctx, rel); err != nil {
		return "", 0, err
	}
	fi, err := os.Stat(final)
	if err != nil {
		return "", 0, err
	}
	return rel, fi.Size(), nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// copyKernel copies the image's kernel and initrd out of its root tree,
// for direct kernel boots.
func (in *instance) copyKernel(root string) error {
	kernel, initrd, err := disk.FindKernel(root)
	if err != nil {
		in.kernel, in.initrd = "", ""
		return nil // no kernel: the test phase says so if it needs one
	}
	in.kernel = filepath.Join(in.B.WorkDir, "vmlinuz")
	if err := fileutil.Copy(kernel, in.kernel, 0o644); err != nil {
		return err
	}
	if initrd != "" {
		in.initrd = filepath.Join(in.B.WorkDir, "initrd.img")
		return fileutil.Copy(initrd, in.initrd, 0o644)
	}
	return nil
}

// mountMerged mounts a read-only overlay of layers (top first) on a
// temporary directory and calls fn with it. The mount is private to
// kiln's own use and always removed.
func mountMerged(layers []string, fn func(root string) error) error {
	if len(layers) == 1 {
		return fn(layers[0])
	}
	dir, err := os.MkdirTemp("", "kiln-merged-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	opts := "lowerdir=" + strings.Join(layers, ":")
	if err := unix.Mount("overlay", dir, "overlay", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, opts); err != nil {
		return fmt.Errorf("mounting the image's layers: %w", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	return fn(dir)
}

// decodeUserData decodes userDataOverride, which the API carries base64
// encoded as EC2 user data is.
func decodeUserData(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("userDataOverride is not base64: %w", err)
	}
	return b, nil
}

func (x *Executor) disks() *ami.Disks { return &ami.Disks{DataDir: x.DataDir, Blobs: x.Blobs} }

// OpenBuilt implements engine.Redistributor: an instance over the disk
// and root filesystem the image's AMIs share, for DistributeImage. Only
// the distribution's steps need it; it launches nothing.
func (x *Executor) OpenBuilt(ctx context.Context, b *engine.Build) (engine.Instance, error) {
	amis, err := b.BuiltAMIs(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range amis {
		if a.Disk == "" || a.Digest == "" {
			continue
		}
		path, err := x.disks().Local(ctx, a.Disk)
		if err != nil {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		in := &instance{x: x, Instance: &sandboxed.Instance{Tools: &x.Tools, B: b}, digest: a.Digest, disk: a.Disk, size: fi.Size()}
		return &builtInstance{in}, nil
	}
	return nil, fmt.Errorf("the image %s has no AMI whose disk kiln still holds", b.Image.Arn)
}

// builtInstance is a machine image built before, being distributed again:
// there is no instance to launch or terminate.
type builtInstance struct{ *instance }

// Do implements engine.Instance.
func (in *builtInstance) Do(ctx context.Context, s *engine.Step) error {
	switch s.Action {
	case "LaunchInstance", "TerminateInstance":
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
