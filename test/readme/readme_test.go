package readme

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/fileutil"
	"github.com/kiln-build/kiln/internal/kilntest"
)

// readmeListen is the README's own default listen address: the test runs
// on the defaults a reader gets, not on a free port.
const readmeListen = "127.0.0.1:8080"

// TestREADME runs every shell block of README.md, in order and as written,
// in a fresh copy of the repository, against the kiln the README's first
// block builds and starts with its defaults (./kiln-data, port 8080).
func TestREADME(t *testing.T) {
	kilntest.RequireRoot(t)
	for _, tool := range []struct{ path, pkg string }{
		{"/usr/bin/aws", "awscli"}, {"/usr/bin/skopeo", "skopeo"},
		{"/usr/bin/qemu-system-x86_64", "qemu-system-x86"}, {"/usr/bin/qemu-img", "qemu-utils"},
	} {
		kilntest.RequireTool(t, tool.path, tool.pkg)
	}
	if ln, err := net.Listen("tcp", readmeListen); err != nil {
		t.Fatalf("the README test needs the README's default address %s free: %v", readmeListen, err)
	} else {
		ln.Close()
	}

	root := kilntest.RepoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := Blocks(string(raw))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}

	// What only a reader has: the values the README marks `# yours`.
	yours := map[string]string{
		"BASE":   "oci:" + kilntest.BusyboxLayout(t) + ":latest",
		"PARENT": kilntest.BootableRootTarball(t, t.TempDir()),
	}

	work := filepath.Join(t.TempDir(), "kiln")
	copyRepo(t, root, work)
	script, used := readmeScript(t, blocks, yours, filepath.Join(work, ".readme-test"))
	for name := range yours {
		if !contains(used, name) {
			t.Errorf("the test provides %s, but no README line marks it `# yours`", name)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = work
	cmd.Env = readerEnv(t, work)
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var transcript strings.Builder
	current := "before the first block"
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if strings.HasPrefix(line, "::readme:: ") {
			current = strings.TrimPrefix(line, "::readme:: ")
			t.Log(current)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("README.md failed in %s: %v\n--- transcript ---\n%s\n--- kiln's logs ---\n%s",
			current, err, tail(transcript.String(), 200), kilnLogs(work))
	}
	if testing.Verbose() {
		t.Logf("--- transcript ---\n%s", transcript.String())
	}
	t.Logf("every README block ran (%d lines of output)", strings.Count(transcript.String(), "\n"))
}

// readmeScript writes the README's blocks as one bash script (and each
// kiln-starting block as a file of its own) and returns its path and the
// `# yours` names it assigned.
func readmeScript(t *testing.T, blocks []Block, yours map[string]string, dir string) (string, []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	s.WriteString(scriptPrelude)
	var used []string
	ran, servers := 0, 0
	for _, b := range blocks {
		if !b.Shell() || b.Skip != "" {
			continue
		}
		body, names, err := Substitute(b.Body, yours, 30)
		if err != nil {
			t.Fatalf("README.md:%d: %v", b.Line, err)
		}
		used = append(used, names...)
		ran++
		fmt.Fprintf(&s, "echo '::readme:: README.md:%d block'\n", b.Line)
		if StartsKiln(b.Body) {
			servers++
			file := filepath.Join(dir, fmt.Sprintf("kiln-shell-%d.sh", b.Line))
			if err := os.WriteFile(file, []byte("set -euo pipefail\n"+body), 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&s, "start_kiln %s %s\n", shellQuote(file), shellQuote(filepath.Join(dir, fmt.Sprintf("kiln-%d.log", b.Line))))
			continue
		}
		if servers == 0 {
			t.Fatalf("README.md:%d runs commands before any block starts kiln", b.Line)
		}
		s.WriteString(body)
	}
	s.WriteString("echo '::readme:: the end'\n")
	if ran == 0 || servers == 0 {
		t.Fatalf("README.md has %d runnable blocks, %d of them starting kiln", ran, servers)
	}
	path := filepath.Join(dir, "readme.sh")
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, used
}

// scriptPrelude is the second shell's setup: stop on the first failing
// command, as a careful reader would, and run kiln's shell as its own
// process group so that "Ctrl-C" reaches kiln and not only bash.
const scriptPrelude = `set -euo pipefail
exec </dev/null
kiln_pgid=
stop_kiln() {
  if [ -n "$kiln_pgid" ]; then
    kill -INT -- "-$kiln_pgid" 2>/dev/null || true
    wait "$kiln_pgid" 2>/dev/null || true
    kiln_pgid=
  fi
}
trap stop_kiln EXIT
start_kiln() {
  stop_kiln
  setsid bash "$1" >"$2" 2>&1 &
  kiln_pgid=$!
  for _ in $(seq 1 2400); do
    if grep -q '^kiln listening on ' "$2"; then grep '^kiln listening on ' "$2"; return 0; fi
    if ! kill -0 "$kiln_pgid" 2>/dev/null; then cat "$2"; echo "kiln's shell ended before kiln was ready" >&2; return 1; fi
    sleep 0.25
  done
  cat "$2"; echo "kiln was not ready after 10 minutes" >&2; return 1
}
`

// readerEnv is a fresh login's environment: no AWS or kiln settings from
// the test's own environment, Debian's tools first on PATH, a home of its
// own (so no ~/.aws of the machine's is read), and the Go caches kept so
// the README's go build does not start cold.
func readerEnv(t *testing.T, work string) []string {
	t.Helper()
	home := filepath.Join(work, ".readme-test", "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + filepath.Dir(goTool(t)),
		"LANG=C.UTF-8",
	}
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS", "GONOSUMDB", "GOSUMDB", "GOTOOLCHAIN"} {
		out, err := exec.Command(goTool(t), "env", v).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", v, err)
		}
		if val := strings.TrimSpace(string(out)); val != "" {
			env = append(env, v+"="+val)
		}
	}
	return env
}

func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go is not on PATH")
	}
	return p
}

// copyRepo copies what a clone holds that the README's commands use (the
// module's sources and README.md) into dst: a fresh directory, as a new
// reader's clone is.
func copyRepo(t *testing.T, root, dst string) {
	t.Helper()
	for _, name := range []string{"go.mod", "go.sum", "README.md", "cmd", "internal"} {
		src := filepath.Join(root, name)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			target := filepath.Join(dst, rel)
			if d.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			return fileutil.Copy(path, target, info.Mode().Perm())
		})
		if err != nil {
			t.Fatalf("copying the repository: %v", err)
		}
	}
}

// kilnLogs returns the end of each kiln's log, for a failure message.
func kilnLogs(work string) string {
	logs, _ := filepath.Glob(filepath.Join(work, ".readme-test", "kiln-*.log"))
	var b strings.Builder
	for _, l := range logs {
		raw, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "== %s ==\n%s\n", filepath.Base(l), tail(string(raw), 80))
	}
	return b.String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
