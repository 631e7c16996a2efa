package vm

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestQemuArgs(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "root,1.raw")
	qcow := filepath.Join(dir, "data.qcow2")
	os.WriteFile(raw, make([]byte, 512), 0o644)
	os.WriteFile(qcow, append([]byte("QFI\xfb"), make([]byte, 508)...), 0o644)
	base := withDefaults(Config{Kernel: "/k", Initrd: "/i", Append: "console=ttyS0"})

	tests := []struct {
		name    string
		cfg     Config
		accel   string
		want    []string // consecutive pairs or single flags that must appear
		notWant []string
		wantErr string
	}{
		{name: "tcg kernel boot", cfg: base, accel: "tcg",
			want:    []string{"-accel tcg,thread=multi", "-cpu max", "-kernel /k", "-initrd /i", "-append console=ttyS0", "-m 1024", "-no-reboot"},
			notWant: []string{"-snapshot", "-netdev"}},
		{name: "kvm", cfg: base, accel: "kvm", want: []string{"-accel kvm", "-cpu host"}},
		{name: "disks by magic, commas escaped, snapshot", accel: "tcg",
			cfg: withDefaults(Config{Disks: []string{raw, qcow}, Snapshot: true}),
			want: []string{"-drive file=" + strings.ReplaceAll(raw, ",", ",,") + ",format=raw,if=virtio,index=0,cache=unsafe",
				"-drive file=" + qcow + ",format=qcow2,if=virtio,index=1,cache=unsafe", "-snapshot"}},
		{name: "network", cfg: withDefaults(Config{Kernel: "/k", Network: true}), accel: "tcg",
			want: []string{"-netdev user,id=net0", "-device virtio-net-pci,netdev=net0"}},
		{name: "agent port", cfg: base, accel: "tcg",
			want: []string{"-device virtio-serial-pci,id=vser0", "-chardev socket,id=agent,path=/s,,ock,server=on,wait=off",
				"-device virtserialport,bus=vser0.0,chardev=agent,name=org.kiln.agent"}},
		{name: "initrd without kernel", cfg: withDefaults(Config{Disks: []string{raw}, Initrd: "/i"}), wantErr: "need a Kernel"},
		{name: "nothing to boot", cfg: withDefaults(Config{}), wantErr: "nothing to boot"},
		{name: "missing disk", cfg: withDefaults(Config{Disks: []string{filepath.Join(dir, "nope")}}), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := qemuArgs(tt.cfg, tt.accel, "/s,ock")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			joined := " " + strings.Join(args, " ") + " "
			for _, w := range tt.want {
				if !strings.Contains(joined, " "+w+" ") {
					t.Errorf("missing %q in %s", w, joined)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(args, w) {
					t.Errorf("unexpected %q in %s", w, joined)
				}
			}
		})
	}
}

func TestDiskFormat(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"qcow2", "QFI\xfb\x00\x00\x00\x03", "qcow2"},
		{"raw", "\xeb\x63\x90rest of a boot sector", "raw"},
		{"short raw", "QF", "raw"},
		{"empty", "", "raw"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		os.WriteFile(p, []byte(tt.content), 0o644)
		got, err := diskFormat(p)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	var passed bytes.Buffer
	tl := newTail(&passed)
	for i := 0; i < tailLines+10; i++ {
		tl.Write([]byte("line\r\n"))
	}
	tl.Write([]byte("last \x1b[0mpartial"))
	got := strings.Split(tl.String(), "\n")
	if len(got) != tailLines+1 || got[0] != "line" || got[len(got)-1] != "last partial" {
		t.Errorf("tail kept %d lines, first %q last %q", len(got), got[0], got[len(got)-1])
	}
	if passed.Len() != (tailLines+10)*6+len("last \x1b[0mpartial") {
		t.Errorf("console writer got %d bytes", passed.Len())
	}
}

// fakeBzImage wraps payload the way the x86 boot protocol lays it out.
func fakeBzImage(payload []byte) []byte {
	const setupSects = 2
	img := make([]byte, (setupSects+1)*512+64)
	img[bzSetupSects] = setupSects
	copy(img[bzHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(img[bzVersion:], 0x20f)
	binary.LittleEndian.PutUint32(img[bzPayloadOffset:], 64)
	binary.LittleEndian.PutUint32(img[bzPayloadLength:], uint32(len(payload)))
	img = append(img, payload...)
	return append(img, "trailing data the decompressor must not see"...)
}

func TestBzPayload(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("\x7fELF pretend kernel"))
	w.Close()
	got, err := bzPayload(fakeBzImage(gz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := decompressPayload(got)
	if err != nil || string(kernel) != "\x7fELF pretend kernel" {
		t.Fatalf("decompressed %q, %v", kernel, err)
	}
	if hasPVHEntry(kernel) {
		t.Error("a non-ELF has a PVH entry")
	}
	for _, bad := range [][]byte{nil, make([]byte, 1024), fakeBzImage(nil)[:0x260]} {
		if _, err := bzPayload(bad); err == nil {
			t.Errorf("bzPayload accepted %d bytes of junk", len(bad))
		}
	}
	if _, err := decompressPayload([]byte("LZ4 or so")); err == nil {
		t.Error("unknown compression accepted")
	}
}

// TestUncompressedKernel extracts the host's kernel, when there is one,
// and checks it boots through PVH.
func TestUncompressedKernel(t *testing.T) {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Skip("no /boot/vmlinuz-* (CI installs linux-image-amd64)")
	}
	cache := t.TempDir()
	p, err := uncompressedKernel(kernels[0], cache)
	if err != nil {
		t.Fatalf("%s: %v", kernels[0], err)
	}
	again, err := uncompressedKernel(kernels[0], cache)
	if err != nil || again != p {
		t.Errorf("second call: %q, %v; want the cached %q", again, err, p)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache holds %d files, want 1", len(entries))
	}
}

func FuzzBzPayload(f *testing.F) {
	f.Add(fakeBzImage([]byte{0x1f, 0x8b, 8, 0}))
	f.Add(fakeBzImage([]byte("\xfd7zXZ\x00")))
	f.Add([]byte("HdrS"))
	f.Fuzz(func(t *testing.T, img []byte) {
		p, err := bzPayload(img)
		if err == nil && len(p) == 0 {
			t.Error("empty payload without error")
		}
	})
}

func FuzzHasPVHEntry(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hasPVHEntry(b) // must not panic
	})
}
