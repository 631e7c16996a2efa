//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) {
	Init()
	// The test binary doubles as the escape helper that runs inside the
	// sandbox (bound read-only at /.kiln/kiln, like kiln itself).
	if mode := os.Getenv(escapeEnv); mode != "" {
		os.Exit(escapeHelper(mode))
	}
	// A temporary directory of this process's own: assertNoMountsLeft
	// looks for mounts under it, and other test processes running at the
	// same time (machine-image tests loop-mount disks under /tmp) must not
	// be mistaken for this package's leaks.
	tmp, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// busybox is Debian's busybox-static, the only program the test roots have.
const busybox = "/bin/busybox"

// requireSandbox skips unless this host can run sandboxes: root, overlayfs
// and busybox-static. On CI (CI=true) a missing busybox is a failure.
func requireSandbox(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandbox tests need root")
	}
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil || !bytes.Contains(fss, []byte("\toverlay\n")) {
		t.Skip("sandbox tests need a kernel with overlayfs")
	}
	if _, err := os.Stat(busybox); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: apt-get install busybox-static", busybox)
		}
		t.Skipf("%s missing (apt-get install busybox-static)", busybox)
	}
}

var (
	appletsOnce sync.Once
	applets     []string
)

// newRoot builds a tiny root filesystem in dir: busybox with its applets
// symlinked in /bin, the usual top-level directories, and /etc/existing.
func newRoot(t testing.TB, dir string) {
	t.Helper()
	appletsOnce.Do(func() {
		out, err := runHost(busybox, "--list")
		if err == nil {
			applets = strings.Fields(out)
		}
	})
	if len(applets) == 0 {
		t.Fatal("busybox --list gave no applets")
	}
	for _, d := range []string{"bin", "dev", "proc", "tmp", "etc", "root", "mnt", "var"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"etc/existing":    "lower\n",
		"etc/resolv.conf": "nameserver 192.0.2.53\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runHost(prog string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Stdout = &out
	err := cmd.Run()
	return out.String(), err
}

// layers is an overlay root: one busybox lower layer and empty upper and
// work directories.
type layers struct {
	lower, upper, work string
}

func newLayers(t testing.TB) layers {
	t.Helper()
	d := t.TempDir()
	l := layers{filepath.Join(d, "lower"), filepath.Join(d, "upper"), filepath.Join(d, "work")}
	for _, p := range []string{l.lower, l.upper, l.work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	newRoot(t, l.lower)
	return l
}

func (l layers) config() Config {
	return Config{Lower: []string{l.lower}, Upper: l.upper, Work: l.work}
}

// result is what one Run produced.
type result struct {
	code           int
	stdout, stderr string
	err            error
}

func run(t *testing.T, cfg Config, argv ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cfg.Stdout, cfg.Stderr = &out, &errb
	code, err := Run(context.Background(), cfg, argv...)
	stderr := errb.String()
	if testing.CoverMode() != "" {
		// The sandbox's init is this coverage-instrumented test binary,
		// which says on exit that it has nowhere to write its counters.
		stderr = strings.ReplaceAll(stderr, "warning: GOCOVERDIR not set, no coverage data emitted\n", "")
	}
	r := result{code, out.String(), stderr, err}
	assertNoMountsLeft(t)
	return r
}

// sh runs a busybox shell script in the sandbox.
func sh(t *testing.T, cfg Config, script string) result {
	t.Helper()
	return run(t, cfg, "/bin/sh", "-c", script)
}

// assertNoMountsLeft fails if the host's mount table shows anything of a
// sandbox: all its mounts must have lived in its own namespace.
func assertNoMountsLeft(t *testing.T) {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	tmp := os.TempDir()
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mp := f[4]; strings.Contains(mp, "kiln-sandbox-") || strings.HasPrefix(mp, tmp+"/") {
			t.Errorf("mount left on the host: %s", line)
		}
	}
}

// kilnCopy copies the test binary (our stand-in for kiln) to a fresh file
// for binding into a sandbox, so nothing can damage the running binary.
func kilnCopy(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(t.TempDir(), "kiln")
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree lists every path under dir, relative, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}
