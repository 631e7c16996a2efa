#!/bin/sh
# cloud-parent.sh ROOT OUT builds, from the root tree ROOT (which has
# /boot/vmlinuz-VER and /boot/initrd.img-VER), the raw disk OUT laid out as
# Debian's cloud images are: GPT, partition 14 "BIOS boot" with GRUB's
# core.img (boot.img in the protective MBR), partition 15 a FAT32 ESP with a
# standalone GRUB at EFI/BOOT/BOOTX64.EFI and a stub grub.cfg at
# EFI/debian/grub.cfg, partition 1 the ext4 root holding the real
# /boot/grub/grub.cfg and an /etc/fstab by UUID. With ROOTFS=xfs the root
# is XFS, as Amazon Linux's and RHEL's are (made by mkfs.xfs on a file of its
# own, filled through a loop mount, since Debian 12's mkfs.xfs cannot
# populate from a directory). It uses sfdisk, mkfs.ext4,
# mkfs.fat, mtools, grub-mkimage and dd — what grub-install would do, minus
# the block device it needs (a loop device's partitions do not appear on
# every host). It prints the root filesystem's UUID.
set -eu
root=$1
out=$2
size_mib=${SIZE_MIB:-1024}
rootfs=${ROOTFS:-ext4}
fsmod=ext2
[ "$rootfs" = xfs ] && fsmod=xfs
ver=$(cd "$root/boot" && ls vmlinuz-* | head -n1 | sed 's/^vmlinuz-//')
uuid=$(cat /proc/sys/kernel/random/uuid)
espid=C10D1234
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$root/boot/grub" "$root/boot/efi"
cat >"$root/boot/grub/grub.cfg" <<EOF
# Debian-style grub.cfg (as update-grub writes it, trimmed)
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry 'Debian GNU/Linux, with Linux $ver' {
	search --no-floppy --fs-uuid --set=root $uuid
	linux	/boot/vmlinuz-$ver root=UUID=$uuid ro no_timer_check console=tty0 console=ttyS0,115200
	initrd	/boot/initrd.img-$ver
}
EOF
cat >"$root/etc/fstab" <<EOF
UUID=$uuid / $rootfs rw,discard,errors=remount-ro 0 1
UUID=C10D-1234 /boot/efi vfat defaults 0 0
EOF

rm -f "$out"
truncate -s "${size_mib}M" "$out"
sfdisk -q "$out" <<EOF
label: gpt
${out}14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649, name="bios"
${out}15 : start=8192, size=253952, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
${out}1 : start=262144, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
EOF
root_sectors=$(sfdisk -l -o Device,Sectors "$out" | awk -v d="${out}1" '$1 == d {print $2}')
if [ "$rootfs" = xfs ]; then
	truncate -s $((root_sectors * 512)) "$work/root.xfs"
	mkfs.xfs -q -f -m uuid="$uuid" -L rootfs "$work/root.xfs"
	mkdir "$work/mnt"
	# In a mount namespace of its own: a namespace another process makes
	# meanwhile (a build's sandbox) would copy the mount and keep the
	# filesystem unwritten after umount.
	unshare --mount --propagation private sh -ec 'mount -o loop "$1" "$2"; cp -a "$3/." "$2/"; umount "$2"' \
		sh "$work/root.xfs" "$work/mnt" "$root"
	dd if="$work/root.xfs" of="$out" bs=1M seek=128 conv=notrunc,sparse status=none
else
	mkfs.ext4 -F -q -U "$uuid" -L rootfs -E offset=$((262144 * 512)) -d "$root" "$out" $((root_sectors / 2))k
fi
mkfs.fat -F 32 -s 1 -n EFI -i "$espid" --offset 8192 -h 8192 "$out" $((253952 / 2)) >/dev/null

# le N BYTES: N as BYTES little-endian bytes.
le() {
	v=$1
	i=0
	while [ "$i" -lt "$2" ]; do
		printf "\\$(printf %03o $((v & 255)))"
		v=$((v >> 8))
		i=$((i + 1))
	done
}
patch() { dd of="$out" bs=1 seek="$1" conv=notrunc status=none; }

# BIOS: core.img reads /boot/grub from partition 1, as grub-install sets it.
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,gpt1)/boot/grub' \
	biosdisk part_gpt $fsmod normal linux boot search search_fs_uuid configfile echo test serial terminal gzio
nsec=$((($(stat -c %s "$work/core.img") + 511) / 512))
dd if="$work/core.img" of="$out" bs=512 seek=2048 conv=notrunc status=none
le $((2048 + 1)) 8 | patch $((2048 * 512 + 0x1f4))
le $((nsec - 1)) 2 | patch $((2048 * 512 + 0x1fc))
dd if=/usr/lib/grub/i386-pc/boot.img of="$out" bs=440 count=1 conv=notrunc status=none
le 2048 8 | patch $((0x5c))
printf '\220\220' | patch $((0x66))

# UEFI: the removable-media path, reading the stub on the ESP, which hands
# over to the root's grub.cfg, as Debian's grub-efi does.
grub-mkimage -O x86_64-efi -o "$work/BOOTX64.EFI" -p /EFI/debian \
	part_gpt fat $fsmod normal linux boot search search_fs_uuid configfile echo test serial terminal gzio efi_gop
printf 'search.fs_uuid %s root\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' "$uuid" >"$work/stub.cfg"
img="$out@@$((8192 * 512))"
export MTOOLS_SKIP_CHECK=1
mmd -i "$img" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$img" "$work/stub.cfg" ::/EFI/debian/grub.cfg
echo "$uuid"
