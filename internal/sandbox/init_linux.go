//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// In a sandbox init, the main goroutine keeps the main thread for good.
// Capabilities and the seccomp filter are dropped and installed on one
// thread, which then forks the build's program and exits; were that the
// main thread, the thread group leader, whose credentials /proc/1 checks
// against, would be left with the build's reduced set, and the build could
// read the init's /proc/1/environ and the like. Locking in a package init
// function is what keeps main on the main thread.
func init() {
	if os.Getenv(initEnv) == "1" {
		runtime.LockOSThread()
	}
}

// Init turns this process into a sandbox's init when it was started as one
// by Run, and never returns in that case; otherwise it returns at once.
// Call it first thing in main, and in TestMain of packages whose tests call
// Run.
func Init() {
	if os.Getenv(initEnv) != "1" {
		return
	}
	os.Exit(initMain())
}

// initMain is PID 1 of the sandbox: it assembles the root, pivots into it,
// starts the program with reduced capabilities, forwards signals to it,
// reaps every orphan, and exits with the program's status. Its exit tears
// down the namespaces and with them every mount and process of the build.
func initMain() int {
	w := os.NewFile(reportFD, "report")
	rep := &reporter{enc: json.NewEncoder(w)}
	fail := func(err error) int {
		rep.send(report{Error: err.Error()})
		w.Close()
		return 125
	}
	var spec initSpec
	specFile := os.NewFile(specFD, "spec")
	if err := json.NewDecoder(specFile).Decode(&spec); err != nil {
		return fail(fmt.Errorf("reading spec: %w", err))
	}
	specFile.Close()

	if err := setupRoot(&spec, rep); err != nil {
		return fail(err)
	}
	prog, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		return fail(err)
	}
	// The program gets stdio and nothing else: whatever this process
	// inherited without close-on-exec (kiln's own parent's pipes, say)
	// must not reach the build.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail(fmt.Errorf("close_range: %w", err))
	}

	// Forward the usual termination and job-control signals to the
	// program; Go's runtime would otherwise treat them as fatal to PID 1.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)

	// Capabilities are per thread and a fork copies the forking thread's:
	// drop them on a locked thread that then forks the program and never
	// runs anything else.
	//
	// Why that thread reports Ready and then stays parked rather than
	// exiting: once the program runs, it may fill the cgroup's pids.max
	// at once (a fork bomb), and pids.max counts this process's threads
	// too. A goroutine ending on a locked thread ends the thread, and the
	// runtime may then have to create another to go on, which fails there
	// and kills init with Go's fatal exit status 2 before it reported the
	// program started, so the build's failure read as kiln's own.
	type started struct {
		pid int
		err error
	}
	startc := make(chan started)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := dropCapabilities(); err != nil {
			startc <- started{err: err}
			return
		}
		// Last before the fork: kiln's own setup above needed mount and
		// friends; the build's program never gets them.
		if err := installSeccomp(); err != nil {
			startc <- started{err: err}
			return
		}
		pid, err := syscall.ForkExec(prog, spec.Argv, &syscall.ProcAttr{
			Dir: spec.Dir,
			Env: spec.Env,
			// Standard input is Config.Stdin, /dev/null unless a shell
			// asked for a terminal.
			Files: []uintptr{0, 1, 2},
		})
		if err == nil {
			rep.send(report{Ready: true})
		}
		startc <- started{pid, err}
		select {} // parked for good, keeping its thread (see above)
	}()
	s := <-startc
	if s.err != nil {
		return fail(fmt.Errorf("starting %s: %w", spec.Argv[0], s.err))
	}
	w.Close()

	go func() {
		for sig := range sigs {
			unix.Kill(s.pid, sig.(syscall.Signal))
		}
	}()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "kiln-sandbox-init: wait: %v\n", err)
			return 125
		}
		if pid != s.pid {
			continue // an orphan reparented to us
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}

// reporter writes report lines back to Run.
type reporter struct{ enc *json.Encoder }

func (r *reporter) send(m report) { r.enc.Encode(m) }

// setupRoot mounts the root and everything in it in the init's private
// mount namespace, then pivots into it. Nothing here is visible on the
// host, and nothing survives the namespace.
func setupRoot(spec *initSpec, rep *reporter) error {
	// First of all, so no mount below propagates back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	mp := spec.Mountpoint
	r := &rootfs{mp: mp, rep: rep, copied: map[string]bool{}, upperfd: -1}
	if spec.RootDir != "" {
		if err := unix.Mount(spec.RootDir, mp, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding root %s: %w", spec.RootDir, err)
		}
		if err := unix.Mount("", mp, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("remounting root nodev: %w", err)
		}
	} else {
		if err := mountOverlay(spec); err != nil {
			return err
		}
		fd, err := unix.Open(spec.Upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening upper: %w", err)
		}
		r.upperfd = fd
		defer unix.Close(fd)
	}
	fd, err := unix.Open(mp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	r.rootfd = fd
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return fmt.Errorf("statx root: %w", err)
	}
	r.rootMnt = stx.Mnt_id

	if err := r.mountDev(); err != nil {
		return err
	}
	if err := r.mountProc(); err != nil {
		return err
	}
	if err := r.mountFS("tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	if !spec.NoNetwork {
		if err := r.bindResolvConf(); err != nil {
			return err
		}
	}
	for _, b := range spec.Binds {
		if err := r.bind(b); err != nil {
			return err
		}
	}

	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	if spec.NoNetwork || spec.Private {
		if err := loopbackUp(); err != nil {
			return err
		}
	}

	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/"; detaching it leaves the new root as the only tree, with no
	// directory inside it reserved for the old one.
	if err := unix.Chdir(mp); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return nil
}

// mountOverlay mounts the overlay of spec's layers on its mountpoint.
// Redirects and metacopy stay off so Upper remains a plain tree of files,
// whiteouts and opaque directories that a layer differ understands.
func mountOverlay(spec *initSpec) error {
	base := "lowerdir=" + strings.Join(spec.Lower, ":") + ",upperdir=" + spec.Upper + ",workdir=" + spec.Work
	opts := base + ",redirect_dir=off,metacopy=off,index=off"
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("overlay options are %d bytes, more than a page: too many layers or too long paths", len(opts))
	}
	err := unix.Mount("overlay", spec.Mountpoint, "overlay", unix.MS_NODEV, opts)
	if errors.Is(err, unix.EINVAL) {
		// Kernels built without those switches refuse them; the
		// defaults are off anyway.
		err = unix.Mount("overlay", spec.Mountpoint, "overlay", unix.MS_NODEV, base)
	}
	if err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	return nil
}

// rootfs is the root being assembled at mp, before pivot_root.
type rootfs struct {
	mp      string
	rootfd  int
	rootMnt uint64
	upperfd int // -1 without an overlay
	rep     *reporter
	copied  map[string]bool
}

// mountpoint returns an O_PATH descriptor for rel inside the root,
// creating it (a directory if dir, else an empty file) and any missing
// parents if needed. Stubs created on the root filesystem are reported so
// Run removes them after the build. Stubs may be created on the root
// filesystem or on tmpfs mounts of the sandbox, never inside a bind from
// the host.
func (r *rootfs) mountpoint(rel string, dir bool, resolve uint64) (int, error) {
	fd, err := openIn(r.rootfd, rel, resolve)
	if err == nil {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir != dir {
			unix.Close(fd)
			if dir {
				return -1, fmt.Errorf("mountpoint /%s is not a directory", rel)
			}
			return -1, fmt.Errorf("mountpoint /%s is a directory, the bind source is not", rel)
		}
		return fd, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("mountpoint /%s: %w", rel, err)
	}
	parent, name := path.Split(rel)
	parent = strings.TrimSuffix(parent, "/")
	var pfd int
	if parent == "" {
		pfd, err = unix.Dup(r.rootfd)
	} else {
		pfd, err = r.mountpoint(parent, true, resolve)
	}
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)

	var stx unix.Statx_t
	if err := unix.Statx(pfd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return -1, err
	}
	onRoot := stx.Mnt_id == r.rootMnt
	if !onRoot {
		var fs unix.Statfs_t
		if err := unix.Fstatfs(pfd, &fs); err != nil {
			return -1, err
		}
		if fs.Type != unix.TMPFS_MAGIC {
			return -1, fmt.Errorf("mountpoint /%s would be created inside a bind mount", rel)
		}
	}
	var (
		real        string
		wasWhiteout bool
	)
	if onRoot {
		dirReal, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", pfd))
		if err != nil {
			return -1, err
		}
		switch {
		case dirReal == r.mp:
			real = name
		case strings.HasPrefix(dirReal, r.mp+"/"):
			real = strings.TrimPrefix(dirReal, r.mp+"/") + "/" + name
		default:
			return -1, fmt.Errorf("mountpoint /%s resolved outside the root (%s)", rel, dirReal)
		}
		r.noteCopyUp(path.Dir(real))
		wasWhiteout = r.isWhiteout(real)
	}
	if dir {
		err = unix.Mkdirat(pfd, name, 0o755)
	} else {
		var f int
		f, err = unix.Openat(pfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
	}
	if err != nil {
		return -1, fmt.Errorf("creating mountpoint /%s: %w", rel, err)
	}
	if onRoot {
		r.rep.send(report{Created: real, Dir: dir, Whiteout: wasWhiteout})
	}
	fd, err = openIn(pfd, name, resolveNoLinks)
	if err != nil {
		return -1, fmt.Errorf("mountpoint /%s: %w", rel, err)
	}
	return fd, nil
}

// noteCopyUp reports the directories of dir (relative, symlink-free) that
// are in a lower layer but not yet in Upper: creating an entry in them makes
// overlayfs copy them up.
func (r *rootfs) noteCopyUp(dir string) {
	if r.upperfd < 0 || dir == "." || dir == "" {
		return
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		if r.copied[p] {
			continue
		}
		fd, err := openIn(r.upperfd, p, resolveNoLinks)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if errors.Is(err, unix.ENOENT) {
			r.copied[p] = true
			r.rep.send(report{CopiedUp: p})
		}
	}
}

// isWhiteout says whether Upper holds a whiteout at rel.
func (r *rootfs) isWhiteout(rel string) bool {
	if r.upperfd < 0 {
		return false
	}
	dir, name := path.Split(rel)
	pfd, err := openIn(r.upperfd, strings.TrimSuffix(dir, "/"), resolveNoLinks)
	if err != nil {
		return false
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// fdPath names an O_PATH descriptor for mount(2): the kernel follows the
// magic link to exactly the inode we resolved, so nothing can swap a
// symlink in between.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// mountFS mounts a fresh filesystem on the directory rel of the root, which
// must not be a symlink.
func (r *rootfs) mountFS(rel, fstype string, flags uintptr, data string) error {
	fd, err := r.mountpoint(rel, true, resolveNoLinks)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mount(fstype, fdPath(fd), fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s on /%s: %w", fstype, rel, err)
	}
	return nil
}

// devices are bound from the host into the sandbox's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountDev builds a minimal /dev on a small tmpfs: a few harmless host
// devices bound in, a private devpts instance and /dev/shm.
func (r *rootfs) mountDev() error {
	if err := r.mountFS("dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=65536k"); err != nil {
		return err
	}
	// /dev is now our own empty tmpfs, reached without symlinks, and no
	// build code has run: plain paths under it are safe.
	dev := r.mp + "/dev"
	for _, d := range devices {
		if _, err := os.Stat("/dev/" + d); err != nil {
			continue // a host (itself a container) without it
		}
		p := dev + "/" + d
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", d, err)
		}
		// Read-only: the device is still read and written (a device
		// node's I/O does not write its filesystem), but the build cannot
		// chmod, chown or touch the host's node through it.
		if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("remounting /dev/%s: %w", d, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(dev+"/"+d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return fmt.Errorf("mounting devpts: %w", err)
	}
	if err := unix.Mount("shm", dev+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"},
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], dev+"/"+l[1]); err != nil {
			return err
		}
	}
	return nil
}

// The parts of a fresh /proc that reach past the sandbox's namespaces: the
// kernel's memory, keys and timers (masked) and the global knobs: sysctls,
// sysrq, IRQs (read-only). Builds run as real root, so without this
// "echo b > /proc/sysrq-trigger" would reboot the host.
var (
	procMaskedFiles = []string{"kcore", "keys", "timer_list", "timer_stats", "sched_debug", "latency_stats", "kallsyms", "kmsg", "kpagecount", "kpageflags", "kpagecgroup"}
	procMaskedDirs  = []string{"acpi", "asound", "scsi", "firmware", "driver"}
	procReadOnly    = []string{"sys", "sysrq-trigger", "bus", "fs", "irq"}
)

// mountProc mounts a proc filesystem of the sandbox's PID namespace (the
// init already lives in it) and masks what reaches the host.
func (r *rootfs) mountProc() error {
	if err := r.mountFS("proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	proc := r.mp + "/proc"
	exists := func(p string) bool {
		_, err := os.Lstat(p)
		return err == nil
	}
	for _, f := range procMaskedFiles {
		p := proc + "/" + f
		if !exists(p) {
			continue
		}
		if err := unix.Mount(r.mp+"/dev/null", p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("masking /proc/%s: %w", f, err)
		}
		// The mask is the host's /dev/null: read-only, as in /dev.
		if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("masking /proc/%s: %w", f, err)
		}
	}
	for _, d := range procMaskedDirs {
		p := proc + "/" + d
		if !exists(p) {
			continue
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=555"); err != nil {
			return fmt.Errorf("masking /proc/%s: %w", d, err)
		}
	}
	for _, d := range procReadOnly {
		p := proc + "/" + d
		if !exists(p) {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding /proc/%s: %w", d, err)
		}
		if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("making /proc/%s read-only: %w", d, err)
		}
	}
	return nil
}

// bindResolvConf shows the host's resolver configuration read-only at
// /etc/resolv.conf, when both exist: components install packages. A root
// without the file gets none (creating it would put it in the image).
func (r *rootfs) bindResolvConf() error {
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		return nil
	}
	fd, err := openIn(r.rootfd, "etc/resolv.conf", resolveInRoot)
	if err != nil {
		return nil // absent, or a dangling link (systemd-resolved's)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	return bindOn("/etc/resolv.conf", fd, true)
}

// bind mounts b.Source on b.Target inside the root.
func (r *rootfs) bind(b Bind) error {
	st, err := os.Stat(b.Source)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	fd, err := r.mountpoint(b.Target, st.IsDir(), resolveInRoot)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return bindOn(b.Source, fd, b.ReadOnly)
}

// bindOn binds source onto the mountpoint fd, nosuid and nodev, read-only
// if asked. Submounts of source are not carried along.
func bindOn(source string, fd int, readOnly bool) error {
	if err := unix.Mount(source, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s: %w", source, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID | unix.MS_NODEV)
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	// The new mount now sits on top of the inode fd names; remount it
	// by its path in this namespace.
	real, err := os.Readlink(fdPath(fd))
	if err != nil {
		return err
	}
	if err := unix.Mount("", real, "", flags, ""); err != nil {
		return fmt.Errorf("remounting %s: %w", source, err)
	}
	return nil
}

// loopbackUp brings lo up in a new network namespace.
func loopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// lookPath finds prog in env's PATH, inside the (already pivoted) root.
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	p := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	for _, dir := range strings.Split(p, ":") {
		if dir == "" {
			dir = "."
		}
		f := dir + "/" + prog
		st, err := os.Stat(f)
		if err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return f, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", prog, p)
}
