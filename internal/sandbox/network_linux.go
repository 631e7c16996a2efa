//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A NetworkPrivate sandbox has a network namespace of its own whose only
// way out is a user-mode network stack running on the host: pasta (Debian's
// passt package) or, failing that, slirp4netns. The stack relays the
// namespace's TCP and UDP through ordinary host sockets, so a build reaches
// package mirrors, but it is run so that nothing reaches the host itself:
//
//   - pasta: --no-map-gw (the gateway address is not the host), -T none and
//     -U none (no forwarding from the namespace to the host's loopback
//     ports), -t none and -u none (nothing forwarded in). The namespace gets
//     a copy of the host's address, so that address is the namespace's own
//     and a connection to it stays inside.
//   - slirp4netns: --disable-host-loopback, which also refuses the host's
//     own addresses.
//
// pasta normally drops to the user nobody; kiln runs it as root (--runas
// 0:0) because it must open the sandbox's namespace, which it is handed as
// an inherited descriptor (/proc/self/fd/3). pasta still isolates itself
// (namespaces, seccomp) after that.

// netHelper is a user-mode network stack kiln can attach to a namespace.
type netHelper struct {
	name, path string
}

// NetworkSupport says how this host provides NetworkPrivate.
type NetworkSupport struct {
	// Helper is "pasta", "slirp4netns" or "" when neither works.
	Helper string
	// Why says why this one was chosen and the others not.
	Why string

	helper netHelper
}

var (
	netOnce  sync.Once
	netProbe NetworkSupport
)

// PrivateNetwork probes, once, which user-mode network stack works here:
// each candidate found on PATH is tried on a throwaway namespace.
func PrivateNetwork() NetworkSupport {
	netOnce.Do(func() { netProbe = probeNetwork() })
	return netProbe
}

func probeNetwork() NetworkSupport {
	var why []string
	for _, name := range []string{"pasta", "slirp4netns"} {
		p, err := exec.LookPath(name)
		if err != nil {
			why = append(why, name+" not installed")
			continue
		}
		h := netHelper{name: name, path: p}
		if err := h.try(); err != nil {
			why = append(why, name+": "+err.Error())
			continue
		}
		why = append(why, name+" works")
		return NetworkSupport{Helper: name, Why: strings.Join(why, "; "), helper: h}
	}
	return NetworkSupport{Why: strings.Join(why, "; ")}
}

// try attaches the helper to a new, empty network namespace held by a
// sandbox init that is never given a spec.
func (h netHelper) try() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer specW.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"kiln-sandbox-netprobe"}
	cmd.Env = []string{initEnv + "=1"}
	// The init reads its spec from fd 3 and reports on fd 4; it gets
	// EOF and exits when specW closes.
	cmd.ExtraFiles = []*os.File{specR, nil}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		specR.Close()
		return err
	}
	specR.Close()
	stop, err := h.attach(cmd.Process.Pid)
	if err == nil {
		stop()
	}
	specW.Close()
	cmd.Process.Kill()
	cmd.Wait()
	return err
}

// attach starts the helper for the network namespace of pid and returns
// once the namespace's interface is configured; stop ends the helper.
func (h netHelper) attach(pid int) (stop func(), err error) {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	dir, err := os.MkdirTemp("", "kiln-net-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out bytes.Buffer
	var cmd *exec.Cmd
	var ready func() bool
	switch h.name {
	case "pasta":
		pidfile := filepath.Join(dir, "pid")
		cmd = exec.Command(h.path, "--foreground", "--quiet", "--runas", "0:0", "--config-net",
			"-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-map-gw",
			"--pid", pidfile, "--netns", "/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{ns}
		// pasta writes its PID file once its setup is done.
		ready = func() bool {
			b, err := os.ReadFile(pidfile)
			return err == nil && len(bytes.TrimSpace(b)) > 0
		}
	case "slirp4netns":
		readyR, readyW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer readyR.Close()
		defer readyW.Close()
		cmd = exec.Command(h.path, "--configure", "--mtu=65520", "--disable-host-loopback",
			"--ready-fd=3", strconv.Itoa(pid), "tap0")
		cmd.ExtraFiles = []*os.File{readyW}
		got := make(chan bool, 1)
		go func() {
			b := make([]byte, 1)
			n, _ := readyR.Read(b)
			got <- n == 1
		}()
		ready = func() bool {
			select {
			case ok := <-got:
				got <- ok
				return ok
			default:
				return false
			}
		}
	default:
		return nil, fmt.Errorf("unknown network helper %s", h.name)
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	// The helper dies with the thread that started it if kiln dies;
	// Run keeps that thread locked until the sandbox is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s exited during setup (%v): %s", h.name, err, helperOutput(out.Bytes()))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s did not set up the network within 10s: %s", h.name, helperOutput(out.Bytes()))
		}
	}
	return stop, nil
}

// helperOutput is the helper's output without pasta's complaints about
// a missing syslog.
func helperOutput(b []byte) string {
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Failed to send") {
			keep = append(keep, l)
		}
	}
	s := strings.Join(keep, "; ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
