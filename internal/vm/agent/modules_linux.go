package agent

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// moduleInitCompressedFile is finit_module's MODULE_INIT_COMPRESSED_FILE:
// the kernel decompresses (Linux 6.2+ with CONFIG_MODULE_DECOMPRESS).
const moduleInitCompressedFile = 4

// loadModules loads the named modules and what they depend on from
// /lib/modules/$(uname -r), as modprobe would. Modules the kernel has
// built in (absent from modules.dep) and modules already loaded are
// skipped.
func loadModules(names ...string) error {
	dir := filepath.Join("/lib/modules", kernelRelease())
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return err
	}
	mods, err := parseModulesDep(f)
	f.Close()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var load func(name string) error
	load = func(name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		m, ok := mods[name]
		if !ok || exists("/sys/module/"+name+"/initstate") {
			return nil
		}
		for _, d := range m.deps {
			if err := load(moduleName(d)); err != nil {
				return err
			}
		}
		p := m.path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return insertModule(p)
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, load(n))
	}
	return errors.Join(errs...)
}

// insertModule loads one module file, decompressing it when the kernel
// cannot.
func insertModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	compressed := !strings.HasSuffix(path, ".ko")
	flags := 0
	if compressed {
		flags = moduleInitCompressedFile
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	if err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	}
	if !compressed {
		return fmt.Errorf("load %s: %w", path, err)
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".gz"):
		gz, gerr := gzip.NewReader(f)
		if gerr != nil {
			return fmt.Errorf("load %s: %w", path, gerr)
		}
		r = gz
	case strings.HasSuffix(path, ".zst"):
		zr, zerr := zstd.NewReader(f)
		if zerr != nil {
			return fmt.Errorf("load %s: %w", path, zerr)
		}
		defer zr.Close()
		r = zr
	default:
		return fmt.Errorf("load %s: %w (and no decompressor here)", path, err)
	}
	var image bytes.Buffer
	if _, err := io.Copy(&image, r); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	if err := unix.InitModule(image.Bytes(), ""); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}
