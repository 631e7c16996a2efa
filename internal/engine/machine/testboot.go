package machine

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/vm"
)

// How test instances boot (Executor.TestBoot). Direct kernel boot is the
// speed-up: no firmware, no bootloader. Booting through SeaBIOS or OVMF
// and the disk's own bootloader tests what a user who exports the image
// gets, for the few seconds the firmware and GRUB take.
const (
	TestBootDirect = "direct"
	TestBootBIOS   = vm.FirmwareBIOS
	TestBootUEFI   = vm.FirmwareUEFI
)

// TestBoots are the values kiln serve --test-boot takes.
var TestBoots = []string{TestBootDirect, TestBootBIOS, TestBootUEFI}

// testFirmware is the firmware the test instance boots through, or "" for
// direct kernel boot: the configured one when the image's disk boots under
// it on its own (an x86_64 disk with kiln's or the parent's bootloader).
// When it does not, the log says why the instance boots its kernel
// directly instead.
func (in *instance) testFirmware(ctx context.Context, s *engine.Step) string {
	want := in.x.TestBoot
	if want == "" || want == TestBootDirect {
		return ""
	}
	if in.arch == vm.ArchARM64 {
		s.Logf("test boot %s: the image is arm64, which boots through AAVMF; booting its kernel from the firmware", want)
		return ""
	}
	have := disk.BootFirmware(ctx, filepath.Join(in.x.DataDir, in.disk))
	if !slices.Contains(have, want) {
		s.Logf("test boot %s: the image's disk has no bootloader for %s (it boots under %v); booting its kernel directly", want, want, have)
		return ""
	}
	return want
}
