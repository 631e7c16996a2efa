package binfmt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// debianAArch64 is the entry Debian's qemu-user-binfmt registers.
const debianAArch64 = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestParseHandler(t *testing.T) {
	tests := []struct {
		name, text string
		want       Handler
		runsARM64  bool
		runsX86    bool
		err        string
	}{
		{name: "debian aarch64", text: debianAArch64, runsARM64: true, want: Handler{
			Enabled: true, Interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", Flags: "POCF"}},
		{name: "disabled x86_64", text: "disabled\ninterpreter /usr/bin/qemu-x86_64-static\nflags: F\noffset 0\nmagic 7f454c4602010100000000000000000002003e00\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
			runsX86: true, want: Handler{Interpreter: "/usr/bin/qemu-x86_64-static", Flags: "F"}},
		{name: "extension", text: "enabled\ninterpreter /usr/bin/python3.11\nflags: \nextension .pyc\n",
			want: Handler{Enabled: true, Interpreter: "/usr/bin/python3.11", Extension: ".pyc"}},
		// Without a mask e_type must be 2: dynamic executables (PIE) would
		// not run, so the handler does not count.
		{name: "magic without mask", text: "enabled\ninterpreter /x\nflags: F\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n", want: Handler{Enabled: true, Interpreter: "/x", Flags: "F"}},
		{name: "bad hex", text: "enabled\nmagic 7g\n", err: "line 2"},
		{name: "negative offset", text: "enabled\noffset -1\n", err: "out of range"},
		{name: "no state", text: "interpreter /x\n", err: "no enabled/disabled"},
		{name: "mask longer", text: "enabled\nmagic 7f\nmask ffff\n", err: "mask longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHandler("h", []byte(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Enabled != tt.want.Enabled || h.Interpreter != tt.want.Interpreter || h.Flags != tt.want.Flags || h.Extension != tt.want.Extension {
				t.Errorf("got %+v, want %+v", h, tt.want)
			}
			if got := h.Runs(ARM64); got != tt.runsARM64 {
				t.Errorf("Runs(arm64) = %v", got)
			}
			if got := h.Runs(X86_64); got != tt.runsX86 {
				t.Errorf("Runs(x86_64) = %v", got)
			}
		})
	}
}

// TestRegistrationMatches checks the line kiln registers against the
// matching rule the kernel applies: its magic and mask run the
// architecture's static and dynamic executables and nothing else.
func TestRegistrationMatches(t *testing.T) {
	for _, a := range Arches {
		line := a.registration(a.QEMU)
		f := strings.Split(line, ":")
		if len(f) != 8 || f[1] != a.HandlerName || f[2] != "M" || f[6] != a.QEMU || f[7] != "FP" {
			t.Fatalf("%s: registration %q", a.Name, line)
		}
		unescape := func(s string) []byte {
			var b []byte
			for _, p := range strings.Split(s, `\x`)[1:] {
				var c byte
				for _, d := range p {
					c = c<<4 | byte(strings.IndexRune("0123456789abcdef", d))
				}
				b = append(b, c)
			}
			return b
		}
		h := Handler{Enabled: true, Flags: "F", Magic: unescape(f[4]), Mask: unescape(f[5])}
		for _, b := range Arches {
			if got := h.Runs(b); got != (a == b) {
				t.Errorf("%s handler runs %s: %v", a.Name, b.Name, got)
			}
		}
		if h.Matches([]byte("#!/bin/sh\n")) {
			t.Errorf("%s handler matches a script", a.Name)
		}
	}
}

// TestExitProgram runs the proof programs: the host's own natively, the
// other through its emulator called directly (no binfmt_misc involved).
func TestExitProgram(t *testing.T) {
	dir := t.TempDir()
	for _, a := range Arches {
		t.Run(a.Name, func(t *testing.T) {
			p := filepath.Join(dir, a.Name)
			if err := os.WriteFile(p, ExitProgram(a, 7), 0o755); err != nil {
				t.Fatal(err)
			}
			argv := []string{p}
			if !a.Native() {
				if _, err := os.Stat(a.QEMU); err != nil {
					t.Skipf("%s not installed (apt-get install qemu-user-static)", a.QEMU)
				}
				argv = []string{a.QEMU, p}
			}
			err := exec.Command(argv[0], argv[1:]...).Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 7 {
				t.Fatalf("%v: %v, want exit status 7", argv, err)
			}
		})
	}
}

// TestEnsureHost makes the host run arm64 (or, on arm64, x86_64) programs
// as a build would: it uses or registers a handler and runs the proof.
func TestEnsureHost(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("registering a binfmt_misc handler needs root")
	}
	foreign := ARM64
	if runtime.GOARCH == "arm64" {
		foreign = X86_64
	}
	if _, err := os.Stat(foreign.QEMU); err != nil {
		t.Skipf("%s not installed (apt-get install qemu-user-static)", foreign.QEMU)
	}
	r, err := Ensure(foreign, Options{ProbeDir: t.TempDir()})
	if err != nil {
		if strings.Contains(err.Error(), "registering") || strings.Contains(err.Error(), "mounting it failed") {
			t.Skipf("this host cannot register binfmt_misc handlers: %v", err)
		}
		t.Fatal(err)
	}
	t.Log(r)
	if !r.Handler.FixBinary() || !r.Handler.Runs(foreign) {
		t.Errorf("chosen handler %+v", r.Handler)
	}
	// A second call finds the handler registered by the first.
	r2, err := Ensure(foreign, Options{ProbeDir: t.TempDir()})
	if err != nil || r2.Registered {
		t.Errorf("second Ensure: %v, registered again %v", err, r2.Registered)
	}
	native, _ := Host()
	if r, err := Ensure(native, Options{}); err != nil || !r.Native {
		t.Errorf("Ensure(native): %+v, %v", r, err)
	}
}

func FuzzParseHandler(f *testing.F) {
	f.Add([]byte(debianAArch64))
	f.Add([]byte("enabled\nextension .jar\n"))
	f.Add([]byte("disabled\noffset 99999999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHandler("f", b)
		if err != nil {
			return
		}
		// Matching never reads outside the header it is given.
		for _, a := range Arches {
			h.Runs(a)
		}
		h.Matches(nil)
	})
}
