//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initEnv marks a re-exec of the current binary as a sandbox init.
const initEnv = "KILN_SANDBOX_INIT"

// The init's extra files: the spec arrives on one pipe, reports leave on
// the other.
const (
	specFD   = 3
	reportFD = 4
)

// report is one line the init writes back to Run, as JSON.
type report struct {
	// Created is a mountpoint stub the init created on the root
	// filesystem, relative to the root and free of symlinks; Dir says
	// whether it is a directory.
	Created string `json:"created,omitempty"`
	Dir     bool   `json:"dir,omitempty"`
	// Whiteout says Upper had a whiteout where the stub was created (the
	// build deleted a lower file there); Run puts it back.
	Whiteout bool `json:"whiteout,omitempty"`
	// CopiedUp is an existing directory that overlayfs copied into Upper
	// because a stub was created inside it.
	CopiedUp string `json:"copiedUp,omitempty"`
	// Ready says the program has started.
	Ready bool `json:"ready,omitempty"`
	// Error says why the sandbox could not be set up.
	Error string `json:"error,omitempty"`
}

// Run runs argv in a sandbox described by cfg and returns the program's exit
// code (128+n if it was killed by signal n). err is non-nil when the sandbox
// could not be set up, the program could not be started, the timeout
// expired (wrapping ErrTimeout) or ctx was cancelled (wrapping ctx.Err());
// exitCode is then -1. In every case, by the time Run returns no process of
// the sandbox is left, and the mountpoint stubs it created are gone from
// Upper (or RootDir).
func Run(ctx context.Context, cfg Config, argv ...string) (exitCode int, err error) {
	spec, err := cfg.spec(argv)
	if err != nil {
		return -1, err
	}
	if os.Geteuid() != 0 {
		return -1, errors.New("sandbox: needs root")
	}
	tmp, err := os.MkdirTemp("", "kiln-sandbox-")
	if err != nil {
		return -1, fmt.Errorf("sandbox: %w", err)
	}
	spec.Mountpoint = filepath.Join(tmp, "root")
	// The mounts exist only in the sandbox's mount namespace, so on the
	// host these are two empty directories.
	defer func() {
		os.Remove(spec.Mountpoint)
		os.Remove(tmp)
	}()
	if err := os.Mkdir(spec.Mountpoint, 0o755); err != nil {
		return -1, fmt.Errorf("sandbox: %w", err)
	}

	runCtx := ctx
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("sandbox: %w", err)
	}
	defer specW.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		specR.Close()
		return -1, fmt.Errorf("sandbox: %w", err)
	}
	defer reportR.Close()

	// /proc/self/exe rather than os.Executable: the init is exactly this
	// binary even if the file was replaced since it started.
	cmd := exec.CommandContext(runCtx, "/proc/self/exe")
	cmd.Args = []string{"kiln-sandbox-init"}
	cmd.Env = []string{initEnv + "=1"}
	cmd.ExtraFiles = []*os.File{specR, reportW}
	cmd.Stdout, cmd.Stderr, cmd.Stdin = cfg.Stdout, cfg.Stderr, cfg.Stdin
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	var net netHelper
	if spec.NoNetwork || spec.Private {
		flags |= unix.CLONE_NEWNET
	}
	if spec.Private {
		sup := PrivateNetwork()
		if sup.Helper == "" {
			return -1, fmt.Errorf("sandbox: no private network on this host (%s)", sup.Why)
		}
		net = sup.helper
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: flags,
		// If kiln dies, so does the sandbox's PID 1, and with it every
		// process in the sandbox.
		Pdeathsig: syscall.SIGKILL,
	}
	// Killing PID 1 of a PID namespace kills the whole namespace; the
	// kernel reaps all of it before the init's exit is reported, so once
	// Wait returns nothing of the build is still running.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	// Output pipes close when the namespace is gone; this only bounds a
	// writer that blocks.
	cmd.WaitDelay = 10 * time.Second

	var cg *cgroup
	if cfg.Limits != (Limits{}) {
		if cg, err = newCgroup(cfg.Limits); err != nil {
			specR.Close()
			reportW.Close()
			return -1, err
		}
	}

	// Pdeathsig fires when the thread that forked the init exits; keep
	// that thread ours until the sandbox is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		specR.Close()
		reportW.Close()
		if cg != nil {
			cg.remove()
		}
		return -1, fmt.Errorf("sandbox: starting init: %w", err)
	}
	specR.Close()
	reportW.Close()
	// The init waits for its spec before doing anything, so it joins its
	// control group and gets its network before any program of the build
	// exists.
	abort := func(err error) (int, error) {
		cmd.Process.Kill()
		specW.Close()
		cmd.Wait()
		if cg != nil {
			cg.remove()
		}
		return -1, err
	}
	if cg != nil {
		if err := cg.add(cmd.Process.Pid); err != nil {
			return abort(err)
		}
	}
	if spec.Private {
		stop, err := net.attach(cmd.Process.Pid)
		if err != nil {
			return abort(fmt.Errorf("sandbox: private network: %w", err))
		}
		// Deferred after the Wait below: the helper outlives the
		// sandbox's last process.
		defer stop()
	}

	reports := make(chan []report, 1)
	go func() {
		var rs []report
		sc := bufio.NewScanner(reportR)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r report
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				rs = append(rs, r)
			}
		}
		reports <- rs
	}()

	specErr := json.NewEncoder(specW).Encode(spec)
	specW.Close()
	waitErr := cmd.Wait()
	rs := <-reports
	oomKills := 0
	var cgErr error
	if cg != nil {
		oomKills = cg.oomKills()
		cg.kill()
		cgErr = cg.remove()
	}

	var (
		created  []report
		copiedUp []string
		ready    bool
		setupErr string
	)
	for _, r := range rs {
		switch {
		case r.Created != "":
			created = append(created, r)
		case r.CopiedUp != "":
			copiedUp = append(copiedUp, r.CopiedUp)
		case r.Ready:
			ready = true
		case r.Error != "":
			setupErr = r.Error
		}
	}
	base := spec.Upper
	if base == "" {
		base = spec.RootDir
	}
	cleanErr := errors.Join(removeStubs(base, created, copiedUp), cgErr)

	exitCode, err = -1, nil
	var exitErr *exec.ExitError
	exited := errors.As(waitErr, &exitErr) && exitErr.Exited()
	switch {
	case setupErr != "":
		err = fmt.Errorf("sandbox: %s", setupErr)
	case ready && waitErr == nil:
		exitCode = 0
	case ready && oomKills > 0:
		err = fmt.Errorf("%w: the memory limit of %d MiB killed %d process(es)", ErrOutOfMemory, cfg.Limits.Memory>>20, oomKills)
	case ready && exited:
		// The program finished on its own, even if the deadline
		// passed while Run was collecting it.
		exitCode = exitErr.ExitCode()
	case ctx.Err() != nil:
		err = fmt.Errorf("sandbox: %w", ctx.Err())
	case runCtx.Err() != nil:
		err = fmt.Errorf("%w after %v", ErrTimeout, cfg.Timeout)
	case !ready && specErr != nil:
		err = fmt.Errorf("sandbox: sending the spec to init: %w", specErr)
	case !ready:
		err = fmt.Errorf("sandbox: init exited before starting the program (%v); does main call sandbox.Init first?", waitErr)
	default:
		err = fmt.Errorf("sandbox: init: %w", waitErr)
	}
	if cleanErr != nil {
		err = errors.Join(err, cleanErr)
		exitCode = -1
	}
	return exitCode, err
}
