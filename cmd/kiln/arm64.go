package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/machine"
	"github.com/kiln-build/kiln/internal/vm"
)

// arm64Config is kiln serve's settings for machine images of the other
// architecture: the kiln binary their test guests run as agent, and
// arm64 guests' firmware.
type arm64Config struct {
	binary   string
	firmware string
}

func (c *arm64Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.binary, "arm64-binary", "", "a kiln built for linux/arm64 (CGO_ENABLED=0 GOARCH=arm64 go build), run as the agent in arm64 images' test guests; default: kiln-linux-arm64 beside this kiln when present (KILN_ARM64_BINARY)")
	fs.StringVar(&c.firmware, "arm64-firmware", vm.AAVMFCode, "UEFI code volume arm64 test guests start from (Debian's qemu-efi-aarch64); empty boots their kernel without firmware (KILN_ARM64_FIRMWARE)")
}

// configureArm64 gives the machine-image executor the kiln binary for
// arm64 guests, checked now (an x86_64 kiln named by mistake would fail
// every arm64 test phase later), and the firmware. On an arm64 host the
// guests are native and the setting names an x86_64 kiln the same way.
func configureArm64(c arm64Config, eng *engine.Engine, log *slog.Logger) error {
	x, ok := eng.Executors[awsapi.ImageTypeAmi].(*machine.Executor)
	if !ok {
		return nil
	}
	x.ARM64Firmware = c.firmware
	foreign := vm.ArchARM64
	if vm.HostArch() == vm.ArchARM64 {
		foreign = vm.ArchX86_64
	}
	bin := c.binary
	if bin == "" {
		exe, err := os.Executable()
		if err == nil {
			bin = machine.DefaultGuestBinary(exe, foreign)
		}
	}
	if bin == "" {
		log.Info("machine images: no kiln for "+foreign+" test guests; "+foreign+" images build, and their test phase needs --arm64-binary", "arch", foreign)
		return nil
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if err := machine.CheckGuestBinary(abs, foreign); err != nil {
		return fmt.Errorf("--arm64-binary: %w", err)
	}
	x.GuestBinaries = map[string]string{foreign: abs}
	log.Info("machine images: "+foreign+" test guests run this kiln as their agent", "binary", abs, "firmware", c.firmware)
	return nil
}
