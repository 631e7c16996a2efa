package machine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/binfmt"
)

func TestCheckGuestBinary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	arm := write("arm64", binfmt.ExitProgram(binfmt.ARM64, 0))
	x86 := write("x86_64", binfmt.ExitProgram(binfmt.X86_64, 0))
	script := write("script", []byte("#!/bin/sh\nexec true with enough bytes for an ELF header\n"))
	dynamic, _ := exec.LookPath("true") // Debian's coreutils: dynamically linked
	tests := []struct {
		name, path, arch, err string
	}{
		{"static arm64", arm, "arm64", ""},
		{"static x86_64", x86, "x86_64", ""},
		{"wrong architecture", x86, "arm64", "is built for x86_64"},
		{"not ELF", script, "arm64", "bad magic"},
		{"missing", filepath.Join(dir, "none"), "arm64", "no such file"},
		{"dynamic", dynamic, "x86_64", "dynamically linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				t.Skip("no dynamically linked true on this host")
			}
			err := CheckGuestBinary(tt.path, tt.arch)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("CheckGuestBinary(%s, %s) = %v, want %q", tt.name, tt.arch, err, tt.err)
			}
		})
	}
}
