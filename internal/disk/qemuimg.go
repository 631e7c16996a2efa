package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// imageInfo is the part of `qemu-img info --output json` kiln looks at.
type imageInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
	FormatSpecific  struct {
		Data struct {
			DataFile string `json:"data-file"`
		} `json:"data"`
	} `json:"format-specific"`
}

// qemuPath makes a path qemu-img cannot mistake for a protocol ("nbd:…") or a
// "json:{…}" specification: an absolute path never is one.
func qemuPath(p string) (string, error) {
	return filepath.Abs(p)
}

func runQemuImg(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("qemu-img %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// inspect runs `qemu-img info` on a disk image. Images that would make qemu read other
// host files — a qcow2 backing file or external data file — are refused: an imported
// disk must be self-contained, or importing it could read any file on the host.
func inspect(ctx context.Context, path string) (imageInfo, error) {
	var info imageInfo
	abs, err := qemuPath(path)
	if err != nil {
		return info, err
	}
	if _, err := os.Stat(abs); err != nil {
		return info, err
	}
	out, err := runQemuImg(ctx, "info", "--output", "json", abs)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return info, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	if info.BackingFilename != "" {
		return info, fmt.Errorf("disk image %s has a backing file (%q); only self-contained images are accepted", path, info.BackingFilename)
	}
	if info.FormatSpecific.Data.DataFile != "" {
		return info, fmt.Errorf("disk image %s has an external data file (%q); only self-contained images are accepted", path, info.FormatSpecific.Data.DataFile)
	}
	return info, nil
}

// Format reports a disk image's format: "raw" or "qcow2". Other formats (vmdk, vhdx,
// …) are an error naming the format, as are qcow2 images with a backing file or an
// external data file. qemu-img calls any file it does not recognise "raw" — a
// tarball too — so callers that also accept tarballs must tell those apart first.
func Format(ctx context.Context, path string) (string, error) {
	info, err := inspect(ctx, path)
	if err != nil {
		return "", err
	}
	switch info.Format {
	case "raw", "qcow2":
		return info.Format, nil
	}
	return "", fmt.Errorf("disk image %s is in format %q; only raw and qcow2 are supported", path, info.Format)
}

// ConvertQcow2 converts the raw image raw to a qcow2 image at out. The input is read
// as raw whatever it contains (no format probing). out is replaced atomically.
func ConvertQcow2(ctx context.Context, raw, out string) error {
	return Convert(ctx, raw, out, "qcow2")
}

// convertOptions are qemu-img's output options for each format Convert writes, chosen
// for where such files go: vmdk is streamOptimized, the one variant VMware's OVF
// import and EC2's ImportImage take; vhd is fixed-size (qemu-img's "vpc" format)
// with the exact virtual size (force_size) rather than one rounded to a disk
// geometry, as Azure requires; vhdx and qcow2 take the defaults.
var convertOptions = map[string][]string{
	"qcow2": {"-O", "qcow2"},
	"vmdk":  {"-O", "vmdk", "-o", "subformat=streamOptimized"},
	"vhdx":  {"-O", "vhdx"},
	"vhd":   {"-O", "vpc", "-o", "subformat=fixed,force_size=on"},
}

// ConvertFormats are the formats Convert writes.
var ConvertFormats = []string{"qcow2", "vmdk", "vhdx", "vhd"}

// Convert converts the raw image raw to format (one of ConvertFormats) at out, with
// the same virtual size. The input is read as raw whatever it contains (no format
// probing). A vhd's size must be a whole number of MiB (Azure refuses others), or
// Convert fails. out is replaced atomically.
func Convert(ctx context.Context, raw, out, format string) error {
	opts, ok := convertOptions[format]
	if !ok {
		return fmt.Errorf("disk: cannot convert to %q: want one of %s", format, strings.Join(ConvertFormats, ", "))
	}
	in, err := qemuPath(raw)
	if err != nil {
		return err
	}
	fi, err := os.Stat(in)
	if err != nil {
		return err
	}
	if format == "vhd" && fi.Size()%(1<<20) != 0 {
		return fmt.Errorf("disk: %s is %d bytes, not a whole number of MiB, which a fixed VHD for Azure must be", raw, fi.Size())
	}
	return writeAtomically(out, func(tmp string) error {
		_, err := runQemuImg(ctx, append(append([]string{"convert", "-f", "raw"}, opts...), in, tmp)...)
		return err
	})
}

// ToRaw writes the disk image in (qcow2 or raw) as a sparse raw image at out. A qcow2
// input is converted by qemu-img; a raw input is copied, skipping holes and zero blocks.
// out is replaced atomically.
func ToRaw(ctx context.Context, in, out string) error {
	format, err := Format(ctx, in)
	if err != nil {
		return err
	}
	src, err := qemuPath(in)
	if err != nil {
		return err
	}
	return writeAtomically(out, func(tmp string) error {
		if format == "qcow2" {
			_, err := runQemuImg(ctx, "convert", "-f", "qcow2", "-O", "raw", src, tmp)
			return err
		}
		return copySparse(ctx, src, tmp)
	})
}

// writeAtomically lets write produce a temporary file next to out and renames it into
// place after it is synced, so a reader of out never sees half an image. The file is
// mode 0600, as MakeRaw's.
func writeAtomically(out string, write func(tmp string) error) error {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	f, err = os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	ok = true
	return nil
}

// copySparse copies src to dst keeping dst sparse: it visits only src's data extents
// (SEEK_DATA/SEEK_HOLE) and within them skips blocks that are all zeros.
func copySparse(ctx context.Context, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		return err
	}
	const block = 64 << 10
	buf := make([]byte, 1<<20)
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			data = off // no SEEK_DATA support: treat everything as data
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		for pos := data; pos < hole; {
			n := int(min(int64(len(buf)), hole-pos))
			if _, err := in.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
				return err
			}
			for b := 0; b < n; b += block {
				chunk := buf[b:min(b+block, n)]
				if isZero(chunk) {
					continue
				}
				if _, err := out.WriteAt(chunk, pos+int64(b)); err != nil {
					return err
				}
			}
			pos += int64(n)
		}
		off = hole
	}
	return out.Close()
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
