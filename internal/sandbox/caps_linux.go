//go:build linux

package sandbox

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// keptCapabilities is what a build keeps of root's capabilities: what
// package managers and their maintainer scripts need to install files as
// any owner, and nothing that can mount, reach kernel memory, raw devices or
// other processes. It is an allow-list, so capabilities added by future
// kernels are dropped too. Every capability not listed here leaves the
// bounding set, which is what matters: root's capabilities after exec are
// its bounding set.
//
// Dropped on purpose, among others: SYS_ADMIN (mount, pivot_root, setns,
// unshare of mount namespaces), DAC_READ_SEARCH (open_by_handle_at, which
// opens any inode of a filesystem by handle and so escapes any root),
// MKNOD (device nodes for the host's disks), SYS_MODULE, SYS_RAWIO,
// SYS_PTRACE, SYS_BOOT, SYS_TIME, SYS_RESOURCE, NET_ADMIN and NET_RAW (the
// host's network is shared by default), MAC_ADMIN, MAC_OVERRIDE, BPF,
// PERFMON, LINUX_IMMUTABLE, SYSLOG, IPC_LOCK, AUDIT_CONTROL.
var keptCapabilities = []struct {
	cap uint
	why string
}{
	{unix.CAP_CHOWN, "dpkg/rpm set file owners"},
	{unix.CAP_DAC_OVERRIDE, "root writes files it does not own, as on any host"},
	{unix.CAP_FOWNER, "chmod/utime of files owned by other users"},
	{unix.CAP_FSETID, "keep setuid/setgid bits when writing packaged files"},
	{unix.CAP_KILL, "signal processes of other users inside the sandbox (the PID namespace hides all others)"},
	{unix.CAP_SETGID, "maintainer scripts drop to service users (su, runuser)"},
	{unix.CAP_SETUID, "maintainer scripts drop to service users (su, runuser)"},
	{unix.CAP_SETPCAP, "lets programs drop their own capabilities"},
	{unix.CAP_SETFCAP, "packages set file capabilities (setcap in postinst, e.g. ping)"},
	{unix.CAP_NET_BIND_SERVICE, "test steps start services on low ports"},
	{unix.CAP_SYS_CHROOT, "some installers chroot; pivot_root leaves no outside to reach"},
	{unix.CAP_AUDIT_WRITE, "PAM-using tools (su, login) log to the audit subsystem"},
}

// capMask returns the kept capabilities as a 64-bit mask.
func capMask() uint64 {
	var m uint64
	for _, c := range keptCapabilities {
		m |= 1 << c.cap
	}
	return m
}

// dropCapabilities reduces the calling thread's bounding, permitted,
// effective, inheritable and ambient sets to keptCapabilities and sets
// no_new_privs, so no exec (setuid binaries, file capabilities) can gain
// anything back. Credentials are per thread: call it on a locked OS thread
// and fork the program from that same thread.
func dropCapabilities() error {
	keep := capMask()
	for c := uint(0); c < 64; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break // past the kernel's last capability
			}
			return fmt.Errorf("reading capability %d: %w", c, err)
		}
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep), Inheritable: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32), Inheritable: uint32(keep >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}
