package disk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQcow2RoundTrip(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mkfs.ext4", "qemu-img")
	ctx := context.Background()
	tree := makeTree(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if _, err := MakeRaw(ctx, tree, raw, Layout{Size: 256 << 20, Label: "kiln-root"}); err != nil {
		t.Fatal(err)
	}
	qcow := filepath.Join(dir, "disk.qcow2")
	if err := ConvertQcow2(ctx, raw, qcow); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, format string
	}{
		{"from qcow2", qcow, "qcow2"},
		{"from raw", raw, "raw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Format(ctx, tt.in)
			if err != nil || got != tt.format {
				t.Fatalf("Format = %q, %v; want %q", got, err, tt.format)
			}
			back := filepath.Join(t.TempDir(), "back.raw")
			if err := ToRaw(ctx, tt.in, back); err != nil {
				t.Fatal(err)
			}
			if !sameFiles(t, raw, back) {
				t.Fatalf("ToRaw(%s) differs from the original raw disk", tt.format)
			}
			if a, b := allocated(t, back), allocated(t, raw); a > b+(1<<20) {
				t.Errorf("ToRaw(%s) allocates %d bytes, the original %d: not sparse", tt.format, a, b)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	requireTools(t, "qemu-img")
	ctx := context.Background()
	dir := t.TempDir()
	create := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		run(t, "qemu-img", append([]string{"create", "-q"}, append(args, p, "16M")...)...)
		return p
	}
	raw := create("plain.raw", "-f", "raw")
	tests := []struct {
		name, path, want, wantErr string
	}{
		{"raw", raw, "raw", ""},
		{"qcow2", create("plain.qcow2", "-f", "qcow2"), "qcow2", ""},
		{"vmdk is named", create("other.vmdk", "-f", "vmdk"), "", `"vmdk"`},
		{"backing file refused", create("overlay.qcow2", "-f", "qcow2", "-F", "raw", "-b", raw), "", "backing file"},
		{"external data file refused", create("ext.qcow2", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "ext.data")), "", "data file"},
		{"missing", filepath.Join(dir, "nope"), "", "no such file"},
		{"protocol-looking name is a file", filepath.Join(dir, "json:{}"), "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Format(ctx, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Format = %q, %v; want an error containing %s", got, err, tt.wantErr)
				}
				if strings.Contains(tt.name, "refused") {
					if err := ToRaw(ctx, tt.path, filepath.Join(dir, "out.raw")); err == nil {
						t.Errorf("ToRaw accepted %s", tt.path)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Format = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	// data, a hole, a written run of zeros, data at the very end
	f.WriteAt([]byte("head"), 0)
	f.WriteAt(make([]byte, 4<<20), 8<<20)
	f.WriteAt([]byte("tail"), 64<<20-4)
	f.Close()
	dst := filepath.Join(dir, "dst")
	if err := copySparse(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if !sameFiles(t, src, dst) {
		t.Fatal("copy differs")
	}
	if a := allocated(t, dst); a > 1<<20 {
		t.Errorf("copy allocates %d bytes", a)
	}
}
