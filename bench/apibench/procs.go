package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// server is a child process serving HTTP, started by startServer.
type server struct {
	name    string
	URL     string // "http://127.0.0.1:port"
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startServer runs path with args, its stderr going to logPath, and waits
// for the line on stdout announcing "listening on http://HOST:PORT".
func startServer(ctx context.Context, name, logPath, path string, args ...string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(path, args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = childProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := parseListenLine(sc.Text()); ok {
				ready <- u
				break
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(s.exited)
	}()

	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case s.URL = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before listening (%v); its log:\n%s", name, cmd.ProcessState, s.logTail())
	case <-timeout.C:
		err = fmt.Errorf("%s did not announce its address within 60s; its log:\n%s", name, s.logTail())
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.kill()
	return nil, err
}

// parseListenLine finds the base URL in a "... listening on http://ADDR ..."
// line.
func parseListenLine(line string) (string, bool) {
	const marker = "listening on "
	i := strings.Index(line, marker)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(marker):]
	if !strings.HasPrefix(rest, "http://") {
		return "", false
	}
	if j := strings.IndexAny(rest, " \t("); j >= 0 {
		rest = rest[:j]
	}
	if len(rest) == len("http://") {
		return "", false
	}
	return rest, true
}

// stop asks the server to shut down and kills it if it has not within 10s.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.kill()
		return err
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		s.kill()
		return fmt.Errorf("%s ignored SIGTERM for 10s; killed", s.name)
	}
}

// kill ends the server at once, as a crash or power cut would.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// logTail returns the last few KiB of the server's stderr.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
