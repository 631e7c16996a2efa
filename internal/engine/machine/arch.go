package machine

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/binfmt"
	"github.com/kiln-build/kiln/internal/elfdeps"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/rootarch"
	"github.com/kiln-build/kiln/internal/vm"
)

// Machine images of another architecture than the host's (arm64 images
// on an x86_64 host): the architecture is read from the parent's root
// filesystem (package rootarch) and recorded with every AMI built on it.
//
// The build phase runs as for any image: kiln's runner stays a native
// program (the host's kiln, in the sandbox), and every program of the
// image it starts — the components' shell first — runs under Debian's
// qemu-user through binfmt_misc (package binfmt registers the handler
// when the host has none).
//
// The test phase boots the image under qemu-system-aarch64 (vm.Config's
// Arch) with the UEFI firmware of qemu-efi-aarch64 loading the image's
// own kernel. The agent inside it must be a kiln built for the guest:
// Executor.GuestBinaries names it (kiln serve --arm64-binary).

// detectArch reads the parent's architecture from its root filesystem and
// makes sure this host can run its programs.
func (in *instance) detectArch(s *engine.Step) error {
	in.arch = vm.HostArch()
	err := mountMerged(in.ParentLowers, func(root string) error {
		r, err := rootarch.Detect(root)
		if errors.Is(err, rootarch.ErrUnknown) {
			s.Logf("architecture: no ELF program in the parent's root filesystem (%v); assuming this host's, %s", err, in.arch)
			return nil
		}
		if err != nil {
			return err
		}
		in.arch = r.Arch
		s.Logf("architecture: %s (from the parent's %s)", r.Arch, r.Evidence)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the parent's architecture: %w", err)
	}
	if err := ensureRunnable(in.arch, in.x.DataDir, s.Logf); err != nil {
		return err
	}
	// A test phase that cannot start fails now, not after the build.
	if tc := in.B.Image.ImageTestsConfiguration; in.foreign() && (tc == nil || tc.ImageTestsEnabled == nil || *tc.ImageTestsEnabled) {
		if _, err := in.guestBinary(); err != nil {
			return err
		}
	}
	return nil
}

// importArch reads an imported root filesystem's architecture, for the
// log and the records; "" when no program says.
func importArch(root string, log io.Writer) string {
	r, err := rootarch.Detect(root)
	if err != nil {
		fmt.Fprintf(log, "architecture: unknown (%v)\n", err)
		return ""
	}
	fmt.Fprintf(log, "architecture: %s (from %s)\n", r.Arch, r.Evidence)
	return r.Arch
}

// ensureRunnable makes sure programs of arch run on this host, logging
// how.
func ensureRunnable(arch, dataDir string, logf func(string, ...any)) error {
	a, ok := binfmt.ForName(arch)
	if !ok {
		return fmt.Errorf("the root filesystem is for %s, which kiln cannot build on (x86_64 and arm64)", arch)
	}
	if a.Native() {
		return nil
	}
	r, err := binfmt.Ensure(a, binfmt.Options{ProbeDir: dataDir})
	if err != nil {
		return fmt.Errorf("the root filesystem is %s and this host cannot run its programs: %w", arch, err)
	}
	logf("binfmt: %s", r)
	return nil
}

// foreign reports whether the image is of another architecture than the
// host's.
func (in *instance) foreign() bool { return in.arch != "" && in.arch != vm.HostArch() }

// guestBinary is the kiln binary the test guest runs as its agent: this
// kiln for the host's architecture, else the one configured for the
// image's.
func (in *instance) guestBinary() (string, error) {
	if !in.foreign() {
		return in.x.Binary, nil
	}
	p := in.x.GuestBinaries[in.arch]
	if p == "" {
		return "", fmt.Errorf("the test phase of an %s image runs kiln's agent inside it, and no kiln for %s is configured: build one (CGO_ENABLED=0 GOARCH=%s go build -o kiln-linux-%s ./cmd/kiln) and start kiln serve with --%s-binary FILE",
			in.arch, in.arch, goarch(in.arch), goarch(in.arch), in.arch)
	}
	if err := CheckGuestBinary(p, in.arch); err != nil {
		return "", err
	}
	return p, nil
}

// guestRunner is what the guest's agent needs besides itself: the host's
// loader and libraries for a dynamically linked native kiln, nothing for
// a foreign one (CheckGuestBinary insists it is static).
func (in *instance) guestRunner() *elfdeps.Deps {
	if in.foreign() {
		return nil
	}
	return in.Runner
}

// guestVM adapts a test boot's configuration to the image's architecture.
func (in *instance) guestVM(cfg *vm.Config) {
	if in.arch != vm.ArchARM64 {
		return
	}
	cfg.Arch = vm.ArchARM64
	if cfg.QEMU == "" || cfg.QEMU == vm.QEMUFor(vm.ArchX86_64) {
		cfg.QEMU = vm.QEMUAArch64
	}
	if in.foreign() {
		// No KVM runs another architecture's guest.
		cfg.Accel = vm.AccelTCG
	}
	cfg.AAVMF = in.x.ARM64Firmware
}

// withArch records the image's architecture in its OCI configuration, as
// a container image says what it runs on.
func withArch(img v1.Image, arch string) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	a, ok := binfmt.ForName(arch)
	if !ok || cf.Architecture == a.GOARCH && cf.OS == "linux" {
		return img, nil
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", a.GOARCH
	return mutate.ConfigFile(img, cf)
}

// CheckGuestBinary checks that a kiln binary for arch's guests is an
// executable of that architecture, statically linked (nothing of the
// host's can be carried into another architecture's guest).
func CheckGuestBinary(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("the kiln binary for %s guests %s: %w", arch, path, err)
	}
	defer f.Close()
	if got := rootarch.Name(f.Machine); got != arch {
		return fmt.Errorf("the kiln binary for %s guests %s is built for %s", arch, path, got)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the kiln binary for %s guests %s is dynamically linked; build it with CGO_ENABLED=0", arch, path)
		}
	}
	return nil
}

// DefaultGuestBinary is where kiln looks for a kiln for arch's guests
// when none is configured: kiln-linux-GOARCH beside the running binary.
func DefaultGuestBinary(exe, arch string) string {
	p := filepath.Join(filepath.Dir(exe), "kiln-linux-"+goarch(arch))
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func goarch(arch string) string {
	if a, ok := binfmt.ForName(arch); ok {
		return a.GOARCH
	}
	return arch
}
