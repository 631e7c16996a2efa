// Package rootarch tells which CPU architecture a root filesystem is for,
// from its own programs: the ELF header's e_machine of the shell or init
// it would run first.
//
// Nothing in a disk image or a root tarball declares its architecture
// (the Image Builder API has no field for it either), and names lie
// ("debian-12" says nothing). The binaries cannot: an arm64 root's
// /bin/sh is an aarch64 ELF file. The paths are resolved as inside the
// root (an absolute symlink such as busybox's /bin/sh -> /bin/busybox or
// systemd's /sbin/init -> /lib/systemd/systemd names a file of the image,
// not of the host), never leaving it.
package rootarch

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Probes are the programs looked at, in order: the first that is an ELF
// file decides. /bin/sh is in every root kiln builds on (components run
// in it); init and busybox cover roots without one.
var Probes = []string{"/bin/sh", "/usr/bin/sh", "/sbin/init", "/bin/busybox", "/usr/bin/env", "/bin/ls", "/usr/lib/systemd/systemd"}

// names are EC2's architecture names (what AMIs carry) for the machines
// kiln knows; others are reported by debug/elf's name.
var names = map[elf.Machine]string{
	elf.EM_X86_64:  "x86_64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "i386",
	elf.EM_ARM:     "arm",
	elf.EM_RISCV:   "riscv64",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
}

// Name returns the architecture name of an ELF machine.
func Name(m elf.Machine) string {
	if n, ok := names[m]; ok {
		return n
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}

// ErrUnknown says no probe was an ELF program.
var ErrUnknown = errors.New("no ELF program found at " + strings.Join(Probes, ", "))

// Result is a detection: the architecture, and the file that said so.
type Result struct {
	Arch     string      // EC2 name: "x86_64", "arm64", ...
	Machine  elf.Machine // the e_machine read
	Evidence string      // the probe path, and what it resolved to
}

// Detect reads the architecture of the root filesystem at root.
func Detect(root string) (Result, error) {
	for _, p := range Probes {
		real, err := Resolve(root, p)
		if err != nil {
			continue
		}
		m, err := machineOf(filepath.Join(root, real))
		if err != nil {
			continue
		}
		ev := p
		if real != p {
			ev += " -> " + real
		}
		return Result{Arch: Name(m), Machine: m, Evidence: ev}, nil
	}
	return Result{}, ErrUnknown
}

// machineOf reads e_machine from an ELF file's header. The file is
// opened without following a final symlink (Resolve already did, inside
// the root) and must be regular.
func machineOf(p string) (elf.Machine, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", p)
	}
	return MachineOf(f)
}

// MachineOf reads e_machine from the header of an ELF file.
func MachineOf(r io.ReaderAt) (elf.Machine, error) {
	var h [20]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, fmt.Errorf("not an ELF file: %w", err)
	}
	if string(h[:4]) != elf.ELFMAG {
		return 0, errors.New("not an ELF file")
	}
	switch elf.Data(h[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		return elf.Machine(uint16(h[18]) | uint16(h[19])<<8), nil
	case elf.ELFDATA2MSB:
		return elf.Machine(uint16(h[18])<<8 | uint16(h[19])), nil
	}
	return 0, errors.New("ELF file of unknown byte order")
}

// maxLinks bounds symlink resolution, as the kernel's 40.
const maxLinks = 40

// Resolve resolves name inside root as a process chrooted there would:
// symlinks are followed, absolute targets and ".." start from (and stop
// at) root. It returns the resolved path, absolute within the root; the
// host path is filepath.Join(root, result).
func Resolve(root, name string) (string, error) {
	rest := strings.Split(name, "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if len(rest) > 0 && !fi.IsDir() {
				return "", fmt.Errorf("%s: not a directory", next)
			}
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}
