package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
)

// The benchmark's throwaway credentials: kiln on loopback accepts any
// well-formed signature.
const (
	benchAccessKey = "AKIDSCHEDBENCH000001"
	benchSecret    = "schedbench-secret"
	benchRegion    = "us-east-1"
)

// kilnServer is `kiln serve` running as a child process.
type kilnServer struct {
	Addr    string // "127.0.0.1:port"
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

func (s *kilnServer) URL() string { return "http://" + s.Addr }
func (s *kilnServer) pid() int    { return s.cmd.Process.Pid }

// startKiln runs `kiln serve --listen 127.0.0.1:0 --data-dir dataDir`, its
// output going to logPath, and waits for the line announcing
// "listening on http://ADDR".
func startKiln(ctx context.Context, bin, dataDir, logPath string) (*kilnServer, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--region", benchRegion)
	cmd.Stderr = logf
	cmd.SysProcAttr = childProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting kiln: %w", err)
	}
	s := &kilnServer{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if addr, ok := parseListenLine(line); ok {
				select {
				case ready <- addr:
				default:
				}
			}
		}
		cmd.Wait()
		close(s.exited)
	}()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case s.Addr = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("kiln exited before listening (%v); its log:\n%s", cmd.ProcessState, s.logTail())
	case <-timeout.C:
		err = fmt.Errorf("kiln did not announce its address within 60s; its log:\n%s", s.logTail())
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	return nil, err
}

// parseListenLine finds ADDR in a "... listening on http://ADDR ..." line.
func parseListenLine(line string) (string, bool) {
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

// stop asks kiln to shut down and kills it if it has not within 15s.
func (s *kilnServer) stop() {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.cmd.Process.Kill()
	}
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// logTail returns the last few KiB of kiln's output.
func (s *kilnServer) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 6144 {
		b = b[len(b)-6144:]
	}
	return string(b)
}

// newClient is an Image Builder client for kiln at url. It retries
// throttling and transient errors, as a user's client would.
func newClient(url string) *imagebuilder.Client {
	return imagebuilder.New(imagebuilder.Options{
		Region:       benchRegion,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(benchAccessKey, benchSecret, ""),
	})
}

// hangingRegistry accepts TCP connections and never answers on them. A
// build whose parent image it names stays in its pull until kiln stops,
// holding one of kiln's build slots and costing no CPU; with every slot
// held, the other builds stay PENDING.
type hangingRegistry struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startHangingRegistry() (*hangingRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hangingRegistry{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return h, nil
}

func (h *hangingRegistry) Addr() string { return h.ln.Addr().String() }

func (h *hangingRegistry) Close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}
