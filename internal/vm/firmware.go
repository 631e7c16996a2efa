package vm

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// Firmware values for Config.Firmware. Without one, a Config with a
// Kernel boots it directly (kiln's fast path); with one, QEMU starts the
// firmware, which boots the first disk through its own bootloader, as
// stock QEMU, libvirt or a cloud do.
const (
	// FirmwareBIOS is SeaBIOS, QEMU's default PC firmware: it runs the
	// first disk's MBR boot code (GRUB's boot.img, then core.img from a
	// BIOS boot partition).
	FirmwareBIOS = "bios"
	// FirmwareUEFI is OVMF (Debian's ovmf package), which loads
	// \EFI\BOOT\BOOTX64.EFI from the first disk's EFI system partition
	// when no boot variable names another loader.
	FirmwareUEFI = "uefi"
)

// DefaultOVMF is Debian's combined OVMF image (code and variables in one
// file), which QEMU takes with -bios. Its variables do not persist: every
// boot starts from the fallback loader path, as a fresh cloud instance
// does.
const DefaultOVMF = "/usr/share/ovmf/OVMF.fd"

// PortForward forwards a host TCP port on 127.0.0.1 to a guest port
// through QEMU's user-mode network (kiln ami run's SSH port).
type PortForward struct {
	HostPort, GuestPort int
}

// firmwareArgs are the QEMU options for cfg.Firmware.
func firmwareArgs(cfg Config) ([]string, error) {
	switch cfg.Firmware {
	case "":
		return nil, nil
	case FirmwareBIOS, FirmwareUEFI:
	default:
		return nil, fmt.Errorf("vm: firmware %q: want %s or %s", cfg.Firmware, FirmwareBIOS, FirmwareUEFI)
	}
	if cfg.Kernel != "" {
		return nil, fmt.Errorf("vm: firmware %s boots the disk's own bootloader; Kernel is for direct kernel boot, not both", cfg.Firmware)
	}
	if len(cfg.Disks) == 0 {
		return nil, fmt.Errorf("vm: firmware %s needs a disk to boot", cfg.Firmware)
	}
	var args []string
	if cfg.Firmware == FirmwareUEFI {
		ovmf := cfg.OVMF
		if ovmf == "" {
			ovmf = DefaultOVMF
		}
		if _, err := os.Stat(ovmf); err != nil {
			return nil, fmt.Errorf("vm: UEFI firmware: %w (apt-get install ovmf)", err)
		}
		args = append(args, "-bios", ovmf)
	}
	if cfg.FirmwareLog != "" {
		// SeaBIOS and OVMF write their debug log to I/O port 0x402;
		// QEMU's isa-debugcon device turns it into a file.
		args = append(args,
			"-chardev", "file,id=fwlog,path="+qemuEscape(cfg.FirmwareLog),
			"-device", "isa-debugcon,iobase=0x402,chardev=fwlog")
	}
	return args, nil
}

// seedArgs attach cfg.Seed read-only after the disks, so it never takes
// a disk's name (/dev/vda stays the root disk) nor its place in the
// firmware's boot order.
func seedArgs(cfg Config) ([]string, error) {
	if cfg.Seed == "" {
		return nil, nil
	}
	if _, err := os.Stat(cfg.Seed); err != nil {
		return nil, fmt.Errorf("vm: seed: %w", err)
	}
	return []string{"-drive", fmt.Sprintf("file=%s,format=raw,if=virtio,index=%d,readonly=on", qemuEscape(cfg.Seed), len(cfg.Disks))}, nil
}

// netArgs give the guest a virtio NIC on QEMU's user-mode network when
// cfg asks for one (Network, or any PortForwards), with cfg.MAC and the
// host forwards.
func netArgs(cfg Config) ([]string, error) {
	if !cfg.Network && len(cfg.PortForwards) == 0 {
		return nil, nil
	}
	netdev := "user,id=net0"
	for _, f := range cfg.PortForwards {
		if f.HostPort <= 0 || f.HostPort > 65535 || f.GuestPort <= 0 || f.GuestPort > 65535 {
			return nil, fmt.Errorf("vm: port forward %d to %d: ports are 1 to 65535", f.HostPort, f.GuestPort)
		}
		netdev += ",hostfwd=tcp:127.0.0.1:" + strconv.Itoa(f.HostPort) + "-:" + strconv.Itoa(f.GuestPort)
	}
	device := "virtio-net-pci,netdev=net0"
	if cfg.MAC != "" {
		hw, err := net.ParseMAC(cfg.MAC)
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("vm: MAC address %q: want six colon-separated hex bytes", cfg.MAC)
		}
		device += ",mac=" + hw.String()
	}
	return []string{"-netdev", netdev, "-device", device}, nil
}
