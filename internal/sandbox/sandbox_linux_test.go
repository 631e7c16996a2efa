//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRunProgram(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	tests := []struct {
		name       string
		cfg        func(*Config)
		argv       []string
		code       int
		stdout     string
		stderr     string
		wantErrSub string
	}{
		{name: "echo", argv: []string{"echo", "hello"}, stdout: "hello\n"},
		{name: "exit code", argv: []string{"sh", "-c", "exit 7"}, code: 7},
		{name: "killed by signal", argv: []string{"sh", "-c", "kill -9 $$"}, code: 128 + 9},
		{name: "stdout and stderr", argv: []string{"sh", "-c", "echo out; echo err >&2"}, stdout: "out\n", stderr: "err\n"},
		{name: "default hostname", argv: []string{"hostname"}, stdout: "localhost\n"},
		{name: "hostname", cfg: func(c *Config) { c.Hostname = "builder-1" }, argv: []string{"hostname"}, stdout: "builder-1\n"},
		{name: "env", cfg: func(c *Config) { c.Env = []string{"PATH=/bin", "GREETING=hi"} }, argv: []string{"sh", "-c", "echo $GREETING $PATH"}, stdout: "hi /bin\n"},
		{name: "default env", argv: []string{"sh", "-c", "echo $PATH $HOME"}, stdout: DefaultPath + " /root\n"},
		{name: "working dir", cfg: func(c *Config) { c.Dir = "/etc" }, argv: []string{"pwd"}, stdout: "/etc\n"},
		{name: "stdin is empty", argv: []string{"cat"}},
		{name: "only stdio inherited", argv: []string{"sh", "-c", "sleep 100 & ls /proc/$!/fd; kill $!"}, stdout: "0\n1\n2\n"},
		{name: "not found", argv: []string{"no-such-program"}, code: -1, wantErrSub: "not found"},
		{name: "missing working dir", cfg: func(c *Config) { c.Dir = "/nowhere" }, argv: []string{"true"}, code: -1, wantErrSub: "starting true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := l.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			r := run(t, cfg, tt.argv...)
			if tt.wantErrSub != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErrSub) {
					t.Fatalf("err = %v, want one containing %q", r.err, tt.wantErrSub)
				}
			} else if r.err != nil {
				t.Fatalf("Run: %v (stderr %q)", r.err, r.stderr)
			}
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("got code %d stdout %q stderr %q, want %d %q %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	if got := tree(t, l.upper); len(got) != 0 {
		t.Errorf("read-only runs left %v in upper", got)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		argv []string
	}{
		{"no argv", Config{RootDir: "/x"}, nil},
		{"no root", Config{}, []string{"true"}},
		{"both roots", Config{RootDir: "/x", Lower: []string{"/l"}, Upper: "/u", Work: "/w"}, []string{"true"}},
		{"overlay without work", Config{Lower: []string{"/l"}, Upper: "/u"}, []string{"true"}},
		{"relative lower", Config{Lower: []string{"l"}, Upper: "/u", Work: "/w"}, []string{"true"}},
		{"colon in lower", Config{Lower: []string{"/l:/etc"}, Upper: "/u", Work: "/w"}, []string{"true"}},
		{"comma in upper", Config{Lower: []string{"/l"}, Upper: "/u,lowerdir=/", Work: "/w"}, []string{"true"}},
		{"relative bind target", Config{RootDir: "/x", Binds: []Bind{{Source: "/a", Target: "b"}}}, []string{"true"}},
		{"bind over root", Config{RootDir: "/x", Binds: []Bind{{Source: "/a", Target: "/.."}}}, []string{"true"}},
		{"relative bind source", Config{RootDir: "/x", Binds: []Bind{{Source: "a", Target: "/b"}}}, []string{"true"}},
		{"unknown network", Config{RootDir: "/x", Network: 9}, []string{"true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg, tt.argv...); err == nil {
				t.Fatal("Run accepted a bad config")
			}
		})
	}
}

func TestOwnPIDNamespace(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	r := sh(t, l.config(), `echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	lines := strings.Fields(r.stdout)
	// PID 1 is the sandbox's init; its threads take the next few IDs,
	// then comes the shell.
	if n, _ := strconv.Atoi(lines[0]); n < 2 || n > 64 {
		t.Errorf("shell's pid is %s, want one of a fresh PID namespace", lines[0])
	}
	procs := lines[1:]
	slices.Sort(procs)
	want := []string{"1", lines[0]}
	slices.Sort(want)
	if !slices.Equal(procs, want) {
		t.Errorf("/proc shows %v, want only the init and the shell %v", procs, want)
	}
}

func TestCapabilities(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	r := sh(t, l.config(), `grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	want := fmt.Sprintf("%016x", capMask())
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		k, v, _ := strings.Cut(line, ":")
		got[k] = strings.TrimSpace(v)
	}
	for k, v := range map[string]string{"CapEff": want, "CapPrm": want, "CapBnd": want, "CapAmb": "0000000000000000", "NoNewPrivs": "1"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestWritesLandInUpper(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	kiln := kilnCopy(t)
	workDir := t.TempDir()
	cfg := l.config()
	cfg.Dir = "/.kiln/work"
	cfg.Binds = []Bind{
		{Source: kiln, Target: "/.kiln/kiln", ReadOnly: true},
		{Source: workDir, Target: "/.kiln/work"},
		{Source: kiln, Target: "/usr/local/bin/kiln", ReadOnly: true},
	}
	r := sh(t, cfg, `set -e
		echo new > /newfile
		echo more >> /etc/existing
		mkdir -p /var/lib/thing
		echo scratch > /tmp/scratch
		echo result > result.txt
		test -x /.kiln/kiln
		test -x /usr/local/bin/kiln`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(l.lower, "etc/existing")); string(b) != "lower\n" {
		t.Errorf("lower etc/existing = %q, want it untouched", b)
	}
	if b, _ := os.ReadFile(filepath.Join(l.upper, "etc/existing")); string(b) != "lower\nmore\n" {
		t.Errorf("upper etc/existing = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(workDir, "result.txt")); string(b) != "result\n" {
		t.Errorf("working dir bind result.txt = %q", b)
	}
	want := []string{"etc", "etc/existing", "newfile", "var", "var/lib", "var/lib/thing"}
	if got := tree(t, l.upper); !slices.Equal(got, want) {
		t.Errorf("upper = %v, want %v (no mountpoints, no /tmp)", got, want)
	}
	if _, err := os.Stat(filepath.Join(l.lower, ".kiln")); err == nil {
		t.Error("lower gained /.kiln")
	}
}

// A stub's parent that exists in a lower layer is copied up to hold the
// stub; it must go again when the build did not write into it.
func TestCopiedUpParentRemoved(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	kiln := kilnCopy(t)
	cfg := l.config()
	cfg.Binds = []Bind{{Source: kiln, Target: "/var/kiln", ReadOnly: true}, {Source: kiln, Target: "/etc/kiln", ReadOnly: true}}
	r := sh(t, cfg, `echo x > /etc/changed`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	want := []string{"etc", "etc/changed"}
	if got := tree(t, l.upper); !slices.Equal(got, want) {
		t.Errorf("upper = %v, want %v", got, want)
	}
}

func TestRootDir(t *testing.T) {
	requireSandbox(t)
	root := t.TempDir()
	newRoot(t, root)
	before := tree(t, root)
	kiln := kilnCopy(t)
	cfg := Config{RootDir: root, Binds: []Bind{{Source: kiln, Target: "/.kiln/kiln", ReadOnly: true}}}
	r := sh(t, cfg, `echo hi > /hello && test -x /.kiln/kiln && ls /proc/1 >/dev/null`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	after := tree(t, root)
	want := append(before, "hello")
	slices.Sort(want)
	if !slices.Equal(after, want) {
		t.Errorf("root after = %v, want the root before plus hello", after)
	}
}

func TestResolvConf(t *testing.T) {
	requireSandbox(t)
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Skip("host has no /etc/resolv.conf")
	}
	l := newLayers(t)
	for _, tt := range []struct {
		net  Network
		want string
	}{
		{NetworkHost, string(host)},
		{NetworkNone, "nameserver 192.0.2.53\n"},
	} {
		cfg := l.config()
		cfg.Network = tt.net
		r := run(t, cfg, "cat", "/etc/resolv.conf")
		if r.err != nil || r.stdout != tt.want {
			t.Errorf("network %v: resolv.conf = %q (err %v), want %q", tt.net, r.stdout, r.err, tt.want)
		}
	}
	if got := tree(t, l.upper); len(got) != 0 {
		t.Errorf("upper = %v, want empty", got)
	}
}

func TestNetworkNone(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	cfg := l.config()
	cfg.Network = NetworkNone
	r := sh(t, cfg, `tail -n +3 /proc/net/dev | cut -d: -f1; ip link show lo`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if strings.TrimSpace(lines[0]) != "lo" || strings.Contains(lines[1], ":") && !strings.Contains(lines[1], "lo:") {
		t.Errorf("interfaces: %q, want only lo", r.stdout)
	}
	if !strings.Contains(r.stdout, "<LOOPBACK,UP") {
		t.Errorf("lo is not up: %q", r.stdout)
	}
}

// A background grandchild must die with the build.
func TestTimeoutKillsEverything(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	cfg := l.config()
	cfg.Timeout = 500 * time.Millisecond
	r := sh(t, cfg, `sleep 987654 & sleep 987653`)
	if !errors.Is(r.err, ErrTimeout) || r.code != -1 {
		t.Fatalf("code %d err %v, want a timeout", r.code, r.err)
	}
	assertNoProcess(t, "987654", "987653")
}

func TestCancelKillsEverything(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := l.config()
	// Cancel as soon as the build says it started, rather than after a
	// guessed delay.
	cfg.Stdout = &triggerWriter{on: "started", fn: cancel}
	code, err := Run(ctx, cfg, "/bin/sh", "-c", `setsid sleep 987652 & sleep 987651 & echo started; wait`)
	if !errors.Is(err, context.Canceled) || code != -1 {
		t.Fatalf("code %d err %v, want cancelled", code, err)
	}
	assertNoProcess(t, "987652", "987651")
	assertNoMountsLeft(t)
}

// triggerWriter calls fn once the output contains on.
type triggerWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	on   string
	fn   func()
	done bool
}

func (w *triggerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.on) {
		w.done = true
		w.fn()
	}
	return len(p), nil
}

// assertNoProcess fails if any host process has one of args as its last
// argument.
func assertNoProcess(t *testing.T, args ...string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if slices.Contains(args, f[len(f)-1]) {
			t.Errorf("process left on the host: %s: %q", p, f)
		}
	}
}

// A stub created where an earlier step deleted a lower file replaces the
// whiteout; after Run the whiteout must be back, or the deleted file would
// reappear in the image.
func TestStubOverWhiteout(t *testing.T) {
	requireSandbox(t)
	l := newLayers(t)
	if err := os.MkdirAll(filepath.Join(l.lower, ".kiln/old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.lower, "etc/gone"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sh(t, l.config(), `rm -rf /.kiln /etc/gone`); r.err != nil || r.code != 0 {
		t.Fatalf("deleting: code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	kiln := kilnCopy(t)
	cfg := l.config()
	cfg.Binds = []Bind{
		{Source: kiln, Target: "/.kiln/kiln", ReadOnly: true},
		{Source: kiln, Target: "/etc/gone", ReadOnly: true},
	}
	r := sh(t, cfg, `test -x /.kiln/kiln && test -x /etc/gone && test ! -e /.kiln/old`)
	if r.err != nil || r.code != 0 {
		t.Fatalf("code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
	for _, p := range []string{".kiln", "etc/gone"} {
		fi, err := os.Lstat(filepath.Join(l.upper, p))
		if err != nil {
			t.Fatalf("upper %s: %v", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode()&os.ModeCharDevice == 0 || st.Rdev != 0 {
			t.Errorf("upper %s is %v, want a whiteout", p, fi.Mode())
		}
	}
	if got, want := tree(t, l.upper), []string{".kiln", "etc", "etc/gone"}; !slices.Equal(got, want) {
		t.Errorf("upper = %v, want %v", got, want)
	}
	if r := sh(t, l.config(), `test ! -e /.kiln && test ! -e /etc/gone`); r.code != 0 {
		t.Errorf("deleted paths came back: code %d err %v", r.code, r.err)
	}
}
