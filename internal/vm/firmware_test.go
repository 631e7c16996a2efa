package vm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestFirmwareArgs(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	seed := filepath.Join(dir, "seed,1.iso")
	ovmf := filepath.Join(dir, "OVMF.fd")
	for _, p := range []string{disk, seed, ovmf} {
		os.WriteFile(p, make([]byte, 512), 0o644)
	}
	tests := []struct {
		name    string
		cfg     Config
		want    []string
		notWant []string
		wantErr string
	}{
		{name: "bios", cfg: Config{Disks: []string{disk}, Firmware: FirmwareBIOS},
			want:    []string{"-machine q35,graphics=off", "-drive file=" + disk + ",format=raw,if=virtio,index=0"},
			notWant: []string{"-bios", "-kernel"}},
		{name: "uefi", cfg: Config{Disks: []string{disk}, Firmware: FirmwareUEFI, OVMF: ovmf},
			want: []string{"-machine q35", "-bios " + ovmf}},
		{name: "direct kernel boot", cfg: Config{Kernel: "/k"}, want: []string{"-machine q35", "-kernel /k"}},
		{name: "firmware log", cfg: Config{Disks: []string{disk}, Firmware: FirmwareBIOS, FirmwareLog: "/tmp/fw,log"},
			want: []string{"-chardev file,id=fwlog,path=/tmp/fw,,log", "-device isa-debugcon,iobase=0x402,chardev=fwlog"}},
		{name: "seed after the disks, read-only", cfg: Config{Disks: []string{disk, disk}, Seed: seed, Kernel: "/k"},
			want: []string{"-drive file=" + strings.ReplaceAll(seed, ",", ",,") + ",format=raw,if=virtio,index=2,readonly=on"}},
		{name: "ssh forward and MAC", cfg: Config{Kernel: "/k", MAC: "52:54:00:AA:bb:01", PortForwards: []PortForward{{2222, 22}, {8080, 80}}},
			want: []string{"-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80", "-device virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01"}},
		{name: "unknown firmware", cfg: Config{Disks: []string{disk}, Firmware: "coreboot"}, wantErr: `firmware "coreboot"`},
		{name: "firmware and kernel", cfg: Config{Disks: []string{disk}, Firmware: FirmwareUEFI, OVMF: ovmf, Kernel: "/k"}, wantErr: "not both"},
		{name: "firmware without disk", cfg: Config{Firmware: FirmwareBIOS}, wantErr: "needs a disk"},
		{name: "missing OVMF", cfg: Config{Disks: []string{disk}, Firmware: FirmwareUEFI, OVMF: filepath.Join(dir, "nope.fd")}, wantErr: "apt-get install ovmf"},
		{name: "missing seed", cfg: Config{Kernel: "/k", Seed: filepath.Join(dir, "nope.iso")}, wantErr: "seed"},
		{name: "bad port", cfg: Config{Kernel: "/k", PortForwards: []PortForward{{70000, 22}}}, wantErr: "1 to 65535"},
		{name: "bad MAC", cfg: Config{Kernel: "/k", Network: true, MAC: "52:54:00,hostfwd=x"}, wantErr: "MAC address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := qemuArgs(withDefaults(tt.cfg), AccelTCG, "/s")
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
				if strings.Contains(joined, " "+w+" ") {
					t.Errorf("unexpected %q in %s", w, joined)
				}
			}
		})
	}
}

// TestFirmwareStarts boots a disk without a bootloader under each
// firmware and checks that the firmware ran and tried that disk: SeaBIOS
// says so in its debug log and, drawing its screen there, on the serial
// console; OVMF on the serial console. (A disk that boots to its init
// under both is tested where the bootloader is made.)
func TestFirmwareStarts(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (CI installs qemu-system-x86)")
	}
	for _, tc := range []struct {
		firmware string
		log      []string // in the firmware's debug log
		console  []string // on the serial console
	}{
		{FirmwareBIOS, []string{"SeaBIOS", "Booting from Hard Disk", "not a bootable disk"}, []string{"SeaBIOS", "Booting from Hard Disk"}},
		{FirmwareUEFI, nil, []string{"BdsDxe", "UEFI"}},
	} {
		t.Run(tc.firmware, func(t *testing.T) {
			t.Parallel()
			if tc.firmware == FirmwareUEFI {
				if _, err := os.Stat(DefaultOVMF); err != nil {
					t.Skip("no OVMF (CI installs ovmf)")
				}
			}
			dir := t.TempDir()
			disk := filepath.Join(dir, "blank.raw")
			if err := os.WriteFile(disk, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Truncate(disk, 16<<20)
			console := &kilntest.SyncBuffer{}
			cfg := Config{Disks: []string{disk}, Firmware: tc.firmware, FirmwareLog: filepath.Join(dir, "firmware.log"),
				Console: console, Accel: AccelTCG, MemoryMB: 256, Snapshot: true}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			m, err := Boot(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Kill()
			has := func(text string, want []string) bool {
				for _, w := range want {
					if !strings.Contains(text, w) {
						return false
					}
				}
				return true
			}
			for {
				log, _ := os.ReadFile(cfg.FirmwareLog)
				if has(string(log), tc.log) && has(console.String(), tc.console) {
					return
				}
				select {
				case <-ctx.Done():
					t.Fatalf("the %s firmware did not report trying the disk; its log:\n%s\nthe console:\n%s", tc.firmware, log, console.String())
				case <-time.After(200 * time.Millisecond):
				}
			}
		})
	}
}
