// Package disk turns root filesystems into machine-image disks and back: it writes
// GPT-partitioned raw images holding an ext4 root (MakeRaw), converts between raw and
// qcow2 (ConvertQcow2, ToRaw), reads partition tables of imported disks
// (ReadPartitions), writes disks that boot on their own under BIOS and UEFI firmware
// with the parent's bootloader kept or else Debian's GRUB installed (MakeBootable),
// mounts a disk's root filesystem read-only for inspection (MountRoot) and finds the
// kernel a disk boots (FindKernel).
//
// The partition table is written and read here in Go rather than by sgdisk or sfdisk so
// that making an image needs no privileges and no loop device: the filesystem is made
// by `mkfs.ext4 -d` directly into the image file at the partition's offset.
package disk
