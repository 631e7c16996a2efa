package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestDoctorRender(t *testing.T) {
	tests := []struct {
		name   string
		checks []doctorCheck
		ok     bool
		want   []string
		absent []string
	}{
		{
			name: "all OK",
			checks: []doctorCheck{
				{Name: "root", Status: doctorOK, Found: "running as root", Needed: neededBuilds},
				{Name: "overlayfs", Status: doctorOK, Found: "an overlay mounted", Needed: neededBuilds},
			},
			ok: true,
			want: []string{
				"OK    root       running as root\n",
				"OK    overlayfs  an overlay mounted\n",
				"\nEverything kiln uses works on this host.\n",
			},
			absent: []string{"->"},
		},
		{
			name: "a warning with its fix",
			checks: []doctorCheck{
				{Name: "KVM", Status: doctorWarn, Found: "/dev/kvm does not open", Fix: "modprobe kvm_intel", Needed: neededFaster},
			},
			ok: true,
			want: []string{
				"WARN  KVM  /dev/kvm does not open\n",
				"           -> modprobe kvm_intel\n",
				"0 FAIL, 1 WARN: kiln can build here",
			},
		},
		{
			name: "a failure makes the report not OK",
			checks: []doctorCheck{
				{Name: "qemu-img", Status: doctorFail, Found: "qemu-img is not on PATH", Fix: "apt-get install qemu-utils", Needed: neededMachines},
				{Name: "skopeo", Status: doctorWarn, Found: "skopeo is not on PATH", Fix: "apt-get install skopeo", Needed: neededUsers},
			},
			ok: false,
			want: []string{
				"FAIL  qemu-img  qemu-img is not on PATH\n",
				"-> apt-get install qemu-utils\n",
				"WARN  skopeo    skopeo is not on PATH\n",
				"1 FAIL, 1 WARN: builds fail on this host until the FAIL lines are fixed.",
			},
		},
		{
			name: "a tool's multi-line answer stays on one line",
			checks: []doctorCheck{
				{Name: "QEMU", Status: doctorOK, Found: "QEMU emulator version 7.2\nCopyright (c)", Needed: neededMachines},
			},
			ok:   true,
			want: []string{"OK    QEMU  QEMU emulator version 7.2 Copyright (c)\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newDoctorReport(tt.checks)
			if r.OK != tt.ok {
				t.Errorf("OK = %v, want %v", r.OK, tt.ok)
			}
			var b strings.Builder
			renderDoctor(&b, r)
			got := b.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("unexpected %q in:\n%s", a, got)
				}
			}
			// The JSON form carries the same checks and verdict.
			js, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back doctorReport
			if err := json.Unmarshal(js, &back); err != nil || back.OK != r.OK || len(back.Checks) != len(tt.checks) {
				t.Errorf("JSON round trip: %s (%v)", js, err)
			}
		})
	}
}

func TestDoctorDiskSpace(t *testing.T) {
	tests := []struct {
		free   int64
		status doctorStatus
		found  string
	}{
		{free: 512 << 20, status: doctorFail, found: "512.0 MiB free of 100.0 GiB on the filesystem of /data"},
		{free: 5 << 30, status: doctorWarn, found: "5.0 GiB free"},
		{free: 50 << 30, status: doctorOK, found: "50.0 GiB free"},
		{free: 0, status: doctorFail, found: "0 B free"},
	}
	for _, tt := range tests {
		c := diskSpaceCheck("/data", tt.free, 100<<30)
		if c.Status != tt.status || !strings.Contains(c.Found, tt.found) {
			t.Errorf("free %d: %s %q, want %s %q", tt.free, c.Status, c.Found, tt.status, tt.found)
		}
		if (c.Status == doctorOK) != (c.Fix == "") {
			t.Errorf("free %d: status %s with fix %q", tt.free, c.Status, c.Fix)
		}
	}
}

func TestDoctorMissingTool(t *testing.T) {
	tests := []struct {
		needed string
		status doctorStatus
	}{
		{neededBuilds, doctorFail},
		{neededMachines, doctorFail},
		{neededFaster, doctorWarn},
		{neededUsers, doctorWarn},
	}
	for _, tt := range tests {
		c := checkTool(t.Context(), "ghost", tt.needed, "ghost-utils", "haunting", "kiln-no-such-program-here", "--version")
		if c.Status != tt.status || c.Fix != "apt-get install ghost-utils" || !strings.Contains(c.Found, "not on PATH") {
			t.Errorf("needed %s: %+v", tt.needed, c)
		}
	}
}

// doctorChecks are the lines every report has, in order.
var doctorChecks = []string{"root", "kiln binary", "namespaces", "overlayfs", "disk space", "cgroup limits", "build network",
	"KVM", "QEMU", "qemu-img", "mkfs.ext4", "debugfs", "grub-mkimage", "GRUB for BIOS", "GRUB for UEFI", "mkfs.fat", "mtools",
	"arm64 images", "xz", "skopeo", "aws CLI", "parent images"}

// runDoctorBinary runs `kiln doctor` from bin and returns its output and
// exit code.
func runDoctorBinary(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"doctor"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("kiln doctor: %v\n%s", err, stderr.String())
	return "", -1
}

// TestDoctorEndToEnd runs the real `kiln doctor` on this host, as JSON
// and as text, and checks the report is whole, its verdict matches its
// exit code, and that what the build tests rely on is OK here.
func TestDoctorEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	out, code := runDoctorBinary(t, kilntest.Binary(t), "--data-dir", dataDir, "--json")
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("kiln doctor --json: %v\n%s", err, out)
	}
	var names []string
	failed := false
	for _, c := range r.Checks {
		names = append(names, c.Name)
		t.Logf("%-4s %-13s %s", c.Status, c.Name, c.Found)
		switch c.Status {
		case doctorOK:
		case doctorWarn, doctorFail:
			if c.Fix == "" {
				t.Errorf("%s is %s without a fix", c.Name, c.Status)
			}
			failed = failed || c.Status == doctorFail
		default:
			t.Errorf("%s has status %q", c.Name, c.Status)
		}
		if c.Found == "" || c.Needed == "" {
			t.Errorf("%s: empty found or needed: %+v", c.Name, c)
		}
	}
	if strings.Join(names, ",") != strings.Join(doctorChecks, ",") {
		t.Errorf("checks %v, want %v", names, doctorChecks)
	}
	if r.OK == failed || (code == 0) != r.OK {
		t.Errorf("ok %v, a FAIL %v, exit code %d", r.OK, failed, code)
	}
	if os.Geteuid() == 0 {
		// The build tests run here: what they need must be OK, and the
		// overlay was tried in the data directory given.
		for _, c := range r.Checks {
			switch c.Name {
			case "root", "namespaces", "overlayfs":
				if c.Status != doctorOK {
					t.Errorf("%s: %s %s", c.Name, c.Status, c.Found)
				}
			case "kiln binary":
				if c.Status != doctorOK || !strings.Contains(c.Found, "statically linked") {
					t.Errorf("the test binary is built with CGO_ENABLED=0: %s", c.Found)
				}
			}
			if c.Name == "overlayfs" && !strings.Contains(c.Found, "the data directory "+dataDir) {
				t.Errorf("overlay not tried in --data-dir: %s", c.Found)
			}
		}
		if ents, _ := os.ReadDir(dataDir); len(ents) != 0 {
			t.Errorf("kiln doctor left %d entries in the data directory", len(ents))
		}
	}

	text, textCode := runDoctorBinary(t, kilntest.Binary(t), "--data-dir", dataDir)
	if textCode != code {
		t.Errorf("text exit code %d, JSON %d", textCode, code)
	}
	for _, n := range doctorChecks {
		if !strings.Contains(text, "  "+n+" ") {
			t.Errorf("the text report has no %s line:\n%s", n, text)
		}
	}
	if !strings.Contains(text, "FAIL, ") && !strings.Contains(text, "Everything kiln uses works") {
		t.Errorf("no verdict:\n%s", text)
	}

	if _, code := runDoctorBinary(t, kilntest.Binary(t), "--no-such-flag"); code != 2 {
		t.Errorf("a bad flag exits %d, want 2", code)
	}
}

// TestDoctorSeesAPlainGoBuild checks kiln doctor tells a dynamically
// linked kiln (a plain `go build`) and names what builds carry for it.
func TestDoctorSeesAPlainGoBuild(t *testing.T) {
	t.Parallel()
	out, _ := runDoctorBinary(t, kilntest.DynamicBinary(t), "--data-dir", t.TempDir(), "--json")
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range r.Checks {
		if c.Name == "kiln binary" {
			if c.Status != doctorOK || !strings.Contains(c.Found, "dynamically linked") || !strings.Contains(c.Found, "libc") {
				t.Errorf("kiln binary: %s %s", c.Status, c.Found)
			}
			return
		}
	}
	t.Error("no kiln binary check")
}
