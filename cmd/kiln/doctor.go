package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/vm"
	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/elfdeps"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// kiln doctor tells a newcomer, before the first build fails, what this
// host lacks. Every check tries the thing rather than guessing from
// version numbers or config files: it mounts an overlay, enters the
// namespaces, creates a KVM virtual machine, runs the tools. Each line
// says what was found and, when something is missing, the Debian package
// to install or what to do.

// doctorStatus is how a check came out.
type doctorStatus string

const (
	doctorOK   doctorStatus = "OK"
	doctorWarn doctorStatus = "WARN"
	// doctorFail is kept for what builds need: a FAIL line means builds
	// (of the kind Needed names) fail on this host, and kiln doctor
	// exits non-zero.
	doctorFail doctorStatus = "FAIL"
)

// Who needs what a check looks at.
const (
	neededBuilds   = "builds"         // every build: containers and machine images
	neededMachines = "machine images" // machine-image (AMI) builds and their test boots
	neededFaster   = "speed"          // builds work without it, slower or less confined
	neededUsers    = "users"          // the tools a user drives kiln with
	neededBooting  = "booting"        // machine images boot on their own, under BIOS and UEFI
)

// doctorCheck is one line of the report.
type doctorCheck struct {
	Name   string       `json:"name"`
	Status doctorStatus `json:"status"`
	// Found says what the check saw.
	Found string `json:"found"`
	// Fix says what to install (the Debian package) or do; empty when OK.
	Fix string `json:"fix,omitempty"`
	// Needed says who needs it: builds, machine images, speed or users.
	Needed string `json:"needed"`
}

// doctorReport is the whole diagnosis, as --json prints it.
type doctorReport struct {
	// OK is false when a check FAILed: something builds need is missing.
	OK     bool          `json:"ok"`
	Checks []doctorCheck `json:"checks"`
}

func newDoctorReport(checks []doctorCheck) doctorReport {
	r := doctorReport{OK: true, Checks: checks}
	for _, c := range checks {
		if c.Status == doctorFail {
			r.OK = false
		}
	}
	return r
}

func doctorMain(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("kiln doctor", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dataDir := flags.String("data-dir", envOr("KILN_DATA_DIR", "./kiln-data"), "kiln's data directory, whose filesystem builds use (KILN_DATA_DIR)")
	asJSON := flags.Bool("json", false, "print the report as JSON")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: kiln doctor [--data-dir DIR] [--json]")
		fmt.Fprintln(stderr, "\nChecks, by trying them, what kiln's builds need from this host; exits 1 when something builds need FAILs.")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		flags.Usage()
		return 2
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "kiln doctor: --data-dir: %v\n", err)
		return 2
	}
	report := newDoctorReport(runDoctor(context.Background(), dir))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(report)
	} else {
		renderDoctor(stdout, report)
	}
	if !report.OK {
		return 1
	}
	return 0
}

// renderDoctor writes the report for a terminal: one line per check, the
// fix indented under it, and a closing verdict.
func renderDoctor(w io.Writer, r doctorReport) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	var fails, warns int
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", c.Status, width, c.Name, oneLine(c.Found))
		if c.Fix != "" {
			fmt.Fprintf(w, "      %-*s  -> %s\n", width, "", oneLine(c.Fix))
		}
		switch c.Status {
		case doctorFail:
			fails++
		case doctorWarn:
			warns++
		}
	}
	switch {
	case fails > 0:
		fmt.Fprintf(w, "\n%d FAIL, %d WARN: builds fail on this host until the FAIL lines are fixed.\n", fails, warns)
	case warns > 0:
		fmt.Fprintf(w, "\n0 FAIL, %d WARN: kiln can build here; the WARN lines say what is missing.\n", warns)
	default:
		fmt.Fprintln(w, "\nEverything kiln uses works on this host.")
	}
}

// oneLine keeps a tool's multi-line answer on the report's one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// runDoctor runs every check, in the order a reader fixes things: root
// first (most checks need it), then what every build needs, then machine
// images, then the user's tools.
func runDoctor(ctx context.Context, dataDir string) []doctorCheck {
	checks := []doctorCheck{
		checkRoot(),
		checkBinary(ctx),
		checkNamespaces(),
		checkOverlay(dataDir),
		checkDiskSpace(dataDir),
		checkCgroups(),
		checkBuildNetwork(),
		checkKVM(ctx),
		checkTool(ctx, "QEMU", neededMachines, "qemu-system-x86", "test boots of machine images", "qemu-system-x86_64", "--version"),
		checkTool(ctx, "qemu-img", neededMachines, "qemu-utils", "converting, importing and exporting disks", "qemu-img", "--version"),
		checkTool(ctx, "mkfs.ext4", neededMachines, "e2fsprogs", "writing machine images' root filesystems", "mkfs.ext4", "-V"),
		checkTool(ctx, "debugfs", neededMachines, "e2fsprogs", "editing machine images' root filesystems", "debugfs", "-V"),
	}
	checks = append(checks, bootloaderChecks(ctx)...)
	return append(checks,
		checkForeignArch(),
		checkTool(ctx, "xz", neededFaster, "xz-utils", "xz-compressed guest kernels", "xz", "--version"),
		checkTool(ctx, "skopeo", neededUsers, "skopeo", "pushing parent images and pulling results", "skopeo", "--version"),
		checkTool(ctx, "aws CLI", neededUsers, "awscli", "driving the API and ecr get-login-password", "aws", "--version"),
		checkParentImages(dataDir),
	)
}

// missing is the status of something absent: FAIL when builds need it.
func missing(needed string) doctorStatus {
	if needed == neededBuilds || needed == neededMachines {
		return doctorFail
	}
	return doctorWarn
}

func checkRoot() doctorCheck {
	c := doctorCheck{Name: "root", Needed: neededBuilds}
	if uid := os.Geteuid(); uid != 0 {
		c.Status, c.Found = doctorFail, fmt.Sprintf("running as uid %d: the sandbox mounts overlays and creates namespaces, which needs root", uid)
		c.Fix = "run kiln serve (and kiln doctor) as root: sudo kiln doctor"
		return c
	}
	c.Status, c.Found = doctorOK, "running as root"
	return c
}

// checkBinary says whether this kiln can be the runner in images: a
// static binary runs anywhere; a dynamic one (a plain `go build`) carries
// its loader and libraries into every build (package elfdeps).
func checkBinary(ctx context.Context) doctorCheck {
	c := doctorCheck{Name: "kiln binary", Needed: neededBuilds}
	exe, err := os.Executable()
	if err != nil {
		c.Status, c.Found = doctorFail, "cannot find the kiln binary: "+err.Error()
		return c
	}
	interp, err := elfdeps.Interp(exe)
	if err != nil {
		c.Status, c.Found = doctorFail, "reading the kiln binary: "+err.Error()
		return c
	}
	if interp == "" {
		c.Status, c.Found = doctorOK, exe+" is statically linked: the build runner starts in any image"
		return c
	}
	deps, err := elfdeps.Resolve(ctx, exe)
	if err != nil {
		c.Status, c.Found = doctorFail, exe+" is dynamically linked and its libraries cannot be resolved: "+err.Error()
		c.Fix = "build kiln static: CGO_ENABLED=0 go build ./cmd/kiln"
		return c
	}
	var names []string
	for _, l := range deps.Libs {
		names = append(names, l.Name)
	}
	c.Status = doctorOK
	c.Found = fmt.Sprintf("%s is dynamically linked (cgo): builds carry its loader %s and %s into the sandbox; CGO_ENABLED=0 go build makes one that needs nothing", exe, interp, strings.Join(names, ", "))
	return c
}

// sandboxNamespaces are the namespaces every sandbox is started in (see
// sandbox.Run); the network one is added for the none and private build
// networks, the default.
var sandboxNamespaces = []struct {
	name string
	flag uintptr
}{
	{"mount", unix.CLONE_NEWNS},
	{"pid", unix.CLONE_NEWPID},
	{"uts", unix.CLONE_NEWUTS},
	{"ipc", unix.CLONE_NEWIPC},
	{"network", unix.CLONE_NEWNET},
}

// checkNamespaces starts this binary (`kiln version`) in all the
// sandbox's namespaces at once and, if that fails, in each alone to name
// the one the host refuses.
func checkNamespaces() doctorCheck {
	c := doctorCheck{Name: "namespaces", Needed: neededBuilds}
	try := func(flags uintptr) error {
		cmd := exec.Command("/proc/self/exe", "version")
		cmd.Env = []string{} // not a sandbox init
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v %s", err, bytes.TrimSpace(out))
		}
		return nil
	}
	var all uintptr
	var names []string
	for _, ns := range sandboxNamespaces {
		all |= ns.flag
		names = append(names, ns.name)
	}
	err := try(all)
	if err == nil {
		c.Status, c.Found = doctorOK, "a process started in new "+strings.Join(names, ", ")+" namespaces"
		return c
	}
	var refused []string
	for _, ns := range sandboxNamespaces {
		if e := try(ns.flag); e != nil {
			refused = append(refused, ns.name+" ("+e.Error()+")")
		}
	}
	c.Status = doctorFail
	if len(refused) == 0 {
		c.Found = "new " + strings.Join(names, ", ") + " namespaces together: " + err.Error()
	} else {
		c.Found = "the host refuses new " + strings.Join(refused, "; ")
	}
	c.Fix = "run as root on the host or in a privileged container (docker run --privileged); a kernel with CONFIG_NAMESPACES"
	return c
}

// existingDir is dir, or its nearest ancestor that exists (a data
// directory kiln serve has not created yet).
func existingDir(dir string) string {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// checkOverlay mounts a real overlay, as the sandbox does, on the data
// directory's filesystem (upper and work directories must be there), in
// a mount namespace of its own so nothing stays mounted if kiln doctor
// dies; it writes through it and deletes a lower file, and checks the
// write and the whiteout land in the upper directory.
func checkOverlay(dataDir string) doctorCheck {
	c := doctorCheck{Name: "overlayfs", Needed: neededBuilds}
	if os.Geteuid() != 0 {
		c.Status, c.Found, c.Fix = doctorFail, "not tried: mounting needs root", "run as root"
		return c
	}
	base, where := dataDir, "the data directory "+dataDir
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		base, where = os.TempDir(), os.TempDir()+" (the data directory "+dataDir+" does not exist yet)"
	}
	tmp, err := os.MkdirTemp(base, ".kiln-doctor-")
	if err != nil {
		c.Status, c.Found = doctorFail, "cannot create a directory in "+where+": "+err.Error()
		c.Fix = "give --data-dir a writable directory"
		return c
	}
	defer os.RemoveAll(tmp)
	err = tryOverlay(tmp)
	if err != nil {
		c.Status, c.Found = doctorFail, "an overlay in "+where+": "+err.Error()
		c.Fix = "load the module (modprobe overlay) or put --data-dir on ext4 or xfs (overlayfs cannot have its upper directory on overlayfs, NFS or tmpfs without xattrs)"
		return c
	}
	c.Status, c.Found = doctorOK, "an overlay mounted in "+where+": a write and a deletion landed in its upper directory"
	return c
}

func tryOverlay(tmp string) error {
	dirs := map[string]string{}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		dirs[d] = filepath.Join(tmp, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dirs["lower"], "old"), []byte("lower\n"), 0o644); err != nil {
		return err
	}
	err := disk.PrivateMounts(func() error {
		base := "lowerdir=" + dirs["lower"] + ",upperdir=" + dirs["upper"] + ",workdir=" + dirs["work"]
		err := unix.Mount("overlay", dirs["merged"], "overlay", unix.MS_NODEV, base+",redirect_dir=off,metacopy=off,index=off")
		if errors.Is(err, unix.EINVAL) {
			err = unix.Mount("overlay", dirs["merged"], "overlay", unix.MS_NODEV, base)
		}
		if err != nil {
			return fmt.Errorf("mount -t overlay: %w", err)
		}
		defer unix.Unmount(dirs["merged"], unix.MNT_DETACH)
		if b, err := os.ReadFile(filepath.Join(dirs["merged"], "old")); err != nil || string(b) != "lower\n" {
			return fmt.Errorf("the lower file does not show through: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dirs["merged"], "new"), []byte("upper\n"), 0o644); err != nil {
			return fmt.Errorf("writing through the overlay: %w", err)
		}
		if err := os.Remove(filepath.Join(dirs["merged"], "old")); err != nil {
			return fmt.Errorf("deleting through the overlay: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(dirs["upper"], "new")); err != nil || string(b) != "upper\n" {
		return fmt.Errorf("the write is not in the upper directory: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dirs["upper"], "old"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		return fmt.Errorf("the deletion left no whiteout in the upper directory: %v", err)
	}
	return nil
}

// Free space thresholds for the data directory: parent layers, build
// overlays, the registry and machine-image disks all live there.
const (
	diskFailBelow = 1 << 30
	diskWarnBelow = 10 << 30
)

func checkDiskSpace(dataDir string) doctorCheck {
	c := doctorCheck{Name: "disk space", Needed: neededBuilds}
	dir := existingDir(dataDir)
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		c.Status, c.Found = doctorFail, "statfs "+dir+": "+err.Error()
		return c
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	total := int64(fs.Blocks) * int64(fs.Bsize)
	return diskSpaceCheck(dir, free, total)
}

// diskSpaceCheck grades free bytes of total on dir's filesystem.
func diskSpaceCheck(dir string, free, total int64) doctorCheck {
	c := doctorCheck{Name: "disk space", Needed: neededBuilds}
	c.Found = fmt.Sprintf("%s free of %s on the filesystem of %s", humanBytes(free), humanBytes(total), dir)
	switch {
	case free < diskFailBelow:
		c.Status = doctorFail
		c.Fix = "free space there, or give --data-dir a larger filesystem (builds unpack parents and write layers under it)"
	case free < diskWarnBelow:
		c.Status = doctorWarn
		c.Fix = "10 GiB or more is comfortable: parent images, build overlays, the registry and machine-image disks live under --data-dir"
	default:
		c.Status = doctorOK
	}
	return c
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// checkCgroups reports what the sandbox's own probe chose (sandbox.Cgroups,
// the one kiln serve logs at start).
func checkCgroups() doctorCheck {
	c := doctorCheck{Name: "cgroup limits", Needed: neededFaster}
	cg := sandbox.Cgroups()
	switch cg.Mode {
	case sandbox.CgroupV2, sandbox.CgroupV1:
		c.Status, c.Found = doctorOK, string(cg.Mode)+": "+cg.Why
	default:
		c.Status, c.Found = doctorWarn, "builds run without CPU, memory and process limits: "+cg.Why
		c.Fix = "run kiln where it may create control groups: as root on a cgroup v2 host, or in a systemd unit with Delegate=yes"
	}
	return c
}

// checkBuildNetwork reports what the sandbox's own probe found for the
// private build network (sandbox.PrivateNetwork): it attaches each helper
// to a throwaway namespace.
func checkBuildNetwork() doctorCheck {
	c := doctorCheck{Name: "build network", Needed: neededFaster}
	n := sandbox.PrivateNetwork()
	if n.Helper != "" {
		c.Status, c.Found = doctorOK, "private, through "+n.Helper+": "+n.Why
		return c
	}
	c.Status, c.Found = doctorWarn, "no private network, builds get none (--build-network private falls back to none): "+n.Why
	c.Fix = "apt-get install passt (pasta), or slirp4netns"
	return c
}

// The KVM ioctls tried (linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12
)

// checkKVM opens /dev/kvm as QEMU does and creates a virtual machine:
// opening alone is not enough (the module may be loaded while
// virtualisation is off in the firmware, or held by another hypervisor),
// so KVM_CREATE_VM is tried too. Without it test boots run under TCG,
// QEMU's emulator: they work, many times slower.
func checkKVM(ctx context.Context) doctorCheck {
	c := doctorCheck{Name: "KVM", Needed: neededFaster}
	tcg := func(why, fix string) doctorCheck {
		c.Status, c.Found, c.Fix = doctorWarn, why+": machine-image test boots run under TCG (software emulation), working but many times slower", fix
		return c
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return tcg("/dev/kvm does not open ("+err.Error()+")",
			"enable virtualisation (VT-x/AMD-V, nested virtualisation for a VM), modprobe kvm_intel or kvm_amd, and run as root or in group kvm")
	}
	defer f.Close()
	v, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 || v != kvmAPIVersion {
		return tcg(fmt.Sprintf("/dev/kvm opens but KVM_GET_API_VERSION gives %d (%v), not %d", v, errno, kvmAPIVersion), "update the kernel")
	}
	vmFD, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return tcg("/dev/kvm opens (opening is not enough) but KVM_CREATE_VM fails: "+errno.Error(),
			"enable virtualisation in the firmware, or nested virtualisation on the hypervisor running this host")
	}
	unix.Close(int(vmFD))
	// A VM that can be created may still not run a guest: nested hosts
	// abort it at its first reset or hang it at its first mode switch.
	// kiln serve's own probe boot decides; doctor runs the same one.
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		choice, err := vm.ChooseAccel(ctx, vm.AccelOptions{Mode: vm.AccelAuto})
		if err == nil && choice.Accel != vm.AccelKVM {
			return tcg("/dev/kvm opens and KVM_CREATE_VM works, but a guest does not run under KVM ("+choice.Reason+")",
				"nothing to do for kiln, which uses TCG here; for KVM, fix nested virtualisation on the hypervisor running this host")
		}
	}
	c.Status, c.Found = doctorOK, "/dev/kvm opens, KVM_CREATE_VM created a virtual machine (API 12) and a probe guest ran under KVM: test boots use KVM"
	return c
}

// checkTool finds a program on PATH and asks its version.
func checkTool(ctx context.Context, name, needed, pkg, usedFor, program string, versionArgs ...string) doctorCheck {
	c := doctorCheck{Name: name, Needed: needed}
	p, err := exec.LookPath(program)
	if err != nil {
		c.Status = missing(needed)
		c.Found = program + " is not on PATH (used for " + usedFor + ")"
		c.Fix = "apt-get install " + pkg
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, versionArgs...).CombinedOutput()
	version := firstLine(out)
	if err != nil && version == "" {
		c.Status = missing(needed)
		c.Found = p + " does not run: " + err.Error()
		c.Fix = "reinstall it: apt-get install --reinstall " + pkg
		return c
	}
	c.Status, c.Found = doctorOK, p+": "+version
	return c
}

func firstLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}
