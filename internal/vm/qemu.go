package vm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/vm/agent"
)

// qemuArgs builds QEMU's command line for cfg (defaults applied). The
// machine has no default devices: a serial console on QEMU's stdio, the
// disks on virtio-blk, the agent's virtio-serial port, an entropy source
// (early boot does not stall on getrandom) and a NIC only when asked for.
func qemuArgs(cfg Config, accel, agentSocket string) ([]string, error) {
	if cfg.Arch == ArchARM64 {
		return aarch64Args(cfg, accel, agentSocket)
	}
	machine := "q35"
	if cfg.Firmware == FirmwareBIOS {
		// Without a display, SeaBIOS draws its screen, and with it the
		// bootloader's (GRUB before it reads grub.cfg, its rescue prompt),
		// on the serial console: a disk that does not boot says why.
		machine += ",graphics=off"
	}
	args := []string{
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-no-reboot", // a guest reboot or panic=-1 ends QEMU instead of looping
		"-machine", machine,
		"-m", strconv.Itoa(cfg.MemoryMB),
		"-smp", strconv.Itoa(cfg.CPUs),
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-device", "virtio-rng-pci",
	}
	args = append(args, accelArgs(accel)...)
	fw, err := firmwareArgs(cfg)
	if err != nil {
		return nil, err
	}
	args = append(args, fw...)
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
		if cfg.Append != "" {
			args = append(args, "-append", cfg.Append)
		}
	} else if cfg.Initrd != "" || cfg.Append != "" {
		return nil, fmt.Errorf("vm: Initrd and Append need a Kernel (direct kernel boot)")
	}
	if len(cfg.Disks) == 0 && cfg.Kernel == "" {
		return nil, fmt.Errorf("vm: nothing to boot: no disk and no kernel")
	}
	devices, err := deviceArgs(cfg)
	if err != nil {
		return nil, err
	}
	args = append(args, devices...)
	args = append(args,
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=agent,path="+qemuEscape(agentSocket)+",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=agent,name="+agent.DefaultPort,
	)
	return args, nil
}

// qemuEscape escapes a value inside QEMU's comma-separated options, where
// a literal comma is written twice.
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// deviceArgs are the QEMU options for cfg's disks, its cloud-init seed and
// its NIC with the port forwards: all on virtio-pci, which both the x86
// machine and arm64's virt board have.
func deviceArgs(cfg Config) ([]string, error) {
	var args []string
	for i, d := range cfg.Disks {
		format, err := diskFormat(d)
		if err != nil {
			return nil, err
		}
		drive := fmt.Sprintf("file=%s,format=%s,if=virtio,index=%d", qemuEscape(d), format, i)
		if cfg.Snapshot {
			// Writes land in a throwaway overlay; flushing it is wasted time.
			drive += ",cache=unsafe"
		}
		args = append(args, "-drive", drive)
	}
	seed, err := seedArgs(cfg)
	if err != nil {
		return nil, err
	}
	args = append(args, seed...)
	if cfg.Snapshot {
		args = append(args, "-snapshot")
	}
	nic, err := netArgs(cfg)
	if err != nil {
		return nil, err
	}
	return append(args, nic...), nil
}
