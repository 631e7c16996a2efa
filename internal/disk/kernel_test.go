package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindKernel(t *testing.T) {
	// A file on the host that hostile links aim at; it must never be returned.
	host := t.TempDir()
	hostKernel := filepath.Join(host, "vmlinuz-9.9.9")
	if err := os.WriteFile(hostKernel, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostDots := strings.Repeat("../", 20) + strings.TrimPrefix(hostKernel, "/")

	// A tree is a list of "path" (a file), "path/" (a directory) or "path -> target".
	tests := []struct {
		name           string
		tree           []string
		kernel, initrd string // relative to the tree; "" for none
		wantErr        bool
	}{
		{name: "debian, newest by number",
			tree:   []string{"boot/vmlinuz-6.1.0-9-amd64", "boot/initrd.img-6.1.0-9-amd64", "boot/vmlinuz-6.1.0-18-amd64", "boot/initrd.img-6.1.0-18-amd64", "boot/config-6.1.0-18-amd64"},
			kernel: "boot/vmlinuz-6.1.0-18-amd64", initrd: "boot/initrd.img-6.1.0-18-amd64"},
		{name: "fedora",
			tree:   []string{"boot/vmlinuz-6.8.5-301.fc40.x86_64", "boot/initramfs-6.8.5-301.fc40.x86_64.img", "boot/vmlinuz-0-rescue-0123abcd", "boot/initramfs-0-rescue-0123abcd.img", "boot/vmlinuz-6.10.1-200.fc40.x86_64", "boot/initramfs-6.10.1-200.fc40.x86_64.img"},
			kernel: "boot/vmlinuz-6.10.1-200.fc40.x86_64", initrd: "boot/initramfs-6.10.1-200.fc40.x86_64.img"},
		{name: "a kernel with initrd beats a newer one without",
			tree:   []string{"boot/vmlinuz-6.2", "boot/vmlinuz-6.1", "boot/initrd.img-6.1"},
			kernel: "boot/vmlinuz-6.1", initrd: "boot/initrd.img-6.1"},
		{name: "kernel without initrd",
			tree:   []string{"boot/vmlinuz-6.2"},
			kernel: "boot/vmlinuz-6.2"},
		{name: "usr/lib/modules kernel",
			tree:   []string{"usr/lib/modules/6.9.0-1/vmlinuz", "boot/initramfs-6.9.0-1.img"},
			kernel: "usr/lib/modules/6.9.0-1/vmlinuz", initrd: "boot/initramfs-6.9.0-1.img"},
		{name: "top-level symlinks, relative",
			tree:   []string{"boot/vmlinuz.real", "boot/initrd.real", "vmlinuz -> boot/vmlinuz.real", "initrd.img -> boot/initrd.real"},
			kernel: "boot/vmlinuz.real", initrd: "boot/initrd.real"},
		{name: "absolute symlinks resolve inside the tree",
			tree:   []string{"boot/k", "boot/i", "vmlinuz -> /boot/k", "initrd.img -> /boot/../boot/./i"},
			kernel: "boot/k", initrd: "boot/i"},
		{name: "versioned symlink into the tree",
			tree:   []string{"boot/k", "boot/initrd.img-6.1", "boot/vmlinuz-6.1 -> k"},
			kernel: "boot/k", initrd: "boot/initrd.img-6.1"},
		{name: "boot is a symlink",
			tree:   []string{"realboot/vmlinuz-6.1", "realboot/initrd.img-6.1", "boot -> /realboot"},
			kernel: "realboot/vmlinuz-6.1", initrd: "realboot/initrd.img-6.1"},
		{name: "hostile: vmlinuz -> /etc/passwd stays in the tree",
			tree:   []string{"etc/passwd", "boot/vmlinuz-6.1 -> /etc/passwd", "boot/initrd.img-6.1 -> /etc/passwd"},
			kernel: "etc/passwd", initrd: "etc/passwd"},
		{name: "hostile: /etc/passwd absent from the tree", tree: []string{"boot/vmlinuz-6.1 -> /etc/passwd"}, wantErr: true},
		{name: "hostile: dots climb no higher than the tree",
			tree: []string{"boot/vmlinuz-6.1 -> ../../../..", "vmlinuz -> ../../../../../../etc/passwd"}, wantErr: true},
		{name: "hostile: absolute host path", tree: []string{"boot/vmlinuz-9.9.9 -> " + hostKernel, "vmlinuz -> " + hostKernel}, wantErr: true},
		{name: "hostile: dots to a host path", tree: []string{"boot/vmlinuz-9.9.9 -> " + hostDots}, wantErr: true},
		{name: "hostile: boot -> host dir", tree: []string{"boot -> " + host}, wantErr: true},
		{name: "hostile: initrd -> host, kernel kept without it",
			tree:   []string{"boot/vmlinuz-6.1", "boot/initrd.img-6.1 -> " + hostDots},
			kernel: "boot/vmlinuz-6.1"},
		{name: "symlink loop", tree: []string{"boot/vmlinuz-1 -> vmlinuz-2", "boot/vmlinuz-2 -> vmlinuz-1"}, wantErr: true},
		{name: "directory named like a kernel", tree: []string{"boot/vmlinuz-6.1/", "boot/initrd.img-6.1"}, wantErr: true},
		{name: "empty", tree: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, e := range tt.tree {
				p := filepath.Join(root, strings.TrimSuffix(strings.SplitN(e, " -> ", 2)[0], "/"))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				var err error
				switch name, target, isLink := strings.Cut(e, " -> "); {
				case isLink:
					err = os.Symlink(target, filepath.Join(root, name))
				case strings.HasSuffix(e, "/"):
					err = os.Mkdir(p, 0o755)
				default:
					err = os.WriteFile(p, []byte(e), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			kernel, initrd, err := FindKernel(root)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("FindKernel = %q, %q; want an error", kernel, initrd)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := func(rel string) string {
				if rel == "" {
					return ""
				}
				return filepath.Join(root, rel)
			}
			if kernel != want(tt.kernel) || initrd != want(tt.initrd) {
				t.Fatalf("FindKernel = %q, %q; want %q, %q", kernel, initrd, want(tt.kernel), want(tt.initrd))
			}
			for _, p := range []string{kernel, initrd} {
				if p == "" {
					continue
				}
				if real, err := filepath.EvalSymlinks(p); err != nil || real != p {
					t.Errorf("%s still goes through a symlink (to %s, %v)", p, real, err)
				}
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-18-amd64", "6.1.0-9-amd64", 1},
		{"6.10", "6.9", 1},
		{"6.1", "6.1", 0},
		{"6.1", "6.1.1", -1},
		{"6.1.0-rc7", "6.1.0-rc10", -1},
		{"5.10.0-28-cloud-amd64", "5.10.0-28-amd64", 1},
		{"0-rescue-abc", "6.1", -1},
		{"007", "7", 0},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}
