package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/vm/agent"
	"golang.org/x/sys/unix"
)

// The accelerator choices of kiln serve --accel and kiln ami run --accel.
const (
	// AccelAuto uses KVM when /dev/kvm opens and a probe boot under it
	// succeeds, else TCG.
	AccelAuto = "auto"
	// AccelKVM insists on KVM: choosing fails when it does not work.
	AccelKVM = "kvm"
	// AccelTCG is QEMU's software emulation; KVM is never tried.
	AccelTCG = "tcg"
)

// ErrKVMAborted marks the errors of Boot, Machine.Agent and Machine.Wait
// when QEMU, running under KVM, died on its own before the guest agent
// connected and said why in terms of KVM: on hosts whose /dev/kvm opens
// but cannot run guests (nested virtualisation refusing an MSR, "failed
// to set MSR 0x10a") QEMU aborts at the first vCPU reset. The same
// machine boots under TCG; callers retry once with Config.Accel = "tcg".
var ErrKVMAborted = errors.New("QEMU aborted under KVM")

// AccelOptions says how ChooseAccel decides.
type AccelOptions struct {
	// Mode is AccelAuto (or ""), AccelKVM or AccelTCG.
	Mode string
	// QEMU is the emulator binary, default "qemu-system-x86_64".
	QEMU string
	// CacheDir keeps the verdict of the probe (kiln's data directory);
	// "" probes every time.
	CacheDir string
	// KVMDevice is the KVM device, default /dev/kvm.
	KVMDevice string
}

// AccelChoice is ChooseAccel's verdict and the reason for it, which
// kiln logs: an operator whose builds run slowly under TCG needs to see
// why KVM was not used.
type AccelChoice struct {
	Accel  string // AccelKVM or AccelTCG
	Reason string
}

// AccelCacheFile is the name of the verdict cache in AccelOptions.CacheDir.
const AccelCacheFile = "vm-accel.json"

// accelVerdict is the cached result of a probe. It holds for the QEMU and
// host kernel it was made with: a new QEMU or kernel (a changed host,
// another KVM module) probes again.
type accelVerdict struct {
	QEMUVersion   string `json:"qemuVersion"`
	KernelRelease string `json:"kernelRelease"`
	KVM           bool   `json:"kvm"`
	Reason        string `json:"reason"`
}

// ChooseAccel decides which accelerator QEMU runs machines with. KVM is
// chosen only when the KVM device opens for reading and writing and a
// probe boot under KVM — a machine of the kind Boot starts, running
// firmware that makes a kernel's first mode switches and ends QEMU — exits
// as it should; an opening /dev/kvm alone proves nothing on hosts where KVM
// aborts or hangs every guest. The probe's verdict is cached in o.CacheDir
// and, for root and the host's own /dev/kvm, in /run/kiln.
// Mode AccelKVM returns an error, with the reason, when KVM does not work.
func ChooseAccel(ctx context.Context, o AccelOptions) (AccelChoice, error) {
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.KVMDevice == "" {
		o.KVMDevice = defaultKVMDevice
	}
	switch o.Mode {
	case AccelTCG:
		return AccelChoice{AccelTCG, "--accel tcg: KVM not tried"}, nil
	case "", AccelAuto, AccelKVM:
	default:
		return AccelChoice{}, fmt.Errorf("accelerator %q: want auto, kvm or tcg", o.Mode)
	}
	choice := kvmVerdict(ctx, o)
	if o.Mode == AccelKVM && choice.Accel != AccelKVM {
		return AccelChoice{}, fmt.Errorf("--accel kvm, but KVM does not work here: %s", choice.Reason)
	}
	return choice, nil
}

// kvmVerdict is ChooseAccel's auto decision.
func kvmVerdict(ctx context.Context, o AccelOptions) AccelChoice {
	f, err := os.OpenFile(o.KVMDevice, os.O_RDWR, 0)
	if err != nil {
		// Not cached: loading the KVM module later must take effect.
		return AccelChoice{AccelTCG, fmt.Sprintf("%s does not open (%v)", o.KVMDevice, unwrapPathError(err))}
	}
	f.Close()
	key, keyErr := verdictKey(ctx, o.QEMU)
	var caches []string
	if keyErr == nil {
		if o.CacheDir != "" {
			caches = append(caches, filepath.Join(o.CacheDir, AccelCacheFile))
		}
		if o.KVMDevice == defaultKVMDevice {
			if dir := hostVerdictDir(); dir != "" {
				caches = append(caches, filepath.Join(dir, AccelCacheFile))
			}
		}
	}
	for _, cache := range caches {
		if v, ok := readVerdict(cache, key); ok {
			return v.choice("cached probe")
		}
	}
	v := key
	if err := ProbeKVM(ctx, o.QEMU); err != nil {
		v.Reason = err.Error()
	} else {
		v.KVM, v.Reason = true, "a probe boot under KVM succeeded"
	}
	for _, cache := range caches {
		// A cache that cannot be written only costs the next start a probe.
		_ = writeVerdict(cache, v)
	}
	return v.choice("probe")
}

// defaultKVMDevice is the host's KVM device.
const defaultKVMDevice = "/dev/kvm"

// hostVerdictDir is where root's kiln processes share the probe's verdict
// beside their data directories: a property of the host's QEMU and kernel,
// so every new data directory (each test's, each first start) need not pay
// a probe that times out on hosts where KVM hangs. It is under /run, which
// a reboot empties; "" when not root, when it cannot be made, or when it
// is not root's alone (see ownedByRootAlone).
func hostVerdictDir() string {
	if os.Geteuid() != 0 {
		return ""
	}
	const dir = "/run/kiln"
	if err := os.MkdirAll(dir, 0o700); err != nil || !ownedByRootAlone(dir) {
		return ""
	}
	return dir
}

// ownedByRootAlone reports whether dir is a real directory (not a
// symbolic link) owned by root that nobody else may write: a verdict
// another local user could plant there would make kiln boot every guest
// under a KVM that hangs them, or never use one that works.
func ownedByRootAlone(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}

func (v accelVerdict) choice(how string) AccelChoice {
	accel := AccelTCG
	if v.KVM {
		accel = AccelKVM
	}
	return AccelChoice{accel, fmt.Sprintf("%s (QEMU %s, kernel %s): %s", how, v.QEMUVersion, v.KernelRelease, v.Reason)}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// verdictKey is what a cached verdict is valid for: QEMU's version line
// and the host kernel's release.
func verdictKey(ctx context.Context, qemu string) (accelVerdict, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return accelVerdict{}, err
	}
	out, err := exec.CommandContext(ctx, qemu, "-version").Output()
	if err != nil {
		return accelVerdict{}, fmt.Errorf("%s -version: %w", qemu, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return accelVerdict{
		QEMUVersion:   strings.TrimPrefix(strings.TrimSpace(line), "QEMU emulator version "),
		KernelRelease: unix.ByteSliceToString(u.Release[:]),
	}, nil
}

// readVerdict returns the verdict cached at path when it was made for key.
func readVerdict(path string, key accelVerdict) (accelVerdict, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return accelVerdict{}, false
	}
	var v accelVerdict
	if err := json.Unmarshal(b, &v); err != nil || v.Reason == "" {
		return accelVerdict{}, false
	}
	if v.QEMUVersion != key.QEMUVersion || v.KernelRelease != key.KernelRelease {
		return accelVerdict{}, false
	}
	return v, true
}

func writeVerdict(path string, v accelVerdict) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	// A temporary file of its own: several kiln processes may probe at once.
	f, err := os.CreateTemp(filepath.Dir(path), AccelCacheFile+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// probeCode is the probe firmware's code, assembled from
// testdata/kvmprobe.S (TestProbeFirmwareSource checks it is current). From
// the reset vector it switches to protected mode, turns on paging and long
// mode, and from 64-bit code writes 1 to the isa-debug-exit port 0xf4,
// which ends QEMU with exit status (1<<1)|1 = 3. That creates the vCPU, puts
// its registers and MSRs into KVM and takes it through the mode switches
// every kernel makes in its first microseconds: where KVM aborts real
// guests at their first reset, it aborts this one, and where it runs real
// mode but hangs at the first switch (nested hosts whose guests never print
// past "Probing EDD"), this one hangs and the probe times out.
var probeCode = []byte{
	0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x2e, 0x66, 0x0f, 0x01, 0x16, 0xb0, 0x00,
	0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea,
	0x1e, 0x00, 0x0f, 0x00, 0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8,
	0x8e, 0xc0, 0x8e, 0xd0, 0xbf, 0x00, 0x10, 0x00, 0x00, 0x31, 0xc0, 0xb9,
	0x00, 0x0c, 0x00, 0x00, 0xf3, 0xab, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00,
	0x03, 0x20, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, 0x30,
	0x00, 0x00, 0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00,
	0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xe0, 0x83,
	0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32,
	0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00,
	0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea, 0x85, 0x00, 0x0f, 0x00, 0x18,
	0x00, 0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0x8d, 0xb4, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
	0x00, 0x9a, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00,
	0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xaf, 0x00, 0x1f, 0x00, 0x90, 0x00,
	0x0f, 0x00,
}

// probeResetVector is the instruction at the reset vector, the image's last
// 16 bytes: a far jump to the image's start in its copy below 1 MiB.
var probeResetVector = []byte{0xea, 0x00, 0x00, 0x00, 0xf0}

// probeFirmware is the 64 KiB probe firmware image.
func probeFirmware() []byte {
	fw := make([]byte, 64<<10)
	copy(fw, probeCode)
	copy(fw[len(fw)-16:], probeResetVector)
	return fw
}

// probeExit is the exit status of a successful probe boot.
const probeExit = 3

// probeTimeout bounds a probe boot, which takes milliseconds when KVM
// works and never ends where it hangs; every start of kiln on such a host
// without a cached verdict pays it once.
const probeTimeout = 10 * time.Second

// ProbeKVM boots the probe firmware under accel with the machine type and
// CPU Boot uses; nil means it ran to its end. The error carries QEMU's
// messages.
func ProbeKVM(ctx context.Context, qemu string) error { return probe(ctx, qemu, AccelKVM) }

func probe(ctx context.Context, qemu, accel string) error {
	dir, err := os.MkdirTemp("", "kiln-accel-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fw := filepath.Join(dir, "probe.fd")
	if err := os.WriteFile(fw, probeFirmware(), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35", "-m", "32", "-smp", "1"}
	args = append(args, accelArgs(accel)...)
	args = append(args, "-bios", fw, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	cmd := exec.CommandContext(ctx, qemu, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == probeExit:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("the probe boot under %s did not end within %s: guests hang here (at the latest where they leave real mode)", accel, probeTimeout)
	case err == nil:
		return fmt.Errorf("the probe boot under %s ended without running its firmware", accel)
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 500 {
		msg = msg[len(msg)-500:]
	}
	if msg == "" {
		return fmt.Errorf("the probe boot under %s failed: %v", accel, err)
	}
	return fmt.Errorf("the probe boot under %s failed: %v: %s", accel, err, msg)
}

// accelArgs are QEMU's options for accel.
func accelArgs(accel string) []string {
	if accel == AccelKVM {
		return []string{"-accel", "kvm", "-cpu", "host"}
	}
	// Multi-threaded TCG runs each vCPU on its own host thread.
	return []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
}

// kvmAbort reports whether a QEMU that ran under KVM and exited on its own
// with err (not nil) and stderr died of KVM: it aborted (SIGABRT, QEMU's
// failed assertions) or its messages name KVM or an MSR.
func kvmAbort(err error, stderr string) bool {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGABRT {
			return true
		}
	}
	s := strings.ToLower(stderr)
	return strings.Contains(s, "kvm") || strings.Contains(s, "msr")
}

// autoAccel is Boot's choice when Config.Accel is empty: ChooseAccel's,
// without a cache, made once per QEMU binary in this process.
var autoAccel = struct {
	sync.Mutex
	byQEMU map[string]string
}{byQEMU: map[string]string{}}

func defaultAccel(ctx context.Context, qemu string) string {
	autoAccel.Lock()
	defer autoAccel.Unlock()
	if a, ok := autoAccel.byQEMU[qemu]; ok {
		return a
	}
	c, _ := ChooseAccel(ctx, AccelOptions{QEMU: qemu})
	autoAccel.byQEMU[qemu] = c.Accel
	return c.Accel
}

// BootAgent boots cfg and waits, until agentCtx ends, for its guest agent.
// When QEMU aborts under KVM first (ErrKVMAborted), it calls fallback with
// the reason and boots the same machine once more under TCG: a host whose
// KVM fails after the probe said yes still builds, only slower. The
// machine returned with an error, if any, is the one to Kill.
func BootAgent(ctx, agentCtx context.Context, cfg Config, fallback func(reason error)) (*Machine, *agent.Client, error) {
	m, err := Boot(ctx, cfg)
	if err == nil {
		var c *agent.Client
		if c, err = m.Agent(agentCtx); err == nil {
			return m, c, nil
		}
	}
	if !errors.Is(err, ErrKVMAborted) {
		return m, nil, err
	}
	if m != nil {
		m.Kill()
	}
	if fallback != nil {
		fallback(err)
	}
	cfg.Accel = AccelTCG
	if m, err = Boot(ctx, cfg); err != nil {
		return nil, nil, err
	}
	c, err := m.Agent(agentCtx)
	return m, c, err
}
