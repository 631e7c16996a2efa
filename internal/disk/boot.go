package disk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Partition types of the boot partitions cloud images carry.
var (
	// biosBootType is GRUB's "BIOS boot" partition: the home of core.img on a
	// GPT disk booted by a PC BIOS.
	biosBootType = mustParseGUID("21686148-6449-6E6F-744E-656564454649")
	// espType is the EFI System Partition (UEFI specification, 5.3.3).
	espType = mustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
)

// kiln's own boot layout, the one Debian's cloud images use: the BIOS boot
// partition is number 14, the ESP number 15, the root number 1 and last on the
// disk, so that growing the disk grows the root.
const (
	bootBIOSStart = 1 * mib
	bootESPStart  = 4 * mib
	bootRootStart = 64 * mib // the ESP is 60 MiB: FAT32 with 512-byte clusters
	biosBootNum   = 14
	espNum        = 15
	// kilnGrubDir is where kiln's GRUB reads its configuration on the ESP;
	// kilnGrubMarker starts every grub.cfg kiln writes, so a later build
	// knows it may write the file again.
	kilnGrubDir    = "/EFI/BOOT"
	kilnGrubMarker = "# Written by kiln"
)

// GRUB's platform directories as Debian installs them (grub-pc-bin,
// grub-efi-amd64-bin). Variables so tests can point them elsewhere.
var (
	grubPCDir  = "/usr/lib/grub/i386-pc"
	grubEFIDir = "/usr/lib/grub/x86_64-efi"
)

// The modules kiln's GRUB images carry: everything needed to find the ESP and
// the root by UUID on GPT, read FAT, ext4 and XFS, and boot Linux with a
// serial console, so nothing is loaded from disk at boot.
var (
	grubPCModules  = []string{"biosdisk", "part_gpt", "part_msdos", "fat", "ext2", "xfs", "normal", "linux", "boot", "search", "search_fs_uuid", "configfile", "echo", "test", "serial", "terminal", "gzio"}
	grubEFIModules = []string{"part_gpt", "part_msdos", "fat", "ext2", "xfs", "normal", "linux", "boot", "search", "search_fs_uuid", "configfile", "echo", "test", "serial", "terminal", "gzio", "efi_gop"}
)

// BootLayout describes a bootable disk to make.
type BootLayout struct {
	// Size is the disk's size in bytes, as for MakeRaw. On a parent's
	// layout the root, the last partition, ends where the disk does.
	Size int64
	// Label is the root filesystem's label when kiln lays the disk out.
	Label string
	// Parent is the parent image's raw disk, or "". When it carries a
	// bootloader (a BIOS boot partition or an ESP) and an ext4 or XFS (v5)
	// root that ends the disk, the new disk keeps its partition table, boot
	// code, boot partitions and root filesystem type, UUID and label;
	// otherwise kiln lays the disk out and installs its own GRUB.
	Parent string
	// Title names the GRUB menu entry kiln writes.
	Title string
}

// BootInfo describes a disk MakeBootable made.
type BootInfo struct {
	Info
	// ESPUUID is the ESP's FAT volume id (XXXX-XXXX), "" without an ESP.
	ESPUUID string
	// Kernel and Initrd are the paths inside the image the bootloader boots.
	Kernel, Initrd string
	// Firmware lists what the disk boots under: "bios", "uefi".
	Firmware []string
	// Bootloader says whose bootloader the disk carries: "parent", "kiln"
	// or "" (none).
	Bootloader string
	// Notes say what was chosen and why, for the build log.
	Notes []string
}

// MakeBootable writes a raw disk image at out holding the root tree, which
// boots on its own — without an external kernel — under a PC BIOS and under
// UEFI, to the image's own kernel (the newest FindKernel finds), with
// root=UUID=, a serial console (console=tty0 console=ttyS0) and an /etc/fstab
// that agrees.
//
// A parent that has a bootloader keeps it: the new disk is the parent's
// layout (partition table, protective MBR boot code, BIOS boot partition and
// ESP copied as they are, the root filesystem made again — ext4, or XFS
// through a loop mount (makeXFS) — with the parent's UUID and label, grown
// to the new size), and every GRUB configuration that
// names a kernel — /boot/grub/grub.cfg, /boot/grub2/grub.cfg in the root and
// grub.cfg files on the ESP — is rewritten for the image's kernel. Otherwise
// kiln installs Debian's GRUB, built without any device access: core.img
// (grub-mkimage -O i386-pc) in a BIOS boot partition with boot.img in the
// protective MBR pointing at it, the sector patching grub-install does, and a
// standalone GRUB at EFI/BOOT/BOOTX64.EFI on a FAT32 ESP made by mkfs.fat and
// filled by mtools. No loop device or mount is used, so this works wherever
// MakeRaw does; only an XFS root needs a loop mount, and where that fails the
// image gets kiln's layout with an ext4 root, the notes saying why. What a
// host lacks (GRUB's files, mtools) costs only that firmware, and the notes
// say so.
func MakeBootable(ctx context.Context, root, out string, l BootLayout) (BootInfo, error) {
	var bi BootInfo
	kernel, initrd, err := FindKernel(root)
	if err != nil {
		info, err := MakeRaw(ctx, root, out, Layout{Size: l.Size, Label: l.Label})
		bi.Info = info
		bi.Notes = append(bi.Notes, "no kernel in the image: the disk has no bootloader")
		return bi, err
	}
	if isARM64Image(kernel) {
		// kiln's GRUB images are for PC BIOS and x86-64 UEFI only.
		info, err := MakeRaw(ctx, root, out, Layout{Size: l.Size, Label: l.Label})
		bi.Info = info
		bi.Notes = append(bi.Notes, "the kernel is an arm64 Image, and kiln installs GRUB for x86-64 only: the disk has no bootloader")
		return bi, err
	}
	bi.Kernel = "/" + filepath.ToSlash(mustRel(root, kernel))
	if initrd != "" {
		bi.Initrd = "/" + filepath.ToSlash(mustRel(root, initrd))
	}
	var p *parentDisk
	if l.Parent != "" {
		var why string
		p, why = inspectParent(l.Parent)
		if p == nil {
			bi.Notes = append(bi.Notes, "the parent's disk: "+why+"; kiln installs its own GRUB")
		}
	}
	if l.Title == "" {
		l.Title = "Linux"
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return bi, err
	}
	tmpName := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	if p != nil {
		notes := len(bi.Notes)
		err = p.makeOn(ctx, root, tmpName, l, &bi)
		var loopErr *errLoopMount
		if errors.As(err, &loopErr) {
			// An XFS root needs a loop mount; without one the image gets
			// kiln's layout and an ext4 root, which boots all the same.
			// What makeOn noted of the parent's layout no longer holds.
			bi = BootInfo{Kernel: bi.Kernel, Initrd: bi.Initrd, Notes: append(bi.Notes[:notes],
				fmt.Sprintf("the parent's root is XFS, and %v; kiln installs its own GRUB and an ext4 root", loopErr))}
			p = nil
			if err = os.Truncate(tmpName, 0); err != nil {
				return bi, err
			}
		}
	}
	if p == nil {
		err = makeKilnLayout(ctx, root, tmpName, l, &bi)
	}
	if err != nil {
		return bi, err
	}
	if err := syncPath(tmpName); err != nil {
		return bi, err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return bi, err
	}
	done = true
	return bi, nil
}

func mustRel(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return rel
}

func syncPath(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// makeKilnLayout writes kiln's own layout: root (1) from 64 MiB to the end,
// BIOS boot (14) at 1 MiB, ESP (15) at 4 MiB, and kiln's GRUB.
func makeKilnLayout(ctx context.Context, root, img string, l BootLayout, bi *BootInfo) error {
	size := (l.Size + mib - 1) / mib * mib
	if size < bootRootStart+16*mib {
		size = bootRootStart + 16*mib
	}
	label := l.Label
	if label == "" {
		label = "root"
	}
	if len(label) > 16 {
		return fmt.Errorf("label %q: ext4 labels have at most 16 bytes", label)
	}
	if err := os.Truncate(img, size); err != nil {
		return err
	}
	sectors := size / sectorSize
	lastLBA := sectors - 2 - gptEntrySectors
	ids := make([]guid, 5)
	for i := range ids {
		g, err := newGUID()
		if err != nil {
			return err
		}
		ids[i] = g
	}
	diskID, rootID, biosID, espID, fsID := ids[0], ids[1], ids[2], ids[3], ids[4]
	bi.PartUUID = strings.ToLower(rootID.String())
	bi.FSUUID = strings.ToLower(fsID.String())
	bi.PartitionOffset = bootRootStart
	bi.PartitionSize = (lastLBA+1)*sectorSize - bootRootStart
	if err := makeExt4(ctx, root, img, bi.PartitionOffset, bi.PartitionSize, label, bi.FSUUID, size); err != nil {
		return err
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = writeGPT(f, sectors, diskID, []gptPartition{
		{typ: linuxFilesystemType, id: rootID, first: bootRootStart / sectorSize, end: lastLBA, name: label, num: 1},
		{typ: biosBootType, id: biosID, first: bootBIOSStart / sectorSize, end: bootESPStart/sectorSize - 1, name: "BIOS boot", num: biosBootNum},
		{typ: espType, id: espID, first: bootESPStart / sectorSize, end: bootRootStart/sectorSize - 1, name: "EFI System", num: espNum},
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// The ESP, then the two GRUB images that find it by its volume id.
	esp := Partition{Number: espNum, Offset: bootESPStart, Size: bootRootStart - bootESPStart}
	bios := Partition{Number: biosBootNum, Offset: bootBIOSStart, Size: bootESPStart - bootBIOSStart}
	volid, err := randomVolumeID()
	if err != nil {
		return err
	}
	espReady := false
	if err := makeESP(ctx, img, esp, volid); err != nil {
		bi.Notes = append(bi.Notes, "no ESP, so no UEFI boot: "+err.Error())
	} else {
		espReady = true
		bi.ESPUUID = fatUUID(volid)
	}
	bi.Bootloader = "kiln"
	if espReady {
		cfg := kilnGrubConfig(l.Title, bi.FSUUID, bi.Kernel, bi.Initrd)
		if err := mtoolsWrite(ctx, img, esp.Offset, kilnGrubDir+"/grub.cfg", []byte(cfg)); err != nil {
			return fmt.Errorf("writing grub.cfg on the ESP: %w", err)
		}
		if err := installGrubPC(ctx, img, bios, bi.ESPUUID); err != nil {
			bi.Notes = append(bi.Notes, "no BIOS boot: "+err.Error())
		} else {
			bi.Firmware = append(bi.Firmware, "bios")
		}
		if err := installGrubEFI(ctx, img, esp, bi.ESPUUID); err != nil {
			bi.Notes = append(bi.Notes, "no UEFI boot: "+err.Error())
		} else {
			bi.Firmware = append(bi.Firmware, "uefi")
		}
	}
	if len(bi.Firmware) > 0 {
		bi.Notes = append(bi.Notes, fmt.Sprintf("kiln's GRUB installed (%s): grub.cfg on the ESP boots %s with root=UUID=%s", strings.Join(bi.Firmware, ", "), bi.Kernel, bi.FSUUID))
	} else {
		bi.Bootloader = ""
	}
	return writeFstab(ctx, root, img, bi)
}

// writeFstab writes the image's /etc/fstab into the disk's root filesystem:
// the root and the ESP by UUID, then the tree's own entries for other mount
// points.
func writeFstab(ctx context.Context, root, img string, bi *BootInfo) error {
	old, _ := readFileIn(root, "etc/fstab")
	tab := fstabFor(string(old), bi.FSUUID, "ext4", bi.ESPUUID)
	tree, err := os.MkdirTemp("", "kiln-fstab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tree, "etc/fstab"), []byte(tab), 0o644); err != nil {
		return err
	}
	if bi.ESPUUID != "" {
		if err := os.MkdirAll(filepath.Join(tree, "boot/efi"), 0o755); err != nil {
			return err
		}
	}
	return addTreeExt4(ctx, img, bi.PartitionOffset, tree)
}

// fstabFor is old with the root's and the ESP's lines replaced by ones naming
// them by UUID. Other lines, comments included, are kept.
func fstabFor(old, rootUUID, rootFS, espUUID string) string {
	var b strings.Builder
	b.WriteString("# Written by kiln: the root and the ESP by filesystem UUID.\n")
	fmt.Fprintf(&b, "UUID=%s / %s defaults 0 1\n", rootUUID, rootFS)
	if espUUID != "" {
		fmt.Fprintf(&b, "UUID=%s /boot/efi vfat umask=0077,nofail 0 2\n", espUUID)
	}
	for _, line := range strings.Split(old, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") && (f[1] == "/" || f[1] == "/boot/efi") {
			continue
		}
		if strings.HasPrefix(line, "# Written by kiln") || strings.TrimSpace(line) == "" {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// kilnKernelArgs follow the root on the kernel command line of kiln's GRUB:
// the console on the screen and the first serial port, as cloud images
// have, and no_timer_check, as Fedora's cloud images have — the kernel's
// check that the IO-APIC delivers timer interrupts within a few busy-wait
// loops fails on a loaded host under software emulation ("IO-APIC + timer
// doesn't work!", a panic at boot); on KVM the kernel skips it by itself.
const kilnKernelArgs = "no_timer_check console=tty0 console=ttyS0,115200"

// kilnGrubConfig is the grub.cfg kiln writes on the ESP for its own GRUB.
func kilnGrubConfig(title, rootUUID, kernel, initrd string) string {
	title = strings.NewReplacer("'", "", "\n", " ").Replace(title)
	var b strings.Builder
	fmt.Fprintf(&b, "%s for the image's kernel; kiln writes it again when it builds an image on this one.\n", kilnGrubMarker)
	b.WriteString("serial --unit=0 --speed=115200\n")
	b.WriteString("terminal_input serial console\nterminal_output serial console\n")
	b.WriteString("set timeout=0\nset default=0\n")
	fmt.Fprintf(&b, "search --no-floppy --fs-uuid --set=root %s\n", rootUUID)
	fmt.Fprintf(&b, "menuentry '%s' {\n", title)
	fmt.Fprintf(&b, "\tlinux %s root=UUID=%s ro %s\n", kernel, rootUUID, kilnKernelArgs)
	if initrd != "" {
		fmt.Fprintf(&b, "\tinitrd %s\n", initrd)
	}
	b.WriteString("}\n")
	return b.String()
}

// earlyConfig is embedded in kiln's GRUB images: find the ESP by its volume
// id and read grub.cfg there (normal mode loads $prefix/grub.cfg).
func earlyConfig(espUUID string) string {
	return fmt.Sprintf("search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)%s\n", espUUID, kilnGrubDir)
}

func randomVolumeID() (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// fatUUID formats a FAT volume id as GRUB, blkid and fstab name it.
func fatUUID(id uint32) string {
	return fmt.Sprintf("%04X-%04X", id>>16, id&0xffff)
}

// makeESP formats the partition as FAT32 in place (mkfs.fat --offset).
func makeESP(ctx context.Context, img string, esp Partition, volid uint32) error {
	if _, err := exec.LookPath("mkfs.fat"); err != nil {
		return errors.New("mkfs.fat is not installed (apt-get install dosfstools)")
	}
	if _, err := exec.LookPath("mcopy"); err != nil {
		return errors.New("mtools is not installed (apt-get install mtools)")
	}
	return runTool(ctx, "mkfs.fat", "-F", "32", "-s", "1", "-n", "EFI", "-i", fmt.Sprintf("%08X", volid),
		"--offset", strconv.FormatInt(esp.Offset/sectorSize, 10), "-h", strconv.FormatInt(esp.Offset/sectorSize, 10),
		img, strconv.FormatInt(esp.Size/1024, 10))
}

// installGrubPC builds core.img for i386-pc, writes it into the BIOS boot
// partition and boot.img into the MBR, patched as grub-install's setup does:
// boot.img learns core.img's first sector, core.img's first sector
// (diskboot.img) the block list of the rest.
func installGrubPC(ctx context.Context, img string, bios Partition, espUUID string) error {
	core, err := grubImage(ctx, "i386-pc", grubPCDir, grubPCModules, espUUID)
	if err != nil {
		return err
	}
	bootImg, err := os.ReadFile(filepath.Join(grubPCDir, "boot.img"))
	if err != nil {
		return fmt.Errorf("GRUB's boot.img: %w (apt-get install grub-pc-bin)", err)
	}
	if len(bootImg) != sectorSize {
		return fmt.Errorf("GRUB's boot.img is %d bytes, want %d", len(bootImg), sectorSize)
	}
	if int64(len(core)) > bios.Size {
		return fmt.Errorf("core.img (%d bytes) does not fit the %d-byte BIOS boot partition", len(core), bios.Size)
	}
	if len(core) < sectorSize {
		return fmt.Errorf("core.img is only %d bytes", len(core))
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeGrubPC(f, bootImg, core, bios.Offset/sectorSize)
}

// Offsets in GRUB's i386-pc boot.img and diskboot.img (grub's
// include/grub/i386/pc/boot.h and the block list at the end of diskboot.img).
const (
	grubBPBStart     = 0x03  // boot.img keeps the disk's BIOS parameter block here
	grubBPBEnd       = 0x5a  // .. to here
	grubKernelSector = 0x5c  // u64: the LBA of core.img's first sector
	grubDriveCheck   = 0x66  // a 2-byte jump NOPed out for hard disks
	grubMBRKeepFrom  = 0x1b8 // disk signature and partition table: kept from the disk
	grubBlocklist    = 0x1f4 // diskboot.img's last block list entry: u64 start, u16 len, u16 segment
)

// writeGrubPC writes core (starting with diskboot.img) at LBA coreLBA and
// boot.img into sector 0 of w, keeping the disk's own partition table and
// BPB bytes.
func writeGrubPC(w interface {
	io.ReaderAt
	io.WriterAt
}, bootImg, core []byte, coreLBA int64) error {
	nsec := (len(core) + sectorSize - 1) / sectorSize
	if nsec-1 > 0xffff {
		return fmt.Errorf("core.img of %d sectors is too large", nsec)
	}
	core = append(bytes.Clone(core), make([]byte, nsec*sectorSize-len(core))...)
	bl := core[grubBlocklist : grubBlocklist+12]
	if seg := binary.LittleEndian.Uint16(bl[10:]); seg == 0 {
		return errors.New("core.img does not start with GRUB's diskboot.img (no block list)")
	}
	binary.LittleEndian.PutUint64(bl[0:], uint64(coreLBA+1))
	binary.LittleEndian.PutUint16(bl[8:], uint16(nsec-1))
	clear(core[grubBlocklist-12 : grubBlocklist]) // the terminator before it
	if _, err := w.WriteAt(core, coreLBA*sectorSize); err != nil {
		return err
	}
	mbr := make([]byte, sectorSize)
	if _, err := w.ReadAt(mbr, 0); err != nil {
		return err
	}
	boot := bytes.Clone(bootImg)
	copy(boot[grubBPBStart:grubBPBEnd], mbr[grubBPBStart:grubBPBEnd])
	copy(boot[grubMBRKeepFrom:], mbr[grubMBRKeepFrom:])
	binary.LittleEndian.PutUint64(boot[grubKernelSector:], uint64(coreLBA))
	boot[grubDriveCheck], boot[grubDriveCheck+1] = 0x90, 0x90
	_, err := w.WriteAt(boot, 0)
	return err
}

// installGrubEFI builds a standalone x86_64-efi GRUB and puts it where UEFI
// firmware looks on removable media: EFI/BOOT/BOOTX64.EFI.
func installGrubEFI(ctx context.Context, img string, esp Partition, espUUID string) error {
	efi, err := grubImage(ctx, "x86_64-efi", grubEFIDir, grubEFIModules, espUUID)
	if err != nil {
		return err
	}
	return mtoolsWrite(ctx, img, esp.Offset, kilnGrubDir+"/BOOTX64.EFI", efi)
}

// grubImage runs grub-mkimage for one platform with kiln's early config.
func grubImage(ctx context.Context, format, dir string, modules []string, espUUID string) ([]byte, error) {
	if _, err := os.Stat(filepath.Join(dir, "normal.mod")); err != nil {
		pkg := "grub-pc-bin"
		if strings.Contains(format, "efi") {
			pkg = "grub-efi-amd64-bin"
		}
		return nil, fmt.Errorf("GRUB's %s modules are not installed at %s (apt-get install %s)", format, dir, pkg)
	}
	if _, err := exec.LookPath("grub-mkimage"); err != nil {
		return nil, errors.New("grub-mkimage is not installed (apt-get install grub-common)")
	}
	tmp, err := os.MkdirTemp("", "kiln-grub-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cfg := filepath.Join(tmp, "early.cfg")
	if err := os.WriteFile(cfg, []byte(earlyConfig(espUUID)), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(tmp, "image")
	args := append([]string{"-d", dir, "-O", format, "-o", out, "-c", cfg, "-p", kilnGrubDir}, modules...)
	if err := runTool(ctx, "grub-mkimage", args...); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// mtoolsWrite writes data as the file p (slash path, directories made as
// needed) of the FAT filesystem at byte offset off of img.
func mtoolsWrite(ctx context.Context, img string, off int64, p string, data []byte) error {
	tmp, err := os.CreateTemp("", "kiln-esp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	image := fmt.Sprintf("%s@@%d", img, off)
	dir := ""
	for _, c := range strings.Split(strings.Trim(path.Dir(p), "/"), "/") {
		if c == "" {
			continue
		}
		dir += "/" + c
		// mmd fails when the directory exists; mcopy says so if it is missing.
		mtools(ctx, "mmd", "-D", "s", "-i", image, "::"+dir)
	}
	return mtools(ctx, "mcopy", "-o", "-i", image, tmp.Name(), "::"+p)
}

// mtoolsRead reads the file p of the FAT filesystem at offset off of img.
func mtoolsRead(ctx context.Context, img string, off int64, p string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "mtype", "-i", fmt.Sprintf("%s@@%d", img, off), "::"+p)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("mtype %s: %w: %s", p, err, strings.TrimSpace(stderr.String()))
	}
	return b, nil
}

// mtoolsList lists the regular files of the FAT filesystem at offset off.
func mtoolsList(ctx context.Context, img string, off int64) ([]string, error) {
	cmd := exec.CommandContext(ctx, "mdir", "-/", "-b", "-i", fmt.Sprintf("%s@@%d", img, off), "::/")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("mdir: %w", err)
	}
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if p, ok := strings.CutPrefix(line, "::"); ok && !strings.HasSuffix(p, "/") {
			files = append(files, p)
		}
	}
	return files, nil
}

func mtools(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runTool(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// readFileIn reads a regular file of the tree without following links out of it.
func readFileIn(root, rel string) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := r.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return r.ReadFile(rel)
}

// ext4Identity reads an ext2/3/4 superblock's UUID and volume label.
func ext4Identity(r io.ReaderAt, off int64) (uuid, label string, err error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, off+1024); err != nil {
		return "", "", err
	}
	if binary.LittleEndian.Uint16(sb[56:]) != 0xEF53 {
		return "", "", errors.New("not an ext2/3/4 filesystem")
	}
	u := hex.EncodeToString(sb[0x68:0x78])
	uuid = u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]
	label = string(bytes.TrimRight(sb[0x78:0x88], "\x00"))
	return uuid, label, nil
}

// fatIdentity reads a FAT volume id (FAT32 or FAT12/16 boot sector).
func fatIdentity(r io.ReaderAt, off int64) (string, error) {
	bs := make([]byte, sectorSize)
	if _, err := r.ReadAt(bs, off); err != nil {
		return "", err
	}
	if bs[510] != 0x55 || bs[511] != 0xAA {
		return "", errors.New("no FAT boot sector")
	}
	if string(bs[0x52:0x57]) == "FAT32" {
		return fatUUID(binary.LittleEndian.Uint32(bs[0x43:])), nil
	}
	return fatUUID(binary.LittleEndian.Uint32(bs[0x27:])), nil
}

// isARM64Image reports whether the file is an arm64 Linux kernel Image:
// its header carries the magic "ARM\x64" at offset 0x38.
func isARM64Image(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, 0x38); err != nil {
		return false
	}
	return string(b) == "ARM\x64"
}
