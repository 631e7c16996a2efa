package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/vm"
)

// amiArch is the architecture kiln recorded for the AMI id (EC2's name,
// x86_64 when the record predates architectures), from the AMI listing,
// so kiln ami run picks the emulator before downloading the disk.
func amiArch(ctx context.Context, base, id string) (string, error) {
	var amis []ami.AMI
	if err := getJSON(ctx, base, &amis); err != nil {
		return "", err
	}
	for _, a := range amis {
		if a.ImageID == id {
			if a.Architecture == "" {
				return vm.ArchX86_64, nil
			}
			return a.Architecture, nil
		}
	}
	return "", fmt.Errorf("%s: no such AMI", id)
}

// archVM sets cfg up for a guest of arch. An arm64 image boots under
// qemu-system-aarch64 on the virt board, through AAVMF (Debian's
// qemu-efi-aarch64) loading the image's kernel, since kiln gives arm64
// disks no bootloader; --firmware bios has no meaning there. On a host of
// another architecture there is no KVM for it: TCG.
func archVM(arch, firmware string, cfg *vm.Config) error {
	switch arch {
	case vm.ArchX86_64:
		return nil
	case vm.ArchARM64:
	default:
		return fmt.Errorf("the AMI's architecture is %q; kiln ami run boots x86_64 and arm64", arch)
	}
	if firmware == vm.FirmwareBIOS {
		return errors.New("--firmware bios: the AMI is arm64, which boots through UEFI (AAVMF) only")
	}
	cfg.Arch, cfg.QEMU, cfg.AAVMF, cfg.Firmware = vm.ArchARM64, vm.QEMUFor(vm.ArchARM64), vm.AAVMFCode, ""
	if vm.HostArch() != vm.ArchARM64 {
		cfg.Accel = vm.AccelTCG
	}
	return nil
}
