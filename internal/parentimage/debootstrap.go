package parentimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/oci"
)

// debootstrapScripts is where Debian's debootstrap keeps its suite scripts.
const debootstrapScripts = "/usr/share/debootstrap/scripts"

// debianArch is Debian's name for a Go architecture.
var debianArch = map[string]string{
	"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386",
	"ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64",
}

// FromDebootstrap makes d's root filesystem with `debootstrap
// --variant=minbase` from mirror (which checks the mirror's signed
// Release file with the host's keyring) and makes it a one-layer image.
// It needs root and Debian's debootstrap, and builds only for the host's
// own architecture.
func (f *Fetcher) FromDebootstrap(ctx context.Context, d Distribution, mirror string) (v1.Image, string, error) {
	if d.Family != "debootstrap" {
		return nil, "", fmt.Errorf("%s has no debootstrap route; --mirror for it is an Alpine mirror", d.Name)
	}
	if _, err := f.mirrorBase(mirror); err != nil && !isPlainHTTP(mirror) {
		return nil, "", err
	}
	if os.Geteuid() != 0 {
		return nil, "", errors.New("--mirror for " + d.Name + " runs debootstrap, which needs root")
	}
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		return nil, "", errors.New("--mirror for " + d.Name + " runs debootstrap, which is not installed (apt-get install debootstrap)")
	}
	// Without its keyring debootstrap warns and goes on unchecked; with
	// --keyring named it checks or fails.
	if _, err := os.Stat(d.Keyring); err != nil {
		return nil, "", fmt.Errorf("--mirror for %s checks the mirror with %s, which is missing (apt-get install %s)", d.Name, d.Keyring, d.KeyringPackage)
	}
	arch, ok := debianArch[runtime.GOARCH]
	if !ok || f.Platform.Architecture != runtime.GOARCH {
		return nil, "", fmt.Errorf("debootstrap builds for this host's architecture (%s) only, not %s; pull from a registry for other platforms", runtime.GOARCH, f.Platform.String())
	}
	root := filepath.Join(f.Workdir, "rootfs")
	defer os.RemoveAll(root)
	args := []string{"--variant=minbase", "--arch=" + arch, "--keyring=" + d.Keyring, d.Suite, root, mirror}
	if _, err := os.Stat(filepath.Join(debootstrapScripts, d.Suite)); err != nil {
		// An older debootstrap than the suite: its family's script works.
		args = append(args, filepath.Join(debootstrapScripts, d.Script))
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f.progressWriter(), f.progressWriter()
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("debootstrap %s from %s failed (%v); its log is %s", d.Suite, mirror, err, filepath.Join(root, "debootstrap", "debootstrap.log"))
	}
	// A container gets its /dev from the runtime, and the device nodes
	// debootstrap made would be mistaken for whiteouts in a layer.
	if err := clearDir(filepath.Join(root, "dev")); err != nil {
		return nil, "", err
	}
	layer, err := oci.DiffLayer(ctx, root, f.Workdir)
	if err != nil {
		return nil, "", err
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return nil, "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = "linux", runtime.GOARCH, f.Platform.Variant
	cfg.Created = v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = []string{"bash"}
	cfg.History = []v1.History{{Created: cfg.Created, CreatedBy: "kiln images pull-parent: debootstrap --variant=minbase " + d.Suite + " " + mirror}}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, "", err
	}
	return img, "debootstrap --variant=minbase " + d.Suite + " from " + mirror, nil
}

// isPlainHTTP reports whether mirror is an http:// URL: debootstrap
// checks the Release file's signature itself, so a plain-HTTP Debian
// mirror (the common case) is as safe as HTTPS.
func isPlainHTTP(mirror string) bool {
	return len(mirror) > 7 && mirror[:7] == "http://"
}

// clearDir removes what dir holds, keeping dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
