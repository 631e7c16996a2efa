// Package kilntest is shared test infrastructure: it builds the real kiln
// binary once per test process, starts `kiln serve` on a free loopback
// port with its own data directory, and hands out aws-sdk-go-v2 clients
// pointed at it. Tests talk to kiln exactly as users do.
package kilntest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"

	"github.com/kiln-build/kiln/internal/testclock"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds ./cmd/kiln once per test process and returns its path.
// KILN_BINARY names a prebuilt binary instead. When the tests run with
// coverage (go test -cover), the binary is built with -cover too and
// writes its counters where the test binary writes its own (see
// coverEnv).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("KILN_BINARY"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "kiln-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kiln")
		build := []string{"build", "-o", binPath}
		if testing.CoverMode() != "" {
			build = append(build, "-cover", "-covermode="+testing.CoverMode())
		}
		cmd := exec.Command("go", append(build, "./cmd/kiln")...)
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/kiln: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	dynOnce sync.Once
	dynPath string
	dynErr  error
)

// DynamicBinary builds ./cmd/kiln the way a plain `go build` does, with
// cgo on (CGO_ENABLED=1, Go's default): a dynamically linked binary, for
// the tests of what kiln does when it is not static. Once per test
// process; removed by Cleanup. Without a C compiler (Debian's gcc and
// libc6-dev) go build cannot link with cgo, and the test is skipped.
func DynamicBinary(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler (apt-get install gcc libc6-dev): a plain go build here is static")
	}
	dynOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-dynbin-")
		if err != nil {
			dynErr = err
			return
		}
		dynPath = filepath.Join(dir, "kiln")
		cmd := exec.Command("go", "build", "-o", dynPath, "./cmd/kiln")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			dynErr = fmt.Errorf("CGO_ENABLED=1 go build ./cmd/kiln: %v\n%s", err, out)
		}
	})
	if dynErr != nil {
		t.Fatal(dynErr)
	}
	return dynPath
}

// Cleanup removes the binary Binary built. Call it from TestMain after
// the tests ran.
func Cleanup() {
	if binPath != "" && os.Getenv("KILN_BINARY") == "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	if dynPath != "" {
		os.RemoveAll(filepath.Dir(dynPath))
	}
}

// Server is a running `kiln serve`.
type Server struct {
	t       testing.TB
	Addr    string // host:port
	URL     string // http://host:port, or https:// when kiln serves TLS
	DataDir string
	Args    []string
	// Env is added to the server's environment (KILN_TEST_CLOCK).
	Env []string
	// Bin is the kiln binary to run; Binary's when empty.
	Bin  string
	cmd  *exec.Cmd
	done chan struct{}
	log  SyncBuffer
}

var readyLine = regexp.MustCompile(`kiln listening on (https?)://(\S+)`)

// Start runs `kiln serve --listen 127.0.0.1:0 --data-dir <temp>` plus args
// and waits until it prints its ready line. The server is killed when the
// test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: t.TempDir(), Args: args}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

// StartEnv is Start with variables added to the server's environment.
func StartEnv(t testing.TB, env []string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: t.TempDir(), Args: args, Env: env}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

// StartBinary is StartEnv running the kiln binary bin (DynamicBinary's,
// say) instead of Binary's.
func StartBinary(t testing.TB, bin string, env []string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: t.TempDir(), Args: args, Env: env, Bin: bin}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

// StartIn is Start with a given data directory (to restart on old state).
func StartIn(t testing.TB, dataDir string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: dataDir, Args: args}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start() {
	s.t.Helper()
	listen := "127.0.0.1:0"
	for i, a := range s.Args {
		if a == "--listen" && i+1 < len(s.Args) {
			listen = ""
		}
	}
	args := []string{"serve", "--data-dir", s.DataDir}
	if listen != "" {
		args = append(args, "--listen", listen)
	}
	args = append(args, s.Args...)
	bin := s.Bin
	if bin == "" {
		bin = Binary(s.t)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), coverEnv()...), s.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = &s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.logf("%s\n", line)
			if m := readyLine.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1] + "://" + m[2]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case url := <-ready:
		s.URL = url
		_, s.Addr, _ = strings.Cut(url, "://")
	case <-s.done:
		s.t.Fatalf("kiln serve exited before it was ready:\n%s", s.Log())
	case <-time.After(60 * time.Second):
		s.Kill()
		s.t.Fatalf("kiln serve was not ready after 60s:\n%s", s.Log())
	}
}

// coverEnv points a covered kiln binary at the directory the test
// binary writes its coverage counters to (-test.gocoverdir). go test's
// own "coverage: N%" line reads only the test binary's counters, so the
// servers' counters count when that directory is named and read back:
//
//	go test -cover ./cmd/kiln -args -test.gocoverdir=$PWD/cov
//	go tool covdata percent -i cov
//
// A server writes its counters when it exits normally (Stop), not when
// killed.
func coverEnv() []string {
	if testing.CoverMode() == "" {
		return nil
	}
	f := flag.Lookup("test.gocoverdir")
	if f == nil || f.Value.String() == "" {
		return nil
	}
	return []string{"GOCOVERDIR=" + f.Value.String()}
}

func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(&s.log, format, args...)
}

// Log returns what the server printed so far.
func (s *Server) Log() string {
	return s.log.String()
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop ends the server with SIGTERM and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// Restart starts the server again on the same data directory and address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	args := s.Args
	if s.Addr != "" {
		args = append([]string{"--listen", s.Addr}, args...)
	}
	next := &Server{t: s.t, DataDir: s.DataDir, Args: args, Env: s.Env}
	next.start()
	s.cmd, s.done, s.Addr, s.URL = next.cmd, next.done, next.Addr, next.URL
}

// Creds are access key credentials for a client.
type Creds struct{ AccessKeyID, SecretAccessKey string }

// DefaultCreds are the throwaway credentials tests use on loopback.
var DefaultCreds = Creds{"AKIDKILNTEST", "kiln-test-secret"}

// Client returns an Image Builder client for s signed with creds. It
// retries nothing kiln answered, so tests see errors exactly as kiln gave
// them; optFns can change that. It does retry a call whose connection Go's
// HTTP client closed under it on its own side (net.ErrClosed while reading
// a 200's body: a client-side race, aws-sdk-go-v2 issue 2737, which the
// SDK's default retryer retries too). Seen once in CI, on a ListComponents.
func (s *Server) Client(creds Creds, optFns ...func(*imagebuilder.Options)) *imagebuilder.Client {
	return imagebuilder.New(imagebuilder.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		Retryer:      clientSideOnlyRetryer(),
	}, optFns...)
}

// clientSideOnlyRetryer retries, up to twice, only calls that failed with
// net.ErrClosed, the HTTP client's own closed connection.
func clientSideOnlyRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 10 * time.Millisecond, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(errors.Is(err, net.ErrClosed))
		})}
	})
}

// Main is the TestMain of a package whose tests start kiln: it runs the
// tests, removes the kiln binary they built (Cleanup), and exits with
// their code.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Context returns a context that ends with the test or after eight
// minutes: a guard against a hung call, not a time limit on the work. Tests
// that build machine images under TCG on a loaded 2-core CI machine take
// minutes, and how long they take is for the benchmarks to say.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// NewClock returns a test clock (see internal/testclock) whose offset
// file lives in the test's temporary directory; pass its Env to StartEnv
// so the server's service and pipeline scheduler read their time from it.
func NewClock(t testing.TB) *testclock.Clock {
	return testclock.New(filepath.Join(t.TempDir(), "clock"))
}
