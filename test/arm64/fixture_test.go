package arm64_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// The arm64 fixtures come from Debian's archive, as the x86 ones come from
// the host's installed packages: busybox-static:arm64 and the arm64 kernel
// package, fetched with apt-get download (the host's apt sources and
// proxy, nothing named here) into a cache kept between runs.

// The packages the fixtures are made of, unpacked once per test process;
// the kernel is the one linux-image-arm64 depends on.
var (
	debsOnce sync.Once
	debsDir  string // unpacked packages
	debsErr  error
)

// arm64Packages downloads and unpacks the fixtures' packages, or skips the
// test saying why (no arm64 architecture in dpkg and no root to add it,
// no network, no mirror). Once downloaded they are kept in the user's
// cache directory (kiln-test-arm64), so later runs work offline.
func arm64Packages(t *testing.T) string {
	t.Helper()
	debsOnce.Do(func() { debsDir, debsErr = fetchArm64Packages(t) })
	if debsErr != nil {
		t.Skipf("arm64 fixtures cannot be downloaded here (offline, or no Debian mirror in apt's sources): %v", debsErr)
	}
	return debsDir
}

func fetchArm64Packages(t *testing.T) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "kiln-test-arm64")
	unpacked := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(unpacked, ".complete")); err == nil {
		return unpacked, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	arches, _ := exec.Command("dpkg", "--print-foreign-architectures").Output()
	if !strings.Contains(string(arches), "arm64") {
		if os.Geteuid() != 0 {
			return "", fmt.Errorf("dpkg has no arm64 architecture (dpkg --add-architecture arm64 && apt-get update)")
		}
		t.Logf("adding dpkg's arm64 architecture and updating apt's lists, once, for the fixtures")
		if out, err := exec.Command("dpkg", "--add-architecture", "arm64").CombinedOutput(); err != nil {
			return "", fmt.Errorf("dpkg --add-architecture arm64: %v: %s", err, out)
		}
		if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %v: %s", err, out)
		}
	}
	deps, err := exec.Command("apt-cache", "depends", "linux-image-arm64:arm64").Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends linux-image-arm64:arm64: %v", err)
	}
	kernelPkg := ""
	for _, line := range strings.Split(string(deps), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			kernelPkg = f[1]
			break
		}
	}
	if kernelPkg == "" {
		return "", fmt.Errorf("linux-image-arm64:arm64 names no kernel package:\n%s", deps)
	}
	if !strings.Contains(kernelPkg, ":") {
		kernelPkg += ":arm64"
	}
	debs := filepath.Join(dir, "debs")
	os.RemoveAll(debs)
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	dl := exec.Command("apt-get", "download", "-q", "busybox-static:arm64", kernelPkg)
	dl.Dir = debs
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download: %v: %s", err, out)
	}
	os.RemoveAll(unpacked)
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != 2 {
		return "", fmt.Errorf("apt-get download gave %d packages, want 2", len(files))
	}
	for _, f := range files {
		if out, err := exec.Command("dpkg-deb", "-x", f, unpacked).CombinedOutput(); err != nil {
			return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", f, err, out)
		}
	}
	os.RemoveAll(debs)
	return unpacked, os.WriteFile(filepath.Join(unpacked, ".complete"), nil, 0o644)
}

// initramfsModules are what the arm64 kernel needs, as modules, to mount
// the image's root: virtio over PCI, the block driver, ext4 and what it
// depends on, in load order.
var initramfsModules = []string{
	"drivers/virtio/virtio_pci_modern_dev", "drivers/virtio/virtio_pci_legacy_dev", "drivers/virtio/virtio_pci",
	"drivers/block/virtio_blk", "lib/crc16", "fs/mbcache", "fs/jbd2/jbd2", "crypto/crc32c_generic", "fs/ext4/ext4",
}

// initScript is the initramfs's /init, doing what a distribution's initrd
// does for this root: load the drivers, find the partition named by
// root=PARTUUID= (read from each disk's GPT entries, which start at
// byte 1024), mount it and hand over to its init.
const initScript = `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /modules/*.ko; do insmod "$m"; done
want=$(sed -n 's/.*root=PARTUUID=\([^ ]*\).*/\1/p' /proc/cmdline | tr a-f A-F)
guid() { echo "$4$3$2$1-$6$5-$8$7-$9${10}-${11}${12}${13}${14}${15}${16}" | tr a-f A-F; }
root=
tries=0
while [ -z "$root" ]; do
  for d in /sys/block/vd*; do
    [ -e "$d" ] || continue
    dev=/dev/${d##*/}
    for n in 1 2 3 4; do
      [ -e "$dev$n" ] || continue
      g=$(guid $(dd if=$dev bs=1 skip=$((1024 + (n - 1) * 128 + 16)) count=16 2>/dev/null | od -An -tx1))
      [ "$g" = "$want" ] && root=$dev$n
    done
  done
  [ -n "$root" ] && break
  tries=$((tries + 1))
  if [ $tries -gt 200 ]; then echo "initramfs: no partition PARTUUID=$want"; poweroff -f; fi
  sleep 0.1
done
mount -t ext4 -o rw "$root" /newroot || { echo "initramfs: cannot mount $root"; poweroff -f; }
umount /sys /proc
umount /dev
exec switch_root /newroot /sbin/init
`

// cpioEntry is one file of a newc archive.
type cpioEntry struct {
	name string
	mode uint32 // with the type bits
	data []byte
}

// newcArchive writes the initramfs format the kernel unpacks (cpio
// "newc", the SVR4 portable format without checksums).
func newcArchive(entries []cpioEntry) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	write := func(ino int, e cpioEntry) {
		nlink := 1
		if e.mode&0o170000 == 0o040000 {
			nlink = 2
		}
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(e.name)+1, 0)
		b.WriteString(e.name)
		b.WriteByte(0)
		pad()
		b.Write(e.data)
		pad()
	}
	for i, e := range entries {
		write(i+1, e)
	}
	write(0, cpioEntry{name: "TRAILER!!!"})
	return b.Bytes()
}

// arm64Initramfs builds the initramfs of the unpacked packages' kernel.
func arm64Initramfs(t *testing.T, pkgs, version string) []byte {
	t.Helper()
	busybox, err := os.ReadFile(filepath.Join(pkgs, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	entries := []cpioEntry{
		{name: "bin", mode: 0o040755}, {name: "dev", mode: 0o040755}, {name: "proc", mode: 0o040755},
		{name: "sys", mode: 0o040755}, {name: "newroot", mode: 0o040755}, {name: "modules", mode: 0o040755},
		{name: "bin/busybox", mode: 0o100755, data: busybox},
		{name: "bin/sh", mode: 0o120777, data: []byte("busybox")},
		{name: "init", mode: 0o100755, data: []byte(initScript)},
	}
	for i, m := range initramfsModules {
		ko, err := os.ReadFile(filepath.Join(pkgs, "lib/modules", version, "kernel", m+".ko"))
		if err != nil {
			t.Fatalf("the arm64 kernel package lacks a module the fixture needs: %v", err)
		}
		// Numbered: /init loads them in glob order, which is this order.
		entries = append(entries, cpioEntry{name: fmt.Sprintf("modules/%02d-%s.ko", i, filepath.Base(m)), mode: 0o100644, data: ko})
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(newcArchive(entries))
	zw.Close()
	return gz.Bytes()
}

// Arm64RootTarball writes a gzipped arm64 root filesystem tarball a
// machine image can be imported from: busybox-static:arm64 as init, shell
// and applets, the arm64 Debian kernel under /boot with an initramfs that
// mounts the root by PARTUUID, and the virtio console module the test
// agent loads.
func arm64RootTarball(t *testing.T, dir string) string {
	t.Helper()
	kilntest.RequireTool(t, kilntest.BusyboxPath, "busybox-static") // its applet list
	pkgs := arm64Packages(t)
	kernels, _ := filepath.Glob(filepath.Join(pkgs, "boot/vmlinuz-*"))
	if len(kernels) != 1 {
		t.Fatalf("arm64 kernel package: %d kernels under /boot", len(kernels))
	}
	version := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	path := filepath.Join(dir, "arm64-busybox-root.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	var mkdir func(string)
	mkdir = func(name string) {
		if name == "." || dirs[name] {
			return
		}
		mkdir(filepath.Dir(name))
		dirs[name] = true
		tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	}
	file := func(name string, mode int64, data []byte) {
		mkdir(filepath.Dir(name))
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	hostFile := func(name, src string, mode int64) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		file(name, mode, b)
	}
	for _, d := range []string{"root", "tmp", "var/log", "proc", "sys", "dev", "run", "mnt", "usr/lib"} {
		mkdir(d)
	}
	hostFile("bin/busybox", filepath.Join(pkgs, "bin/busybox"), 0o755)
	list, err := exec.Command(kilntest.BusyboxPath, "--list-full").Output()
	if err != nil {
		t.Fatalf("busybox --list-full: %v", err)
	}
	applets := strings.Fields(string(list))
	sort.Strings(applets)
	for _, applet := range applets {
		if applet == "bin/busybox" || strings.HasSuffix(applet, "/bash") {
			continue
		}
		mkdir(filepath.Dir(applet))
		tw.WriteHeader(&tar.Header{Name: applet, Linkname: "/bin/busybox", Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	// ExecuteBash runs bash: here, busybox's shell.
	file("bin/bash", 0o755, []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n"))
	file("etc/inittab", 0o644, []byte("::sysinit:/bin/mount -t proc proc /proc\n::sysinit:/bin/mount -t sysfs sys /sys\n::sysinit:/bin/mount -t devtmpfs dev /dev\n::sysinit:/bin/mount -o remount,rw /\n::shutdown:/bin/sync\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\n"))
	file("etc/hostname", 0o644, []byte("kiln-arm64-guest\n"))
	file("usr/lib/os-release", 0o644, []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"))
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Linkname: "../usr/lib/os-release", Mode: 0o777, Typeflag: tar.TypeSymlink})
	hostFile("boot/vmlinuz-"+version, kernels[0], 0o644)
	file("boot/initrd.img-"+version, 0o644, arm64Initramfs(t, pkgs, version))
	console := "kernel/drivers/char/virtio_console.ko"
	hostFile("lib/modules/"+version+"/"+console, filepath.Join(pkgs, "lib/modules", version, console), 0o644)
	file("lib/modules/"+version+"/modules.dep", 0o644, []byte(console+":\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// arm64Kiln builds kiln for linux/arm64, static, once per test process:
// the agent of arm64 test guests (kiln serve --arm64-binary).
// KILN_ARM64_BINARY names a prebuilt one instead (kiln serve reads the
// same variable), which saves a cold cache's whole arm64 compile.
var (
	arm64KilnOnce sync.Once
	arm64KilnPath string
	arm64KilnErr  error
)

func arm64Kiln(t *testing.T) string {
	t.Helper()
	arm64KilnOnce.Do(func() {
		if p := os.Getenv("KILN_ARM64_BINARY"); p != "" {
			arm64KilnPath = p
			return
		}
		dir, err := os.MkdirTemp("", "kiln-arm64-bin-")
		if err != nil {
			arm64KilnErr = err
			return
		}
		arm64KilnPath = filepath.Join(dir, "kiln-linux-arm64")
		cmd := exec.Command("go", "build", "-o", arm64KilnPath, "./cmd/kiln")
		cmd.Dir = kilntest.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH=arm64")
		if out, err := cmd.CombinedOutput(); err != nil {
			arm64KilnErr = fmt.Errorf("GOARCH=arm64 go build ./cmd/kiln: %v\n%s", err, out)
		}
	})
	if arm64KilnErr != nil {
		t.Fatal(arm64KilnErr)
	}
	return arm64KilnPath
}
