package vm

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/vm/agent"
)

// guestKernel finds a host kernel whose modules are installed (Debian's
// linux-image-amd64: /boot/vmlinuz-RELEASE, /lib/modules/RELEASE).
func guestKernel(t *testing.T) (kernel, release string) {
	t.Helper()
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	for i := len(kernels) - 1; i >= 0; i-- {
		rel := strings.TrimPrefix(filepath.Base(kernels[i]), "vmlinuz-")
		f, err := os.Open(kernels[i])
		if err != nil {
			continue
		}
		f.Close()
		if _, err := os.Stat("/lib/modules/" + rel + "/modules.dep"); err == nil {
			return kernels[i], rel
		}
	}
	t.Skip("no readable /boot/vmlinuz-* with /lib/modules/RELEASE/modules.dep (CI installs linux-image-amd64)")
	return "", ""
}

// staticBusybox returns a busybox that runs without a dynamic loader.
func staticBusybox(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p
		}
	}
	t.Skip("no static busybox (CI installs busybox-static)")
	return ""
}

// buildAgent builds the guest agent as a static binary.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain to build the guest agent")
	}
	out := filepath.Join(dir, "agent")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "./testdata/guestagent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the guest agent: %v\n%s", err, b)
	}
	return out
}

// notifyWriter signals once its output contains want.
type notifyWriter struct {
	kilntest.SyncBuffer
	want string
	once sync.Once
	seen chan struct{}
}

func (n *notifyWriter) Write(p []byte) (int, error) {
	n.SyncBuffer.Write(p)
	if strings.Contains(n.String(), n.want) {
		n.once.Do(func() { close(n.seen) })
	}
	return len(p), nil
}

// bootInitramfs makes an initramfs whose /init is the guest agent, with
// a static busybox and the virtio modules the agent loads itself, and
// returns the kernel to boot it with.
func bootInitramfs(t *testing.T) (qemu, kernel, release, initrd string) {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (CI installs qemu-system-x86)")
	}
	kernel, release = guestKernel(t)
	busybox := staticBusybox(t)
	dir := t.TempDir()
	initrd = filepath.Join(dir, "initrd.cpio")
	err = testInitramfs{
		init:    buildAgent(t, dir),
		busybox: busybox,
		applets: []string{"sh", "cat", "echo", "sleep", "pidof", "sha256sum", "stat", "kill", "readlink"},
		files:   map[string]string{"etc/inittab": "::sysinit:/bin/echo busybox init is up\n"},
		release: release,
		modules: []string{"virtio_pci", "virtio_console"},
	}.write(initrd)
	if err != nil {
		t.Fatal(err)
	}
	return qemu, kernel, release, initrd
}

// TestBootAgent boots the host's kernel with an initramfs whose /init is
// the guest agent (so the agent is PID 1 and loads the virtio modules
// itself), then drives the guest through the client: commands and their
// exit codes, streamed output, files in and out, cancellation, power off.
func TestBootAgent(t *testing.T) {
	qemu, kernel, release, initrd := bootInitramfs(t)
	// Generous: software emulation on a busy 2-core CI machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var console kilntest.SyncBuffer
	start := time.Now()
	m, err := Boot(ctx, Config{
		Kernel:  kernel,
		Initrd:  initrd,
		Append:  "console=ttyS0 panic=-1 quiet",
		Console: &console,
		QEMU:    qemu,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", console.String())
		}
	}()
	c, err := m.Agent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accel %s: boot to agent in %v (kernel %s)", m.Accel(), time.Since(start).Round(time.Millisecond), c.Hello().Kernel)
	if h := c.Hello(); !h.PID1 || h.Kernel != release {
		t.Errorf("hello = %+v, want PID 1 on kernel %s", h, release)
	}

	t.Run("run", func(t *testing.T) {
		tests := []struct {
			name       string
			argv, env  []string
			dir        string
			wantCode   int
			wantOut    string
			wantErrOut string
			wantErr    string
		}{
			{name: "exit code and both streams", argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, wantCode: 3, wantOut: "out\n", wantErrOut: "err\n"},
			{name: "guest kernel", argv: []string{"cat", "/proc/sys/kernel/osrelease"}, wantOut: release + "\n"},
			{name: "environment", argv: []string{"sh", "-c", `echo "$FOO $HOME"`}, env: []string{"FOO=bar", "HOME=/tmp"}, wantOut: "bar /tmp\n"},
			{name: "directory", argv: []string{"sh", "-c", "pwd"}, dir: "/proc", wantOut: "/proc\n"},
			{name: "absolute path", argv: []string{"/bin/busybox", "echo", "hi"}, wantOut: "hi\n"},
			{name: "killed by a signal", argv: []string{"sh", "-c", "kill -9 $$"}, wantCode: 137},
			{name: "empty stdin", argv: []string{"cat"}},
			{name: "not found", argv: []string{"no-such-command"}, wantCode: -1, wantErr: "not found"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code, err := c.Run(ctx, tt.argv, tt.env, tt.dir, &stdout, &stderr)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want %q", err, tt.wantErr)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if code != tt.wantCode || stdout.String() != tt.wantOut || stderr.String() != tt.wantErrOut {
					t.Errorf("got code %d stdout %q stderr %q, want %d %q %q", code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErrOut)
				}
			})
		}
	})

	t.Run("output streams while the command runs", func(t *testing.T) {
		// The command waits for a file the host writes only after it saw
		// the first line: that line must arrive before the exit.
		out := &notifyWriter{want: "ready\n", seen: make(chan struct{})}
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := c.Run(ctx, []string{"sh", "-c", "echo ready; while [ ! -e /tmp/go ]; do sleep 1; done; echo done"}, nil, "", out, nil)
			done <- result{code, err}
		}()
		select {
		case <-out.seen:
		case r := <-done:
			t.Fatalf("command ended before the host released it: %+v, output %q", r, out.String())
		}
		if err := c.WriteFile(ctx, "/tmp/go", 0o644, strings.NewReader("")); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || r.code != 0 || out.String() != "ready\ndone\n" {
			t.Errorf("got %+v, output %q", r, out.String())
		}
	})

	t.Run("files in and out", func(t *testing.T) {
		data := make([]byte, 3<<20+17) // many chunks, one partial
		rand.Read(data)
		sum := sha256.Sum256(data)
		if err := c.WriteFile(ctx, "/tmp/docs/blob", 0o640, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code, err := c.Run(ctx, []string{"sh", "-c", "stat -c %a /tmp/docs/blob; sha256sum < /tmp/docs/blob"}, nil, "", &out, nil)
		want := "640\n" + hex.EncodeToString(sum[:]) + "  -\n"
		if err != nil || code != 0 || out.String() != want {
			t.Errorf("in the guest: code %d err %v output %q, want %q", code, err, out.String(), want)
		}
		var back bytes.Buffer
		if err := c.ReadFile(ctx, "/tmp/docs/blob", &back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Bytes(), data) {
			t.Errorf("read back %d bytes, differing from the %d written", back.Len(), len(data))
		}
		if err := c.ReadFile(ctx, "/tmp/missing", &back); err == nil {
			t.Error("reading a missing file succeeded")
		}
		if err := c.WriteFile(ctx, "relative", 0o644, strings.NewReader("x")); err == nil {
			t.Error("writing a relative path succeeded")
		}
	})

	t.Run("cancel kills the process group", func(t *testing.T) {
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		out := &notifyWriter{want: "started\n", seen: make(chan struct{})}
		go func() {
			<-out.seen
			stop()
		}()
		_, err := c.Run(runCtx, []string{"sh", "-c", "echo started; sleep 1000 & wait"}, nil, "", out, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		// Killing and reaping are asynchronous: allow the guest a while.
		code, err := c.Run(ctx, []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do pidof sleep >/dev/null || exit 0; sleep 1; done; exit 1"}, nil, "", nil, nil)
		if err != nil || code != 0 {
			t.Errorf("sleep still running after cancel: code %d err %v", code, err)
		}
	})

	if err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(); err != nil {
		t.Fatalf("Wait after power off: %v", err)
	}
	if _, err := c.Run(ctx, []string{"true"}, nil, "", nil, nil); !errors.Is(err, agent.ErrClosed) {
		t.Errorf("Run after power off: err = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(m.dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind: %v", m.dir, err)
	}
	t.Logf("boot to power off: %v", time.Since(start).Round(time.Millisecond))
}

// TestBootAgentThenInit boots the agent as init in front of the image's
// own init (busybox init here), the way `kiln internal guest --init` boots
// a machine image: the agent serves from a child while the real init is
// PID 1.
func TestBootAgentThenInit(t *testing.T) {
	qemu, kernel, _, initrd := bootInitramfs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var console kilntest.SyncBuffer
	start := time.Now()
	m, err := Boot(ctx, Config{
		Kernel:  kernel,
		Initrd:  initrd,
		Append:  "console=ttyS0 panic=-1 quiet -- -init /sbin/init",
		Console: &console,
		QEMU:    qemu,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	c, err := m.Agent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accel %s: boot to agent in %v", m.Accel(), time.Since(start).Round(time.Millisecond))
	if c.Hello().PID1 {
		t.Error("the agent says it is PID 1; the image's init should be")
	}
	var out bytes.Buffer
	code, err := c.Run(ctx, []string{"readlink", "/proc/1/exe"}, nil, "", &out, nil)
	if err != nil || code != 0 || out.String() != "/bin/busybox\n" {
		t.Errorf("PID 1 runs %q (code %d, %v), want busybox init", out.String(), code, err)
	}
	if err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(); err != nil {
		t.Fatalf("Wait after power off: %v\nconsole:\n%s", err, console.String())
	}
	if !strings.Contains(console.String(), "busybox init is up") {
		t.Errorf("busybox init did not run its inittab; console:\n%s", console.String())
	}
}

// TestAgentReportsEarlyExit checks that a QEMU that cannot boot surfaces
// its own message through Agent, instead of a bare timeout.
func TestAgentReportsEarlyExit(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (CI installs qemu-system-x86)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "no-such-kernel")
	m, err := Boot(ctx, Config{Kernel: missing, QEMU: qemu})
	if err != nil {
		// QEMU may exit before the socket is up; that error must say why.
		if !strings.Contains(err.Error(), "no-such-kernel") {
			t.Fatalf("Boot error %q does not name the kernel", err)
		}
		return
	}
	defer m.Kill()
	_, err = m.Agent(ctx)
	if err == nil || !strings.Contains(err.Error(), "no-such-kernel") {
		t.Fatalf("Agent error %q does not carry QEMU's message about the kernel", err)
	}
	if m.Wait() == nil {
		t.Error("Wait returned nil for a QEMU that failed")
	}
}
