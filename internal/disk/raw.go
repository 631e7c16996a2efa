package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Layout describes a disk to make.
type Layout struct {
	// Size is the whole disk's size in bytes (the root volume's volumeSize GiB). It is
	// rounded up to a whole MiB and must leave room for the tree.
	Size int64
	// Label is the ext4 volume label, e.g. "kiln-root". It is also the GPT partition
	// name. Empty means "root".
	Label string
}

// Info describes a disk MakeRaw made.
type Info struct {
	PartUUID        string // the root partition's GPT unique GUID, lower case: root=PARTUUID=<PartUUID>
	FSUUID          string // the ext4 filesystem UUID: root=UUID=<FSUUID>
	PartitionOffset int64  // bytes from the start of the disk
	PartitionSize   int64  // bytes
}

const (
	mib = 1 << 20
	// partitionStart is where the root partition begins: 1 MiB, the alignment every
	// partitioning tool uses, which also leaves room for a BIOS boot loader later.
	partitionStart = mib
	fsBlockSize    = 4096
)

// MakeRaw writes a sparse raw disk image at out: a GPT with one Linux-filesystem
// partition from 1 MiB to the backup GPT, holding an ext4 filesystem populated from the
// directory root by `mkfs.ext4 -d` (which keeps ownership, modes including setuid,
// symlinks, hard links, extended attributes and device nodes). The filesystem is made
// directly inside the image file at the partition's offset (`-E offset=`), so making a
// disk needs no loop device and no privilege beyond reading root.
//
// The image is written to a temporary file next to out and renamed into place only
// when complete, so out is never half-written. It is created mode 0600: it holds a
// whole system, /etc/shadow included.
func MakeRaw(ctx context.Context, root, out string, l Layout) (Info, error) {
	var info Info
	if l.Size <= 0 {
		return info, fmt.Errorf("disk size %d: must be positive", l.Size)
	}
	size := (l.Size + mib - 1) / mib * mib
	if size < 4*mib {
		size = 4 * mib // GPT, 1 MiB alignment and the smallest useful ext4
	}
	label := l.Label
	if label == "" {
		label = "root"
	}
	if len(label) > 16 {
		return info, fmt.Errorf("label %q: ext4 labels have at most 16 bytes", label)
	}
	sectors := size / sectorSize
	firstLBA := int64(partitionStart / sectorSize)
	lastLBA := sectors - 2 - gptEntrySectors // last usable LBA, before the backup GPT
	info.PartitionOffset = partitionStart
	info.PartitionSize = (lastLBA - firstLBA + 1) * sectorSize

	diskID, err := newGUID()
	if err != nil {
		return info, err
	}
	partID, err := newGUID()
	if err != nil {
		return info, err
	}
	fsID, err := newGUID()
	if err != nil {
		return info, err
	}
	info.PartUUID = strings.ToLower(partID.String())
	info.FSUUID = strings.ToLower(fsID.String())

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return info, err
	}
	tmpName := tmp.Name()
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Truncate(size); err != nil {
		return info, err
	}
	if err := makeExt4(ctx, root, tmpName, info.PartitionOffset, info.PartitionSize, label, info.FSUUID, size); err != nil {
		return info, err
	}

	// Written after mkfs so nothing mkfs does near its own offset can touch it.
	if err := writeGPT(tmp, sectors, diskID, []gptPartition{{
		typ: linuxFilesystemType, id: partID, first: firstLBA, end: lastLBA, name: label,
	}}); err != nil {
		return info, err
	}
	if err := tmp.Sync(); err != nil {
		return info, err
	}
	if err := tmp.Close(); err != nil {
		return info, err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return info, err
	}
	done = true
	return info, nil
}

// treeUsage is what a tree needs at least: data blocks and inodes.
type treeUsage struct {
	blocks, inodes int64
}

// measureTree counts the tree's inodes and the blocks its regular files occupy, each
// hard-linked file once. It is a floor used to refuse a disk that cannot possibly hold
// the tree with a clear message, before mkfs.ext4 is run.
func measureTree(ctx context.Context, root string) (treeUsage, error) {
	var u treeUsage
	type ino struct{ dev, ino uint64 }
	seen := map[ino]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !fi.IsDir() {
			k := ino{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.inodes++
		if fi.Mode().IsRegular() {
			u.blocks += (fi.Size() + fsBlockSize - 1) / fsBlockSize
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return u, fmt.Errorf("reading tree %s: %w", root, err)
	}
	return u, err
}

// makeExt4 makes an ext4 filesystem of partSize bytes at offset off inside the
// image file img, populated from the directory root by `mkfs.ext4 -d`, with the
// given label and filesystem UUID. diskSize is only for messages.
func makeExt4(ctx context.Context, root, img string, off, partSize int64, label, fsUUID string, diskSize int64) error {
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("root tree: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("root tree %s is not a directory", root)
	}
	// mkfs.ext4 1.47.0 -d gives the filesystem's top directory a fixed 0755 and the
	// owner from root_owner; the tree's own top directory owner and mode are carried
	// over explicitly (the mode by debugfs below, in the rare case it is not 0755).
	var rootUID, rootGID uint32
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		rootUID, rootGID = sys.Uid, sys.Gid
	}
	rootMode := uint32(st.Mode().Perm())
	if st.Mode()&fs.ModeSetuid != 0 {
		rootMode |= syscall.S_ISUID
	}
	if st.Mode()&fs.ModeSetgid != 0 {
		rootMode |= syscall.S_ISGID
	}
	if st.Mode()&fs.ModeSticky != 0 {
		rootMode |= syscall.S_ISVTX
	}

	fsBlocks := partSize / fsBlockSize

	usage, err := measureTree(ctx, root)
	if err != nil {
		return err
	}
	if usage.blocks > fsBlocks {
		return fmt.Errorf("tree %s needs at least %d MiB of file data; a %d MiB disk cannot hold it", root, usage.blocks*fsBlockSize/mib+1, diskSize/mib)
	}

	// Inodes: the default ratio (one per 16 KiB) unless the tree needs more, as a
	// small disk holding many small files can.
	inodes := fsBlocks * fsBlockSize / 16384
	if need := usage.inodes + usage.inodes/4 + 64; need > inodes {
		inodes = need
	}
	args := []string{
		"-F", "-q",
		"-t", "ext4",
		"-b", strconv.Itoa(fsBlockSize),
		"-N", strconv.FormatInt(inodes, 10),
		"-L", label,
		"-U", fsUUID,
		// Discard stays on: on a regular file it punches holes, which tells mke2fs the
		// inode tables and journal already read as zeros, so it neither writes them
		// (keeping the file sparse) nor leaves them for the guest kernel to zero at boot.
		// The file is fresh, so nothing of value can be discarded; the GPT comes after.
		// lazy_journal_init: the journal already reads as zeros in a fresh file, and
		// zeroing it would allocate (as unwritten extents) 32+ MiB of host disk.
		"-E", fmt.Sprintf("offset=%d,lazy_journal_init=1,root_owner=%d:%d", off, rootUID, rootGID),
		"-d", root,
		img,
		strconv.FormatInt(fsBlocks*fsBlockSize/1024, 10) + "k",
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", args...)
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(outBuf.String())
		if strings.Contains(msg, "Could not allocate") || strings.Contains(msg, "No space left") {
			return fmt.Errorf("tree %s does not fit a %d MiB disk: mkfs.ext4: %s", root, diskSize/mib, msg)
		}
		return fmt.Errorf("mkfs.ext4: %w: %s", err, msg)
	}

	if rootMode != 0o755 {
		fsPath := fmt.Sprintf("%s?offset=%d", img, off)
		cmd := exec.CommandContext(ctx, "debugfs", "-w", "-R", fmt.Sprintf("set_inode_field / mode 0%o", syscall.S_IFDIR|rootMode), fsPath)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("debugfs setting the root directory's mode: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}

	return nil
}
