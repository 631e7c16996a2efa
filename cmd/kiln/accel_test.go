package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// TestServeAccel: kiln serve --accel (KILN_ACCEL) refuses a value it does
// not know, and kvm refuses to start where KVM does not work — without a
// KVM device, or with one whose guests QEMU aborts — saying why.
func TestServeAccel(t *testing.T) {
	t.Parallel()
	fakeDir, _, dev := kilntest.FakeKVMQEMU(t, kilntest.KVMAbortsAll)
	missing := filepath.Join(t.TempDir(), "kvm")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown accelerator", []string{"--accel", "hvf"}, nil, `accelerator "hvf": want auto, kvm or tcg`},
		{"kvm without a KVM device", []string{"--accel", "kvm"}, []string{testKVMDeviceEnv + "=" + missing}, "--accel kvm, but KVM does not work here: " + missing + " does not open"},
		{"KILN_ACCEL=kvm without a KVM device", nil, []string{"KILN_ACCEL=kvm", testKVMDeviceEnv + "=" + missing}, "does not open"},
		{"kvm whose guests abort", []string{"--accel", "kvm"}, []string{testKVMDeviceEnv + "=" + dev, "PATH=" + fakeDir + ":" + os.Getenv("PATH")}, "failed to set MSR 0x10a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			cmd := exec.Command(kilntest.Binary(t), args...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("kiln serve %v: err %v, output %s; want a failure saying %q", tc.args, err, out, tc.want)
			}
		})
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		out, err := exec.Command(kilntest.Binary(t), "ami", "run", "--accel", "kvm", "--data-dir", t.TempDir(), "ami-00000000000000001").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "/dev/kvm does not open") {
			t.Errorf("kiln ami run --accel kvm without /dev/kvm: err %v, output %s", err, out)
		}
	}
}

// TestMachineImageKVMFallback builds a machine image on a host whose KVM
// passes the probe boot but aborts the real guest, as nested
// virtualisation does ("failed to set MSR 0x10a"): a fake QEMU first on
// PATH plays that host. kiln chooses KVM and caches the verdict, the test
// instance's boot aborts, boots again under TCG, and the image is built;
// the step log says why.
func TestMachineImageKVMFallback(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	fakeDir, _, dev := kilntest.FakeKVMQEMU(t, kilntest.KVMAbortsBoot)
	dir := t.TempDir()
	f := startBuildFixture(t, []string{"PATH=" + fakeDir + ":" + os.Getenv("PATH"), testKVMDeviceEnv + "=" + dev}, true, nil, "--allow-import-dir", dir)
	_, parentAMI := importParent(t, f, dir)
	test := f.component(t, "booted", machineTestComponent)
	image := f.machineImage(t, "machine-kvm-fallback", parentAMI, test)
	img := f.waitImage(t, image, 10*time.Minute)
	logs := f.logs(t, image)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), logs)
	}
	for _, want := range []string{
		"QEMU aborted under KVM; booting the test instance again under TCG",
		"failed to set MSR 0x10a",
		"test instance booted (tcg)",
		"TESTED-IN-GUEST",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("build log lacks %q:\n%s", want, logs)
		}
	}
	if log := f.srv.Log(); !strings.Contains(log, "accel=kvm") || !strings.Contains(log, "probe boot under KVM succeeded") {
		t.Errorf("server log does not give the accelerator and why:\n%s", log)
	}
	b, err := os.ReadFile(filepath.Join(f.srv.DataDir, "vm-accel.json"))
	var verdict struct {
		KVM bool `json:"kvm"`
	}
	if err != nil || json.Unmarshal(b, &verdict) != nil || !verdict.KVM {
		t.Errorf("cached verdict: %s (%v), want kvm true", b, err)
	}
}
