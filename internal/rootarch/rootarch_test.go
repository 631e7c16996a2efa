package rootarch

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// elfHeader is the start of an ELF file of machine m.
func elfHeader(m elf.Machine, order elf.Data) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(order), 1
	if order == elf.ELFDATA2MSB {
		h[18], h[19] = byte(m>>8), byte(m)
	} else {
		h[18], h[19] = byte(m), byte(m>>8)
	}
	return h
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string][]byte
		links   map[string]string
		want    string
		evident string
		err     error
	}{
		{name: "busybox absolute link", files: map[string][]byte{"bin/busybox": elfHeader(elf.EM_AARCH64, elf.ELFDATA2LSB)},
			links: map[string]string{"bin/sh": "/bin/busybox"}, want: "arm64", evident: "/bin/sh -> /bin/busybox"},
		{name: "merged usr, relative", files: map[string][]byte{"usr/bin/dash": elfHeader(elf.EM_X86_64, elf.ELFDATA2LSB)},
			links: map[string]string{"bin": "usr/bin", "usr/bin/sh": "dash"}, want: "x86_64", evident: "/bin/sh -> /usr/bin/dash"},
		{name: "systemd init only", files: map[string][]byte{"lib/systemd/systemd": elfHeader(elf.EM_AARCH64, elf.ELFDATA2LSB)},
			links: map[string]string{"sbin/init": "/lib/systemd/systemd"}, want: "arm64"},
		{name: "dot-dot stops at the root", files: map[string][]byte{"bin/busybox": elfHeader(elf.EM_S390, elf.ELFDATA2MSB)},
			links: map[string]string{"bin/sh": "../../../../bin/busybox"}, want: "s390x"},
		{name: "script shell skipped", files: map[string][]byte{"bin/sh": []byte("#!/x\n"), "bin/busybox": elfHeader(elf.EM_RISCV, elf.ELFDATA2LSB)},
			want: "riscv64"},
		{name: "link loop", links: map[string]string{"bin/sh": "/bin/sh"}, err: ErrUnknown},
		{name: "empty root", err: ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, b := range tt.files {
				os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
				if err := os.WriteFile(filepath.Join(root, p), b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for p, l := range tt.links {
				os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
				if err := os.Symlink(l, filepath.Join(root, p)); err != nil {
					t.Fatal(err)
				}
			}
			r, err := Detect(root)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Arch != tt.want || tt.evident != "" && r.Evidence != tt.evident {
				t.Errorf("got %+v, want %s (%s)", r, tt.want, tt.evident)
			}
		})
	}
}

// TestResolveStaysInside: a link to a host path resolves inside the root
// (the host's /bin/sh is never read).
func TestResolveStaysInside(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(root, "bin/sh"))
	if _, err := Detect(root); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Detect followed a link out of the root: %v", err)
	}
	got, err := Resolve(root, "/bin/../../bin")
	if err != nil || got != "/bin" {
		t.Fatalf("Resolve: %q, %v", got, err)
	}
}

func FuzzMachineOf(f *testing.F) {
	f.Add(elfHeader(elf.EM_AARCH64, elf.ELFDATA2LSB))
	f.Add(elfHeader(elf.EM_PPC64, elf.ELFDATA2MSB))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := MachineOf(bytes.NewReader(b))
		if err == nil && !strings.HasPrefix(string(b), elf.ELFMAG) {
			t.Fatalf("accepted a non-ELF header as %v", m)
		}
	})
}
