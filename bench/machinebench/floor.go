package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
	"github.com/kiln-build/kiln/internal/vm"
)

// floorBuilder does the workload by hand, with plain commands and nothing
// else — the floor kiln's time is compared with:
//
//  1. build: `mount -t overlay` of the unpacked parent with a fresh upper
//     directory, /dev bound in, `chroot ROOT /bin/bash -c STEP` per build
//     step;
//  2. disk: `truncate -s SIZE base.raw` and `mkfs.ext4 -d ROOT base.raw`
//     (the whole file, no partition table: the guest mounts /dev/vda);
//  3. test copy: `qemu-img create -f qcow2 -b base.raw -F raw test.qcow2`;
//  4. boot: qemu-system-x86_64 with kiln's own flags, direct kernel boot
//     of the image's kernel and initrd, and `init=/bin/sh -- -c "TESTS &&
//     echo MARKER; busybox poweroff -f"` on the kernel command line, until
//     QEMU exits.
//
// No registry, no content-addressed store, no fsync, no agent.
type floorBuilder struct {
	lower  string // the unpacked parent, read-only
	dir    string // parent of each build's directories
	size   int64  // disk bytes, the recipe's root volume
	memory int    // MiB, as kiln's test instance
	cpus   int
	accel  string // "kvm" or "tcg", as kiln picks
	kernel string // the kernel file QEMU boots (see main: kiln's own PVH copy when there is one)
	initrd string
	qemu   string
}

// floorRun is one by-hand build.
type floorRun struct {
	Wall   time.Duration            `json:"wall_ns"`
	Phases map[string]time.Duration `json:"phases_ns"`
	OK     bool                     `json:"marker_seen"`
}

// Floor phase names, in order.
var floorPhases = []string{"build (overlay, chroot ×2)", "disk (truncate, mkfs.ext4 -d)", "test copy (qemu-img create)", "boot + test until QEMU exits"}

// build runs build n.
func (f *floorBuilder) build(ctx context.Context, n int, steps []step, tests string) (floorRun, error) {
	root := filepath.Join(f.dir, fmt.Sprint(n))
	r, err := f.timed(ctx, root, steps, tests)
	// Not timed: throw the build's files away.
	benchkit.UnmountUnder(root)
	if rerr := benchkit.RemoveUnmounted(root); rerr != nil && err == nil {
		err = rerr
	}
	return r, err
}

func (f *floorBuilder) timed(ctx context.Context, root string, steps []step, tests string) (r floorRun, err error) {
	r.Phases = map[string]time.Duration{}
	upper, work, merged := filepath.Join(root, "upper"), filepath.Join(root, "work"), filepath.Join(root, "merged")
	base, overlay := filepath.Join(root, "base.raw"), filepath.Join(root, "test.qcow2")
	start := time.Now()
	mark := start
	phase := func(name string) {
		now := time.Now()
		r.Phases[name] = now.Sub(mark)
		mark = now
	}

	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return r, err
		}
	}
	if err := benchkit.Command(ctx, "mount", "-t", "overlay", "overlay",
		"-o", "lowerdir="+f.lower+",upperdir="+upper+",workdir="+work, merged); err != nil {
		return r, err
	}
	dev := filepath.Join(merged, "dev")
	if err := benchkit.Command(ctx, "mount", "--bind", "/dev", dev); err != nil {
		return r, err
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, "chroot", merged, "/bin/bash", "-c", s.Command)
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
		cmd.Dir = "/"
		if out, err := cmd.CombinedOutput(); err != nil {
			return r, fmt.Errorf("floor step %s: %v\n%s", s.Name, err, out)
		}
	}
	if err := benchkit.Command(ctx, "umount", dev); err != nil {
		return r, err
	}
	phase(floorPhases[0])

	if err := benchkit.Command(ctx, "truncate", "-s", strconv.FormatInt(f.size, 10), base); err != nil {
		return r, err
	}
	// lazy_journal_init as kiln's: the journal of a fresh sparse file reads
	// as zeros already.
	if err := benchkit.Command(ctx, "mkfs.ext4", "-F", "-q", "-E", "lazy_journal_init=1", "-L", "floor-root", "-d", merged, base); err != nil {
		return r, err
	}
	if err := benchkit.Command(ctx, "umount", merged); err != nil {
		return r, err
	}
	phase(floorPhases[1])

	if err := benchkit.Command(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay); err != nil {
		return r, err
	}
	phase(floorPhases[2])

	console, err := f.boot(ctx, overlay, tests)
	phase(floorPhases[3])
	// Kept for -keep: the boot's kernel timestamps show where its time went.
	os.WriteFile(filepath.Join(f.dir, "last-console.txt"), []byte(console), 0o644)
	r.Wall = time.Since(start)
	if err != nil {
		return r, err
	}
	r.OK = printedLine(console, "", testMarker)
	if !r.OK {
		return r, fmt.Errorf("the guest did not print %s; its console ends:\n%s", testMarker, lastLines(console, 25))
	}
	return r, nil
}

// bootCommandLine is the floor guest's kernel command line: the root is
// the whole disk, and init is a shell that runs the tests (whose last
// command prints the marker when all passed) and powers off. A failed test ends the shell —
// PID 1 — so the kernel panics and, with panic=-1 and QEMU's -no-reboot,
// QEMU exits without the marker. Arguments after "--" go to init; the
// kernel strips the double quotes and keeps the spaces inside.
func bootCommandLine(tests string) (string, error) {
	if strings.Contains(tests, `"`) {
		return "", errors.New("the test commands contain a double quote, which the kernel command line cannot carry")
	}
	return `root=/dev/vda rw console=ttyS0 panic=-1 init=/bin/sh -- -c "` + tests + `; /bin/busybox poweroff -f"`, nil
}

// qemuArgs are kiln's QEMU flags (internal/vm/qemu.go) for one disk,
// without kiln's agent channel: the console on stdio, no default devices,
// q35, an entropy source, virtio-blk with cache=unsafe for the throwaway
// copy.
func (f *floorBuilder) qemuArgs(disk, appendLine string) []string {
	args := []string{
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-no-reboot",
		"-machine", "q35",
		"-m", strconv.Itoa(f.memory),
		"-smp", strconv.Itoa(f.cpus),
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-device", "virtio-rng-pci",
	}
	if f.accel == "kvm" {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		args = append(args, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	args = append(args, "-kernel", f.kernel)
	if f.initrd != "" {
		args = append(args, "-initrd", f.initrd)
	}
	return append(args, "-append", appendLine,
		"-drive", "file="+strings.ReplaceAll(disk, ",", ",,")+",format=qcow2,if=virtio,index=0,cache=unsafe")
}

// boot runs the test boot until QEMU exits and returns the console.
func (f *floorBuilder) boot(ctx context.Context, disk, tests string) (string, error) {
	line, err := bootCommandLine(tests)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.qemu, f.qemuArgs(disk, line)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = benchkit.ChildProcAttr()
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("QEMU: %v; console ends:\n%s", err, lastLines(out.String(), 25))
	}
	return out.String(), nil
}

// detectAccel is the accelerator kiln chose (vm.ChooseAccel, whose probe
// verdict kiln serve cached in its data directory), so the floor's guests
// run as kiln's do.
func detectAccel(ctx context.Context, kilnData string) string {
	c, err := vm.ChooseAccel(ctx, vm.AccelOptions{CacheDir: kilnData})
	if err != nil {
		return vm.AccelTCG
	}
	return c.Accel
}
