package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// MountRoot mounts the root filesystem of the raw disk image raw read-only, with
// nosuid, nodev and noexec, on a fresh temporary directory and calls fn with that
// directory. The root filesystem is the Linux-filesystem (or Linux-root) partition —
// the largest such, when there are several — else the largest partition; an
// unpartitioned image is mounted whole. The filesystem is unmounted, its loop device
// released and the directory removed afterwards, also when fn fails or panics.
//
// It needs root (CAP_SYS_ADMIN) and a loop device.
func MountRoot(ctx context.Context, raw string, fn func(dir string) error) (err error) {
	f, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	parts, err := ReadPartitions(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", raw, err)
	}
	part, ok := rootPartition(parts)
	if !ok {
		return fmt.Errorf("%s: no partitions", raw)
	}
	fstype, err := detectFilesystem(f, part.Offset)
	if err != nil {
		return fmt.Errorf("%s partition %d: %w", raw, part.Number, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	loop, err := attachLoop(f, part.Offset, part.Size, true)
	if err != nil {
		return fmt.Errorf("%s: %w", raw, err)
	}
	// The loop device is set to clear itself when its last user goes away: closing
	// loop after the unmount releases it, whatever happened in between.
	defer loop.Close()

	dir, err := os.MkdirTemp("", "kiln-disk-mount-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)

	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := mountFS(loop.Name(), dir, fstype, flags); err != nil {
		return fmt.Errorf("mounting %s partition %d (%s): %w", raw, part.Number, fstype, err)
	}
	defer func() {
		if uerr := unmount(dir); uerr != nil && err == nil {
			err = uerr
		}
	}()
	return fn(dir)
}

// rootPartition picks the partition that holds the root filesystem.
func rootPartition(parts []Partition) (Partition, bool) {
	var best, bestLinux Partition
	for _, p := range parts {
		if p.Size > best.Size {
			best = p
		}
		if isLinuxType(p.Type) && p.Size > bestLinux.Size {
			bestLinux = p
		}
	}
	if bestLinux.Size > 0 {
		return bestLinux, true
	}
	return best, best.Size > 0
}

func isLinuxType(t string) bool {
	if t == "0x83" || t == linuxFilesystemType.String() {
		return true
	}
	for _, g := range linuxRootTypes {
		if t == g.String() {
			return true
		}
	}
	return false
}

// detectFilesystem names the filesystem at off by its superblock magic, because
// mount(2), unlike mount(8), does not probe.
func detectFilesystem(f *os.File, off int64) (string, error) {
	b := make([]byte, 0x10048)
	n, _ := f.ReadAt(b, off)
	b = b[:n]
	switch {
	case len(b) >= 1024+58 && binary.LittleEndian.Uint16(b[1024+56:]) == 0xEF53:
		return "ext4", nil // the ext4 driver mounts ext2 and ext3 as well
	case len(b) >= 4 && string(b[:4]) == "XFSB":
		return "xfs", nil
	case len(b) >= 0x10048 && string(b[0x10040:0x10048]) == "_BHRfS_M":
		return "btrfs", nil
	}
	return "", errors.New("no ext2/3/4, xfs or btrfs filesystem found")
}

// mountFS mounts read-only. A filesystem whose journal needs replaying cannot be
// mounted from a read-only device, so it retries without replaying the log (the view
// is then as of the last checkpoint, which is fine for inspection). XFS always gets
// nouuid: an image cloned from the host's own disk would otherwise be refused.
func mountFS(dev, dir, fstype string, flags uintptr) error {
	data, retry := "", ""
	switch fstype {
	case "ext4":
		retry = "noload"
	case "xfs":
		data, retry = "nouuid", "nouuid,norecovery"
	case "btrfs":
		retry = "rescue=nologreplay"
	}
	err := unix.Mount(dev, dir, fstype, flags, data)
	if err == nil || retry == "" {
		return err
	}
	if err2 := unix.Mount(dev, dir, fstype, flags, retry); err2 == nil {
		return nil
	}
	return err
}

// PrivateMounts runs fn on an OS thread of its own, in a new mount
// namespace that shares no mount events with the host's, and ends that
// thread when fn returns. The mounts fn makes, and the processes it
// starts, are seen there alone; fn must do its work on its own goroutine.
//
// A filesystem kiln writes through a temporary mount needs that: a mount
// namespace created elsewhere while it is mounted (the sandbox of another
// build on the same server, any container starting on the host) gets a
// copy of the mount, and the filesystem then stays alive after fn
// unmounts it, its last writes not yet out of the kernel's caches. An XFS
// root was copied into an image in that state, as mkfs.xfs had left it:
// an empty root directory, and a disk GRUB could not boot.
func PrivateMounts(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the runtime ends the thread, and with it the
		// namespace, when this goroutine returns.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("a mount namespace of its own: unshare(CLONE_NEWNS): %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("a mount namespace of its own: making mounts private: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// privateLoopMounts is PrivateMounts for the XFS writers, whose callers
// fall back to another layout when this host cannot mount (errLoopMount).
func privateLoopMounts(fn func() error) error {
	var fnErr error
	err := PrivateMounts(func() error {
		fnErr = fn()
		return nil
	})
	if err != nil {
		return &errLoopMount{err}
	}
	return fnErr
}

// unmountRetries is how often (every 100ms) a busy unmount is retried before the
// mount is detached lazily.
var unmountRetries = 30

func unmount(dir string) error {
	var err error
	for range unmountRetries {
		if err = unix.Unmount(dir, 0); err == nil || errors.Is(err, unix.EINVAL) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Still busy (a process of fn's left a file open): detach lazily so the mount
	// cannot outlive us; the kernel finishes once the last user is gone.
	if derr := unix.Unmount(dir, unix.MNT_DETACH); derr == nil {
		return fmt.Errorf("unmounting %s: %w (detached lazily)", dir, err)
	}
	return fmt.Errorf("unmounting %s: %w", dir, err)
}

// attachLoop binds a free loop device to the byte range [off, off+size) of f,
// autoclearing and, when readOnly, read-only, and returns the open device.
func attachLoop(f *os.File, off, size int64, readOnly bool) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("loop devices: %w", err)
	}
	defer ctl.Close()
	var lastErr error
	for range 20 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("finding a free loop device: %w", err)
		}
		name := fmt.Sprintf("/dev/loop%d", n)
		if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
			// In a container /dev may hold only the first few nodes.
			if err := unix.Mknod(name, unix.S_IFBLK|0o660, int(unix.Mkdev(7, uint32(n)))); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("creating %s: %w", name, err)
			}
		}
		mode, flags := os.O_RDWR, uint32(unix.LO_FLAGS_AUTOCLEAR)
		if readOnly {
			mode, flags = os.O_RDONLY, flags|unix.LO_FLAGS_READ_ONLY
		}
		dev, err := os.OpenFile(name, mode, 0)
		if err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
		cfg.Info.Offset = uint64(off)
		cfg.Info.Sizelimit = uint64(size)
		cfg.Info.Flags = flags
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			err = legacyLoopSetup(dev, f, &cfg.Info) // kernels before 5.8
		}
		if err == nil {
			return dev, nil
		}
		dev.Close()
		lastErr = err
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		// Someone else took it between GET_FREE and configuring: try the next one.
	}
	return nil, fmt.Errorf("attaching a loop device: %w", lastErr)
}

func legacyLoopSetup(dev, f *os.File, info *unix.LoopInfo64) error {
	if err := unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(f.Fd())); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(int(dev.Fd()), info); err != nil {
		unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}
