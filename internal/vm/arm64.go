package vm

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/kiln-build/kiln/internal/vm/agent"
)

// Arm64 guests. An arm64 machine image boots under qemu-system-aarch64 on
// QEMU's "virt" board, the machine cloud arm64 images are made for: PCI
// (so the same virtio-pci disks, entropy and serial port as x86 guests),
// a PL011 UART as the console (ttyAMA0) and, with AAVMF, the UEFI of
// Debian's qemu-efi-aarch64 (AAVMF), which also loads a -kernel the way
// a bootloader would. On an x86_64 host there is no KVM for it: the CPU is
// emulated (TCG) as a Cortex-A57, which every arm64 distribution kernel
// supports and which QEMU emulates faster than its "max" CPU (no pointer
// authentication to compute in software).

// Architectures of guests (EC2's names).
const (
	ArchX86_64 = "x86_64"
	ArchARM64  = "arm64"
)

// Debian's files for arm64 guests.
const (
	QEMUAArch64 = "qemu-system-aarch64"
	// AAVMFCode is the UEFI firmware's code volume (qemu-efi-aarch64).
	AAVMFCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
)

// ConsoleDevice is the kernel's name of the serial console of a guest of
// arch: console=ttyS0 on x86, ttyAMA0 (the PL011) on arm64's virt board.
func ConsoleDevice(arch string) string {
	if arch == ArchARM64 {
		return "ttyAMA0"
	}
	return "ttyS0"
}

// QEMUFor is the system emulator of a guest architecture.
func QEMUFor(arch string) string {
	if arch == ArchARM64 {
		return QEMUAArch64
	}
	return "qemu-system-x86_64"
}

// HostArch is this host's architecture by EC2's name.
func HostArch() string {
	if runtime.GOARCH == "arm64" {
		return ArchARM64
	}
	return ArchX86_64
}

// aarch64Args is qemuArgs for an arm64 guest: the virt board, the
// firmware when given, then the devices every guest has.
func aarch64Args(cfg Config, accel, agentSocket string) ([]string, error) {
	args := []string{
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-no-reboot",
		"-machine", "virt",
		"-m", strconv.Itoa(cfg.MemoryMB),
		"-smp", strconv.Itoa(cfg.CPUs),
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-device", "virtio-rng-pci",
	}
	if accel == AccelKVM {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		args = append(args, "-accel", "tcg,thread=multi", "-cpu", "cortex-a57")
	}
	if cfg.AAVMF != "" {
		if _, err := os.Stat(cfg.AAVMF); err != nil {
			return nil, fmt.Errorf("vm: arm64 firmware: %w (apt-get install qemu-efi-aarch64)", err)
		}
		// The code volume only: without a variables volume UEFI keeps
		// its variables in memory, which a throwaway guest wants.
		args = append(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+qemuEscape(cfg.AAVMF))
	}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
		if cfg.Append != "" {
			args = append(args, "-append", cfg.Append)
		}
	} else if cfg.AAVMF == "" {
		return nil, fmt.Errorf("vm: an arm64 guest boots a kernel or through firmware: neither given")
	}
	devices, err := deviceArgs(cfg)
	if err != nil {
		return nil, err
	}
	args = append(args, devices...)
	return append(args,
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=agent,path="+qemuEscape(agentSocket)+",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=agent,name="+agent.DefaultPort,
	), nil
}
