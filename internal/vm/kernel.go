package vm

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

// Under TCG, a compressed kernel spends seconds decompressing itself in
// emulated code before it prints a line (about 6 of 14 seconds to a
// Debian 6.1 guest agent on 2 cores). The same kernel uncompressed on the
// host and booted through its PVH entry point (an ELF note QEMU's -kernel
// understands, CONFIG_PVH, set by Debian, Ubuntu and Fedora kernels) skips
// that work and runs identically afterwards. uncompressedKernel makes that
// copy when it can; when it cannot, the bzImage boots as is.

// bzImage header fields (Documentation/arch/x86/boot.rst).
const (
	bzSetupSects    = 0x1f1 // uint8: 512-byte setup sectors, after the boot sector
	bzHeaderMagic   = 0x202 // "HdrS"
	bzVersion       = 0x206 // uint16: boot protocol version
	bzPayloadOffset = 0x248 // uint32 (2.08+): payload offset in the protected-mode code
	bzPayloadLength = 0x24c // uint32
)

// xenElfnotePhys32Entry is the ELF note (owner "Xen") holding the PVH
// entry point.
const xenElfnotePhys32Entry = 18

// bzPayload returns the compressed kernel inside a bzImage.
func bzPayload(img []byte) ([]byte, error) {
	if len(img) < bzPayloadLength+4 || string(img[bzHeaderMagic:bzHeaderMagic+4]) != "HdrS" {
		return nil, errors.New("not a bzImage")
	}
	if binary.LittleEndian.Uint16(img[bzVersion:]) < 0x208 {
		return nil, errors.New("bzImage boot protocol before 2.08 has no payload fields")
	}
	setup := int(img[bzSetupSects])
	if setup == 0 {
		setup = 4
	}
	start := (setup+1)*512 + int(binary.LittleEndian.Uint32(img[bzPayloadOffset:]))
	n := int(binary.LittleEndian.Uint32(img[bzPayloadLength:]))
	if start < 0 || n <= 0 || start+n > len(img) || start+n < start {
		return nil, errors.New("bzImage payload out of bounds")
	}
	return img[start : start+n], nil
}

// decompressPayload undoes the kernel's compression: gzip and zstd here,
// xz through the xz tool (xz-utils, in every Debian).
func decompressPayload(p []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		r, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, err
		}
		r.Multistream(false)
		return io.ReadAll(r)
	case bytes.HasPrefix(p, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		r, err := zstd.NewReader(bytes.NewReader(p), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	case bytes.HasPrefix(p, []byte("\xfd7zXZ\x00")):
		xz, err := exec.LookPath("xz")
		if err != nil {
			return nil, errors.New("xz-compressed kernel and no xz tool")
		}
		cmd := exec.Command(xz, "-dc", "--single-stream")
		cmd.Stdin = bytes.NewReader(p)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("xz: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		return out.Bytes(), nil
	}
	return nil, errors.New("kernel compression not handled here (lz4, lzma, bzip2, lzo)")
}

// hasPVHEntry says the ELF kernel can be started through PVH.
func hasPVHEntry(vmlinux []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(notes) >= 12 {
			namesz := int(binary.LittleEndian.Uint32(notes[0:]))
			descsz := int(binary.LittleEndian.Uint32(notes[4:]))
			typ := binary.LittleEndian.Uint32(notes[8:])
			nameEnd := 12 + (namesz+3)&^3
			next := nameEnd + (descsz+3)&^3
			if namesz < 0 || descsz < 0 || next > len(notes) || next < 12 {
				break
			}
			if typ == xenElfnotePhys32Entry && bytes.Equal(bytes.TrimRight(notes[12:12+namesz], "\x00"), []byte("Xen")) {
				return true
			}
			notes = notes[next:]
		}
	}
	return false
}

// uncompressedKernel returns the path of kernel's uncompressed PVH-capable
// ELF image, made in cacheDir (named by the bzImage's digest, so a cache
// shared between boots makes it once), or an error saying why the
// bzImage has to boot as it is.
func uncompressedKernel(kernel, cacheDir string) (string, error) {
	img, err := os.ReadFile(kernel)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(img)
	out := filepath.Join(cacheDir, "vmlinux-"+hex.EncodeToString(sum[:12]))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	payload, err := bzPayload(img)
	if err != nil {
		return "", err
	}
	vmlinux, err := decompressPayload(payload)
	if err != nil {
		return "", err
	}
	if !hasPVHEntry(vmlinux) {
		return "", errors.New("kernel has no PVH entry point")
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(cacheDir, ".vmlinux-*")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(vmlinux); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return out, nil
}
