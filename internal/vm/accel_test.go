package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// fakeQEMU is kilntest.FakeKVMQEMU's QEMU and KVM device.
func fakeQEMU(t *testing.T, mode string) (qemu, kvmDevice string) {
	_, qemu, kvmDevice = kilntest.FakeKVMQEMU(t, mode)
	return qemu, kvmDevice
}

// TestProbeFirmware checks the probe boot itself under TCG: its firmware
// runs and ends QEMU with the expected status.
func TestProbeFirmware(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (CI installs qemu-system-x86)")
	}
	if err := probe(context.Background(), qemu, AccelTCG); err != nil {
		t.Fatal(err)
	}
}

// TestChooseAccel covers the choice on every kind of host: no KVM device
// (as on this CI machine), a KVM that aborts guests, a working KVM, and
// each mode.
func TestChooseAccel(t *testing.T) {
	abort, abortDev := fakeQEMU(t, kilntest.KVMAbortsAll)
	works, worksDev := fakeQEMU(t, kilntest.KVMAbortsBoot) // the probe passes
	missing := filepath.Join(t.TempDir(), "no-kvm")
	tests := []struct {
		name      string
		opts      AccelOptions
		want      string
		wantErr   string
		reasonHas string
	}{
		{name: "no KVM device", opts: AccelOptions{KVMDevice: missing}, want: AccelTCG, reasonHas: "does not open"},
		{name: "no KVM device, kvm insisted on", opts: AccelOptions{Mode: AccelKVM, KVMDevice: missing}, wantErr: "does not open"},
		{name: "tcg never tries KVM", opts: AccelOptions{Mode: AccelTCG, QEMU: "/nonexistent", KVMDevice: worksDev}, want: AccelTCG, reasonHas: "not tried"},
		{name: "KVM aborts the probe", opts: AccelOptions{QEMU: abort, KVMDevice: abortDev}, want: AccelTCG, reasonHas: "failed to set MSR 0x10a"},
		{name: "KVM aborts, kvm insisted on", opts: AccelOptions{Mode: AccelKVM, QEMU: abort, KVMDevice: abortDev}, wantErr: "failed to set MSR 0x10a"},
		{name: "KVM works", opts: AccelOptions{Mode: AccelAuto, QEMU: works, KVMDevice: worksDev}, want: AccelKVM, reasonHas: "probe boot under KVM succeeded"},
		{name: "KVM works, kvm insisted on", opts: AccelOptions{Mode: AccelKVM, QEMU: works, KVMDevice: worksDev}, want: AccelKVM},
		{name: "unknown mode", opts: AccelOptions{Mode: "hvf"}, wantErr: `accelerator "hvf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.CacheDir = t.TempDir()
			got, err := ChooseAccel(context.Background(), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Accel != tt.want || !strings.Contains(got.Reason, tt.reasonHas) {
				t.Errorf("ChooseAccel = %+v, want %s because of %q", got, tt.want, tt.reasonHas)
			}
		})
	}
}

// TestChooseAccelCachesVerdict checks that a probe's verdict is written to
// the data directory and reused, and that a verdict for another QEMU or
// kernel is not.
func TestChooseAccelCachesVerdict(t *testing.T) {
	abort, dev := fakeQEMU(t, kilntest.KVMAbortsAll)
	dir := t.TempDir()
	opts := AccelOptions{QEMU: abort, KVMDevice: dev, CacheDir: dir}
	first, err := ChooseAccel(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Accel != AccelTCG || !strings.HasPrefix(first.Reason, "probe ") {
		t.Fatalf("first choice = %+v, want tcg from a probe", first)
	}
	var v accelVerdict
	b, err := os.ReadFile(filepath.Join(dir, AccelCacheFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil || v.KVM || v.QEMUVersion == "" || v.KernelRelease == "" {
		t.Fatalf("cached verdict %s (%v): want kvm false with the QEMU version and kernel release", b, err)
	}
	// The cache now says KVM works: a second choice believes it, which
	// shows that it read the cache rather than probed (the probe fails).
	v.KVM, v.Reason = true, "planted"
	b, _ = json.Marshal(v)
	os.WriteFile(filepath.Join(dir, AccelCacheFile), b, 0o644)
	second, err := ChooseAccel(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Accel != AccelKVM || !strings.HasPrefix(second.Reason, "cached probe") {
		t.Fatalf("second choice = %+v, want kvm from the cache", second)
	}
}

// TestReadVerdict is the cache's validity rule.
func TestReadVerdict(t *testing.T) {
	key := accelVerdict{QEMUVersion: "7.2.22", KernelRelease: "6.1.0-57-amd64"}
	good := accelVerdict{QEMUVersion: "7.2.22", KernelRelease: "6.1.0-57-amd64", KVM: true, Reason: "probe ok"}
	enc := func(v accelVerdict) string { b, _ := json.Marshal(v); return string(b) }
	otherQEMU, otherKernel, noReason := good, good, good
	otherQEMU.QEMUVersion = "8.2.0"
	otherKernel.KernelRelease = "6.12.0-1-amd64"
	noReason.Reason = ""
	tests := []struct {
		name, file string
		ok         bool
	}{
		{"same QEMU and kernel", enc(good), true},
		{"QEMU upgraded", enc(otherQEMU), false},
		{"kernel changed", enc(otherKernel), false},
		{"no reason: not a verdict", enc(noReason), false},
		{"truncated", enc(good)[:20], false},
		{"empty", "", false},
		{"missing", "-", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), AccelCacheFile)
			if tt.file != "-" {
				os.WriteFile(path, []byte(tt.file), 0o644)
			}
			v, ok := readVerdict(path, key)
			if ok != tt.ok || (ok && v != good) {
				t.Errorf("readVerdict = %+v, %v; want ok %v", v, ok, tt.ok)
			}
		})
	}
}

func FuzzReadVerdict(f *testing.F) {
	f.Add([]byte(`{"qemuVersion":"7.2.22","kernelRelease":"6.1.0","kvm":true,"reason":"x"}`))
	f.Add([]byte(`{"kvm":"yes"}`))
	key := accelVerdict{QEMUVersion: "7.2.22", KernelRelease: "6.1.0"}
	path := filepath.Join(f.TempDir(), AccelCacheFile)
	f.Fuzz(func(t *testing.T, b []byte) {
		os.WriteFile(path, b, 0o644)
		v, ok := readVerdict(path, key)
		if ok && (v.QEMUVersion != key.QEMUVersion || v.KernelRelease != key.KernelRelease || v.Reason == "") {
			t.Errorf("accepted %+v for key %+v", v, key)
		}
	})
}

// TestKVMAbort is the rule telling a KVM abort from other QEMU failures.
func TestKVMAbort(t *testing.T) {
	abrt := exec.Command("sh", "-c", "kill -ABRT $$").Run()
	exit1 := exec.Command("sh", "-c", "exit 1").Run()
	tests := []struct {
		name   string
		err    error
		stderr string
		want   bool
	}{
		{"SIGABRT", abrt, "", true},
		{"MSR message", exit1, "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x2000000e1", true},
		{"KVM message", exit1, "qemu-system-x86_64: kvm run failed Invalid argument", true},
		{"missing kernel", exit1, "qemu-system-x86_64: could not load kernel '/nonexistent'", false},
	}
	for _, tt := range tests {
		if got := kvmAbort(tt.err, tt.stderr); got != tt.want {
			t.Errorf("%s: kvmAbort = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestBootFallsBackToTCG boots the agent initramfs through a QEMU that
// aborts under KVM: Boot alone reports ErrKVMAborted; BootAgent says why
// and boots again under TCG, to a working agent.
func TestBootFallsBackToTCG(t *testing.T) {
	_, kernel, _, initrd := bootInitramfs(t)
	qemu, _ := fakeQEMU(t, kilntest.KVMAbortsAll)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := Config{Kernel: kernel, Initrd: initrd, Append: "console=ttyS0 panic=-1 quiet", QEMU: qemu, Accel: AccelKVM}

	m, err := Boot(ctx, cfg)
	if err == nil {
		_, err = m.Agent(ctx)
		m.Kill()
	}
	if !errors.Is(err, ErrKVMAborted) || !strings.Contains(err.Error(), "MSR 0x10a") {
		t.Fatalf("boot under an aborting KVM: err = %v, want ErrKVMAborted with QEMU's message", err)
	}

	var console kilntest.SyncBuffer
	cfg.Console = &console
	var why error
	m, c, err := BootAgent(ctx, ctx, cfg, func(reason error) { why = reason })
	if m != nil {
		defer m.Kill()
	}
	if err != nil {
		t.Fatalf("BootAgent: %v\nconsole:\n%s", err, console.String())
	}
	if m.Accel() != AccelTCG {
		t.Errorf("machine runs under %s, want tcg", m.Accel())
	}
	if why == nil || !strings.Contains(why.Error(), "failed to set MSR 0x10a") {
		t.Errorf("fallback reason = %v, want QEMU's MSR message", why)
	}
	if !c.Hello().PID1 {
		t.Errorf("hello = %+v, want the agent as PID 1", c.Hello())
	}
	if err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(); err != nil {
		t.Errorf("Wait after power off: %v", err)
	}
}

// TestBootNoKVMDevice: without a KVM device the choice is TCG, and the
// machine's QEMU command line has no KVM option.
func TestBootNoKVMDevice(t *testing.T) {
	c, err := ChooseAccel(context.Background(), AccelOptions{KVMDevice: filepath.Join(t.TempDir(), "kvm"), CacheDir: t.TempDir()})
	if err != nil || c.Accel != AccelTCG {
		t.Fatalf("ChooseAccel without a KVM device = %+v, %v; want tcg", c, err)
	}
	args, err := qemuArgs(withDefaults(Config{Kernel: "/vmlinuz"}), c.Accel, "/sock")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	if strings.Contains(line, "kvm") || !strings.Contains(line, "-accel tcg") {
		t.Errorf("QEMU arguments %q: want TCG and no KVM", line)
	}
}

// TestProbeFirmwareSource checks that probeCode and probeResetVector are
// what testdata/kvmprobe.S assembles to, with GNU as and objcopy (binutils,
// which CI has with gcc).
func TestProbeFirmwareSource(t *testing.T) {
	for _, tool := range []string{"as", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (binutils)", tool)
		}
	}
	dir := t.TempDir()
	obj, img := filepath.Join(dir, "kvmprobe.o"), filepath.Join(dir, "kvmprobe.fd")
	for _, args := range [][]string{{"as", "--32", "-o", obj, "testdata/kvmprobe.S"}, {"objcopy", "-O", "binary", obj, img}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	want, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if got := probeFirmware(); !bytes.Equal(got, want) {
		t.Errorf("probeFirmware() differs from testdata/kvmprobe.S assembled (%d and %d bytes): update probeCode and probeResetVector", len(got), len(want))
	}
}

// TestOwnedByRootAlone: the host-wide verdict cache is used only from a
// directory no other local user can write into or redirect, so nobody can
// plant a verdict that makes kiln boot guests under a KVM that hangs them.
func TestOwnedByRootAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the directories must be root's")
	}
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	private := mk("private", 0o700)
	link := filepath.Join(base, "link")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	notRoots := mk("not-roots", 0o700)
	if err := os.Chown(notRoots, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
		want      bool
	}{
		{"root's, 0700", private, true},
		{"root's, 0755", mk("readable", 0o755), true},
		{"world-writable", mk("world", 0o777), false},
		{"sticky and world-writable, like /tmp", mk("sticky", 0o1777), false},
		{"group-writable", mk("group", 0o770), false},
		{"a symbolic link to root's directory", link, false},
		{"another user's", notRoots, false},
		{"missing", filepath.Join(base, "missing"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownedByRootAlone(tt.dir); got != tt.want {
				t.Errorf("ownedByRootAlone(%s) = %v, want %v", tt.dir, got, tt.want)
			}
		})
	}
}
