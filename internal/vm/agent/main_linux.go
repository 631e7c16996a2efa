package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// portWait bounds the wait for the virtio-serial port to appear. Under
// software emulation drivers probe slowly, but a machine booted without
// the port (the image run outside kiln) should not keep an agent waiting
// forever.
const portWait = 2 * time.Minute

// Main runs the guest agent: it opens the virtio-serial port (a port name,
// "" for DefaultPort, or a device path), waiting for it to appear and
// loading the virtio_pci and virtio_console modules from
// /lib/modules/$(uname -r) when the kernel does not have them yet,
// announces itself, then serves requests until the host asks it to power
// off, which it does after syncing.
//
// As PID 1 (booted with init=/path/to/kiln or as an initramfs's /init) it
// first mounts /proc, /sys, /dev (devtmpfs) and /dev/pts where nothing is
// mounted yet, reaps every orphan, and powers off on any error too, since
// init must not exit. Started by the image's own init (a systemd unit, an
// inittab ::once: line) it only serves and returns its error.
func Main(port string) error {
	pid1 := os.Getpid() == 1
	if pid1 {
		mountAPIFilesystems()
	}
	err := runAgent(port, pid1)
	if errors.Is(err, errPowerOff) || pid1 {
		if err != nil && !errors.Is(err, errPowerOff) {
			logf("%v; powering off", err)
		}
		return powerOff()
	}
	return err
}

// MainThenInit lets the image boot its own init while the agent serves:
// booted as PID 1 (init=/path/to/kiln -- ARGS on the kernel command line)
// it mounts the API filesystems, starts a copy of itself with the same
// arguments, which is not PID 1 and so runs Main(port), and then replaces
// itself with initPath (such as /sbin/init or /lib/systemd/systemd), which
// becomes PID 1 as usual. This needs no unit file or inittab entry in the
// image. Anywhere but PID 1, or with initPath "", it is Main(port).
func MainThenInit(port, initPath string) error {
	if os.Getpid() != 1 || initPath == "" {
		return Main(port)
	}
	mountAPIFilesystems()
	self := os.Args[0]
	if _, err := syscall.ForkExec(self, os.Args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}); err != nil {
		// Boot the image anyway: the host reports the missing agent
		// with the console's last lines.
		logf("starting the agent (%s): %v", self, err)
	}
	return syscall.Exec(initPath, []string{initPath}, os.Environ())
}

// logf writes to the agent's standard error: the console when it is init.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kiln-agent: "+format+"\n", args...)
}

func runAgent(port string, pid1 bool) error {
	procs := newReaper(pid1)
	f, err := openPort(port, pid1)
	if err != nil {
		return err
	}
	defer f.Close()
	logf("serving on %s", f.Name())
	hello := frame{Op: opHello, Version: ProtocolVersion, Kernel: kernelRelease(), PID1: pid1}
	s := newServer(f, procs, hello)
	for {
		err := s.serve()
		if !errors.Is(err, io.EOF) {
			return err
		}
		// The host side of the port is not connected (reads return 0
		// then). serve announces the agent again; that write blocks
		// until the host connects.
		time.Sleep(100 * time.Millisecond)
	}
}

// powerOff syncs and powers the machine off; it returns only on failure.
func powerOff() error {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		return fmt.Errorf("agent: power off: %w", err)
	}
	select {} // the kernel is stopping the machine
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// mountAPIFilesystems mounts what every program expects of a running
// Linux system, skipping what an initramfs already moved into place.
// Failures are logged, not fatal: the agent may still be able to serve.
func mountAPIFilesystems() {
	for _, m := range []struct {
		target, fstype string
		flags          uintptr
		data           string
	}{
		{"/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0620,ptmxmode=0666"},
	} {
		if isMountPoint(m.target) {
			continue
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			logf("mount %s: %v", m.target, err)
			continue
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data); err != nil {
			logf("mount %s: %v", m.target, err)
		}
	}
}

// isMountPoint says something is mounted at path: its device differs from
// its parent's. (A bind mount of the same filesystem would be missed; the
// API filesystems are never that.)
func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(path, &st) != nil || unix.Stat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// openPort waits for the port's device and opens it. The descriptor stays
// blocking (not in Go's poller): on a virtio port, a write then waits for
// the host to connect instead of failing, and a read returns 0 while the
// host is away, which serve reports as io.EOF.
func openPort(port string, pid1 bool) (*os.File, error) {
	if port == "" {
		port = DefaultPort
	}
	start := time.Now()
	triedModules := false
	for {
		if p := findPort(port); p != "" {
			fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
			if err == nil {
				return os.NewFile(uintptr(fd), p), nil
			}
			if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENXIO) {
				return nil, fmt.Errorf("agent: open %s: %w", p, err)
			}
		}
		// Under udev the drivers load by themselves; give them a moment
		// before loading them ourselves. As PID 1 nobody else will.
		if !triedModules && (pid1 || time.Since(start) > 2*time.Second) {
			triedModules = true
			if err := loadModules("virtio_pci", "virtio_console"); err != nil {
				logf("loading virtio modules: %v", err)
			}
		}
		if time.Since(start) > portWait {
			return nil, fmt.Errorf("agent: virtio-serial port %s did not appear within %v (is virtio_console available?)", port, portWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findPort returns the device path of the named port, or "". Without udev
// there are no /dev/virtio-ports links, so the name is looked up in sysfs
// and the device node made when devtmpfs is missing.
func findPort(port string) string {
	if strings.HasPrefix(port, "/") {
		if _, err := os.Stat(port); err == nil {
			return port
		}
		return ""
	}
	if p := "/dev/virtio-ports/" + port; exists(p) {
		return p
	}
	dirs, _ := filepath.Glob("/sys/class/virtio-ports/*")
	for _, d := range dirs {
		name, err := os.ReadFile(filepath.Join(d, "name"))
		if err != nil || strings.TrimSpace(string(name)) != port {
			continue
		}
		dev := "/dev/" + filepath.Base(d)
		if exists(dev) {
			return dev
		}
		if numbers, err := os.ReadFile(filepath.Join(d, "dev")); err == nil {
			maj, min, ok := strings.Cut(strings.TrimSpace(string(numbers)), ":")
			ma, err1 := strconv.Atoi(maj)
			mi, err2 := strconv.Atoi(min)
			if ok && err1 == nil && err2 == nil {
				if unix.Mknod(dev, unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(ma), uint32(mi)))) == nil {
					return dev
				}
			}
		}
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
