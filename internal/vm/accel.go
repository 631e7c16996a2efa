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
// probe boot under KVM — a machine of the kind Boot starts, running a
// few instructions of firmware that end QEMU at once — exits as it
// should; an opening /dev/kvm alone proves nothing on hosts where KVM
// aborts every guest. The probe's verdict is cached in o.CacheDir.
// Mode AccelKVM returns an error, with the reason, when KVM does not work.
func ChooseAccel(ctx context.Context, o AccelOptions) (AccelChoice, error) {
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.KVMDevice == "" {
		o.KVMDevice = "/dev/kvm"
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
	cache := ""
	if o.CacheDir != "" && keyErr == nil {
		cache = filepath.Join(o.CacheDir, AccelCacheFile)
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
	if cache != "" {
		// A cache that cannot be written only costs the next start a probe.
		_ = writeVerdict(cache, v)
	}
	return v.choice("probe")
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
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// probeFirmware is a 64 KiB firmware image whose reset vector (the last
// 16 bytes, where an x86 CPU starts) writes 1 to the isa-debug-exit port
// 0xf4, which ends QEMU with exit status (1<<1)|1 = 3:
//
//	mov al, 1 ; out 0xf4, al ; hlt ; jmp $-1
//
// Getting there creates the vCPU, puts its registers and MSRs into KVM and
// runs guest code: where KVM aborts real guests, it aborts this one.
func probeFirmware() []byte {
	fw := make([]byte, 64<<10)
	copy(fw[len(fw)-16:], []byte{0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd})
	return fw
}

// probeExit is the exit status of a successful probe boot.
const probeExit = 3

// probeTimeout bounds a probe boot, which takes milliseconds when it works.
const probeTimeout = 30 * time.Second

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
		return fmt.Errorf("the probe boot under %s did not end within %s", accel, probeTimeout)
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
