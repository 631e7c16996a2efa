package disk

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// parentDisk is a parent image's disk whose boot layout a new disk keeps.
type parentDisk struct {
	path       string
	size       int64
	diskID     guid
	parts      []Partition
	root       Partition
	rootUUID   string
	rootLabel  string
	rootFS     string      // "ext4" or "xfs"
	xfsFeat    xfsFeatures // the XFS root's features, to make again
	bios, esp  *Partition
	bootCode   []byte // sector 0 up to the disk signature: the MBR's boot code
	bootStatus byte   // the protective MBR entry's status byte
}

// inspectParent reads a parent's disk. It returns nil and the reason when
// the disk has no bootloader to keep, or one kiln cannot keep.
func inspectParent(p string) (*parentDisk, string) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err.Error()
	}
	pd := &parentDisk{path: p, size: fi.Size()}
	hdr := make([]byte, sectorSize)
	if _, err := f.ReadAt(hdr, sectorSize); err != nil || string(hdr[0:8]) != gptSignature {
		return nil, "no GPT with 512-byte sectors, so no boot partitions to keep"
	}
	pd.diskID = guidFromDisk(hdr[56:72])
	if pd.parts, err = ReadPartitions(f, pd.size); err != nil {
		return nil, err.Error()
	}
	for i := range pd.parts {
		switch pd.parts[i].Type {
		case biosBootType.String():
			pd.bios = &pd.parts[i]
		case espType.String():
			pd.esp = &pd.parts[i]
		}
	}
	if pd.bios == nil && pd.esp == nil {
		return nil, "no BIOS boot partition and no ESP, so no bootloader"
	}
	root, ok := rootPartition(pd.parts)
	if !ok || !isLinuxType(root.Type) {
		return nil, "no Linux root partition"
	}
	pd.root = root
	fstype, _ := detectFilesystem(f, root.Offset)
	switch fstype {
	case "ext4":
		pd.rootUUID, pd.rootLabel, err = ext4Identity(f, root.Offset)
	case "xfs":
		pd.rootUUID, pd.rootLabel, pd.xfsFeat, err = xfsIdentity(f, root.Offset)
	default:
		if fstype == "" {
			fstype = "an unknown filesystem"
		}
		return nil, fmt.Sprintf("its root (partition %d) is %s, and kiln writes ext4 and XFS roots only", root.Number, fstype)
	}
	if err != nil {
		return nil, fmt.Sprintf("its root (partition %d): %v", root.Number, err)
	}
	pd.rootFS = fstype
	for _, q := range pd.parts {
		if q.Number != root.Number && q.Offset+q.Size > root.Offset {
			return nil, fmt.Sprintf("partition %d lies after the root, which then cannot grow", q.Number)
		}
	}
	mbr := make([]byte, sectorSize)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return nil, err.Error()
	}
	pd.bootCode = mbr[:grubMBRKeepFrom]
	pd.bootStatus = mbr[446]
	return pd, ""
}

// makeOn writes the new disk on the parent's layout (see MakeBootable).
func (pd *parentDisk) makeOn(ctx context.Context, root, img string, l BootLayout, bi *BootInfo) error {
	// The root is made again from the tree, so the disk may be smaller than
	// the parent's as long as the partitions before the root fit; the tree
	// not fitting the root is makeExt4's error.
	size := (l.Size + mib - 1) / mib * mib
	if floor := (pd.root.Offset + 16*mib + mib - 1) / mib * mib; size < floor {
		size = floor
	}
	if err := os.Truncate(img, size); err != nil {
		return err
	}
	sectors := size / sectorSize
	lastLBA := sectors - 2 - gptEntrySectors
	bi.PartUUID = pd.root.UUID
	bi.FSUUID = pd.rootUUID
	bi.PartitionOffset = pd.root.Offset
	bi.PartitionSize = (lastLBA+1)*sectorSize - pd.root.Offset
	bi.Bootloader = "parent"
	label := pd.rootLabel
	if label == "" {
		label = l.Label
	}
	// The root's GRUB configurations, pointed at the image's kernel, are
	// written with the root filesystem (XFS) or into it afterwards (ext4).
	rootCfgs := map[string][]byte{}
	for _, rel := range []string{"boot/grub/grub.cfg", "boot/grub2/grub.cfg"} {
		old, err := readFileIn(root, rel)
		if err != nil {
			continue
		}
		cfg, was := patchGrubConfig(string(old), bi.Kernel, bi.Initrd)
		if was == "" {
			continue
		}
		bi.Notes = append(bi.Notes, fmt.Sprintf("/%s: %s → %s", rel, was, path.Base(bi.Kernel)))
		rootCfgs[rel] = []byte(cfg)
	}
	if pd.rootFS == "xfs" {
		if len(label) > 12 {
			label = label[:12] // XFS labels hold 12 bytes
		}
		if err := makeXFS(ctx, root, img, bi.PartitionOffset, bi.PartitionSize, label, bi.FSUUID, pd.xfsFeat, rootCfgs); err != nil {
			return err
		}
	} else if err := makeExt4(ctx, root, img, bi.PartitionOffset, bi.PartitionSize, label, bi.FSUUID, size); err != nil {
		return err
	}

	src, err := os.Open(pd.path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	var gpt []gptPartition
	first := pd.root.Offset
	for _, q := range pd.parts {
		first = min(first, q.Offset)
		typ, err := parseGUID(q.Type)
		if err != nil {
			return err
		}
		id, err := parseGUID(q.UUID)
		if err != nil {
			return err
		}
		e := gptPartition{typ: typ, id: id, first: q.Offset / sectorSize, end: (q.Offset+q.Size)/sectorSize - 1, name: q.Name, num: q.Number, attrs: q.Attributes}
		if q.Number == pd.root.Number {
			e.end = lastLBA
		} else if err := copyRangeSparse(dst, src, q.Offset, q.Size); err != nil {
			return fmt.Errorf("copying the parent's partition %d: %w", q.Number, err)
		}
		gpt = append(gpt, e)
	}
	// What lies between the GPT and the first partition (some layouts keep
	// boot code there), then the table itself and the MBR's boot code.
	if gap := int64(2+gptEntrySectors) * sectorSize; first > gap {
		if err := copyRangeSparse(dst, src, gap, first-gap); err != nil {
			return err
		}
	}
	if err := writeGPT(dst, sectors, pd.diskID, gpt); err != nil {
		return err
	}
	if _, err := dst.WriteAt(pd.bootCode, 0); err != nil {
		return err
	}
	if _, err := dst.WriteAt([]byte{pd.bootStatus}, 446); err != nil {
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}

	if pd.bios != nil && !allZero(pd.bootCode) {
		bi.Firmware = append(bi.Firmware, "bios")
	}
	kilnOwned := false
	if pd.esp != nil {
		if id, err := fatIdentity(src, pd.esp.Offset); err == nil {
			bi.ESPUUID = id
		}
		files, err := mtoolsList(ctx, img, pd.esp.Offset)
		if err != nil {
			bi.Notes = append(bi.Notes, "the ESP could not be read: "+err.Error())
		}
		for _, f := range files {
			if strings.EqualFold(f, "/EFI/BOOT/BOOTX64.EFI") {
				bi.Firmware = append(bi.Firmware, "uefi")
			}
			if !strings.EqualFold(path.Base(f), "grub.cfg") {
				continue
			}
			old, err := mtoolsRead(ctx, img, pd.esp.Offset, f)
			if err != nil {
				return err
			}
			var cfg string
			if strings.HasPrefix(string(old), kilnGrubMarker) {
				kilnOwned = true
				bi.Bootloader = "kiln"
				cfg = kilnGrubConfig(l.Title, bi.FSUUID, bi.Kernel, bi.Initrd)
			} else {
				var was string
				if cfg, was = patchGrubConfig(string(old), bi.Kernel, bi.Initrd); was != "" {
					bi.Notes = append(bi.Notes, fmt.Sprintf("ESP %s: %s → %s", f, was, path.Base(bi.Kernel)))
				}
			}
			if cfg != string(old) {
				if err := mtoolsWrite(ctx, img, pd.esp.Offset, f, []byte(cfg)); err != nil {
					return err
				}
			}
		}
	}
	if len(rootCfgs) > 0 && pd.rootFS == "ext4" {
		tree, err := os.MkdirTemp("", "kiln-bootcfg-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tree)
		for rel, cfg := range rootCfgs {
			if err := os.MkdirAll(filepath.Join(tree, path.Dir(rel)), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tree, rel), cfg, 0o644); err != nil {
				return err
			}
		}
		if err := addTreeExt4(ctx, img, bi.PartitionOffset, tree); err != nil {
			return err
		}
	}
	who := "the parent's"
	if kilnOwned {
		who = "kiln's (from the parent)"
	}
	bi.Notes = append(bi.Notes, fmt.Sprintf("kept %s bootloader and layout (%s): partitions %s, %s root filesystem %s as partition %d",
		who, strings.Join(bi.Firmware, ", "), partitionNumbers(pd.parts), pd.rootFS, bi.FSUUID, pd.root.Number))
	if kilnOwned && pd.rootFS == "ext4" {
		// kiln lays out ext4 roots only, so a kiln-owned GRUB sits over one.
		return writeFstab(ctx, root, img, bi)
	}
	return nil
}

func partitionNumbers(parts []Partition) string {
	var s []string
	for _, p := range parts {
		s = append(s, fmt.Sprint(p.Number))
	}
	return strings.Join(s, ", ")
}

// patchGrubConfig points a GRUB configuration's kernel and initrd at the
// image's own: the first `linux` line names the kernel the configuration
// boots; when its file name differs from the image's kernel, its version (or
// else its file name, and the first initrd's) is replaced throughout, so
// menu titles follow. It returns cfg unchanged and "" when there is nothing
// to do, else the new text and the kernel file name it replaced.
func patchGrubConfig(cfg, kernel, initrd string) (string, string) {
	var oldKernel, oldInitrd string
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "linux", "linux16", "linuxefi":
			if oldKernel == "" {
				oldKernel = path.Base(f[1])
			}
		case "initrd", "initrd16", "initrdefi":
			if oldInitrd == "" {
				oldInitrd = path.Base(f[1])
			}
		}
	}
	newKernel := path.Base(kernel)
	if oldKernel == "" || oldKernel == newKernel {
		return cfg, ""
	}
	oldVer, ok1 := strings.CutPrefix(oldKernel, "vmlinuz-")
	newVer, ok2 := strings.CutPrefix(newKernel, "vmlinuz-")
	if ok1 && ok2 && oldVer != "" && newVer != "" {
		return strings.ReplaceAll(cfg, oldVer, newVer), oldKernel
	}
	out := strings.ReplaceAll(cfg, oldKernel, newKernel)
	if oldInitrd != "" && initrd != "" {
		out = strings.ReplaceAll(out, oldInitrd, path.Base(initrd))
	}
	return out, oldKernel
}

// copyRangeSparse copies n bytes at off from src to dst, skipping blocks of
// zeros so a mostly empty partition stays sparse in dst.
func copyRangeSparse(dst io.WriterAt, src io.ReaderAt, off, n int64) error {
	buf := make([]byte, 1<<16)
	for done := int64(0); done < n; {
		chunk := buf[:min(int64(len(buf)), n-done)]
		if _, err := src.ReadAt(chunk, off+done); err != nil && err != io.EOF {
			return err
		}
		if !allZero(chunk) {
			if _, err := dst.WriteAt(chunk, off+done); err != nil {
				return err
			}
		}
		done += int64(len(chunk))
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// DescribeBoot says what an imported disk boots with, as kiln will treat it
// when building on it: the boot partitions it keeps, or why kiln installs its
// own GRUB in the images built on it.
func DescribeBoot(raw string) string {
	pd, why := inspectParent(raw)
	if pd == nil {
		return why + ": images built on it get kiln's GRUB"
	}
	var have []string
	if pd.bios != nil {
		have = append(have, fmt.Sprintf("BIOS boot partition %d", pd.bios.Number))
	}
	if pd.esp != nil {
		have = append(have, fmt.Sprintf("ESP partition %d", pd.esp.Number))
	}
	article := "an ext4"
	if pd.rootFS == "xfs" {
		article = "an XFS"
	}
	return fmt.Sprintf("%s and %s root (partition %d): images built on it keep this layout and bootloader", strings.Join(have, ", "), article, pd.root.Number)
}

// BootFirmware lists the firmwares ("bios", "uefi") a disk boots under on
// its own, from what is on it: a BIOS boot partition with boot code in the
// MBR, an ESP with EFI/BOOT/BOOTX64.EFI. It is what MakeBootable reported
// when it wrote the disk, read again for a disk written by an earlier build.
func BootFirmware(ctx context.Context, raw string) []string {
	pd, _ := inspectParent(raw)
	if pd == nil {
		return nil
	}
	var fw []string
	if pd.bios != nil && !allZero(pd.bootCode) {
		fw = append(fw, "bios")
	}
	if pd.esp != nil {
		files, _ := mtoolsList(ctx, raw, pd.esp.Offset)
		for _, f := range files {
			if strings.EqualFold(f, "/EFI/BOOT/BOOTX64.EFI") {
				fw = append(fw, "uefi")
				break
			}
		}
	}
	return fw
}
