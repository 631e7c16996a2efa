package main

import (
	"context"
	"os"
)

// bootloaderChecks are what kiln installs GRUB into machine images with
// (internal/disk.MakeBootable). Without them images still build, but boot
// only with an external kernel, so a missing piece is a warning.
func bootloaderChecks(ctx context.Context) []doctorCheck {
	return []doctorCheck{
		checkTool(ctx, "grub-mkimage", neededBooting, "grub-common", "building the GRUB images kiln installs", "grub-mkimage", "--version"),
		checkFile("GRUB for BIOS", "/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin", "BIOS boot of machine images (core.img, boot.img)"),
		checkFile("GRUB for UEFI", "/usr/lib/grub/x86_64-efi/normal.mod", "grub-efi-amd64-bin", "UEFI boot of machine images (EFI/BOOT/BOOTX64.EFI)"),
		checkFile("mkfs.fat", "/usr/sbin/mkfs.fat", "dosfstools", "machine images' EFI System Partitions"),
		checkTool(ctx, "mtools", neededBooting, "mtools", "writing GRUB onto the ESP without mounting it", "mcopy", "--version"),
	}
}

// checkFile checks that a package's file is installed.
func checkFile(name, path, pkg, usedFor string) doctorCheck {
	c := doctorCheck{Name: name, Needed: neededBooting}
	if _, err := os.Stat(path); err != nil {
		c.Status = missing(neededBooting)
		c.Found = path + " is missing (used for " + usedFor + ")"
		c.Fix = "apt-get install " + pkg
		return c
	}
	c.Status, c.Found = doctorOK, path
	return c
}
