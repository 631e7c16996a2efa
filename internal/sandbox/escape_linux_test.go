//go:build linux

package sandbox

import (
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// escapeEnv makes the test binary, run inside a sandbox, try an escape
// with raw system calls instead of running tests.
const escapeEnv = "KILN_SANDBOX_TEST_ESCAPE"

// Each case tries to change the sentinel file, which lives on the host
// outside the root, at the path in $SENTINEL. Writes that merely land
// inside the root at the same path are fine; the host's file must not
// change, nothing may appear next to it, and scripts exit non-zero when an
// operation that must fail succeeded.
func TestEscapes(t *testing.T) {
	requireSandbox(t)
	kiln := kilnCopy(t)
	kilnSum := fileSum(t, kiln)
	// The helpers run the test binary in a root that has no dynamic
	// loader.
	static := isStatic(t, kiln)
	// Not under /tmp: inside the sandbox that is a tmpfs, and writes that
	// stay inside the root should be visible in Upper.
	hostDir, err := os.MkdirTemp("/var/tmp", "kiln-sentinel-")
	if err != nil {
		t.Skip("no /var/tmp on this host")
	}
	t.Cleanup(func() { os.RemoveAll(hostDir) })
	sentinel := filepath.Join(hostDir, "sentinel")
	if err := os.WriteFile(sentinel, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(sentinel, &st); err != nil {
		t.Fatal(err)
	}
	devMajor, devMinor := unix.Major(st.Dev), unix.Minor(st.Dev)

	tests := []struct {
		name   string
		script string // run by busybox sh
		helper string // or: an escapeHelper mode run from /.kiln/kiln
		// inRoot says the script's write lands at $SENTINEL inside the
		// root, proving the attempt ran and stayed inside.
		inRoot bool
	}{
		{name: "dotdot", script: `
			cd /etc && echo pwned > ../../../../../../..$SENTINEL
			mkdir -p ../../../../..$(dirname $SENTINEL) && echo pwned > ../../../../../../..$SENTINEL
			cd / && echo pwned > /../../..$SENTINEL
			exit 0`, inRoot: true},
		{name: "absolute symlink", script: `
			mkdir -p $(dirname $SENTINEL)
			ln -s $SENTINEL /link && echo pwned > /link
			ln -s $(dirname $SENTINEL) /hostdir && echo pwned > /hostdir/new
			exit 0`, inRoot: true},
		{name: "symlink in a writable bind", script: `
			ln -s $SENTINEL /.kiln/work/link && echo pwned > /.kiln/work/link
			ln -s / /.kiln/work/root && echo pwned > /.kiln/work/root$SENTINEL
			exit 0`},
		{name: "proc 1 root", script: `
			echo pwned > /proc/1/root$SENTINEL
			echo pwned > /proc/1/cwd/$(basename $SENTINEL)
			echo pwned > /proc/1/exe && exit 10
			cat /proc/1/environ && exit 11
			for fd in $(ls /proc/1/fd); do
				readlink /proc/1/fd/$fd && exit 12
				cat /proc/1/fd/$fd </dev/null >/dev/null && exit 13
			done
			exit 0`},
		{name: "proc self root", script: `
			echo pwned > /proc/self/root$SENTINEL
			mkdir -p $(dirname $SENTINEL) && echo pwned > /proc/self/root$SENTINEL
			echo pwned > /proc/self/root/../../..$SENTINEL
			exit 0`, inRoot: true},
		{name: "mount", script: `
			mount -t tmpfs none /mnt && exit 10
			mount --bind / /mnt && exit 11
			mount -t proc proc /mnt && exit 12
			mount -o remount,rw /.kiln/kiln && exit 13
			umount /proc && exit 14
			umount -l /.kiln/kiln && exit 15
			unshare -m true && exit 16
			nsenter -t 1 -m true && exit 17
			exit 0`},
		{name: "mount syscalls", helper: "mount"},
		{name: "double chroot", script: `
			mkdir -p /jail && chroot /jail /bin/true 2>/dev/null
			exit 0`, helper: "chroot"},
		{name: "pivot_root", script: `
			mkdir -p /mnt/old && pivot_root /mnt /mnt/old && exit 10
			exit 0`, helper: "pivot"},
		{name: "mknod host disk", script: fmt.Sprintf(`
			mknod /disk b %[1]d %[2]d && exit 10
			mknod /dev/disk b %[1]d %[2]d && exit 11
			mknod /tmp/disk b %[1]d %[2]d && exit 12
			dd if=/lowerdisk of=/dev/null bs=512 count=1 && exit 13
			exit 0`, devMajor, devMinor), helper: "mknod"},
		{name: "open by handle", helper: "handle"},
		{name: "seccomp", script: `
			unshare -U true && exit 10
			exit 0`, helper: "seccomp"},
		{name: "read-only kiln", script: `
			echo pwned > /.kiln/kiln && exit 10
			echo pwned >> /.kiln/kiln && exit 11
			rm -f /.kiln/kiln; test -e /.kiln/kiln || exit 12
			mv /.kiln/kiln /kiln2 && exit 13
			truncate -s 0 /.kiln/kiln && exit 14
			chmod 777 /.kiln/kiln && exit 15
			exit 0`},
		{name: "kernel knobs", script: `
			echo h > /proc/sysrq-trigger && exit 10
			cat /proc/sys/vm/overcommit_ratio > /proc/sys/vm/overcommit_ratio && exit 11
			head -c 1 /proc/kcore | grep -q . && exit 12
			exit 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayers(t)
			// A block device for the host's disk, already in a layer:
			// the overlay is nodev, so it must not open.
			if err := unix.Mknod(filepath.Join(l.lower, "lowerdisk"), unix.S_IFBLK|0o600, int(unix.Mkdev(devMajor, devMinor))); err != nil {
				t.Fatal(err)
			}
			workDir := t.TempDir()
			cfg := l.config()
			cfg.Env = []string{"PATH=/bin", "SENTINEL=" + sentinel, escapeEnv + "=" + tt.helper}
			cfg.Binds = []Bind{
				{Source: kiln, Target: "/.kiln/kiln", ReadOnly: true},
				{Source: workDir, Target: "/.kiln/work"},
			}
			if tt.script != "" {
				r := sh(t, cfg, tt.script)
				if r.err != nil || r.code != 0 {
					t.Errorf("script: code %d err %v\nstdout: %s\nstderr: %s", r.code, r.err, r.stdout, r.stderr)
				}
			}
			if tt.helper != "" && !static {
				t.Logf("helper %s not run: the test binary is not statically linked (-race?)", tt.helper)
			} else if tt.helper != "" {
				r := run(t, cfg, "/.kiln/kiln")
				if r.err != nil || r.code != 0 || !strings.Contains(r.stdout, "refused") {
					t.Errorf("helper %s: code %d err %v\nstdout: %s\nstderr: %s", tt.helper, r.code, r.err, r.stdout, r.stderr)
				}
			}
			if tt.inRoot {
				if b, _ := os.ReadFile(filepath.Join(l.upper, sentinel)); string(b) != "pwned\n" {
					t.Errorf("the write did not land inside the root: %q", b)
				}
			}
			if b, _ := os.ReadFile(sentinel); string(b) != "original\n" {
				t.Fatalf("sentinel changed: %q", b)
			}
			if got := tree(t, hostDir); !slices.Equal(got, []string{"sentinel"}) {
				t.Fatalf("host dir now holds %v", got)
			}
			if fileSum(t, kiln) != kilnSum {
				t.Fatal("the read-only kiln binary changed")
			}
			if _, err := os.Lstat(filepath.Join(l.upper, ".kiln")); err == nil {
				t.Error("upper holds /.kiln")
			}
		})
	}
	assertNoMountsLeft(t)
}

func isStatic(t *testing.T, p string) bool {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// escapeHelper runs inside a sandbox and tries one escape with raw system
// calls. It returns 0 when every attempt was refused or stayed inside the
// root, and 1 (after saying why) when one got through.
func escapeHelper(mode string) int {
	sentinel := os.Getenv("SENTINEL")
	failed := false
	mustFail := func(what string, err error) {
		if err == nil {
			fmt.Printf("%s: succeeded, want an error\n", what)
			failed = true
		}
	}
	switch mode {
	case "mount":
		mustFail("mount tmpfs", unix.Mount("none", "/mnt", "tmpfs", 0, ""))
		mustFail("bind /", unix.Mount("/", "/mnt", "", unix.MS_BIND, ""))
		mustFail("remount / rw", unix.Mount("", "/.kiln/kiln", "", unix.MS_REMOUNT|unix.MS_BIND, ""))
		mustFail("umount /proc", unix.Unmount("/proc", unix.MNT_DETACH))
		_, err := unix.Fsopen("tmpfs", 0)
		mustFail("fsopen", err)
		_, err = unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE)
		mustFail("open_tree", err)
		mustFail("unshare mount ns", unix.Unshare(unix.CLONE_NEWNS))
		mustFail("unshare user ns", unix.Unshare(unix.CLONE_NEWUSER|unix.CLONE_NEWNS))
		if fd, err := unix.Open("/proc/1/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			mustFail("setns to init's mount ns", unix.Setns(fd, unix.CLONE_NEWNS))
		}
	case "chroot":
		// The classic: chroot into a subdirectory without changing
		// directory, climb out with "..", chroot to where we ended up.
		if err := os.MkdirAll("/jail2", 0o755); err != nil {
			fmt.Println(err)
			return 1
		}
		if err := unix.Chroot("/jail2"); err != nil {
			fmt.Println("chroot:", err)
			return 1
		}
		for range 64 {
			unix.Chdir("..")
		}
		if err := unix.Chroot("."); err != nil {
			fmt.Println("chroot .:", err)
			return 1
		}
		if _, err := os.Stat(filepath.Dir(sentinel)); err == nil {
			fmt.Println("after the double chroot the host directory is visible")
			failed = true
		}
		if _, err := os.Stat("/.kiln/kiln"); err != nil {
			fmt.Println("after the double chroot we are not in the sandbox root:", err)
			failed = true
		}
		os.WriteFile(sentinel, []byte("pwned\n"), 0o644)
	case "pivot":
		os.MkdirAll("/mnt/old", 0o755)
		mustFail("pivot_root", unix.PivotRoot("/mnt", "/mnt/old"))
		mustFail("pivot_root .", unix.PivotRoot(".", "."))
	case "mknod":
		var st unix.Stat_t
		if err := unix.Stat("/", &st); err == nil {
			mustFail("mknod", unix.Mknod("/tmp/disk", unix.S_IFBLK|0o600, int(st.Dev)))
		}
		mustFail("mknod char mem", unix.Mknod("/dev/mem", unix.S_IFCHR|0o600, int(unix.Mkdev(1, 1))))
		_, err := unix.Open("/lowerdisk", unix.O_RDONLY, 0)
		mustFail("open a block device from a layer", err)
	case "handle":
		// "Shocker": open_by_handle_at on a file of the host's
		// filesystem (the bound kiln binary) with a forged handle for
		// inode 2, the root of an ext4 filesystem.
		fd, err := unix.Open("/.kiln/kiln", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		h := unix.NewFileHandle(1, []byte{2, 0, 0, 0, 0, 0, 0, 0})
		_, err = unix.OpenByHandleAt(fd, h, unix.O_RDONLY)
		mustFail("open_by_handle_at", err)
		if !errors.Is(err, unix.EPERM) {
			fmt.Println("open_by_handle_at:", err)
		}
	case "seccomp":
		// The filter, not the capability set, answers these: each
		// fails with exactly EPERM (ENOSYS for clone3), even those the
		// kernel would refuse otherwise with another error.
		wantErrno := func(what string, want unix.Errno, r1 uintptr, e unix.Errno) {
			if e != want {
				fmt.Printf("%s: got %d (%v), want %v\n", what, int(r1), e, want)
				failed = true
			}
		}
		r1, _, e := unix.Syscall(unix.SYS_KEYCTL, 0 /* KEYCTL_GET_KEYRING_ID */, ^uintptr(2) /* session */, 0)
		wantErrno("keyctl", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_ADD_KEY, 0, 0, 0)
		wantErrno("add_key", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		wantErrno("bpf", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0)
		wantErrno("unshare(CLONE_NEWUSER)", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_USERFAULTFD, 0, 0, 0)
		wantErrno("userfaultfd", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall6(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0, 0)
		wantErrno("perf_event_open", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0)
		wantErrno("io_uring_setup", unix.EPERM, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
		wantErrno("clone3", unix.ENOSYS, r1, e)
		r1, _, e = unix.Syscall(unix.SYS_PERSONALITY, 0x0040000 /* ADDR_NO_RANDOMIZE */, 0, 0)
		wantErrno("personality(ADDR_NO_RANDOMIZE)", unix.EPERM, r1, e)
		// What builds need still works.
		if _, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0); e != 0 {
			fmt.Println("personality query:", e)
			failed = true
		}
	case "connect":
		// Every address in $TARGETS must be out of reach.
		// Raw sockets rather than package net, which would make the
		// test binary dynamic (cgo) and so unable to run in a root
		// without a C library.
		for _, addr := range strings.Split(os.Getenv("TARGETS"), ",") {
			mustFail("connect to "+addr, dialTCP4(addr))
		}
	default:
		fmt.Println("unknown escape mode", mode)
		return 2
	}
	if failed {
		return 1
	}
	fmt.Println(strings.ToUpper(mode[:1]) + mode[1:] + ": refused")
	return 0
}

// TestHostDevicesUnchanged plays a build that attacks the host through
// the devices bound into its /dev: chmod 600 on the host's /dev/null
// would break every program on the host that is not root (seen: a
// build left it 0644), chown and touch would change the host's nodes.
// The devices still work inside.
func TestHostDevicesUnchanged(t *testing.T) {
	requireSandbox(t)
	var before []unix.Stat_t
	for _, d := range devices {
		var st unix.Stat_t
		if err := unix.Stat("/dev/"+d, &st); err != nil {
			t.Skipf("/dev/%s: %v", d, err)
		}
		before = append(before, st)
	}
	cfg := newLayers(t).config()
	r := sh(t, cfg, `
		for d in null zero full random urandom tty; do
			chmod 600 /dev/$d 2>/dev/null && echo "chmod /dev/$d"
			chown 1:1 /dev/$d 2>/dev/null && echo "chown /dev/$d"
			touch -d 2001-01-01 /dev/$d 2>/dev/null && echo "touch /dev/$d"
		done
		chmod 600 /proc/kcore 2>/dev/null && echo "chmod /proc/kcore"
		echo gone > /dev/null && head -c 4 /dev/zero | wc -c`)
	for i, d := range devices {
		var st unix.Stat_t
		if err := unix.Stat("/dev/"+d, &st); err != nil {
			t.Fatal(err)
		}
		b := before[i]
		if st.Mode != b.Mode || st.Uid != b.Uid || st.Gid != b.Gid || st.Mtim != b.Mtim || st.Ctim != b.Ctim {
			t.Errorf("the host's /dev/%s changed: mode %o uid %d gid %d mtime %v, was %o %d %d %v", d, st.Mode, st.Uid, st.Gid, st.Mtim, b.Mode, b.Uid, b.Gid, b.Mtim)
			// Put it back: the rest of the host needs it.
			unix.Chmod("/dev/"+d, b.Mode&0o7777)
			unix.Chown("/dev/"+d, int(b.Uid), int(b.Gid))
		}
	}
	if strings.TrimSpace(r.stdout) != "4" || r.code != 0 {
		t.Errorf("inside the sandbox: exit %d, stdout %q (want only 4: no attempt succeeded, the devices work), stderr %q", r.code, r.stdout, r.stderr)
	}
}
