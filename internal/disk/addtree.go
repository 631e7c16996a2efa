package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// CopyWithTree writes a copy of the raw disk src at dst (sparse) with the
// files of the host directory tree added to its root filesystem, replacing
// files of the same name — a throwaway variant of an image, such as its
// test copy with an agent in it, made without writing the whole
// filesystem again. Directories of tree that exist in the image are
// merged; regular files and symlinks are written, owned by root, with
// tree's modes. It returns the root partition's PARTUUID.
//
// An ext4 filesystem is edited with debugfs at the partition's offset, so
// no loop device or mount is involved; an XFS one (see makeXFS) is mounted
// through a loop device bound to the partition's byte range.
func CopyWithTree(ctx context.Context, src, dst, tree string) (string, error) {
	cp := exec.CommandContext(ctx, "cp", "--sparse=always", "--reflink=auto", src, dst)
	if out, err := cp.CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying %s: %w: %s", src, err, strings.TrimSpace(string(out)))
	}
	f, err := os.Open(dst)
	if err != nil {
		return "", err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return "", err
	}
	parts, err := ReadPartitions(f, fi.Size())
	f.Close()
	if err != nil {
		return "", err
	}
	root, ok := rootPartition(parts)
	if !ok || !isLinuxType(root.Type) {
		return "", errors.New("the disk has no Linux root partition")
	}
	f, err = os.Open(dst)
	if err != nil {
		return "", err
	}
	fstype, _ := detectFilesystem(f, root.Offset)
	f.Close()
	if fstype == "xfs" {
		err = addTreeXFS(ctx, dst, root.Offset, root.Size, tree)
	} else {
		err = addTreeExt4(ctx, dst, root.Offset, tree)
	}
	if err != nil {
		return "", err
	}
	return strings.ToLower(root.UUID), nil
}

// addTreeExt4 writes the files of the host directory tree into the ext4
// filesystem at byte offset off of the image file img, with debugfs (see
// CopyWithTree for what is written how).
func addTreeExt4(ctx context.Context, img string, off int64, tree string) error {
	var script bytes.Buffer
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == tree {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		target := "/" + filepath.ToSlash(rel)
		if strings.ContainsAny(target, "\"\n") {
			return fmt.Errorf("cannot add %q: the name has a quote or newline", target)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			// mkdir fails harmlessly when the directory exists.
			fmt.Fprintf(&script, "mkdir \"%s\"\n", target)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&script, "rm \"%s\"\nsymlink \"%s\" \"%s\"\n", target, target, link)
		case info.Mode().IsRegular():
			fmt.Fprintf(&script, "rm \"%s\"\ncd \"%s\"\nwrite \"%s\" \"%s\"\ncd /\n", target, path.Dir(target), p, path.Base(target))
			fmt.Fprintf(&script, "sif \"%s\" mode 0%o\nsif \"%s\" uid 0\nsif \"%s\" gid 0\n",
				target, 0o100000|uint32(info.Mode().Perm()), target, target)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fsPath := fmt.Sprintf("%s?offset=%d", img, off)
	cmd := exec.CommandContext(ctx, "debugfs", "-w", "-f", "-", fsPath)
	cmd.Stdin = &script
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debugfs: %w: %s", err, strings.TrimSpace(out.String()))
	}
	// debugfs reports per-command problems on its output and exits 0;
	// the ones that matter are writes that did not happen.
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "write:") || strings.Contains(line, "No free space") || strings.Contains(line, "Could not allocate") {
			return fmt.Errorf("debugfs: %s", line)
		}
	}
	return nil
}
