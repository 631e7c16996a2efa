package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/binfmt"
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

// checkForeignArch is kiln doctor's line on images of the other
// architecture (arm64 on an x86_64 host): whether their programs can run
// here through binfmt_misc, and whether their test guests can boot. It
// changes nothing: a missing handler is fine when kiln can register its
// own at the first such build (binfmt_misc writable, qemu-user-static
// installed). These images are optional, so the worst is a WARN.
func checkForeignArch() doctorCheck {
	foreign := binfmt.ARM64
	if vm.HostArch() == vm.ArchARM64 {
		foreign = binfmt.X86_64
	}
	c := doctorCheck{Name: foreign.Name + " images", Needed: neededMachines}
	warn := func(found, fix string) doctorCheck {
		c.Status, c.Found, c.Fix = doctorWarn, found+": "+foreign.Name+" machine images cannot build here", fix
		return c
	}
	hs, err := binfmt.Handlers(binfmt.MiscDir)
	if err != nil {
		return warn("binfmt_misc is not mounted at "+binfmt.MiscDir+" ("+err.Error()+")", "mount -t binfmt_misc binfmt_misc "+binfmt.MiscDir+" (kiln tries this itself as root)")
	}
	how := ""
	for _, h := range hs {
		if !h.Enabled || !h.Runs(foreign) {
			continue
		}
		if !h.FixBinary() {
			return warn("binfmt_misc handler "+h.Name+" runs them without the fix-binary (F) flag, so not inside build roots",
				"re-register it with F, or disable it (echo 0 > "+binfmt.MiscDir+"/"+h.Name+") and kiln registers its own")
		}
		how = "through binfmt_misc handler " + h.Name + " (" + h.Interpreter + ")"
		break
	}
	if how == "" {
		if _, err := os.Stat(foreign.QEMU); err != nil {
			return warn("no binfmt_misc handler runs "+foreign.Name+" programs and "+foreign.QEMU+" is missing", "apt-get install qemu-user-static")
		}
		if unix.Access(filepath.Join(binfmt.MiscDir, "register"), unix.W_OK) != nil {
			return warn("no binfmt_misc handler runs "+foreign.Name+" programs and "+binfmt.MiscDir+"/register is not writable", "run kiln as root, or register "+foreign.QEMU+" with the F flag (Debian's qemu-user-binfmt)")
		}
		how = "kiln registers " + foreign.QEMU + " with binfmt_misc at the first such build"
	}
	qemu := vm.QEMUFor(foreign.Name)
	if _, err := exec.LookPath(qemu); err != nil {
		c.Status, c.Fix = doctorWarn, "apt-get install qemu-system-arm qemu-efi-aarch64"
		c.Found = "their programs run " + how + ", but " + qemu + " is missing: their test phase cannot boot"
		return c
	}
	c.Status, c.Found = doctorOK, "their programs run "+how+"; test guests boot under "+qemu+" (the agent needs --arm64-binary)"
	return c
}
