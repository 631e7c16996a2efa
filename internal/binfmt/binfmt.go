// Package binfmt lets this host run programs built for another CPU
// architecture, through the kernel's binfmt_misc and Debian's static
// qemu-user emulators (package qemu-user-static).
//
// kiln builds arm64 images on x86_64 hosts (and the reverse) by running
// the image's own programs — its shell, its package manager — under
// qemu-user, while kiln's runner stays a native program. binfmt_misc is
// what makes an exec of a foreign ELF file start the emulator instead, so
// the components' shell scripts need no change.
//
// Builds run in a sandbox whose root is the image, where the emulator's
// host path does not exist. A handler therefore only works for kiln when
// it has the fix-binary flag ('F'): the kernel opens the interpreter once,
// at registration, and uses that open file in every mount namespace.
// Debian's qemu-user-binfmt registers its handlers with F; a host set up
// otherwise, or not at all, is why Ensure exists: it uses a working
// handler when there is one, registers its own (with F) when there is
// none, refuses a handler without F with the fix, and proves the result by
// running a tiny program of the architecture (ExitProgram).
package binfmt

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MiscDir is where binfmt_misc is mounted on every Linux distribution.
const MiscDir = "/proc/sys/fs/binfmt_misc"

// Arch is a CPU architecture kiln can emulate: how its ELF executables
// start and which qemu-user emulator runs them.
type Arch struct {
	// Name is the EC2 architecture name: "arm64" or "x86_64".
	Name string
	// GOARCH is Go's name for it.
	GOARCH string
	// Machine is the ELF e_machine of its executables.
	Machine elf.Machine
	// QEMU is Debian's static emulator for it (qemu-user-static).
	QEMU string
	// HandlerName is the name kiln registers its handler under.
	HandlerName string
}

// The architectures kiln knows.
var (
	ARM64  = Arch{Name: "arm64", GOARCH: "arm64", Machine: elf.EM_AARCH64, QEMU: "/usr/bin/qemu-aarch64-static", HandlerName: "kiln-qemu-aarch64"}
	X86_64 = Arch{Name: "x86_64", GOARCH: "amd64", Machine: elf.EM_X86_64, QEMU: "/usr/bin/qemu-x86_64-static", HandlerName: "kiln-qemu-x86_64"}
)

// Arches lists them.
var Arches = []Arch{ARM64, X86_64}

// ForMachine returns the architecture of an ELF e_machine.
func ForMachine(m elf.Machine) (Arch, bool) {
	for _, a := range Arches {
		if a.Machine == m {
			return a, true
		}
	}
	return Arch{}, false
}

// ForName returns the architecture of an EC2 name ("arm64", "x86_64") or
// a Go one ("amd64").
func ForName(name string) (Arch, bool) {
	for _, a := range Arches {
		if a.Name == name || a.GOARCH == name {
			return a, true
		}
	}
	return Arch{}, false
}

// Host is the architecture kiln itself runs on.
func Host() (Arch, bool) { return ForName(runtime.GOARCH) }

// Native reports whether programs of a run on this host without emulation.
func (a Arch) Native() bool { return a.GOARCH == runtime.GOARCH }

// header is the start of an executable of a: a 64-bit little-endian ELF
// header of type typ (ET_EXEC or ET_DYN). Handlers are matched against it.
func (a Arch) header(typ elf.Type) []byte {
	h := make([]byte, 20)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h[16], h[17] = byte(typ), byte(typ>>8)
	h[18], h[19] = byte(a.Machine), byte(a.Machine>>8)
	return h
}

// registration is the line written to binfmt_misc's register file for
// kiln's own handler: match the ELF header of the architecture's static
// and dynamic executables (the mask lets e_type be 2 or 3 and ignores the
// OS ABI byte), run the emulator, flags F (the interpreter is opened now,
// so it is found inside every build root) and P (argv[0] is passed on as
// given, which busybox's applets and login shells rely on; qemu-user
// reads the kernel's AT_FLAGS to know).
func (a Arch) registration(interpreter string) string {
	magic := a.header(elf.ET_EXEC)
	mask := bytes.Repeat([]byte{0xff}, len(magic))
	mask[elf.EI_OSABI] = 0
	mask[16] = 0xfe // ET_EXEC (2) and ET_DYN (3)
	esc := func(b []byte) string {
		var s strings.Builder
		for _, c := range b {
			fmt.Fprintf(&s, `\x%02x`, c)
		}
		return s.String()
	}
	return fmt.Sprintf(":%s:M:0:%s:%s:%s:FP", a.HandlerName, esc(magic), esc(mask), interpreter)
}

// Handler is one binfmt_misc entry, as its file under MiscDir says.
type Handler struct {
	Name        string
	Enabled     bool
	Interpreter string
	Flags       string
	// Offset, Magic and Mask describe a magic-number handler; Extension
	// a file-name one (Magic empty).
	Offset    int
	Magic     []byte
	Mask      []byte
	Extension string
}

// FixBinary reports the F flag: the interpreter was opened at
// registration and is found from any mount namespace.
func (h Handler) FixBinary() bool { return strings.Contains(h.Flags, "F") }

// Matches reports whether the handler runs a file starting with head.
func (h Handler) Matches(head []byte) bool {
	if len(h.Magic) == 0 || h.Offset < 0 || h.Offset+len(h.Magic) > len(head) {
		return false
	}
	for i, m := range h.Magic {
		b := head[h.Offset+i]
		if i < len(h.Mask) {
			b &= h.Mask[i]
		}
		if b != m {
			return false
		}
	}
	return true
}

// Runs reports whether the handler runs a's executables, static and
// dynamic.
func (h Handler) Runs(a Arch) bool {
	return h.Matches(a.header(elf.ET_EXEC)) && h.Matches(a.header(elf.ET_DYN))
}

// ParseHandler parses the text of a binfmt_misc entry's file, e.g.
//
//	enabled
//	interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
//	flags: POF
//	offset 0
//	magic 7f454c460201010000000000000000000200b700
//	mask ffffffffffffff00fffffffffffffffffeffffff
func ParseHandler(name string, text []byte) (Handler, error) {
	h := Handler{Name: name}
	seenState := false
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		value = strings.TrimSpace(value)
		var err error
		switch key {
		case "enabled", "disabled":
			h.Enabled, seenState = key == "enabled", true
		case "interpreter":
			h.Interpreter = value
		case "flags:":
			h.Flags = value
		case "offset":
			h.Offset, err = strconv.Atoi(value)
			if err == nil && (h.Offset < 0 || h.Offset > 1<<16) {
				err = errors.New("out of range")
			}
		case "magic":
			h.Magic, err = hex.DecodeString(value)
		case "mask":
			h.Mask, err = hex.DecodeString(value)
		case "extension":
			h.Extension = value
		default:
			// Newer kernels may add lines; they do not change matching.
		}
		if err != nil {
			return Handler{}, fmt.Errorf("binfmt_misc entry %s, line %d (%q): %v", name, i+1, line, err)
		}
	}
	if !seenState {
		return Handler{}, fmt.Errorf("binfmt_misc entry %s: no enabled/disabled line", name)
	}
	if len(h.Mask) > len(h.Magic) {
		return Handler{}, fmt.Errorf("binfmt_misc entry %s: mask longer than magic", name)
	}
	return h, nil
}

// Handlers reads every entry registered under dir (MiscDir).
func Handlers(dir string) ([]Handler, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Handler
	for _, e := range entries {
		if e.Name() == "register" || e.Name() == "status" || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		h, err := ParseHandler(e.Name(), b)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Result says how programs of an architecture run on this host, for the
// log.
type Result struct {
	Arch Arch
	// Native: no emulation needed.
	Native bool
	// Handler is the binfmt_misc entry that runs them, Registered true
	// when kiln registered it just now.
	Handler    Handler
	Registered bool
	// Mounted is true when kiln mounted binfmt_misc itself.
	Mounted bool
}

// String is the log line: what was chosen and why.
func (r Result) String() string {
	switch {
	case r.Native:
		return fmt.Sprintf("%s programs run natively on this host", r.Arch.Name)
	case r.Registered:
		m := ""
		if r.Mounted {
			m = " (binfmt_misc was not mounted; kiln mounted it at " + MiscDir + ")"
		}
		return fmt.Sprintf("%s programs run under %s: no binfmt_misc handler was registered for them, so kiln registered %s with the fix-binary flag%s", r.Arch.Name, r.Handler.Interpreter, r.Handler.Name, m)
	}
	return fmt.Sprintf("%s programs run under %s through the host's binfmt_misc handler %s (flags %s)", r.Arch.Name, r.Handler.Interpreter, r.Handler.Name, r.Handler.Flags)
}

// Options adjust Ensure; the zero value is the real host.
type Options struct {
	// Dir is binfmt_misc's mount point, MiscDir by default.
	Dir string
	// Interpreter overrides the architecture's Debian emulator path.
	Interpreter string
	// ProbeDir is where the proof program is written (it must allow
	// exec); os.TempDir() by default.
	ProbeDir string
}

// Ensure makes programs of a run on this host, or says why they cannot:
// natively; else through an enabled binfmt_misc handler with the F flag;
// else through a handler Ensure registers for Debian's qemu-user-static
// emulator (mounting binfmt_misc first when it is not). Either way it
// runs ExitProgram to prove it.
func Ensure(a Arch, o Options) (Result, error) {
	r := Result{Arch: a}
	if a.Native() {
		r.Native = true
		return r, nil
	}
	dir := o.Dir
	if dir == "" {
		dir = MiscDir
	}
	interp := o.Interpreter
	if interp == "" {
		interp = a.QEMU
	}
	if _, err := os.Stat(filepath.Join(dir, "register")); err != nil {
		if err := unix.Mount("binfmt_misc", dir, "binfmt_misc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return r, fmt.Errorf("binfmt_misc is not mounted at %s and mounting it failed (%v): %s programs cannot run on this host; mount it (mount -t binfmt_misc binfmt_misc %s) or run kiln as root on a kernel with binfmt_misc", dir, err, a.Name, dir)
		}
		r.Mounted = true
	}
	if b, err := os.ReadFile(filepath.Join(dir, "status")); err == nil && strings.TrimSpace(string(b)) == "disabled" {
		return r, fmt.Errorf("binfmt_misc is disabled on this host (%s/status): %s programs cannot run; enable it with echo 1 > %s/status", dir, a.Name, dir)
	}
	handlers, err := Handlers(dir)
	if err != nil {
		return r, fmt.Errorf("reading binfmt_misc handlers: %w", err)
	}
	var unfixed []Handler
	for _, h := range handlers {
		if !h.Enabled || !h.Runs(a) {
			continue
		}
		if !h.FixBinary() {
			unfixed = append(unfixed, h)
			continue
		}
		r.Handler = h
		return r, probe(r, o.ProbeDir)
	}
	if len(unfixed) > 0 {
		h := unfixed[0]
		return r, fmt.Errorf("the host's binfmt_misc handler %s runs %s programs with %s but without the fix-binary (F) flag, so the emulator is not found inside a build's root; re-register it with F (Debian's qemu-user-binfmt does), or disable it (echo 0 > %s/%s) and kiln registers its own",
			h.Name, a.Name, h.Interpreter, dir, h.Name)
	}
	if _, err := os.Stat(interp); err != nil {
		return r, fmt.Errorf("no binfmt_misc handler runs %s programs and the emulator %s is missing: apt-get install qemu-user-static", a.Name, interp)
	}
	if err := register(dir, a.registration(interp)); err != nil {
		return r, fmt.Errorf("no binfmt_misc handler runs %s programs and registering %s failed: %w (kiln needs root, and a binfmt_misc it may write to)", a.Name, interp, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, a.HandlerName))
	if err != nil {
		return r, fmt.Errorf("registered %s but cannot read it back: %w", a.HandlerName, err)
	}
	if r.Handler, err = ParseHandler(a.HandlerName, b); err != nil {
		return r, err
	}
	r.Registered = true
	return r, probe(r, o.ProbeDir)
}

func register(dir, line string) error {
	f, err := os.OpenFile(filepath.Join(dir, "register"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(line)); err != nil {
		f.Close()
		if errors.Is(err, unix.EEXIST) {
			return nil // registered meanwhile (another kiln)
		}
		return err
	}
	return f.Close()
}

// probeExit is the status the proof program exits with.
const probeExit = 42

// probe runs ExitProgram of the architecture and checks its status.
func probe(r Result, dir string) error {
	f, err := os.CreateTemp(dir, "kiln-binfmt-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(ExitProgram(r.Arch, probeExit))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755)
	}
	if err != nil {
		return err
	}
	out, err := exec.Command(f.Name()).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == probeExit {
		return nil
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("a %s test program did not run through binfmt_misc handler %s (%s): %v %s", r.Arch.Name, r.Handler.Name, r.Handler.Interpreter, err, bytes.TrimSpace(out))
}

// ExitProgram returns a minimal static executable of a that calls exit
// with code: one loadable segment of three instructions. It proves that
// programs of a run here, without any file of the architecture at hand.
func ExitProgram(a Arch, code byte) []byte {
	var text []byte
	le32 := func(v uint32) { text = append(text, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	switch a.Machine {
	case elf.EM_AARCH64:
		le32(0xd2800000 | uint32(code)<<5) // movz x0, #code
		le32(0xd2800000 | 93<<5 | 8)       // movz x8, #93 (exit)
		le32(0xd4000001)                   // svc #0
	case elf.EM_X86_64:
		text = append(text, 0xbf, code, 0, 0, 0) // mov edi, code
		text = append(text, 0xb8, 60, 0, 0, 0)   // mov eax, 60 (exit)
		text = append(text, 0x0f, 0x05)          // syscall
	}
	const base, ehsize, phsize = 0x400000, 64, 56
	size := uint64(ehsize + phsize + len(text))
	b := make([]byte, 0, size)
	u16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
	u32 := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	u64 := func(v uint64) { u32(uint32(v)); u32(uint32(v >> 32)) }
	b = append(b, a.header(elf.ET_EXEC)[:16]...)
	u16(uint16(elf.ET_EXEC))
	u16(uint16(a.Machine))
	u32(uint32(elf.EV_CURRENT))
	u64(base + ehsize + phsize) // e_entry
	u64(ehsize)                 // e_phoff
	u64(0)                      // e_shoff
	u32(0)                      // e_flags
	u16(ehsize)
	u16(phsize)
	u16(1) // e_phnum
	u16(0)
	u16(0)
	u16(0)
	u32(uint32(elf.PT_LOAD))
	u32(uint32(elf.PF_R | elf.PF_X))
	u64(0)    // p_offset
	u64(base) // p_vaddr
	u64(base) // p_paddr
	u64(size) // p_filesz
	u64(size) // p_memsz
	u64(0x1000)
	return append(b, text...)
}
