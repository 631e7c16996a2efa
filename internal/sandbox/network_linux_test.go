//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary must stay static (it runs inside roots without a C
// library), so these tests use raw sockets, not package net.

// hostLoopbackListener accepts connections on the host's loopback, where
// kiln's API and databases listen, and returns its port.
func hostLoopbackListener(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	// The backlog takes the connections; nothing needs to accept them.
	if err := unix.Listen(fd, 64); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// dialTCP4 connects to an IPv4 "a.b.c.d:port", giving up after 3s.
func dialTCP4(addr string) error {
	host, portStr, ok := strings.Cut(addr, ":")
	port, err := strconv.Atoi(portStr)
	if !ok || err != nil {
		return fmt.Errorf("bad address %q", addr)
	}
	sa := &unix.SockaddrInet4{Port: port}
	parts := strings.Split(host, ".")
	if len(parts) != 4 {
		return fmt.Errorf("bad address %q", addr)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("bad address %q", addr)
		}
		sa.Addr[i] = byte(n)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != unix.EINPROGRESS {
		return err
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, int((3 * time.Second).Milliseconds()))
	if err != nil {
		return err
	}
	if n == 0 {
		return unix.ETIMEDOUT
	}
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if soErr != 0 {
		return unix.Errno(soErr)
	}
	return nil
}

func TestNetworkPrivate(t *testing.T) {
	requireSandbox(t)
	sup := PrivateNetwork()
	t.Logf("private network: %q (%s)", sup.Helper, sup.Why)
	kiln := kilnCopy(t)
	if !isStatic(t, kiln) {
		t.Skip("the test binary is not statically linked (-race?)")
	}
	port := strconv.Itoa(hostLoopbackListener(t))
	addr := "127.0.0.1:" + port

	var helpers []netHelper
	for _, name := range []string{"pasta", "slirp4netns"} {
		if p, err := exec.LookPath(name); err == nil {
			helpers = append(helpers, netHelper{name: name, path: p})
		}
	}
	if len(helpers) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("neither pasta nor slirp4netns is installed: apt-get install passt slirp4netns")
		}
		t.Skip("neither pasta nor slirp4netns is installed")
	}
	saved := netProbe
	t.Cleanup(func() { netProbe = saved })
	for _, h := range helpers {
		t.Run(h.name, func(t *testing.T) {
			if err := h.try(); err != nil {
				t.Skipf("%s does not work on this host: %v", h.name, err)
			}
			netProbe = NetworkSupport{Helper: h.name, helper: h}
			l := newLayers(t)
			cfg := l.config()
			cfg.Network = NetworkPrivate
			// A way out exists: an interface besides lo with a
			// default route.
			r := sh(t, cfg, `ip route; tail -n +3 /proc/net/dev | cut -d: -f1`)
			if r.err != nil || r.code != 0 {
				t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
			}
			if !strings.Contains(r.stdout, "default via") {
				t.Errorf("no default route: %q", r.stdout)
			}
			// The host's loopback is not: not by 127.0.0.1, not by
			// the gateway, not by slirp's host alias.
			cfg.Env = []string{"PATH=/bin", escapeEnv + "=connect",
				"TARGETS=" + strings.Join([]string{addr, "10.0.2.2:" + port, gateway(t, r.stdout) + ":" + port}, ",")}
			cfg.Binds = []Bind{{Source: kiln, Target: "/.kiln/kiln", ReadOnly: true}}
			r = run(t, cfg, "/.kiln/kiln")
			if r.err != nil || r.code != 0 || !strings.Contains(r.stdout, "refused") {
				t.Errorf("code %d err %v\nstdout: %s\nstderr: %s", r.code, r.err, r.stdout, r.stderr)
			}
		})
	}
	// The control: the same connection from the host's network works, so
	// the refusals above are the namespace's doing.
	l := newLayers(t)
	cfg := l.config()
	cfg.Network = NetworkHost
	cfg.Env = []string{"PATH=/bin", escapeEnv + "=connect", "TARGETS=" + addr}
	cfg.Binds = []Bind{{Source: kiln, Target: "/.kiln/kiln", ReadOnly: true}}
	r := run(t, cfg, "/.kiln/kiln")
	if r.code == 0 || !strings.Contains(r.stdout, "connect to "+addr+": succeeded") {
		t.Errorf("from the host network: code %d err %v stdout %q", r.code, r.err, r.stdout)
	}
}

// gateway is the default gateway in `ip route` output.
func gateway(t *testing.T, routes string) string {
	t.Helper()
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "default" && f[1] == "via" {
			return f[2]
		}
	}
	t.Fatalf("no default route in %q", routes)
	return ""
}
