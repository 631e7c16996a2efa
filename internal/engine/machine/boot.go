package machine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/elfdeps"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/fileutil"
	"github.com/kiln-build/kiln/internal/vm"
)

// The agent's start hook in the test copy of the disk: it loads the
// virtio console driver (a module on most distributions' kernels) and
// hands over to the kiln agent, which listens on the virtio-serial port.
// %s is the agent's command line: /.kiln/kiln, or, for a dynamically
// linked kiln, the staged loader running it (sandboxed.RunnerArgv).
const guestStart = `#!/bin/sh
modprobe virtio_console 2>/dev/null || insmod /lib/modules/$(uname -r)/kernel/drivers/char/virtio_console.ko 2>/dev/null
exec %s
`

const guestUnit = `[Unit]
Description=kiln test agent
After=local-fs.target

[Service]
ExecStart=/.kiln/guest-start
`

// defaultBootTimeout bounds a test boot under software emulation.
const defaultBootTimeout = 5 * time.Minute

// testLayer writes the files the test copy adds to the image: the kiln
// binary and documents under /.kiln, and the hook that starts the agent
// from the image's own init (busybox init's inittab, or a systemd unit).
func (in *instance) testLayer(root, dir string) error {
	kdir := filepath.Join(dir, ".kiln")
	if err := os.MkdirAll(filepath.Join(kdir, "documents"), 0o755); err != nil {
		return err
	}
	binary, err := in.guestBinary()
	if err != nil {
		return err
	}
	if err := fileutil.Copy(binary, filepath.Join(kdir, "kiln"), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(kdir, "kiln"), 0o755); err != nil {
		return err
	}
	for i, c := range in.B.Components {
		if err := os.WriteFile(filepath.Join(kdir, "documents", sandboxed.ComponentFile(i, c)), []byte(c.Data), 0o644); err != nil {
			return err
		}
	}
	if runner := in.guestRunner(); runner != nil {
		if err := runner.Stage(filepath.Join(kdir, elfdeps.LibDir)); err != nil {
			return err
		}
	}
	start := fmt.Sprintf(guestStart, strings.Join(sandboxed.RunnerArgv(in.guestRunner(), "internal", "guest"), " "))
	if err := os.WriteFile(filepath.Join(kdir, "guest-start"), []byte(start), 0o755); err != nil {
		return err
	}
	hooked := false
	// systemd: a unit wanted by the default target.
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system")); err == nil {
		wants := filepath.Join(dir, "etc/systemd/system/multi-user.target.wants")
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "etc/systemd/system/kiln-agent.service"), []byte(guestUnit), 0o644); err != nil {
			return err
		}
		if err := os.Symlink("../kiln-agent.service", filepath.Join(wants, "kiln-agent.service")); err != nil {
			return err
		}
		hooked = true
	}
	// busybox (and sysvinit-style) inittab.
	if old, err := readInRoot(root, "etc/inittab"); err == nil || !hooked {
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			return err
		}
		tab := string(old)
		if tab != "" && !strings.HasSuffix(tab, "\n") {
			tab += "\n"
		}
		if !strings.Contains(tab, "::sysinit:") && strings.TrimSpace(tab) == "" {
			tab = "::sysinit:/bin/mount -t proc proc /proc\n::sysinit:/bin/mount -o remount,rw /\n"
		}
		tab += "::once:/.kiln/guest-start\n"
		if err := os.WriteFile(filepath.Join(dir, "etc/inittab"), []byte(tab), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readInRoot reads a regular file of the image (no symlinks followed: an
// image's links are not trusted on the host).
func readInRoot(root, rel string) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := r.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return r.ReadFile(rel)
}

// consoleWriter sends a guest's serial console to the current step's log.
type consoleWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *consoleWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w != nil {
		c.w.Write(p)
	}
	return len(p), nil
}

func (c *consoleWriter) set(w io.Writer) {
	c.mu.Lock()
	c.w = w
	c.mu.Unlock()
}

// launchTest makes the test copy of the disk and boots it.
func (in *instance) launchTest(ctx context.Context, s *engine.Step) error {
	if in.disk == "" {
		return errors.New("there is no built image to test")
	}
	if in.kernel == "" {
		return errors.New("the image has no kernel under /boot (vmlinuz) to boot its test instance with; install one in a build component or disable image tests")
	}
	start := time.Now()
	layer := filepath.Join(in.B.WorkDir, "test-layer")
	_, extra := rootVolume(in.B.Image.ImageRecipe)
	in.testDisk = filepath.Join(in.B.WorkDir, "test-disk.raw")
	// The test copy is the built disk plus the agent and its start hook,
	// written into a sparse copy: the image's own disk stays as it was
	// built, and the tree is not written a second time.
	err := mountMerged(append([]string{in.Upper}, in.ParentLowers...), func(root string) error {
		return in.testLayer(root, layer)
	})
	if err != nil {
		return fmt.Errorf("preparing the test instance: %w", err)
	}
	partUUID, err := disk.CopyWithTree(ctx, filepath.Join(in.x.DataDir, in.disk), in.testDisk, layer)
	if err != nil {
		return fmt.Errorf("making the test instance's disk: %w", err)
	}
	disks := []string{in.testDisk}
	for i, sz := range extra {
		p := filepath.Join(in.B.WorkDir, fmt.Sprintf("test-volume-%d.raw", i+1))
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		err = f.Truncate(sz)
		f.Close()
		if err != nil {
			return err
		}
		disks = append(disks, p)
	}
	s.Logf("test disk ready in %s; booting %s", time.Since(start).Round(time.Millisecond), filepath.Base(in.kernel))
	cfg := in.x.VM
	cfg.Disks = disks
	if fw := in.testFirmware(ctx, s); fw != "" {
		// The disk's bootloader boots the image's kernel with its own
		// command line (root by UUID, console on ttyS0).
		cfg.Firmware = fw
		s.Logf("booting the test instance through %s firmware and the disk's bootloader", fw)
	} else {
		cfg.Kernel, cfg.Initrd = in.kernel, in.initrd
		cfg.Append = "root=PARTUUID=" + partUUID + " rw console=" + vm.ConsoleDevice(in.arch) + " panic=-1"
	}
	in.guestVM(&cfg)
	switch {
	case cfg.Accel == "":
		s.Logf("QEMU accelerator: chosen at this boot (KVM when a probe boot under it works)")
	case cfg.Accel != in.x.VM.Accel || in.x.AccelReason == "":
		s.Logf("QEMU accelerator: %s", cfg.Accel)
	default:
		s.Logf("QEMU accelerator: %s (%s)", cfg.Accel, in.x.AccelReason)
	}
	seed, err := in.testSeed(&cfg)
	if err != nil {
		return fmt.Errorf("making the test instance's cloud-init seed: %w", err)
	}
	s.Logf("cloud-init NoCloud seed: instance %s, hostname %s, %d bytes of user data", seed.InstanceID, seed.Hostname, len(seed.UserData))
	console := &consoleWriter{w: s.Log}
	// The log gets the console's text, without the escape sequences
	// that draw the firmware's screen or colour systemd's lines.
	cfg.Console = vm.ConsoleText(console)
	in.console = console
	start = time.Now()
	timeout := in.x.BootTimeout
	if timeout <= 0 {
		timeout = defaultBootTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A host whose KVM passed the probe may still abort a real guest:
	// the test instance then boots again under TCG, and the log says why.
	m, a, err := vm.BootAgent(context.WithoutCancel(ctx), actx, cfg, func(why error) {
		s.Logf("QEMU aborted under KVM; booting the test instance again under TCG: %v", why)
	})
	if m != nil {
		in.machine = m
	}
	if err != nil && m == nil {
		return fmt.Errorf("booting the test instance: %w", err)
	}
	if err != nil {
		return fmt.Errorf("the test instance did not start the kiln agent: %w", err)
	}
	in.agent = a
	s.Logf("test instance booted (%s) and its agent answered in %s", m.Accel(), time.Since(start).Round(time.Millisecond))
	s.Outputs["instanceId"] = seed.InstanceID
	return nil
}

// runTests runs the test phase inside the booted guest.
func (in *instance) runTests(ctx context.Context, s *engine.Step) error {
	if in.agent == nil {
		return errors.New("the test instance is not running")
	}
	in.console.set(s.Log)
	run := func(ctx context.Context, what string, stdout, stderr io.Writer, argv ...string) error {
		if len(argv) > 0 && argv[0] == sandboxed.GuestBinary {
			argv = sandboxed.RunnerArgv(in.guestRunner(), argv[1:]...)
		}
		code, err := in.agent.Run(ctx, argv, nil, "/", stdout, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if code != 0 {
			return fmt.Errorf("%s: exit status %d", what, code)
		}
		return nil
	}
	return sandboxed.RunComponents(ctx, in.B.Components, s, []string{"test"}, true,
		sandboxed.GuestDocs, "/var/log/kiln-toe", run)
}

// terminateTest powers the guest off and drops the test copy.
func (in *instance) terminateTest(ctx context.Context, s *engine.Step) error {
	if in.console != nil {
		in.console.set(s.Log)
	}
	if in.agent != nil {
		if err := in.agent.PowerOff(ctx); err != nil {
			s.Logf("powering off: %v", err)
		}
	}
	if in.machine != nil {
		done := make(chan error, 1)
		go func() { done <- in.machine.Wait() }()
		select {
		case <-done:
			s.Logf("test instance powered off")
		case <-time.After(time.Minute):
			s.Logf("test instance did not power off; killed")
			in.machine.Kill()
		}
		in.machine, in.agent = nil, nil
	}
	if in.console != nil {
		in.console.set(nil)
	}
	os.Remove(in.testDisk)
	os.Remove(filepath.Join(in.B.WorkDir, "test-seed.iso"))
	return nil
}

// distribute registers the image as an AMI in every region and account
// the distribution names (its own region and account when there is no
// distribution configuration). Every AMI refers to the same disk.
func (in *instance) distribute(ctx context.Context, s *engine.Step) error {
	if in.disk == "" {
		return errors.New("there is no built image to distribute")
	}
	img := in.B.Image
	now := time.Now().UTC()
	owner := in.B.Job.Account
	type target struct {
		region, account, name, description string
		tags                               map[string]string
		launch                             []string
	}
	var targets []target
	defaultName := img.Name + " " + strings.ReplaceAll(now.Format("2006-01-02T15:04:05.000Z"), ":", "-")
	if dc := img.DistributionConfiguration; dc != nil && len(dc.Distributions) > 0 {
		for _, d := range dc.Distributions {
			t := target{region: d.Region, account: owner, name: defaultName}
			if a := d.AmiDistributionConfiguration; a != nil {
				if a.Name != "" {
					t.name = expandName(a.Name, img, now)
				}
				t.description, t.tags = a.Description, a.AmiTags
				if a.LaunchPermission != nil {
					t.launch = a.LaunchPermission.UserIds
				}
				targets = append(targets, t)
				for _, acct := range a.TargetAccountIds {
					if acct != owner {
						u := t
						u.account = acct
						targets = append(targets, u)
					}
				}
				continue
			}
			targets = append(targets, t)
		}
	} else {
		targets = append(targets, target{region: in.x.Region, account: owner, name: defaultName})
	}
	amis := make([]ami.AMI, len(targets))
	ownID := in.imageID
	for i, t := range targets {
		amis[i] = ami.AMI{
			Name: t.name, Description: t.description, Region: t.region, AccountID: t.account, Tags: t.tags,
			Repository: Repository, Digest: in.digest, Disk: in.disk, Size: in.size, CreationDate: now, Launchable: t.launch,
			Architecture: in.arch,
		}
		if ownID != "" && t.region == in.x.Region && t.account == owner {
			amis[i].ImageID, ownID = ownID, ""
		}
	}
	start := time.Now().UTC()
	amis, err := in.B.RegisterAMIs(ctx, amis)
	if err != nil {
		return err
	}
	distributed := make([]map[string]any, len(amis))
	for i, a := range amis {
		s.Logf("registered %s %q in %s for account %s", a.ImageID, a.Name, a.Region, a.AccountID)
		distributed[i] = map[string]any{
			"region": a.Region, "name": a.Name, "amiId": a.ImageID, "accountId": a.AccountID,
			"dateStarted": start.Format(time.RFC3339), "dateStopped": time.Now().UTC().Format(time.RFC3339),
			"status": "COMPLETED", "step": "DISTRIBUTE",
		}
	}
	s.Outputs["amis"] = in.B.Image.OutputResources.Amis
	s.Outputs["distributedImages"] = distributed
	return nil
}

// expandName expands the variables Image Builder allows in AMI names.
func expandName(name string, img awsapi.Image, now time.Time) string {
	build := img.Arn[strings.LastIndex(img.Arn, "/")+1:]
	r := strings.NewReplacer(
		"{{ imagebuilder:buildDate }}", strings.ReplaceAll(now.Format("2006-01-02T15:04:05.000Z"), ":", "-"),
		"{{imagebuilder:buildDate}}", strings.ReplaceAll(now.Format("2006-01-02T15:04:05.000Z"), ":", "-"),
		"{{ imagebuilder:buildVersion }}", build,
		"{{imagebuilder:buildVersion}}", build,
	)
	return r.Replace(name)
}
