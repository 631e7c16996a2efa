package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// parent is the machine image both tools start from.
type parent struct {
	Tarball string `json:"tarball"`
	// Kind says what it is: a debootstrap minbase Debian, or the busybox
	// fallback and why.
	Kind string `json:"kind"`
	// Prepared is how long making the tarball took (debootstrap, when
	// Debootstrapped, and packing), 0 when the cached tarball was used.
	Prepared       time.Duration `json:"prepared_ns"`
	Debootstrapped bool          `json:"debootstrapped"`
	Bytes          int64         `json:"tarball_bytes"`
}

// The init the minbase parent boots with. debootstrap's minbase variant
// installs no init system at all (no systemd, no sysvinit), so the parent
// gets Debian's static busybox as /sbin/init with an inittab that mounts
// what init needs — the same init kiln's own end-to-end test images use.
// kiln's test boot adds its agent to this inittab.
const parentInittab = "::sysinit:/bin/mount -t proc proc /proc\n" +
	"::sysinit:/bin/mount -t sysfs sys /sys\n" +
	"::sysinit:/bin/mount -o remount,rw /\n" +
	"::shutdown:/bin/sync\n"

// debootstrapPackages are the packages debootstrap adds to minbase: a
// kernel and the tools that make its initrd, and busybox-static for init
// and `poweroff -f`.
const debootstrapPackages = "linux-image-amd64,initramfs-tools,busybox-static"

// prepareParent returns the parent tarball: the cached one under
// cacheDir, else a fresh debootstrap of suite from mirror (kept in the
// cache for the next run), else — when debootstrap fails, as it does
// without a network — the busybox and host-kernel fallback.
func prepareParent(ctx context.Context, mode, cacheDir, suite, mirror string, logf func(string, ...any)) (parent, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return parent{}, err
	}
	var why string
	if mode != "busybox" {
		p, err := debootstrapParent(ctx, cacheDir, suite, mirror, logf)
		if err == nil {
			return p, nil
		}
		if mode == "debootstrap" {
			return parent{}, err
		}
		why = oneLine(err)
		logf("debootstrap failed, falling back to a busybox parent: %v", err)
	} else {
		why = "asked for with -parent busybox"
	}
	start := time.Now()
	path := filepath.Join(cacheDir, "busybox-host-kernel.tar")
	if err := writeBusyboxParent(path); err != nil {
		return parent{}, fmt.Errorf("making the busybox parent: %w", err)
	}
	p := parent{Tarball: path, Kind: "busybox fallback: Debian's static busybox and this host's Debian kernel and initrd (" + why + ")", Prepared: time.Since(start)}
	if fi, err := os.Stat(path); err == nil {
		p.Bytes = fi.Size()
	}
	return p, nil
}

// debootstrapParent is `debootstrap --variant=minbase
// --include=linux-image-amd64,initramfs-tools,busybox-static SUITE DIR
// MIRROR`, given busybox as init and packed as an uncompressed tarball
// (kiln accepts plain tar; compressing 400 MB would only slow the import).
func debootstrapParent(ctx context.Context, cacheDir, suite, mirror string, logf func(string, ...any)) (parent, error) {
	name := "debian-" + suite + "-minbase"
	tarball := filepath.Join(cacheDir, name+".tar")
	// The report names no mirror: results are committed, and the mirror is
	// the host's (or -mirror's), not the tree's.
	kind := fmt.Sprintf("Debian %s minbase by `debootstrap --variant=minbase --include=%s` from the host's Debian mirror, busybox as init", suite, debootstrapPackages)
	if fi, err := os.Stat(tarball); err == nil {
		logf("parent: cached %s", tarball)
		return parent{Tarball: tarball, Kind: kind, Bytes: fi.Size()}, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return parent{}, errors.New("debootstrap is not installed (apt-get install debootstrap)")
	}
	start := time.Now()
	root := filepath.Join(cacheDir, name+".rootfs")
	// A tree without the marker is a debootstrap that did not finish.
	complete := filepath.Join(cacheDir, name+".rootfs-complete")
	ran := false
	if _, err := os.Stat(complete); err != nil {
		ran = true
		if err := os.RemoveAll(root); err != nil {
			return parent{}, err
		}
		logf("parent: debootstrap %s into %s (a few minutes; cached afterwards)", suite, root)
		cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+debootstrapPackages, suite, root, mirror)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return parent{}, fmt.Errorf("debootstrap: %v: %s", err, lastLines(string(out), 5))
		}
		if err := os.WriteFile(complete, nil, 0o644); err != nil {
			return parent{}, err
		}
	}
	// busybox as init: /sbin is a link to usr/sbin in bookworm's merged
	// /usr, which the relative link keeps inside the tree.
	initPath := filepath.Join(root, "sbin", "init")
	os.Remove(initPath)
	if err := os.Symlink("/bin/busybox", initPath); err != nil {
		return parent{}, err
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "inittab"), []byte(parentInittab), 0o644); err != nil {
		return parent{}, err
	}
	// The apt lists and .deb cache debootstrap leaves are no part of a
	// system; clean images ship without them.
	for _, d := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		matches, _ := filepath.Glob(filepath.Join(root, d, "*"))
		for _, m := range matches {
			if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() {
				os.Remove(m)
			}
		}
	}
	tmp := tarball + ".tmp"
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", root, "-cf", tmp, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return parent{}, fmt.Errorf("tar: %v: %s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		return parent{}, err
	}
	fi, err := os.Stat(tarball)
	if err != nil {
		return parent{}, err
	}
	return parent{Tarball: tarball, Kind: kind, Prepared: time.Since(start), Debootstrapped: ran, Bytes: fi.Size()}, nil
}

// busyboxPath is Debian's static busybox (package busybox-static).
const busyboxPath = "/bin/busybox"

// writeBusyboxParent writes a bootable root tarball from this host's files
// alone: static busybox with an applet link each, busybox init, the newest
// Debian kernel in /boot with its initrd and virtio console module, and the
// host's os-release. It is what kiln's own end-to-end tests boot.
func writeBusyboxParent(path string) (err error) {
	kernel, initrd, modules, err := hostKernel()
	if err != nil {
		return err
	}
	ver := filepath.Base(modules)
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path + ".tmp")
		}
	}()
	tw := tar.NewWriter(f)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	hostFile := func(name, src string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return file(name, 0o644, b)
	}
	mod := "lib/modules/" + ver + "/kernel/drivers/char"
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/lib", "boot", "etc", "root", "tmp", "var", "var/log",
		"proc", "sys", "dev", "run", "mnt", "lib", "lib/modules", "lib/modules/" + ver, "lib/modules/" + ver + "/kernel",
		"lib/modules/" + ver + "/kernel/drivers", mod} {
		if err := dir(d); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	if err := file("bin/busybox", 0o755, bb); err != nil {
		return err
	}
	list, err := exec.Command(busyboxPath, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "bin/busybox" || strings.HasSuffix(applet, "/bash") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: applet, Linkname: "/bin/busybox", Mode: 0o777, Typeflag: tar.TypeSymlink}); err != nil {
			return err
		}
	}
	// ExecuteBash runs bash; busybox's sh stands in.
	files := []struct {
		name string
		mode int64
		data string
	}{
		{"bin/bash", 0o755, "#!/bin/sh\nexec /bin/sh \"$@\"\n"},
		{"etc/inittab", 0o644, "::sysinit:/bin/mount -t devtmpfs dev /dev\n" + parentInittab},
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n"},
		{"etc/group", 0o644, "root:x:0:\n"},
		{"etc/hostname", 0o644, "kiln-guest\n"},
		{"lib/modules/" + ver + "/modules.dep", 0o644, "kernel/drivers/char/virtio_console.ko:\n"},
	}
	for _, x := range files {
		if err := file(x.name, x.mode, []byte(x.data)); err != nil {
			return err
		}
	}
	for name, src := range map[string]string{
		"boot/" + filepath.Base(kernel): kernel,
		"boot/" + filepath.Base(initrd): initrd,
		mod + "/virtio_console.ko":      modules + "/kernel/drivers/char/virtio_console.ko",
		"etc/os-release":                "/usr/lib/os-release",
	} {
		if err := hostFile(name, src); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// hostKernel finds the newest Debian kernel in /boot that has an initrd
// and a module tree.
func hostKernel() (kernel, initrd, modules string, err error) {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	for _, k := range kernels {
		ver := strings.TrimPrefix(filepath.Base(k), "vmlinuz-")
		i, m := "/boot/initrd.img-"+ver, "/lib/modules/"+ver
		if fi, err := os.Stat(i); err == nil && fi.Size() > 0 {
			if _, err := os.Stat(m); err == nil {
				kernel, initrd, modules = k, i, m
			}
		}
	}
	if kernel == "" {
		return "", "", "", errors.New("no kernel with an initrd in /boot (apt-get install linux-image-amd64 initramfs-tools)")
	}
	return kernel, initrd, modules, nil
}

// unpackParent unpacks the parent tarball into dir for the floor, owners
// and modes kept (not timed, as kiln's import is not).
func unpackParent(ctx context.Context, tarball, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "tar", "--numeric-owner", "-xpf", tarball, "-C", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unpacking %s: %v: %s", tarball, err, out)
	}
	return nil
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// oneLine is an error's first line.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
