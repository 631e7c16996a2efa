package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// bootMarker is what every boot below waits for: the kernel's line when the
// image's own init (busybox's inittab or systemd-remount-fs) remounts the
// root read-write — the image's init is running, whoever loaded the kernel.
const bootMarker = "): re-mounted"

// bootResult is one way of booting the last build's disk.
type bootResult struct {
	Mode  string          `json:"mode"`
	How   string          `json:"how"`
	Runs  []time.Duration `json:"runs_ns"`
	Error string          `json:"error,omitempty"`
}

// bootMode is one way to start the exported disk in stock QEMU.
type bootMode struct {
	name, how string
	args      func(disk string) []string
}

// benchBoots boots the raw export of ami, runs times each: by direct kernel
// boot (kiln's test phase: its uncompressed PVH copy of the kernel when
// there is one, and the image's bzImage), and through the disk's own
// bootloader under SeaBIOS and under OVMF — until the image's init
// remounts its root. Each boot is a fresh QEMU on a snapshot of the disk.
func benchBoots(ctx context.Context, bin, addr, ami, dir string, runs int, accel string, memoryMB, cpus int, kernel, pvh, initrd string, logf func(string, ...any)) ([]bootResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	raw := filepath.Join(dir, "boot.raw")
	if err := kilnExport(ctx, bin, addr, ami, "raw", raw); err != nil {
		return nil, err
	}
	base := func(disk string) []string {
		a := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-machine", "q35",
			"-m", strconv.Itoa(memoryMB), "-smp", strconv.Itoa(cpus), "-serial", "stdio", "-device", "virtio-rng-pci",
			"-drive", "file=" + strings.ReplaceAll(disk, ",", ",,") + ",format=raw,if=virtio,snapshot=on,cache=unsafe"}
		if accel == "kvm" {
			return append(a, "-accel", "kvm", "-cpu", "host")
		}
		return append(a, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	direct := func(k string) func(string) []string {
		return func(disk string) []string {
			a := append(base(disk), "-kernel", k, "-append", "root=/dev/vda1 ro console=ttyS0 panic=-1")
			if initrd != "" {
				a = append(a, "-initrd", initrd)
			}
			return a
		}
	}
	var modes []bootMode
	if pvh != "" && pvh != kernel {
		modes = append(modes, bootMode{"direct (PVH vmlinux)", "-kernel with kiln's uncompressed copy, as kiln's test phase boots", direct(pvh)})
	}
	modes = append(modes,
		bootMode{"direct (bzImage)", "-kernel with the image's compressed kernel", direct(kernel)},
		bootMode{"SeaBIOS → GRUB", "no -kernel: the disk's boot.img and core.img, grub.cfg from the ESP", base},
		bootMode{"OVMF → GRUB", "no -kernel: -bios /usr/share/ovmf/OVMF.fd, EFI/BOOT/BOOTX64.EFI", func(disk string) []string {
			return append(base(disk), "-bios", "/usr/share/ovmf/OVMF.fd")
		}},
	)
	var out []bootResult
	for _, m := range modes {
		r := bootResult{Mode: m.name, How: m.how}
		for i := 0; i < runs; i++ {
			d, err := bootUntil(ctx, m.args(raw), bootMarker, 5*time.Minute)
			if err != nil {
				r.Error = err.Error()
				break
			}
			r.Runs = append(r.Runs, d)
		}
		if r.Error != "" {
			logf("boot %-22s failed: %s", m.name, firstLine(r.Error))
		} else {
			logf("boot %-22s %s", m.name, benchkit.Seconds(benchkit.Median(r.Runs)))
		}
		out = append(out, r)
	}
	return out, nil
}

// bootUntil starts QEMU and returns how long it took until the console
// printed marker; QEMU is killed then.
func bootUntil(ctx context.Context, args []string, marker string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	w := &markerWriter{marker: marker, seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = benchkit.ChildProcAttr()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-w.seen:
		d := time.Since(start)
		cmd.Process.Kill()
		<-exited
		return d, nil
	case err := <-exited:
		return 0, fmt.Errorf("QEMU exited before %q (%v); console ends:\n%s", marker, err, lastLines(w.String(), 20))
	case <-ctx.Done():
		cmd.Process.Kill()
		<-exited
		return 0, fmt.Errorf("no %q within %s; console ends:\n%s", marker, timeout, lastLines(w.String(), 20))
	}
}

// markerWriter keeps a console and closes seen once marker appeared.
type markerWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(w.marker)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *markerWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeBoots is the report's table of boot times.
func writeBoots(w io.Writer, rs []bootResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nBooting the last build's disk (raw export, a QEMU snapshot each time) until the image's init remounts its root (`%s`), medians:\n\n", bootMarker)
	fmt.Fprintln(w, "| boot | how | median | min | max | vs direct (bzImage) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	var ref time.Duration
	for _, r := range rs {
		if r.Mode == "direct (bzImage)" && len(r.Runs) > 0 {
			ref = benchkit.Median(r.Runs)
		}
	}
	for _, r := range rs {
		if len(r.Runs) == 0 {
			fmt.Fprintf(w, "| %s | %s | failed: %s | | | |\n", r.Mode, r.How, firstLine(r.Error))
			continue
		}
		med := benchkit.Median(r.Runs)
		vs := "—"
		if ref > 0 {
			vs = fmt.Sprintf("%.2f×", float64(med)/float64(ref))
		}
		lo, hi := r.Runs[0], r.Runs[0]
		for _, d := range r.Runs {
			lo, hi = min(lo, d), max(hi, d)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Mode, r.How, benchkit.Seconds(med), benchkit.Seconds(lo), benchkit.Seconds(hi), vs)
	}
}

// firmwareOverDirect is how much longer the slower firmware boot takes than
// the direct boot kiln's test phase uses (the PVH copy when measured), or 0.
func firmwareOverDirect(rs []bootResult) time.Duration {
	var direct, fw time.Duration
	for _, r := range rs {
		if len(r.Runs) == 0 {
			continue
		}
		med := benchkit.Median(r.Runs)
		switch {
		case strings.HasPrefix(r.Mode, "direct (PVH"):
			direct = med
		case strings.HasPrefix(r.Mode, "direct") && direct == 0:
			direct = med
		case !strings.HasPrefix(r.Mode, "direct"):
			fw = max(fw, med)
		}
	}
	if direct == 0 || fw == 0 {
		return 0
	}
	return fw - direct
}
