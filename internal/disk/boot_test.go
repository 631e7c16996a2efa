package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPatchGrubConfig(t *testing.T) {
	debian := "menuentry 'Debian GNU/Linux, with Linux 6.1.0-18-amd64' {\n" +
		"\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro console=ttyS0\n" +
		"\tinitrd\t/boot/initrd.img-6.1.0-18-amd64\n}\n"
	for _, tc := range []struct {
		name, cfg, kernel, initrd string
		want, was                 string
	}{
		{"version replaced throughout", debian, "/boot/vmlinuz-6.1.0-20-amd64", "/boot/initrd.img-6.1.0-20-amd64",
			strings.ReplaceAll(debian, "6.1.0-18-amd64", "6.1.0-20-amd64"), "vmlinuz-6.1.0-18-amd64"},
		{"same kernel: unchanged", debian, "/boot/vmlinuz-6.1.0-18-amd64", "/boot/initrd.img-6.1.0-18-amd64", debian, ""},
		{"no linux line: unchanged", "search.fs_uuid x root\nconfigfile $prefix/grub.cfg\n", "/boot/vmlinuz-6.1", "", "search.fs_uuid x root\nconfigfile $prefix/grub.cfg\n", ""},
		{"unversioned names replaced by name", "linux /vmlinuz root=/dev/vda1\ninitrd /initrd.img\n", "/boot/vmlinuz-6.2", "/boot/initrd.img-6.2",
			"linux /vmlinuz-6.2 root=/dev/vda1\ninitrd /initrd.img-6.2\n", "vmlinuz"},
		{"linuxefi lines too", "linuxefi /vmlinuz-5.14.0-1.el9 ro\ninitrdefi /initramfs-5.14.0-1.el9.img\n", "/boot/vmlinuz-5.14.0-2.el9", "/boot/initramfs-5.14.0-2.el9.img",
			"linuxefi /vmlinuz-5.14.0-2.el9 ro\ninitrdefi /initramfs-5.14.0-2.el9.img\n", "vmlinuz-5.14.0-1.el9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, was := patchGrubConfig(tc.cfg, tc.kernel, tc.initrd)
			if got != tc.want || was != tc.was {
				t.Errorf("patchGrubConfig = %q, %q; want %q, %q", got, was, tc.want, tc.was)
			}
		})
	}
}

func FuzzPatchGrubConfig(f *testing.F) {
	f.Add("linux /boot/vmlinuz-1 root=x\ninitrd /boot/initrd.img-1\n", "/boot/vmlinuz-2")
	f.Add("linux\n\tlinux16 a b\n", "/x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, cfg, kernel string) {
		got, was := patchGrubConfig(cfg, kernel, "/boot/initrd.img")
		if was == "" && got != cfg {
			t.Fatalf("changed %q without saying so", cfg)
		}
		// A second pass has nothing left to do once the kernel is named.
		if was != "" && strings.Contains(got, kernel) && strings.HasPrefix(kernel, "/boot/vmlinuz-") {
			if _, again := patchGrubConfig(got, kernel, "/boot/initrd.img"); again != "" && !strings.Contains(kernel, again) {
				t.Fatalf("second pass replaced %q in %q", again, got)
			}
		}
	})
}

func TestFstabFor(t *testing.T) {
	for _, tc := range []struct{ name, old, esp, want string }{
		{"empty", "", "ABCD-1234", "# Written by kiln: the root and the ESP by filesystem UUID.\nUUID=r / ext4 defaults 0 1\nUUID=ABCD-1234 /boot/efi vfat umask=0077,nofail 0 2\n"},
		{"root and ESP lines replaced, others kept", "# comment\n/dev/sda1 / ext4 rw 0 1\nLABEL=efi /boot/efi vfat defaults 0 0\ntmpfs /tmp tmpfs defaults 0 0\n", "",
			"# Written by kiln: the root and the ESP by filesystem UUID.\nUUID=r / ext4 defaults 0 1\n# comment\ntmpfs /tmp tmpfs defaults 0 0\n"},
		{"kiln's own header not repeated", "# Written by kiln: old\nUUID=old / ext4 defaults 0 1\n", "",
			"# Written by kiln: the root and the ESP by filesystem UUID.\nUUID=r / ext4 defaults 0 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fstabFor(tc.old, "r", "ext4", tc.esp); got != tc.want {
				t.Errorf("fstabFor = %q, want %q", got, tc.want)
			}
		})
	}
}

// rwDisk is an in-memory io.ReaderAt and io.WriterAt.
type rwDisk []byte

func (m rwDisk) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m[off:]), nil }
func (m rwDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

// writeGrubPC patches what grub-install's setup patches, and nothing of the
// disk's partition table.
func TestWriteGrubPC(t *testing.T) {
	d := make(rwDisk, 4*mib)
	table := bytes.Repeat([]byte{0xEE}, sectorSize-grubMBRKeepFrom)
	copy(d[grubMBRKeepFrom:], table)
	bootImg := bytes.Repeat([]byte{0xB0}, sectorSize)
	core := bytes.Repeat([]byte{0xC0}, 3*sectorSize+100)
	binary.LittleEndian.PutUint16(core[grubBlocklist+10:], 0x820)
	if err := writeGrubPC(d, bootImg, core, 2048); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(d[grubKernelSector:]); got != 2048 {
		t.Errorf("boot.img's kernel sector = %d, want 2048", got)
	}
	if d[grubDriveCheck] != 0x90 || d[grubDriveCheck+1] != 0x90 {
		t.Errorf("the drive check is not NOPed out: % x", d[grubDriveCheck:grubDriveCheck+2])
	}
	if !bytes.Equal(d[grubMBRKeepFrom:sectorSize], table) {
		t.Error("the partition table was overwritten")
	}
	if !allZero(d[grubBPBStart:grubBPBEnd]) {
		t.Error("the BPB was not kept from the disk")
	}
	bl := d[2048*sectorSize+grubBlocklist:]
	if start, n, seg := binary.LittleEndian.Uint64(bl), binary.LittleEndian.Uint16(bl[8:]), binary.LittleEndian.Uint16(bl[10:]); start != 2049 || n != 3 || seg != 0x820 {
		t.Errorf("block list = %d+%d at segment %#x, want 2049+3 at 0x820", start, n, seg)
	}
	if err := writeGrubPC(d, bootImg, make([]byte, sectorSize), 2048); err == nil {
		t.Error("a core.img without diskboot.img's block list was accepted")
	}
}

// requireBootTools skips without what MakeBootable installs GRUB with.
func requireBootTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "debugfs", "mkfs.fat", "mcopy", "grub-mkimage"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	for _, f := range []string{grubPCDir + "/boot.img", grubEFIDir + "/normal.mod"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s not installed (grub-pc-bin, grub-efi-amd64-bin)", f)
		}
	}
}

// MakeBootable lays out a disk with kiln's GRUB, and a disk made on it
// keeps that layout and rewrites grub.cfg for the new kernel. (Booting them
// is test/boot's work.)
func TestMakeBootableLayouts(t *testing.T) {
	requireBootTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, p := range []string{"boot", "etc", "sbin"} {
		os.MkdirAll(filepath.Join(root, p), 0o755)
	}
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-6.1.0-1-amd64"), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(root, "boot/initrd.img-6.1.0-1-amd64"), []byte("initrd"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/fstab"), []byte("/dev/sda1 / ext4 rw 0 1\nproc /proc proc defaults 0 0\n"), 0o644)
	first := filepath.Join(dir, "first.raw")
	bi, err := MakeBootable(ctx, root, first, BootLayout{Size: 256 * mib, Label: "kiln-root", Title: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if bi.Bootloader != "kiln" || strings.Join(bi.Firmware, ",") != "bios,uefi" || bi.Kernel != "/boot/vmlinuz-6.1.0-1-amd64" {
		t.Fatalf("BootInfo = %+v", bi)
	}
	parts := readParts(t, first)
	byNum := map[int]Partition{}
	for _, p := range parts {
		byNum[p.Number] = p
	}
	if byNum[1].Type != linuxFilesystemType.String() || byNum[14].Type != biosBootType.String() || byNum[15].Type != espType.String() || byNum[1].Offset != bootRootStart {
		t.Fatalf("partitions = %+v", parts)
	}
	cfg, err := mtoolsRead(ctx, first, bootESPStart, "/EFI/BOOT/grub.cfg")
	if err != nil || !strings.Contains(string(cfg), "linux /boot/vmlinuz-6.1.0-1-amd64 root=UUID="+bi.FSUUID+" ro no_timer_check console=tty0 console=ttyS0") {
		t.Errorf("grub.cfg on the ESP: %v\n%s", err, cfg)
	}
	fstab := debugfsCat(t, first, bootRootStart, "/etc/fstab")
	if !strings.Contains(fstab, "UUID="+bi.FSUUID+" / ext4") || !strings.Contains(fstab, "UUID="+bi.ESPUUID+" /boot/efi vfat") || !strings.Contains(fstab, "proc /proc") || strings.Contains(fstab, "/dev/sda1") {
		t.Errorf("/etc/fstab:\n%s", fstab)
	}
	if d := DescribeBoot(first); !strings.Contains(d, "BIOS boot partition 14, ESP partition 15 and an ext4 root (partition 1)") {
		t.Errorf("DescribeBoot = %q", d)
	}

	// A new kernel, a bigger disk, on the first disk's layout.
	os.Rename(filepath.Join(root, "boot/vmlinuz-6.1.0-1-amd64"), filepath.Join(root, "boot/vmlinuz-6.1.0-2-amd64"))
	os.Rename(filepath.Join(root, "boot/initrd.img-6.1.0-1-amd64"), filepath.Join(root, "boot/initrd.img-6.1.0-2-amd64"))
	second := filepath.Join(dir, "second.raw")
	bi2, err := MakeBootable(ctx, root, second, BootLayout{Size: 512 * mib, Label: "kiln-root", Title: "second", Parent: first})
	if err != nil {
		t.Fatal(err)
	}
	if bi2.Bootloader != "kiln" || bi2.FSUUID != bi.FSUUID || bi2.ESPUUID != bi.ESPUUID || bi2.PartUUID != bi.PartUUID {
		t.Errorf("the second disk's identity = %+v, the first's %+v", bi2, bi)
	}
	parts2 := readParts(t, second)
	for i, p := range parts {
		q := parts2[i]
		if q.Number != p.Number || q.UUID != p.UUID || q.Offset != p.Offset || (p.Number != 1 && q.Size != p.Size) {
			t.Errorf("partition %+v, was %+v", q, p)
		}
		if p.Number == 1 && q.Offset+q.Size < 511*mib {
			t.Errorf("the root did not grow: %+v", q)
		}
	}
	cfg, err = mtoolsRead(ctx, second, bootESPStart, "/EFI/BOOT/grub.cfg")
	if err != nil || !strings.Contains(string(cfg), "/boot/vmlinuz-6.1.0-2-amd64") || strings.Contains(string(cfg), "6.1.0-1-amd64") {
		t.Errorf("grub.cfg on the second disk's ESP: %v\n%s", err, cfg)
	}
	a, b := make([]byte, 440), make([]byte, 440)
	fa, _ := os.Open(first)
	fb, _ := os.Open(second)
	fa.ReadAt(a, 0)
	fb.ReadAt(b, 0)
	fa.Close()
	fb.Close()
	if !bytes.Equal(a, b) || allZero(a) {
		t.Error("the MBR's boot code was not kept")
	}

	// A parent whose root kiln cannot make again as it was (here an XFS
	// superblock of a version mkfs.xfs no longer makes; XFS v5 roots are
	// kept, see TestMakeXFS and test/boot): kiln lays the disk out itself,
	// installs its GRUB and says why.
	xfsParent := filepath.Join(dir, "xfs-parent.raw")
	if out, err := exec.Command("cp", "--sparse=always", first, xfsParent).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	xf, err := os.OpenFile(xfsParent, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	xf.WriteAt(make([]byte, 2048), bootRootStart)
	xf.WriteAt([]byte("XFSB"), bootRootStart)
	xf.Close()
	bi4, err := MakeBootable(ctx, root, filepath.Join(dir, "on-xfs.raw"), BootLayout{Size: 256 * mib, Parent: xfsParent})
	if err != nil || bi4.Bootloader != "kiln" || bi4.FSUUID == bi.FSUUID || !strings.Contains(strings.Join(bi4.Notes, "\n"), "an XFS filesystem older than version 5") {
		t.Errorf("on an XFS parent: %+v, %v", bi4, err)
	}

	// An arm64 kernel gets no x86 GRUB.
	arm := make([]byte, 0x40)
	copy(arm[0x38:], "ARM\x64")
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-6.1.0-2-amd64"), arm, 0o644)
	bi5, err := MakeBootable(ctx, root, filepath.Join(dir, "arm64.raw"), BootLayout{Size: 64 * mib})
	if err != nil || bi5.Bootloader != "" || !strings.Contains(strings.Join(bi5.Notes, "\n"), "arm64") {
		t.Errorf("with an arm64 kernel: %+v, %v", bi5, err)
	}

	// A disk without a kernel gets no bootloader, and says so.
	os.RemoveAll(filepath.Join(root, "boot"))
	bi3, err := MakeBootable(ctx, root, filepath.Join(dir, "third.raw"), BootLayout{Size: 64 * mib})
	if err != nil || bi3.Bootloader != "" || len(bi3.Notes) == 0 {
		t.Errorf("without a kernel: %+v, %v", bi3, err)
	}
}

func readParts(t *testing.T, p string) []Partition {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	parts, err := ReadPartitions(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

func debugfsCat(t *testing.T, img string, off int64, p string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+p, img+"?offset="+strconv.FormatInt(off, 10)).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", p, err)
	}
	return string(out)
}
