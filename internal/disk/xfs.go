package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// xfsFeatures are the XFS v5 feature bits a child's root copies from its
// parent's, so that the parent's GRUB, which may predate a feature mkfs.xfs
// now turns on by default, still reads the child's /boot.
type xfsFeatures struct {
	bigtime, inobtcount, reflink, finobt, sparse, rmapbt bool
}

// xfsIdentity reads an XFS superblock's UUID, label and v5 features.
// The superblock is big-endian: the UUID at 32, the label at 108, the
// feature words (v5 only) at 212 (read-only compatible) and 216
// (incompatible).
func xfsIdentity(r io.ReaderAt, off int64) (uuid, label string, feat xfsFeatures, err error) {
	sb := make([]byte, 512)
	if _, err := r.ReadAt(sb, off); err != nil {
		return "", "", feat, err
	}
	if string(sb[:4]) != "XFSB" {
		return "", "", feat, errors.New("not an XFS filesystem")
	}
	if binary.BigEndian.Uint16(sb[100:])&0xf != 5 {
		return "", "", feat, errors.New("an XFS filesystem older than version 5, which mkfs.xfs no longer makes")
	}
	u := hex.EncodeToString(sb[32:48])
	uuid = u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]
	label = string(bytes.TrimRight(sb[108:120], "\x00"))
	ro, inc := binary.BigEndian.Uint32(sb[212:]), binary.BigEndian.Uint32(sb[216:])
	feat = xfsFeatures{
		finobt: ro&1 != 0, rmapbt: ro&2 != 0, reflink: ro&4 != 0, inobtcount: ro&8 != 0,
		sparse: inc&2 != 0, bigtime: inc&8 != 0,
	}
	return uuid, label, feat, nil
}

func (f xfsFeatures) mkfsArgs() []string {
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	// inobtcount needs finobt; mkfs.xfs refuses the combination otherwise.
	return []string{
		"-m", fmt.Sprintf("bigtime=%d,inobtcount=%d,reflink=%d,finobt=%d,rmapbt=%d", b(f.bigtime), b(f.inobtcount && f.finobt), b(f.reflink), b(f.finobt), b(f.rmapbt)),
		"-i", fmt.Sprintf("sparse=%d", b(f.sparse)),
	}
}

// errLoopMount is why an XFS root could not be written on this host: Debian
// 12's mkfs.xfs cannot populate a filesystem from a directory, so kiln
// mounts it through a loop device, which some hosts (containers without
// /dev/loop-control, kernels without XFS) do not allow.
type errLoopMount struct{ err error }

func (e *errLoopMount) Error() string {
	return "mounting a new XFS filesystem through a loop device failed: " + e.err.Error()
}

func (e *errLoopMount) Unwrap() error { return e.err }

// makeXFS makes an XFS filesystem of partSize bytes at offset off inside
// img, with the given UUID, label and features, holding the root tree and
// then the files (relative path → content) of overrides.
//
// mkfs.xfs runs on a sparse file of its own, which is mounted through a
// loop device bound to that file (no partition nodes needed); the tree is
// copied in by cp -a, which keeps ownership, modes, timestamps, xattrs,
// hard links, device nodes and symlinks; the file is then copied into img
// at off, data extents only, so img stays sparse. When the loop mount fails,
// the error is an *errLoopMount.
func makeXFS(ctx context.Context, root, img string, off, partSize int64, label, fsUUID string, feat xfsFeatures, overrides map[string][]byte) error {
	fsFile, err := os.CreateTemp(filepath.Dir(img), "."+filepath.Base(img)+".xfs-*")
	if err != nil {
		return err
	}
	defer os.Remove(fsFile.Name())
	defer fsFile.Close()
	if err := fsFile.Truncate(partSize); err != nil {
		return err
	}
	args := append([]string{"-q", "-f", "-L", label}, feat.mkfsArgs()...)
	args = append(args, "-m", "uuid="+fsUUID, fsFile.Name())
	if err := runTool(ctx, "mkfs.xfs", args...); err != nil {
		return err
	}

	err = privateLoopMounts(func() error {
		if err := fillXFS(ctx, fsFile, partSize, root, overrides); err != nil {
			return err
		}
		return checkXFSRoot(fsFile, partSize, root)
	})
	if err != nil {
		return err
	}

	dst, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := copyDataExtents(dst, fsFile, off, partSize); err != nil {
		return fmt.Errorf("placing the XFS root at offset %d: %w", off, err)
	}
	return dst.Close()
}

// testHookMounted, when a test sets it, runs while fillXFS and
// addTreeXFS have their filesystem mounted.
var testHookMounted func()

// fillXFS mounts the new XFS filesystem in fsFile through a loop device,
// copies the tree and the overrides into it and unmounts it, which writes
// it out to fsFile. It runs under PrivateMounts.
func fillXFS(ctx context.Context, fsFile *os.File, partSize int64, root string, overrides map[string][]byte) error {
	loop, err := attachLoop(fsFile, 0, partSize, false)
	if err != nil {
		return &errLoopMount{err}
	}
	defer loop.Close()
	dir, err := os.MkdirTemp("", "kiln-xfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	// nouuid: the parent's own root, with the same UUID, may be mounted.
	if err := unix.Mount(loop.Name(), dir, "xfs", 0, "nouuid"); err != nil {
		return &errLoopMount{fmt.Errorf("mount %s: %w", loop.Name(), err)}
	}
	mounted := true
	defer func() {
		if mounted {
			unmount(dir)
		}
	}()
	if testHookMounted != nil {
		testHookMounted()
	}
	cmd := exec.CommandContext(ctx, "cp", "-a", "--", root+"/.", dir+"/")
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "No space left") {
			return fmt.Errorf("tree %s does not fit a %d MiB XFS root: %s", root, partSize/mib, firstLine(msg))
		}
		return fmt.Errorf("copying the tree into the XFS root: %w: %s", err, firstLine(msg))
	}
	for rel, data := range overrides {
		// Written in place, so the file keeps its owner and mode.
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
			return err
		}
	}
	mounted = false
	if err := unmount(dir); err != nil {
		return err
	}
	return loop.Close()
}

// checkXFSRoot mounts the XFS filesystem in fsFile read-only, as it was
// written out, and checks that its root directory holds every name the
// tree's does: a root that did not reach the file (see PrivateMounts) is
// refused here rather than shipped in an image that cannot boot.
func checkXFSRoot(fsFile *os.File, partSize int64, root string) error {
	want, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	loop, err := attachLoop(fsFile, 0, partSize, true)
	if err != nil {
		return &errLoopMount{err}
	}
	defer loop.Close()
	dir, err := os.MkdirTemp("", "kiln-xfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := mountFS(loop.Name(), dir, "xfs", unix.MS_RDONLY); err != nil {
		return &errLoopMount{fmt.Errorf("mount %s read-only: %w", loop.Name(), err)}
	}
	got, err := os.ReadDir(dir)
	if uerr := unmount(dir); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(got))
	for _, e := range got {
		have[e.Name()] = true
	}
	for _, e := range want {
		if !have[e.Name()] {
			return fmt.Errorf("the XFS root as written out lacks /%s (%d of the tree's %d top-level entries are there)", e.Name(), len(got), len(want))
		}
	}
	return nil
}

// addTreeXFS writes the files of the host directory tree into the XFS
// filesystem of size bytes at offset off of img, mounted through a loop
// device bound to that range (see CopyWithTree).
func addTreeXFS(ctx context.Context, img string, off, size int64, tree string) error {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return privateLoopMounts(func() error { return addTreeXFSMounted(ctx, f, off, size, tree) })
}

// addTreeXFSMounted is addTreeXFS's work under PrivateMounts.
func addTreeXFSMounted(ctx context.Context, f *os.File, off, size int64, tree string) error {
	loop, err := attachLoop(f, off, size, false)
	if err != nil {
		return &errLoopMount{err}
	}
	defer loop.Close()
	dir, err := os.MkdirTemp("", "kiln-xfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount(loop.Name(), dir, "xfs", 0, "nouuid"); err != nil {
		return &errLoopMount{fmt.Errorf("mount %s: %w", loop.Name(), err)}
	}
	if testHookMounted != nil {
		testHookMounted()
	}
	out, cerr := exec.CommandContext(ctx, "cp", "-RP", "--remove-destination", "--preserve=mode,timestamps", "--", tree+"/.", dir+"/").CombinedOutput()
	if err := unmount(dir); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("copying into the XFS root: %w: %s", cerr, firstLine(strings.TrimSpace(string(out))))
	}
	return loop.Close()
}

// copyDataExtents copies the first n bytes of src to dst at off, only the
// ranges SEEK_DATA finds, by copy_file_range (which on one filesystem may
// share or offload the copy), falling back to read and write.
func copyDataExtents(dst, src *os.File, off, n int64) error {
	for pos := int64(0); pos < n; {
		data, err := unix.Seek(int(src.Fd()), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole remains
		}
		if err != nil {
			return err
		}
		if data >= n {
			return nil
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		hole = min(hole, n)
		for data < hole {
			inOff, outOff := data, data+off
			w, err := unix.CopyFileRange(int(src.Fd()), &inOff, int(dst.Fd()), &outOff, int(hole-data), 0)
			if err != nil || w == 0 {
				if err := copyRangeAt(dst, src, data, data+off, hole-data); err != nil {
					return err
				}
				break
			}
			data += int64(w)
		}
		pos = hole
	}
	return nil
}

func copyRangeAt(dst io.WriterAt, src io.ReaderAt, from, to, n int64) error {
	_, err := io.Copy(io.NewOffsetWriter(dst, to), io.NewSectionReader(src, from, n))
	return err
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
