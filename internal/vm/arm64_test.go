package vm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAArch64Args(t *testing.T) {
	firmware := filepath.Join(t.TempDir(), "AAVMF_CODE.fd")
	if err := os.WriteFile(firmware, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   Config
		accel string
		want  []string // consecutive pairs that must appear
		not   []string
		err   string
	}{
		{name: "firmware and kernel under TCG", accel: AccelTCG,
			cfg:  Config{Arch: ArchARM64, Kernel: "/k", Initrd: "/i", Append: "console=ttyAMA0", AAVMF: firmware, Disks: []string{"/dev/null"}},
			want: []string{"-machine virt", "-cpu cortex-a57", "-accel tcg,thread=multi", "-kernel /k", "-initrd /i", "-append console=ttyAMA0", "-serial chardev:console"},
			not:  []string{"q35"}},
		{name: "kvm on an arm64 host", accel: AccelKVM, cfg: Config{Arch: ArchARM64, Kernel: "/k"},
			want: []string{"-accel kvm", "-cpu host"}, not: []string{"pflash"}},
		{name: "kiln ami run: seed after the disk, NIC with its SSH forward", accel: AccelTCG,
			cfg: Config{Arch: ArchARM64, Kernel: "/k", AAVMF: firmware, Disks: []string{"/dev/null"}, Seed: firmware,
				MAC: "52:54:00:12:34:56", PortForwards: []PortForward{{HostPort: 2222, GuestPort: 22}}},
			want: []string{"file=" + firmware + ",format=raw,if=virtio,index=1,readonly=on",
				"-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22", "-device virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56"}},
		{name: "missing firmware", accel: AccelTCG, cfg: Config{Arch: ArchARM64, Kernel: "/k", AAVMF: "/nonexistent/AAVMF_CODE.fd"},
			err: "qemu-efi-aarch64"},
		{name: "nothing to boot", accel: AccelTCG, cfg: Config{Arch: ArchARM64}, err: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := qemuArgs(withDefaults(tt.cfg), tt.accel, "/s,ock")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Join(args, " ")
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("args lack %q: %s", w, line)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(line, n) {
					t.Errorf("args have %q: %s", n, line)
				}
			}
			if !slices.Contains(args, "socket,id=agent,path=/s,,ock,server=on,wait=off") {
				t.Errorf("no agent socket: %s", line)
			}
		})
	}
	if ConsoleDevice(ArchARM64) != "ttyAMA0" || ConsoleDevice("") != "ttyS0" || QEMUFor(ArchARM64) != QEMUAArch64 {
		t.Error("console device or emulator of an architecture")
	}
}
