// Command machinebench measures kiln's machine image path — build, disk
// and boot test, import excluded — beside the same work done by hand, in
// one run on one machine:
//
//   - kiln: an image recipe on an imported minbase Debian parent with two
//     small build components and one test component, CreateImage until
//     GetImage says AVAILABLE with image tests on (kiln builds in its
//     sandbox, writes the GPT disk, boots a test copy under QEMU with the
//     image's own kernel and runs the test component in the guest);
//   - boots: the last image's disk, exported raw, booted in stock QEMU by
//     direct kernel boot (as kiln's test phase does) and through the
//     disk's own bootloader under SeaBIOS and OVMF, until its init runs;
//   - the floor: the same commands in a chroot over an overlay of the
//     unpacked parent, `mkfs.ext4 -d` into a raw file, a qcow2 test copy
//     from `qemu-img create`, and a QEMU direct kernel boot with kiln's
//     flags whose init runs the same test commands and powers off.
//
// The parent is `debootstrap --variant=minbase` of Debian with a kernel,
// packed as a tarball and cached under -cache; when debootstrap cannot
// reach the mirror, a busybox root with this host's Debian kernel stands
// in, and the report says so.
//
//	go run ./bench/machinebench -kiln /tmp/kiln [-runs 3] [-cache DIR] [-json out.json]
//
// It needs root (kiln's sandbox, the floor's mounts and chroot).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	"github.com/kiln-build/kiln/internal/disk"
)

type options struct {
	kiln      string
	runs      int
	files     int
	volumeGiB int
	memoryMB  int
	parent    string // auto, debootstrap or busybox
	cacheDir  string
	suite     string
	mirror    string
	tmpDir    string
	jsonPath  string
	keep      bool
	testBoot  string
}

func main() {
	var o options
	flag.StringVar(&o.kiln, "kiln", "", "path to the kiln binary to benchmark, built with CGO_ENABLED=0 (required)")
	flag.IntVar(&o.runs, "runs", 3, "measured builds per tool, after one unmeasured warm-up build each")
	flag.IntVar(&o.files, "files", 500, "small files the second build component creates")
	flag.IntVar(&o.volumeGiB, "volume-gib", 2, "root volume of the recipe (GiB): the disk both tools write")
	flag.IntVar(&o.memoryMB, "vm-memory", 1024, "MiB of memory of both tools' test guests (kiln serve --vm-memory)")
	flag.StringVar(&o.parent, "parent", "auto", "parent image: debootstrap, busybox, or auto (debootstrap, else busybox)")
	flag.StringVar(&o.cacheDir, "cache", "/var/tmp/kiln-machinebench", "where the parent tarball is kept between runs")
	flag.StringVar(&o.suite, "suite", "bookworm", "Debian suite to debootstrap")
	flag.StringVar(&o.mirror, "mirror", "", "Debian mirror for debootstrap (default: the host's, from /etc/apt/sources.list.d)")
	flag.StringVar(&o.tmpDir, "tmpdir", "", "parent of the run's working directory (default: the system temp dir)")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.testBoot, "test-boot", "direct", "how kiln's test instances boot (kiln serve --test-boot): direct, bios or uefi")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (kiln's data and logs) after the run")
	flag.Parse()

	if o.mirror == "" {
		o.mirror = hostMirror()
	}
	if o.kiln == "" {
		fmt.Fprintln(os.Stderr, "machinebench: -kiln PATH is required")
		os.Exit(2)
	}
	if o.runs < 1 || o.files < 1 || o.volumeGiB < 1 || o.memoryMB < 128 {
		fmt.Fprintln(os.Stderr, "machinebench: -runs, -files and -volume-gib must be at least 1, -vm-memory at least 128")
		os.Exit(2)
	}
	switch o.testBoot {
	case "direct", "bios", "uefi":
	default:
		fmt.Fprintln(os.Stderr, "machinebench: -test-boot must be direct, bios or uefi")
		os.Exit(2)
	}
	switch o.parent {
	case "auto", "debootstrap", "busybox":
	default:
		fmt.Fprintln(os.Stderr, "machinebench: -parent must be auto, debootstrap or busybox")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "machinebench: needs root (kiln's sandbox, the floor's mounts and chroot)")
		os.Exit(2)
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "mkfs.ext4", "mount", "chroot", "tar", "truncate"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "machinebench: %s is needed (apt-get install qemu-system-x86 qemu-utils e2fsprogs)\n", tool)
			os.Exit(2)
		}
	}
	benchkit.Run("machinebench", func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

// run is the whole benchmark. Progress goes to progress; the report to out.
func run(ctx context.Context, o options, out, progress io.Writer) (err error) {
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "machinebench: "+format+"\n", args...) }
	loadBefore := benchkit.LoadAverage()
	if benchkit.Busy(loadBefore) {
		logf("warning: load average is %.2f on %d CPUs; other work will skew the results", loadBefore, runtime.NumCPU())
	}
	p, err := prepareParent(ctx, o.parent, o.cacheDir, o.suite, o.mirror, logf)
	if err != nil {
		return err
	}
	logf("parent: %s (%s bytes)", p.Tarball, benchkit.Thousands(p.Bytes))

	wd, err := benchkit.NewWorkDir(o.tmpDir, "machinebench-", o.keep, logf)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := wd.Close(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	tmp := wd.Path

	// The floor's parent tree: unpacked once, not timed (kiln's import is
	// not timed either).
	lower := filepath.Join(tmp, "parent")
	if err := unpackParent(ctx, p.Tarball, lower); err != nil {
		return err
	}
	kernel, initrd, err := disk.FindKernel(lower)
	if err != nil || kernel == "" {
		return fmt.Errorf("the parent has no kernel under /boot: %v", err)
	}

	kiln, err := benchkit.StartKiln(ctx, o.kiln, filepath.Join(tmp, "kiln-data"), filepath.Join(tmp, "kiln.log"),
		"--allow-import-dir", filepath.Dir(p.Tarball), "--vm-memory", strconv.Itoa(o.memoryMB), "--test-boot", o.testBoot)
	if err != nil {
		return err
	}
	wd.OnClose(func() { kiln.Stop(15 * time.Second) })
	logf("kiln at %s, working directory %s (%s)", kiln.Addr, tmp, benchkit.FilesystemType(tmp))

	cs := workload(o.files)
	logf("importing the parent (not timed)")
	kb, imported, err := newKilnBuilder(ctx, o.kiln, kiln.Addr, p.Tarball, cs, o.volumeGiB)
	if err != nil {
		return fmt.Errorf("%w\nkiln's log ends:\n%s", err, kiln.LogTail())
	}
	logf("parent imported in %s", benchkit.Seconds(imported))

	fb := &floorBuilder{
		lower: lower, dir: filepath.Join(tmp, "floor"), size: int64(o.volumeGiB) << 30,
		memory: o.memoryMB, cpus: min(2, runtime.NumCPU()), accel: detectAccel(ctx, filepath.Join(tmp, "kiln-data")),
		kernel: kernel, initrd: initrd, qemu: "qemu-system-x86_64",
	}
	rep := report{
		Runs: o.runs, Files: o.files, VolumeGiB: o.volumeGiB, MemoryMB: o.memoryMB, CPUs: fb.cpus, Accel: fb.accel,
		Parent: p, Import: imported, Components: cs, TestBoot: o.testBoot,
		Kiln:  toolResult{Tool: toolKiln, Timed: "CreateImage → AVAILABLE (image tests on, test boot " + o.testBoot + ")"},
		Floor: toolResult{Tool: toolFloor, Timed: "overlay + chroot, truncate + mkfs.ext4 -d, qemu-img create, QEMU boot + test until exit"},
	}
	steps, tests := buildSteps(cs), testScript(cs)
	var allKiln []kilnRun

	// Round 0 is the unmeasured warm-up (kiln unpacks the parent into its
	// layer cache and makes its uncompressed kernel; the page cache warms
	// for both). Every round runs kiln, then the floor, so drift in the
	// machine's load touches both alike.
	for round := 0; round <= o.runs; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		kr, err := kb.build(ctx)
		if err != nil {
			return fmt.Errorf("kiln build %d: %w\nkiln's log ends:\n%s", round, err, kiln.LogTail())
		}
		allKiln = append(allKiln, kr)
		if round == 0 {
			rep.Kiln.First = kr.Wall
			logf("kiln  warm-up %s", benchkit.Seconds(kr.Wall))
			// Boot the kernel file kiln boots: under TCG kiln keeps an
			// uncompressed PVH copy of the image's kernel (internal/vm).
			if k, ok := kilnKernelCopy(filepath.Join(tmp, "kiln-data", "vm-kernels")); ok && fb.accel == "tcg" {
				fb.kernel = k
			}
			rep.FloorKernel = describeKernel(fb.kernel, kernel)
		} else {
			rep.Kiln.Runs = append(rep.Kiln.Runs, kr.Wall)
			rep.KilnRuns = append(rep.KilnRuns, kr)
			logf("kiln  build %d/%d %s", round, o.runs, benchkit.Seconds(kr.Wall))
		}

		fr, err := fb.build(ctx, round, steps, tests)
		if err != nil {
			return fmt.Errorf("floor build %d: %w", round, err)
		}
		if round == 0 {
			rep.Floor.First = fr.Wall
			logf("floor warm-up %s", benchkit.Seconds(fr.Wall))
		} else {
			rep.Floor.Runs = append(rep.Floor.Runs, fr.Wall)
			rep.FloorRuns = append(rep.FloorRuns, fr)
			logf("floor build %d/%d %s", round, o.runs, benchkit.Seconds(fr.Wall))
		}
	}
	if n := len(allKiln); n > 0 && allKiln[n-1].AMI != "" {
		rep.Exports, err = benchExports(ctx, o.kiln, kiln.Addr, allKiln[n-1].AMI, filepath.Join(tmp, "exports"), max(o.runs, 1), logf)
		if err != nil {
			return fmt.Errorf("exports: %w\nkiln's log ends:\n%s", err, kiln.LogTail())
		}
	}
	if n := len(allKiln); n > 0 && allKiln[n-1].AMI != "" {
		rep.Boots, err = benchBoots(ctx, o.kiln, kiln.Addr, allKiln[n-1].AMI, filepath.Join(tmp, "boots"), max(o.runs, 1),
			fb.accel, o.memoryMB, fb.cpus, kernel, fb.kernel, initrd, logf)
		if err != nil {
			return fmt.Errorf("boots: %w\nkiln's log ends:\n%s", err, kiln.LogTail())
		}
	}
	rep.Checks = append(rep.Checks, kilnChecks(allKiln)...)
	if o.testBoot != "direct" {
		rep.Checks = append(rep.Checks, testBootCheck(allKiln, o.testBoot))
	}
	rep.Checks = append(rep.Checks, benchkit.Check{Name: "floor: every boot printed " + testMarker, OK: true,
		Detail: fmt.Sprintf("%d boots and the warm-up (a boot without it fails the run)", len(rep.FloorRuns))})
	rep.Targets = rep.evaluateTargets()
	rep.Machine = machineInfo(o.kiln, tmp, loadBefore)
	rep.writeMarkdown(out)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	for _, c := range rep.Checks {
		if !c.OK {
			return errors.New("check failed: " + c.Name + ": " + c.Detail)
		}
	}
	return nil
}

// kilnKernelCopy finds the uncompressed kernel kiln made for its test
// boots in its kernel cache.
func kilnKernelCopy(dir string) (string, bool) {
	ks, _ := filepath.Glob(filepath.Join(dir, "vmlinux-*"))
	if len(ks) != 1 {
		return "", false
	}
	return ks[0], true
}

// describeKernel says which kernel file the floor boots.
func describeKernel(used, bzImage string) string {
	if used == bzImage {
		return "the image's compressed " + filepath.Base(bzImage) + " (kiln made no uncompressed copy to share)"
	}
	return "kiln's uncompressed PVH copy of the image's " + filepath.Base(bzImage) + " (" + filepath.Base(used) + "), the file kiln's test boot uses"
}

// hostMirror is the Debian mirror this host's apt uses: the first URIs
// line of a deb822 source in /etc/apt/sources.list.d, or the first deb
// line of /etc/apt/sources.list. The benchmark names no mirror itself.
func hostMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "URIs:"); ok {
				if fields := strings.Fields(v); len(fields) > 0 {
					return fields[0]
				}
			}
		}
	}
	if raw, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "deb" {
				continue
			}
			rest := f[1:]
			if strings.HasPrefix(rest[0], "[") { // [arch=amd64 signed-by=…]
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) > 0 {
				return rest[0]
			}
		}
	}
	return ""
}

// testBootCheck states that every kiln build's test instance booted
// through the firmware asked for, not directly (kiln falls back to direct
// boot, and says so, when the disk has no bootloader for it).
func testBootCheck(runs []kilnRun, firmware string) benchkit.Check {
	want := "booting the test instance through " + firmware + " firmware"
	var missing []string
	for i, r := range runs {
		if !strings.Contains(r.Log, want) {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	c := benchkit.Check{Name: "kiln: every build's test instance booted through " + firmware + " and the disk's GRUB", OK: len(missing) == 0,
		Detail: fmt.Sprintf("%d builds (warm-up included)", len(runs))}
	if len(missing) > 0 {
		c.Detail = "builds without it (0 is the warm-up): " + strings.Join(missing, ", ")
	}
	return c
}
