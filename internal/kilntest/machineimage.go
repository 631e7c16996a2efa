package kilntest

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KernelFiles returns the newest Debian kernel, initrd and module tree
// installed on this host (Debian's linux-image-amd64 and initramfs-tools),
// skipping the test (failing under CI) when there is none.
func KernelFiles(t testing.TB) (kernel, initrd, modules string) {
	t.Helper()
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	for _, k := range kernels {
		ver := strings.TrimPrefix(filepath.Base(k), "vmlinuz-")
		i := "/boot/initrd.img-" + ver
		m := "/lib/modules/" + ver
		if fi, err := os.Stat(i); err == nil && fi.Size() > 0 {
			if _, err := os.Stat(m); err == nil {
				kernel, initrd, modules = k, i, m
			}
		}
	}
	if kernel == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no kernel with an initrd in /boot; .ci/run must install linux-image-amd64 and initramfs-tools")
		}
		t.Skip("no kernel with an initrd in /boot (apt-get install linux-image-amd64 initramfs-tools)")
	}
	return kernel, initrd, modules
}

// BootableRootTarball writes a gzipped root filesystem tarball a machine
// image can be imported from: Debian's static busybox (init, shell and
// applets, with an inittab that mounts what init needs), the host's
// Debian kernel and initrd under /boot, the virtio console module, the
// host's os-release and a few dpkg entries. Nothing is downloaded.
func BootableRootTarball(t testing.TB, dir string) string {
	t.Helper()
	RequireTool(t, BusyboxPath, "busybox-static")
	kernel, initrd, modules := KernelFiles(t)
	ver := filepath.Base(modules)
	path := filepath.Join(dir, "debian-busybox-root.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	dirEntry := func(name string) {
		tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	hostFile := func(name, src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		file(name, 0o644, b)
	}
	symlink := func(name, target string) {
		tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	for _, d := range []string{"bin", "sbin", "boot", "etc", "root", "tmp", "var", "var/lib", "var/lib/dpkg", "var/log",
		"usr", "usr/lib", "proc", "sys", "dev", "run", "mnt", "lib", "lib/modules", "lib/modules/" + ver,
		"lib/modules/" + ver + "/kernel", "lib/modules/" + ver + "/kernel/drivers", "lib/modules/" + ver + "/kernel/drivers/char"} {
		dirEntry(d)
	}
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	file("bin/busybox", 0o755, bb)
	list, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		t.Fatalf("busybox --list-full: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "bin/busybox" || strings.HasSuffix(applet, "/bash") {
			continue
		}
		symlink(applet, "/bin/busybox")
	}
	file("bin/bash", 0o755, []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n"))
	file("etc/inittab", 0o644, []byte("::sysinit:/bin/mount -t proc proc /proc\n::sysinit:/bin/mount -t sysfs sys /sys\n::sysinit:/bin/mount -t devtmpfs dev /dev\n::sysinit:/bin/mount -o remount,rw /\n::shutdown:/bin/sync\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\n"))
	file("etc/hostname", 0o644, []byte("kiln-guest\n"))
	if _, err := os.Stat("/usr/lib/os-release"); err == nil {
		hostFile("usr/lib/os-release", "/usr/lib/os-release")
		symlink("etc/os-release", "../usr/lib/os-release")
	}
	file("var/lib/dpkg/status", 0o644, hostDpkgStanzas(t))
	hostFile("boot/"+filepath.Base(kernel), kernel)
	hostFile("boot/"+filepath.Base(initrd), initrd)
	hostFile("lib/modules/"+ver+"/kernel/drivers/char/virtio_console.ko", modules+"/kernel/drivers/char/virtio_console.ko")
	file("lib/modules/"+ver+"/modules.dep", 0o644, []byte("kernel/drivers/char/virtio_console.ko:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
