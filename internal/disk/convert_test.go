package disk

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// qemuImgInfo is what `qemu-img info --output json` says of a file, read
// as format or, when format is "", as qemu-img's probe takes it.
func qemuImgInfo(t *testing.T, path, format string) (string, int64) {
	t.Helper()
	args := []string{"info", "--output", "json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out, err := exec.Command("qemu-img", append(args, path)...).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	return info.Format, info.VirtualSize
}

// TestConvert converts a GPT disk with a filesystem to every export format
// and checks each as the tools that import them would: qemu-img names the
// format and the disk's virtual size, check finds no corruption where the
// format has checks (vhd has none), and the content compares equal to the
// raw disk's.
func TestConvert(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mkfs.ext4", "qemu-img")
	ctx := context.Background()
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if _, err := MakeRaw(ctx, makeTree(t), raw, Layout{Size: 64 << 20, Label: "kiln-root"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		format, qemuFormat string
		checkable          bool
		header             string // the file's first bytes
	}{
		{"qcow2", "qcow2", true, "QFI\xfb"},
		{"vmdk", "vmdk", true, "KDMV"},
		{"vhdx", "vhdx", true, "vhdxfile"},
		{"vhd", "vpc", false, "conectix"}, // a fixed VHD is raw data and a footer: the copy of it at offset 0 is absent
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "disk."+tt.format)
			if err := Convert(ctx, raw, out, tt.format); err != nil {
				t.Fatal(err)
			}
			// qemu-img's probe looks for a VHD's header, which a fixed VHD
			// does not have (only its footer): such a file is named.
			probeAs := ""
			if tt.format == "vhd" {
				probeAs = "vpc"
			}
			format, size := qemuImgInfo(t, out, probeAs)
			if format != tt.qemuFormat || size != 64<<20 {
				t.Errorf("qemu-img info: format %q, virtual size %d; want %q, %d", format, size, tt.qemuFormat, 64<<20)
			}
			if tt.checkable {
				if b, err := exec.Command("qemu-img", "check", "-f", tt.qemuFormat, out).CombinedOutput(); err != nil {
					t.Errorf("qemu-img check: %v\n%s", err, b)
				}
			}
			if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", tt.qemuFormat, raw, out).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare with the raw disk: %v\n%s", err, b)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if tt.format == "vhd" {
				// A fixed VHD is the raw data followed by a 512-byte footer.
				if int64(len(b)) != 64<<20+512 || string(b[len(b)-512:len(b)-512+8]) != tt.header {
					t.Errorf("vhd: %d bytes, footer %q; want the data and a conectix footer", len(b), b[len(b)-512:][:8])
				} else if string(b[len(b)-512+60:len(b)-512+64]) != "\x00\x00\x00\x02" {
					t.Errorf("vhd disk type %x, want 2 (fixed)", b[len(b)-512+60:len(b)-512+64])
				}
			} else if !strings.HasPrefix(string(b), tt.header) {
				t.Errorf("file starts %q, want %q", b[:8], tt.header)
			}
			if tt.format == "vmdk" && !strings.Contains(string(b[:64<<10]), `createType="streamOptimized"`) {
				t.Error("vmdk descriptor does not say streamOptimized")
			}
		})
	}
}

// TestConvertRefuses: an unknown format, and a vhd of a size Azure would
// refuse, fail and write nothing.
func TestConvertRefuses(t *testing.T) {
	requireTools(t, "qemu-img")
	ctx := context.Background()
	dir := t.TempDir()
	odd := filepath.Join(dir, "odd.raw")
	if err := os.WriteFile(odd, make([]byte, 1<<20+512), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ format, want string }{
		{"vhd", "whole number of MiB"},
		{"vdi", `cannot convert to "vdi"`},
		{"raw", `cannot convert to "raw"`},
	} {
		out := filepath.Join(dir, "out."+tc.format)
		err := Convert(ctx, odd, out, tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Convert to %s: %v, want an error containing %q", tc.format, err, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("Convert to %s left %s behind", tc.format, out)
		}
	}
}
