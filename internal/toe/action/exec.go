package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rebootExitCode is the exit code with which a Linux command asks AWSTOE
// to reboot the machine and run the same step again.
const rebootExitCode = 194

// pipeGrace bounds how long a finished command's output pipes are
// drained when a background process it left behind still holds them
// open (`daemon &` without redirection); without it the step would hang
// until that process exits.
const pipeGrace = 2 * time.Second

// processResult is what a finished command left behind.
type processResult struct {
	stdout   string
	exitCode int
}

// runProcess runs argv in its own process group with env's working
// directory and environment, streaming output to env.Stdout/Stderr and
// capturing stdout. When ctx is done the whole group is killed, so the
// children a shell script spawned die with it. A non-zero exit is not an
// error here; the caller decides (194 means reboot).
func runProcess(ctx context.Context, env *Env, argv []string) (processResult, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = env.WorkDir
	cmd.Env = env.Environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group id is the leader's pid because of Setpgid.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	cmd.WaitDelay = pipeGrace

	var stdout bytes.Buffer
	tail := &tailBuffer{max: 2048}
	cmd.Stdout = io.MultiWriter(&stdout, writerOrDiscard(env.Stdout))
	cmd.Stderr = io.MultiWriter(tail, writerOrDiscard(env.Stderr))
	cmd.Stdin = nil

	err := cmd.Run()
	res := processResult{stdout: trimOneNewline(stdout.String())}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s was killed: %w", argv[0], context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exitErr):
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return res, fmt.Errorf("%s was killed by signal %v", argv[0], status.Signal())
		}
		res.exitCode = exitErr.ExitCode()
		if res.exitCode == rebootExitCode {
			return res, nil
		}
		msg := fmt.Sprintf("exit code %d", res.exitCode)
		if t := strings.TrimSpace(tail.String()); t != "" {
			msg += ": " + lastLine(t)
		}
		return res, errors.New(msg)
	case errors.Is(err, exec.ErrWaitDelay):
		// The command itself finished; only a straggler held the pipes.
		return res, nil
	default:
		return res, err
	}
}

// trimOneNewline drops the one line ending a command's output normally
// has, so `echo hi` yields "hi" as AWSTOE's examples show.
func trimOneNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func writerOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// tailBuffer keeps the last max bytes written to it, to quote a failed
// command's last stderr line in the step's failure message.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
