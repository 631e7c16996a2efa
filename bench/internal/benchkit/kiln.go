package benchkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
)

// Region is the region every benchmark's kiln serves and its clients sign
// for.
const Region = "us-east-1"

// startTimeout is how long a server may take to announce its address.
const startTimeout = 60 * time.Second

// Server is a child process serving HTTP on loopback: kiln, or a
// benchmark's own floor server.
type Server struct {
	Name    string // "kiln", "floor": what errors call it
	Addr    string // "127.0.0.1:port", as the server announced it
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// URL is the server's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return "http://" + s.Addr }

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// StartKiln runs `kiln serve --listen 127.0.0.1:0 --data-dir dataDir
// [extra...]` with bin, its output going to logPath, and waits until it
// announces its address.
func StartKiln(ctx context.Context, bin, dataDir, logPath string, extra ...string) (*Server, error) {
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	return StartServer(ctx, "kiln", logPath, bin, args...)
}

// StartServer runs path with args, its standard output and error going
// to logPath, and waits (at most 60 s, or until ctx ends) for the line
// announcing "listening on http://ADDR". kiln prints that line when
// ready; a benchmark's floor server prints the same.
func StartServer(ctx context.Context, name, logPath, path string, args ...string) (*Server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = ChildProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &Server{Name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if addr, ok := ParseListenLine(line); ok {
				select {
				case ready <- addr:
				default:
				}
			}
		}
		cmd.Wait()
		close(s.exited)
	}()
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	select {
	case s.Addr = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before listening (%v); its log:\n%s", name, cmd.ProcessState, s.LogTail())
	case <-timeout.C:
		err = fmt.Errorf("%s did not announce its address within 60s; its log:\n%s", name, s.LogTail())
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Stop(15 * time.Second)
	return nil, err
}

// ParseListenLine finds ADDR in a "... listening on http://ADDR ..." line.
func ParseListenLine(line string) (string, bool) {
	const marker = "listening on http://"
	i := strings.Index(line, marker)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(marker):]
	if j := strings.IndexAny(rest, " \t(/"); j >= 0 {
		rest = rest[:j]
	}
	return rest, rest != ""
}

// Stop asks the server to shut down (SIGTERM) and kills it if it has not
// within grace; the error says which happened when it was not a clean
// stop.
func (s *Server) Stop(grace time.Duration) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.Kill()
		return err
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(grace):
		s.Kill()
		return fmt.Errorf("%s ignored SIGTERM for %s; killed", s.Name, grace)
	}
}

// Kill ends the server at once, as a crash or power cut would, and waits
// for it to be gone.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// LogTail returns the last few KiB of the server's output, for errors.
func (s *Server) LogTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 6144 {
		b = b[len(b)-6144:]
	}
	return string(b)
}

// NewClient is an Image Builder client for the kiln at url, signing with
// a throwaway key: on loopback kiln accepts any well-formed SigV4
// signature. retryMaxAttempts 0 keeps the SDK's retries, as a user's
// client would have; 1 makes every failure show at once.
func NewClient(url, accessKey, secretKey string, retryMaxAttempts int) *imagebuilder.Client {
	return imagebuilder.New(imagebuilder.Options{
		Region:           Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		RetryMaxAttempts: retryMaxAttempts,
	})
}
