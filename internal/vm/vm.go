// Package vm boots machine images under QEMU — with KVM when a probe boot
// under it works (ChooseAccel), else with TCG software emulation — and
// connects to kiln's guest agent (package agent) over a virtio-serial
// port, so the test phase runs inside the running image. A boot that QEMU
// aborts under KVM fails with ErrKVMAborted; BootAgent then boots the
// machine again under TCG.
//
// The guest channel is a QEMU chardev socket in a private temporary
// directory, attached to a virtserialport named agent.DefaultPort. Boot
// connects to it as soon as QEMU listens, before the guest runs: a guest
// agent's first write then never waits for the host, and nothing is lost.
//
// Booting a machine image for its test phase: direct kernel boot with the
// image's own /boot/vmlinuz-* and /boot/initrd.img-* (copied out on the
// host), Snapshot set, and a command line such as
//
//	root=PARTUUID=<root partition> rw console=ttyS0 panic=-1
//	init=/path/in/image/kiln -- internal guest --init /sbin/init
//
// The image's initramfs mounts the root and runs kiln as PID 1 with the
// arguments after "--"; agent.MainThenInit starts the agent and hands PID
// 1 to the image's own init. The agent loads virtio_console itself when no
// udev does. Under TCG a compressed kernel is booted from an uncompressed
// copy through its PVH entry, which saves seconds (see kernel.go).
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/vm/agent"
)

// Config describes one machine.
type Config struct {
	// Disks are disk images, raw or qcow2 (told apart by the qcow2 magic
	// "QFI\xfb"), attached as virtio-blk in order: the first is /dev/vda.
	Disks []string
	// Kernel and Initrd are host paths for direct kernel boot.
	Kernel, Initrd string
	// Append is the kernel command line, e.g. "root=PARTUUID=... rw
	// console=ttyS0 panic=-1". With panic=-1 a guest kernel panic ends
	// QEMU (it runs with -no-reboot) instead of hanging.
	Append string
	// MemoryMB and CPUs default to 1024 and min(2, number of host CPUs).
	MemoryMB, CPUs int
	// Console receives the guest's serial console (ttyS0); nil discards
	// it. The last lines are kept either way for error messages.
	Console io.Writer
	// ConsoleInput, if set, is fed to the serial console (kiln ami run).
	ConsoleInput io.Reader
	// Network gives the guest user-mode networking (slirp, virtio-net);
	// without it the guest has no network device.
	Network bool
	// Snapshot sends every write to a temporary overlay: the disk files
	// are left untouched (the test copy is discarded for free).
	Snapshot bool
	// QEMU is the emulator binary, default "qemu-system-x86_64".
	QEMU string
	// KernelCache is where uncompressed copies of compressed kernels are
	// kept for fast software-emulated boots (see uncompressedKernel);
	// "" makes the copy in the machine's temporary directory every boot.
	KernelCache string
	// Firmware is FirmwareBIOS or FirmwareUEFI to boot the first disk
	// through that firmware and the disk's own bootloader (no Kernel);
	// "" is direct kernel boot.
	Firmware string
	// OVMF is the UEFI firmware image, default DefaultOVMF.
	OVMF string
	// FirmwareLog, if set, is a file that receives the firmware's debug
	// log (SeaBIOS's and OVMF's port 0x402), which says which disks it
	// tried and why they did not boot.
	FirmwareLog string
	// Seed is a cloud-init NoCloud seed volume (package cloudinit),
	// attached read-only after Disks.
	Seed string
	// MAC is the NIC's MAC address ("" lets QEMU choose); PortForwards
	// forward host ports on 127.0.0.1 to the guest and imply Network.
	MAC          string
	PortForwards []PortForward
	// Accel is AccelKVM or AccelTCG, usually ChooseAccel's verdict; ""
	// lets Boot choose (ChooseAccel without a cache, once per process).
	// A boot under KVM that QEMU aborts fails with ErrKVMAborted; the
	// caller boots again under TCG.
	Accel string
	// Arch is the guest's architecture, ArchX86_64 ("", the default) or
	// ArchARM64 (the virt board, see arm64.go); QEMU must be its emulator.
	Arch string
	// AAVMF is the UEFI code volume an arm64 guest starts from
	// (AAVMFCode); "" boots its kernel directly.
	AAVMF string
}

// Machine is one running QEMU process.
type Machine struct {
	cmd   *exec.Cmd
	dir   string // private temp dir holding the agent socket
	accel string

	console *tail // guest serial console
	stderr  *tail // QEMU's own messages

	exited  chan struct{} // closed when QEMU exited and temp files are gone
	waitErr error

	handshake chan struct{} // closed when the hello arrived or failed
	client    *agent.Client
	clientErr error

	stop     chan struct{} // closed by Kill
	stopOnce sync.Once
}

// agentSocket is the chardev socket's file name inside Machine.dir.
const agentSocket = "agent.sock"

// Boot starts QEMU for cfg and returns once it runs and the agent channel
// is connected on the host side. ctx governs the machine's whole life:
// when it ends, QEMU is killed (as with exec.CommandContext).
func Boot(ctx context.Context, cfg Config) (*Machine, error) {
	cfg = withDefaults(cfg)
	accel := cfg.Accel
	if accel == "" {
		accel = defaultAccel(ctx, cfg.QEMU)
	}
	if accel != AccelKVM && accel != AccelTCG {
		return nil, fmt.Errorf("vm: accelerator %q: want kvm or tcg", accel)
	}
	dir, err := os.MkdirTemp("", "kiln-vm-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, agentSocket)
	if accel == "tcg" && cfg.Kernel != "" {
		cache := cfg.KernelCache
		if cache == "" {
			cache = dir
		}
		// On failure the compressed kernel boots, only slower.
		if vmlinux, err := uncompressedKernel(cfg.Kernel, cache); err == nil {
			cfg.Kernel = vmlinux
		}
	}
	args, err := qemuArgs(cfg, accel, sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &Machine{
		dir:       dir,
		accel:     accel,
		console:   newTail(cfg.Console),
		stderr:    newTail(nil),
		exited:    make(chan struct{}),
		handshake: make(chan struct{}),
		stop:      make(chan struct{}),
	}
	m.cmd = exec.Command(cfg.QEMU, args...)
	m.cmd.Stdout = m.console
	m.cmd.Stderr = m.stderr
	m.cmd.Stdin = cfg.ConsoleInput
	m.cmd.SysProcAttr = qemuProcAttr()
	if err := m.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vm: start %s: %w", cfg.QEMU, err)
	}
	go func() {
		m.waitErr = m.cmd.Wait()
		if m.waitErr != nil {
			// Only a QEMU that died on its own before the guest agent
			// connected is retried elsewhere: after that, the guest ran.
			killed, connected := false, false
			select {
			case <-m.stop:
				killed = true
			default:
			}
			select {
			case <-m.handshake:
				connected = m.clientErr == nil
			default:
			}
			if !killed && !connected && m.accel == AccelKVM && kvmAbort(m.waitErr, m.stderr.String()) {
				m.waitErr = fmt.Errorf("vm: %w: %v%s", ErrKVMAborted, m.waitErr, m.stderr.suffix())
			} else {
				m.waitErr = fmt.Errorf("vm: QEMU: %w%s", m.waitErr, m.stderr.suffix())
			}
		}
		os.RemoveAll(m.dir)
		close(m.exited)
	}()
	go func() {
		select {
		case <-ctx.Done():
			m.Kill()
		case <-m.exited:
		}
	}()

	conn, err := m.dial(ctx, sock)
	if err != nil {
		m.Kill()
		return nil, err
	}
	go func() {
		<-m.exited
		conn.Close()
	}()
	go func() {
		m.client, m.clientErr = agent.NewClient(conn)
		close(m.handshake)
	}()
	return m, nil
}

// dial connects to QEMU's agent socket, which appears once QEMU has
// parsed its options and before the guest starts.
func (m *Machine) dial(ctx context.Context, sock string) (net.Conn, error) {
	for {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			return conn, nil
		}
		select {
		case <-m.exited:
			return nil, fmt.Errorf("vm: QEMU exited before it ran: %w", m.waitErr)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Agent waits until the guest agent announced itself and returns its
// client. It fails when ctx ends or QEMU exits first, with the console's
// last lines in the error, which usually say why (no root device, kernel
// panic, agent error).
func (m *Machine) Agent(ctx context.Context) (*agent.Client, error) {
	select {
	case <-m.handshake:
		if m.clientErr == nil {
			return m.client, nil
		}
		// The socket closed: QEMU is exiting; prefer its reason.
		select {
		case <-m.exited:
			return nil, m.failure("QEMU exited before the guest agent connected")
		case <-time.After(2 * time.Second):
			return nil, m.failure(m.clientErr.Error())
		}
	case <-m.exited:
		return nil, m.failure("QEMU exited before the guest agent connected")
	case <-ctx.Done():
		return nil, m.failure(fmt.Sprintf("guest agent did not connect: %v", ctx.Err()))
	}
}

// failure builds an error carrying QEMU's messages and the console tail.
func (m *Machine) failure(what string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "vm: %s", what)
	select {
	case <-m.exited:
		if m.waitErr != nil {
			fmt.Fprintf(&b, " (%v)", m.waitErr)
		} else {
			b.WriteString(m.stderr.suffix())
		}
	default:
		b.WriteString(m.stderr.suffix())
	}
	if lines := m.console.String(); lines != "" {
		fmt.Fprintf(&b, "\nconsole (last lines):\n%s", lines)
	} else {
		b.WriteString("\nconsole: (no output)")
	}
	select {
	case <-m.exited:
		if errors.Is(m.waitErr, ErrKVMAborted) {
			return kvmAbortedError{b.String()}
		}
	default:
	}
	return errors.New(b.String())
}

// Wait waits for QEMU to exit (the guest powered off, or Kill) and for its
// temporary files to be removed. A clean power-off returns nil.
func (m *Machine) Wait() error {
	<-m.exited
	select {
	case <-m.stop:
		return errors.New("vm: killed")
	default:
	}
	return m.waitErr
}

// Kill ends QEMU at once (SIGKILL) and removes its temporary files. It
// returns after QEMU is gone; calling it again does nothing.
func (m *Machine) Kill() {
	m.stopOnce.Do(func() {
		close(m.stop)
		_ = m.cmd.Process.Kill()
	})
	<-m.exited
}

// Accel is the accelerator QEMU runs with: "kvm" or "tcg".
func (m *Machine) Accel() string { return m.accel }

// Console returns the last lines the guest wrote to its serial console.
func (m *Machine) Console() string { return m.console.String() }

func withDefaults(cfg Config) Config {
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = min(2, runtime.NumCPU())
	}
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	return cfg
}

// kvmAbortedError is Machine.failure's error when QEMU aborted under KVM:
// its full text, and errors.Is(err, ErrKVMAborted).
type kvmAbortedError struct{ msg string }

func (e kvmAbortedError) Error() string        { return e.msg }
func (e kvmAbortedError) Is(target error) bool { return target == ErrKVMAborted }

// qcow2Magic starts every qcow2 image.
var qcow2Magic = []byte("QFI\xfb")

// diskFormat tells qcow2 from raw by the file's first bytes, so a raw
// image is never probed by QEMU (a raw image whose guest wrote a qcow2
// header could otherwise read host files as its backing file).
func diskFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("vm: disk: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(qcow2Magic))
	if _, err := io.ReadFull(f, head); err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("vm: disk %s: %w", path, err)
	}
	if bytes.Equal(head, qcow2Magic) {
		return "qcow2", nil
	}
	return "raw", nil
}
