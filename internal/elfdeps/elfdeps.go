// Package elfdeps carries a dynamically linked executable into a root
// filesystem that lacks its C library: it finds the executable's program
// interpreter (the dynamic loader, PT_INTERP) and the shared libraries the
// loader resolves for it on this host, copies them into one directory, and
// says how to start the executable through that loader so that nothing of
// the root's own /lib is used.
//
// kiln's build runner is the kiln binary itself, mounted into images that
// may have no libc at all (busybox, distroless, scratch), or a different
// one (musl in Alpine). A kiln built with CGO_ENABLED=0 is static and runs
// anywhere; a plain `go build` (cgo on, Go's default) links libc
// dynamically. Rather than refuse such a kiln, the engine stages the host's
// loader and libraries beside the runner and starts it as
//
//	/.kiln/lib/ld-linux-x86-64.so.2 --library-path /.kiln/lib /.kiln/kiln ...
//
// Running the loader explicitly, rather than setting LD_LIBRARY_PATH,
// confines the host's libraries to the runner process: the programs a
// component starts see the image's environment and the image's libc.
//
// The libraries are resolved by the loader itself (`ld.so --list`, what
// ldd does), so ld.so.cache, hwcaps directories and RUNPATH are honoured
// exactly as when the executable runs on the host.
package elfdeps

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/fileutil"
)

// Interp returns the program interpreter an ELF executable names
// (PT_INTERP), or "" when it is statically linked.
func Interp(exe string) (string, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("%s: reading PT_INTERP: %w", exe, err)
		}
		interp := string(bytes.TrimRight(b, "\x00"))
		if !path.IsAbs(interp) {
			return "", fmt.Errorf("%s: PT_INTERP %q is not an absolute path", exe, interp)
		}
		return interp, nil
	}
	return "", nil
}

// Lib is one shared object the loader maps for the executable.
type Lib struct {
	// Name is the name the executable (or another library) asks for,
	// DT_NEEDED: "libc.so.6". The staged copy has this name.
	Name string
	// Path is where the loader found it on this host.
	Path string
}

// Deps is what a dynamically linked executable needs from its host.
type Deps struct {
	// Interp is the host path of the dynamic loader (PT_INTERP).
	Interp string
	// Libs are the libraries the loader resolved, in its order.
	Libs []Lib
}

// Resolve returns the loader and libraries exe needs on this host, or nil
// when exe is statically linked.
func Resolve(ctx context.Context, exe string) (*Deps, error) {
	interp, err := Interp(exe)
	if err != nil || interp == "" {
		return nil, err
	}
	if _, err := os.Stat(interp); err != nil {
		return nil, fmt.Errorf("%s needs the dynamic loader %s: %w", exe, interp, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, interp, "--list", exe)
	// No LD_* variables of kiln's own environment may change the answer.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the libraries of %s with %s --list: %v: %s", exe, interp, err, strings.TrimSpace(stderr.String()))
	}
	libs, err := ParseList(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exe, err)
	}
	// The loader may list itself as a library (musl's libc is its loader).
	d := &Deps{Interp: interp}
	for _, l := range libs {
		if l.Name == path.Base(interp) {
			continue
		}
		d.Libs = append(d.Libs, l)
	}
	return d, nil
}

// ParseList reads the output of `ld.so --list` (glibc's and musl's
// loaders print the same shape):
//
//	linux-vdso.so.1 (0x00007ffd...)
//	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f...)
//	/lib64/ld-linux-x86-64.so.2 (0x00007f...)
//
// and returns the "NAME => PATH" lines. Lines without "=>" are the vDSO
// and the loader itself, which need no copy. A library the loader did not
// find is an error naming it.
func ParseList(out []byte) ([]Lib, error) {
	var libs []Lib
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, " => ")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		rest = strings.TrimSpace(rest)
		if rest == "not found" || strings.HasPrefix(rest, "not found") {
			return nil, fmt.Errorf("the library %s is not found on this host", name)
		}
		p := rest
		if i := strings.LastIndex(rest, " ("); i >= 0 {
			p = rest[:i]
		}
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return nil, fmt.Errorf("ld.so --list: bad library name in %q", line)
		}
		if !path.IsAbs(p) || strings.ContainsRune(p, 0) {
			return nil, fmt.Errorf("ld.so --list: library %s has no absolute path in %q", name, line)
		}
		libs = append(libs, Lib{Name: name, Path: path.Clean(p)})
	}
	return libs, nil
}

// LibDir is the name of the directory Stage fills, beside the executable.
const LibDir = "lib"

// Stage copies the loader and the libraries into dir (created), each
// library under the name it is asked for, the loader under its own base
// name. Copies, not links: the stage is mounted into sandboxes and must
// not be a way to the host's files.
func (d *Deps) Stage(dir string) error {
	if d == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := fileutil.Copy(d.Interp, filepath.Join(dir, path.Base(d.Interp)), 0o755); err != nil {
		return fmt.Errorf("staging the dynamic loader %s: %w", d.Interp, err)
	}
	for _, l := range d.Libs {
		if err := fileutil.Copy(l.Path, filepath.Join(dir, l.Name), 0o755); err != nil {
			return fmt.Errorf("staging the library %s: %w", l.Path, err)
		}
	}
	return nil
}

// Argv is how to start exe, staged at exe (a path inside the root) with
// its libraries in libDir (inside the root): through the staged loader,
// with the staged libraries only. Static executables (d nil) start as
// themselves.
func (d *Deps) Argv(libDir, exe string, args ...string) []string {
	if d == nil {
		return append([]string{exe}, args...)
	}
	return append([]string{path.Join(libDir, path.Base(d.Interp)), "--library-path", libDir, exe}, args...)
}
