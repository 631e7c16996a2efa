package machine

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/disk"
)

// makeBootable writes an image's disk so that it boots on its own under
// BIOS and UEFI firmware (disk.MakeBootable): on the parent's layout and
// bootloader when the parent's disk has one, else with kiln's GRUB. What
// was chosen, and why, goes to the build's log: hosts differ in what they
// can install.
func (x *Executor) makeBootable(ctx context.Context, root, out, parent string, size int64, log io.Writer) (disk.Info, error) {
	bi, err := disk.MakeBootable(ctx, root, out, disk.BootLayout{Size: size, Label: "kiln-root", Parent: parent, Title: "kiln image"})
	for _, n := range bi.Notes {
		fmt.Fprintf(log, "boot: %s\n", n)
	}
	if err != nil {
		return bi.Info, err
	}
	switch {
	case len(bi.Firmware) == 0:
		fmt.Fprintf(log, "boot: the disk has no bootloader; it boots only with an external kernel\n")
	default:
		fmt.Fprintf(log, "boot: the disk boots on its own under %s (%s's bootloader), kernel %s, root=UUID=%s\n",
			strings.Join(bi.Firmware, " and "), bi.Bootloader, bi.Kernel, bi.FSUUID)
	}
	return bi.Info, nil
}

// parentDisk is the disk of a build's parent AMI: the parent's root
// filesystem reference is "REPOSITORY@DIGEST" and disks are named by
// digest. "" when the reference names no digest.
func (x *Executor) parentDisk(ref string) string {
	_, digest, ok := strings.Cut(ref, "@")
	if !ok || digest == "" {
		return ""
	}
	// With a shared blob store the parent may have been built on another
	// node; without its disk the build falls back to kiln's own layout,
	// as it always has for a parent whose disk is gone.
	path, err := x.disks().Local(context.Background(), ami.DiskPath(digest))
	if err != nil {
		return filepath.Join(x.DataDir, ami.DiskPath(digest))
	}
	return path
}
